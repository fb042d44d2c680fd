import Foundation
import Logging
import NIOCore

/// `GET /tasks` for Alibaba: ListTasks, with PageNumber/PageSize behind taskgate's cursor and
/// TotalCount ending the paging, and the vendor's own filters passed through.
///
/// A final item is answered as the single task is (the store, else GetTaskResult with this
/// item's fields), so a final task has one answer on every route.
struct AliyunTaskList: VendorTaskList {
    let provider: AliyunMultimediaAIProvider

    /// ListTasks' own filters (the seed's request parameters besides paging and Status).
    var vendorFilterNames: [String] { ["ApplicationName", "ServiceType", "TaskId"] }

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

        /// ListTasks' PageNumber is a 32-bit integer; every page's first item fits one too.
        static let maxItem = Int(Int32.max)

        init?(token: String) {
            let parts = token.split(separator: "/", omittingEmptySubsequences: false).compactMap { Int($0) }
            guard parts.count == 3, token.utf8.count(where: { $0 == UInt8(ascii: "/") }) == 2, (1...100).contains(parts[1]),
                (0..<parts[1]).contains(parts[2]),
                parts[0] >= 1, parts[0] <= Self.maxItem / parts[1]
            else { return nil }
            self.init(pageNumber: parts[0], pageSize: parts[1], skip: parts[2])
        }

        /// Items on this page and the pages before it; nil past `maxItem`.
        var itemsThrough: Int? {
            let (items, overflow) = pageNumber.multipliedReportingOverflow(by: pageSize)
            return overflow || items > Self.maxItem ? nil : items
        }

        var token: String { "\(pageNumber)/\(pageSize)/\(skip)" }
    }

    func checkToken(_ token: String, status: TaskStatus?) throws(GatewayError) { _ = try position(token) }

    private func position(_ token: String) throws(GatewayError) -> Position {
        guard let position = Position(token: token) else {
            throw GatewayError(.invalidQuery, "The cursor is not valid for this provider.", provider: provider.name)
        }
        return position
    }

    func page(status: TaskStatus?, filters: [VendorFilter], limit: Int, token: String?, logger: Logger) async throws(GatewayError) -> VendorListPage {
        var position = Position(pageNumber: 1, pageSize: min(limit, 100), skip: 0)
        if let token { position = try self.position(token) }
        var parameters: [(String, String)] = [("PageNumber", String(position.pageNumber)), ("PageSize", String(position.pageSize))]
        if let status { parameters.append(("Status", String(Self.vendorStatus(status)))) }
        parameters += filters.map { ($0.name, $0.value) }
        let answer = try await provider.call("ListTasks", parameters, logger: logger)
        guard let items = answer.body["Tasks"] as? [[String: Any]], let total = answer.body["TotalCount"] as? Int else {
            throw GatewayError(
                .vendorBadAnswer,
                "The vendor's ListTasks answer has no Tasks or TotalCount.",
                provider: provider.name,
                vendorRequestID: answer.requestID
            )
        }
        let now = provider.environment.clock.date
        let taken = items.dropFirst(position.skip).prefix(limit)
        var page = VendorListPage(items: [], nextToken: nil)
        for item in taken {
            guard let id = AliyunReply.taskID(item) else {
                throw GatewayError(.vendorBadAnswer, "A ListTasks item has no TaskId.", provider: provider.name, vendorRequestID: answer.requestID)
            }
            var record = try AliyunReply.record(
                item,
                provider: provider.name,
                kind: AliyunMultimediaAIProvider.kind,
                id: id,
                fetchedAt: now,
                requestID: answer.requestID
            )
            if record.isFinal {
                // GetTaskResult has the result; this item has the rest, so no second ListTasks.
                let listed = JSONFragment(jsonObject: item)
                let fetch: VendorFetch = { [provider] (known) throws(GatewayError) in
                    try await provider.fetchTask(id: id, known: known, listed: listed, logger: logger)
                }
                page.items.append(.resolve(id: id, fetch: fetch))
            } else {
                record.vendorFields = JSONFragment.unmappedFields(of: item, mapped: AliyunReply.mappedKeys)
                page.items.append(.complete(ByteBuffer(bytes: record.jsonBytes())))
            }
        }
        let consumed = position.skip + taken.count
        let next: Position?
        if consumed < items.count {
            next = Position(pageNumber: position.pageNumber, pageSize: position.pageSize, skip: consumed)
        } else if let through = position.itemsThrough, through < total, through < Position.maxItem, !items.isEmpty {
            next = Position(pageNumber: position.pageNumber + 1, pageSize: position.pageSize, skip: 0)
        } else {
            next = nil
        }
        page.nextToken = next?.token
        return page
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
