import Logging
import NIOCore

/// One provider's tasks for `GET /tasks`: a vendor's list call, or taskgate's store.
public protocol TaskListSource: Sendable {
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

extension TaskListSource {
    public var vendorFilterNames: [String] { [] }
}

/// One of the vendor's own list filters, passed through as given.
public struct VendorFilter: Sendable, Equatable {
    public var name: String
    public var value: String
}

public struct TaskListPage: Sendable {
    /// Each one a task document, the same JSON `GET /tasks/{provider}/{id}` answers.
    public var tasks: [ByteBuffer]
    public var nextToken: String?
    /// Why some of this page's tasks are missing (one could not be resolved): the page is
    /// incomplete, the cursor chain goes on.
    public var incomplete: GatewayError?

    public init(tasks: [ByteBuffer], nextToken: String?, incomplete: GatewayError? = nil) {
        self.tasks = tasks
        self.nextToken = nextToken
        self.incomplete = incomplete
    }
}

/// Lists the tasks taskgate has seen of one provider, with their last known status.
struct StoreTaskListSource: TaskListSource {
    let provider: String
    let store: any TaskStore

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
