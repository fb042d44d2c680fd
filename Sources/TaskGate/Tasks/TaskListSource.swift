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

/// A vendor's list call, its items resolved: one that does not say all is answered as the single
/// task is (`TaskService.appendListed`), so a task has one answer on every route.
struct VendorListSource: TaskListSource {
    let provider: String
    let list: any VendorTaskList
    let tasks: TaskService

    var vendorFilterNames: [String] { list.vendorFilterNames }

    func checkToken(_ token: String, status: TaskStatus?) throws(GatewayError) { try list.checkToken(token, status: status) }

    func page(status: TaskStatus?, filters: [VendorFilter], limit: Int, token: String?, logger: Logger) async throws(GatewayError) -> TaskListPage {
        let listed = try await list.page(status: status, filters: filters, limit: limit, token: token, logger: logger)
        var page = TaskListPage(tasks: [], nextToken: listed.nextToken)
        for item in listed.items {
            switch item {
            case .complete(let body): page.tasks.append(body)
            case .resolve(let id, let fetch):
                await tasks.appendListed(provider: provider, id: id, status: status, to: &page, logger: logger, fetch: fetch)
            }
        }
        return page
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

/// Lists the tasks taskgate has seen of one provider, with their last known status.
struct StoreTaskListSource: TaskListSource {
    let provider: String
    let store: any AnswerStore

    var vendorFilterNames: [String] { [] }

    func checkToken(_ token: String, status: TaskStatus?) throws(GatewayError) { _ = try sequence(token) }

    private func sequence(_ token: String) throws(GatewayError) -> Int64 {
        guard let sequence = Int64(token), sequence >= 0 else {
            throw GatewayError(.invalidQuery, "The cursor is not valid for this provider.", provider: provider)
        }
        return sequence
    }

    func page(status: TaskStatus?, filters: [VendorFilter], limit: Int, token: String?, logger: Logger) async throws(GatewayError) -> TaskListPage {
        var after: Int64?
        if let token { after = try sequence(token) }
        // One row more than asked tells whether another page exists.
        let rows = try await store.list(provider: provider, status: status, afterSequence: after, limit: limit + 1)
        let pageRows = rows.prefix(limit)
        var tasks: [ByteBuffer] = []
        tasks.reserveCapacity(pageRows.count)
        for row in pageRows {
            tasks.append(try Gzip.inflate(row.gzipBody, maxBytes: 64 << 20))
        }
        let next = rows.count > limit ? pageRows.last.map { String($0.sequence) } : nil
        return TaskListPage(tasks: tasks, nextToken: next)
    }
}
