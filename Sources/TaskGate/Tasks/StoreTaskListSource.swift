import Logging
import NIOCore

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
