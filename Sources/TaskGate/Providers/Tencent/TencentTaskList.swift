import Foundation
import Logging
import NIOCore

/// `GET /tasks` for Tencent: DescribeTasks per vendor status (Limit ≤ 100, ScrollToken behind
/// taskgate's cursor; an empty ScrollToken ends that status).
///
/// DescribeTasks items say neither status nor ErrCode: the status is the one asked for, and a
/// FINISH item is resolved as a single task (store first, then DescribeTaskDetail, within the
/// rate limit) to tell succeeded from failed.
struct TencentTaskList: VendorTaskList {
    let provider: TencentMPSProvider

    func page(status: TaskStatus?, filters: [VendorFilter], limit: Int, token: String?, logger: Logger) async throws(GatewayError) -> VendorListPage {
        let vendorStatuses = Self.vendorStatuses(for: status)
        var index = 0
        var scroll = ""
        if let token { (index, scroll) = try position(token, statuses: vendorStatuses.count) }
        let vendorStatus = vendorStatuses[index]
        let listing = try await provider.describeTasks(status: vendorStatus, limit: min(limit, 100), scrollToken: scroll, logger: logger)
        var page = VendorListPage(items: [], nextToken: nil)
        for item in listing.items {
            guard let id = item["TaskId"] as? String else { continue }
            if vendorStatus == "FINISH" {
                page.items.append(.resolve(id: id, fetch: nil))
            } else {
                var record = TaskRecord(
                    provider: provider.name,
                    kind: TencentMPSProvider.kind,
                    id: id,
                    status: vendorStatus == "WAITING" ? .queued : .running,
                    vendorStatus: vendorStatus,
                    fetchedAt: provider.environment.clock.date
                )
                record.createdAt = TencentReply.date(item["CreateTime"])
                record.vendorRequestID = listing.requestID
                record.vendorFields = JSONFragment.unmappedFields(of: item, mapped: TencentReply.mappedKeys)
                page.items.append(.complete(ByteBuffer(bytes: record.jsonBytes())))
            }
        }
        page.nextToken =
            if !listing.scrollToken.isEmpty, !listing.items.isEmpty {
                "\(index):\(listing.scrollToken)"
            } else if index + 1 < vendorStatuses.count {
                "\(index + 1):"
            } else {
                nil
            }
        return page
    }

    func checkToken(_ token: String, status: TaskStatus?) throws(GatewayError) {
        _ = try position(token, statuses: Self.vendorStatuses(for: status).count)
    }

    /// `index:ScrollToken`: which of the vendor statuses, and the vendor's own scroll token (at
    /// most 256 printable ASCII characters; the cursor's seal is what vouches for it).
    private func position(_ token: String, statuses: Int) throws(GatewayError) -> (Int, String) {
        let parts = token.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), (0..<statuses).contains(index), parts[1].utf8.count <= 256,
            parts[1].utf8.allSatisfy({ (0x21...0x7E).contains($0) })
        else {
            throw GatewayError(.invalidQuery, "The cursor is not valid for this provider.", provider: provider.name)
        }
        return (index, String(parts[1]))
    }

    static func vendorStatuses(for status: TaskStatus?) -> [String] {
        switch status {
        case nil: ["WAITING", "PROCESSING", "FINISH"]
        case .queued: ["WAITING"]
        case .running: ["PROCESSING"]
        case .succeeded, .failed: ["FINISH"]
        }
    }
}
