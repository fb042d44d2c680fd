import Logging
import NIOCore

/// One provider's tasks for `GET /tasks`: its vendor's list call (`VendorListSource`), or
/// taskgate's store (`StoreTaskListSource`) for a vendor without one.
protocol TaskListSource: Sendable {
    /// Up to `limit` tasks after `token` (nil: from the start), as task JSON bodies, and the
    /// token of the next page (nil: no more).
    /// - Parameter filters: the vendor's own list filters (`vendor.<Name>=value`), each one of
    ///   `vendorFilterNames`.
    func page(status: TaskStatus?, filters: [VendorFilter], limit: Int, token: String?, logger: Logger) async throws(GatewayError) -> TaskListPage

    /// The vendor list call's own filters that `GET /tasks?vendor.<Name>=` passes through.
    var vendorFilterNames: [String] { get }

    /// Throws `invalid-query` unless `token` is one `page` reads (the same parse): checked before
    /// a listing asks any vendor.
    func checkToken(_ token: String, status: TaskStatus?) throws(GatewayError)
}

extension TaskService {
    /// Where `GET /tasks` finds a provider's tasks.
    func listSource(for provider: ServedProvider) -> any TaskListSource {
        guard let list = provider.provider.taskList else { return StoreTaskListSource(provider: provider.name, store: store) }
        return VendorListSource(provider: provider.name, list: list, tasks: self)
    }
}

struct TaskListPage: Sendable {
    /// Each one a task document, the same JSON `GET /tasks/{provider}/{id}` answers.
    var tasks: [ByteBuffer]
    var nextToken: String?
    /// Why some of this page's tasks are missing (one could not be resolved): the page is
    /// incomplete, the cursor chain goes on.
    var incomplete: GatewayError?

    init(tasks: [ByteBuffer], nextToken: String?, incomplete: GatewayError? = nil) {
        self.tasks = tasks
        self.nextToken = nextToken
        self.incomplete = incomplete
    }
}
