import Foundation
import Logging

/// One configured vendor instance: checks ids, asks the vendor, maps the answer to a `TaskRecord`.
///
/// Every error it throws is a `GatewayError` already classified (not found, credentials,
/// throttled, …); the vendor's words about keys never leave the provider.
public protocol Provider: Sendable {
    /// The configured instance name, the `{provider}` of the route.
    var name: String { get }
    var kind: String { get }
    /// How long a not-final answer is reused before the vendor is asked again.
    var statusTTL: Duration { get }
    /// How old an earlier not-final answer may be to stand in when the vendor fails.
    var staleMax: Duration { get }
    /// How long after its TTL a not-final answer is still served while one vendor call asks
    /// again in the background (`X-Cache: UPDATING`).
    var staleWhileRevalidate: Duration { get }
    /// How long before a final answer's signed links expire taskgate asks the vendor for fresh ones.
    var linkRefreshMargin: Duration { get }
    /// The whole time one vendor call may take (its `timeout`): how long another replica waits
    /// on this one's lease before taking it over.
    var callTimeout: Duration { get }

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

/// What a provider needs from the process: its channel to the vendor, the store and the clock.
public struct ProviderEnvironment: Sendable {
    /// Every vendor request goes through here (rate, retries, circuit breaker).
    public var vendor: VendorChannel
    public var store: any TaskStore
    public var metrics: GatewayMetrics?
    public var clock: any GatewayClock
}
