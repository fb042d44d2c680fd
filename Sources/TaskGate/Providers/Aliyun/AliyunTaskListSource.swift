import Foundation
import Logging
import NIOCore

/// `GET /tasks` for Alibaba: ListTasks, with PageNumber/PageSize behind taskgate's cursor and
/// TotalCount ending the paging.
struct AliyunTaskListSource: TaskListSource {
    let provider: AliyunMultimediaAIProvider

    /// Where the next page starts: `pageNumber/pageSize/skip` (skip: items of that page already sent).
    struct Position: Equatable {
        var pageNumber: Int
        var pageSize: Int
        var skip: Int

        init(pageNumber: Int, pageSize: Int, skip: Int) {
            self.pageNumber = pageNumber
            self.pageSize = pageSize
            self.skip = skip
        }

        init?(token: String) {
            let parts = token.split(separator: "/").compactMap { Int($0) }
            guard parts.count == 3, parts[0] >= 1, (1...100).contains(parts[1]), (0..<parts[1]).contains(parts[2]) else { return nil }
            self.init(pageNumber: parts[0], pageSize: parts[1], skip: parts[2])
        }

        var token: String { "\(pageNumber)/\(pageSize)/\(skip)" }
    }

    func page(status: TaskStatus?, limit: Int, token: String?, logger: Logger) async throws(GatewayError) -> TaskListPage {
        var position = Position(pageNumber: 1, pageSize: min(limit, 100), skip: 0)
        if let token {
            guard let parsed = Position(token: token) else {
                throw GatewayError(.invalidQuery, "The cursor is not valid for this provider.", provider: provider.name)
            }
            position = parsed
        }
        var parameters: [(String, String)] = [("PageNumber", String(position.pageNumber)), ("PageSize", String(position.pageSize))]
        if let status { parameters.append(("Status", String(Self.vendorStatus(status)))) }
        let answer = try await provider.call("ListTasks", parameters, logger: logger)
        guard let items = answer.body["Tasks"] as? [[String: Any]], let total = answer.body["TotalCount"] as? Int else {
            throw GatewayError(.vendorBadAnswer, "The vendor's ListTasks answer has no Tasks or TotalCount.", provider: provider.name)
        }
        let now = provider.environment.clock.date
        let taken = items.dropFirst(position.skip).prefix(limit)
        var tasks: [ByteBuffer] = []
        for item in taken {
            let id = (item["TaskId"] as? String) ?? (item["TaskId"] as? Int).map(String.init) ?? ""
            var record = try AliyunReply.record(item, provider: provider.name, kind: provider.kind, id: id, fetchedAt: now)
            if record.result == nil, record.status == .succeeded {
                let rest = item.filter { !["TaskId", "Status", "CreateTime"].contains($0.key) && !$0.key.hasPrefix("Error") }
                record.result = JSONFragment(jsonObject: rest)
            }
            tasks.append(ByteBuffer(bytes: record.jsonBytes()))
        }
        let consumed = position.skip + taken.count
        let next: Position?
        if consumed < items.count {
            next = Position(pageNumber: position.pageNumber, pageSize: position.pageSize, skip: consumed)
        } else if position.pageNumber * position.pageSize < total && !items.isEmpty {
            next = Position(pageNumber: position.pageNumber + 1, pageSize: position.pageSize, skip: 0)
        } else {
            next = nil
        }
        return TaskListPage(tasks: tasks, nextToken: next?.token)
    }

    static func vendorStatus(_ status: TaskStatus) -> Int {
        switch status {
        case .queued: 0
        case .running: 1
        case .succeeded: 2
        case .failed: 3
        }
    }
}
