import Foundation
import Logging

/// One configured vendor instance: checks ids, asks the vendor, maps the answer to a `TaskRecord`.
///
/// Every error it throws is a `GatewayError` already classified (not found, credentials,
/// throttled, …); the vendor's words about keys never leave the provider.
public protocol Provider: Sendable {
    /// The configured instance name, the `{provider}` of the route.
    var name: String { get }

    /// Checks an id's syntax before any vendor call and returns its canonical form.
    func validateID(_ id: String) throws(GatewayError) -> String

    /// Asks the vendor for the task once.
    /// - Parameter known: what taskgate last knew of the task (nil the first time), for vendors
    ///   that have a cheaper call for a task already seen.
    func fetchTask(id: String, known: LastKnownStatus?, logger: Logger) async throws(GatewayError) -> TaskRecord

    /// The vendor's list call, when it has one: `GET /tasks` pages through it. nil: taskgate
    /// lists the tasks it has seen, from its store.
    var taskList: (any VendorTaskList)? { get }

    /// Which of `ids` the vendor's list call names as finished, at most `maxPages` pages of it:
    /// the background watch asks this once instead of asking about each task. nil: the vendor
    /// has no such call.
    func finished(among ids: Set<String>, maxPages: Int, logger: Logger) async throws(GatewayError) -> FinishedTasks?
}

extension Provider {
    public var taskList: (any VendorTaskList)? { nil }

    public func finished(among ids: Set<String>, maxPages: Int, logger: Logger) async throws(GatewayError) -> FinishedTasks? { nil }
}

/// What a provider needs from the process: its channel to the vendor and the clock.
public struct ProviderEnvironment: Sendable {
    /// Every vendor request goes through here (rate, retries, circuit breaker).
    public var vendor: VendorChannel
    public var metrics: GatewayMetrics?
    public var clock: any GatewayClock
}
