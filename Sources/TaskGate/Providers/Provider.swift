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

    /// Where `GET /tasks` finds this provider's tasks. `tasks` answers single tasks through the
    /// store, the cache and the vendor, for list calls that do not say enough.
    func listSource(tasks: TaskService) -> any TaskListSource
}

extension Provider {
    /// Vendors without a list call: the tasks taskgate has seen, from the store.
    public func listSource(tasks: TaskService) -> any TaskListSource {
        StoreTaskListSource(provider: name, store: tasks.store)
    }
}

/// A vendor call that stands in for `Provider.fetchTask` for one task (a list call already holds
/// part of the answer, or knows the task is finished).
typealias VendorFetch = @Sendable (_ known: LastKnownStatus?) async throws(GatewayError) -> TaskRecord

/// What a provider needs from the process: its channel to the vendor, the store and the clock.
public struct ProviderEnvironment: Sendable {
    /// Every vendor request goes through here (rate, retries, circuit breaker).
    public var vendor: VendorChannel
    public var store: any TaskStore
    public var metrics: GatewayMetrics?
    public var clock: any GatewayClock
}
