import Foundation
import Logging

/// A vendor whose list call names many finished tasks in one request: the background watch asks
/// it instead of asking about each watched task, then fetches only the ones it names.
protocol FinishedTaskLister: Provider {
    /// Which of `ids` the vendor lists as finished, each with the call that completes its answer
    /// (nil: the provider's usual one). `complete` is false when the listing was cut before its
    /// end (`maxPages`): the others are then not known to be running.
    func finished(among ids: Set<String>, maxPages: Int, logger: Logger) async throws(GatewayError) -> FinishedTasks
}

struct FinishedTasks: Sendable {
    var found: [String: VendorFetch?] = [:]
    var complete = true
}

extension TencentMPSProvider: FinishedTaskLister {
    /// DescribeTasks `Status=FINISH`, 100 a page, following `ScrollToken`; DescribeTaskDetail then
    /// tells succeeded from failed for the ones named.
    func finished(among ids: Set<String>, maxPages: Int, logger: Logger) async throws(GatewayError) -> FinishedTasks {
        var finished = FinishedTasks()
        var scroll = ""
        for _ in 0..<maxPages {
            var body = JSONWriter()
            body.beginObject()
            body.key("Status")
            body.string("FINISH")
            body.key("Limit")
            body.raw("100".utf8)
            body.key("ScrollToken")
            body.string(scroll)
            body.endObject()
            let answer = try await call("DescribeTasks", body: body.bytes, logger: logger)
            guard let items = answer.body["TaskSet"] as? [[String: Any]] else {
                throw GatewayError(
                    .vendorBadAnswer,
                    "The vendor's DescribeTasks answer has no TaskSet.",
                    provider: name,
                    vendorRequestID: answer.requestID
                )
            }
            for item in items {
                if let id = item["TaskId"] as? String, ids.contains(id) { finished.found[id] = .some(nil) }
            }
            scroll = (answer.body["ScrollToken"] as? String) ?? ""
            if scroll.isEmpty || items.isEmpty || finished.found.count == ids.count { return finished }
        }
        finished.complete = false
        return finished
    }
}

extension AliyunMultimediaAIProvider: FinishedTaskLister {
    /// ListTasks `Status=2` (succeeded), then `Status=3` (failed), 100 a page; the item listed
    /// completes the answer, so only GetTaskResult is asked per task named.
    func finished(among ids: Set<String>, maxPages: Int, logger: Logger) async throws(GatewayError) -> FinishedTasks {
        var finished = FinishedTasks()
        var pages = 0
        for status in ["2", "3"] {
            var pageNumber = 1
            while true {
                guard pages < maxPages else {
                    finished.complete = false
                    return finished
                }
                pages += 1
                let listing = try await call(
                    "ListTasks",
                    [("Status", status), ("PageNumber", String(pageNumber)), ("PageSize", "100")],
                    logger: logger
                )
                let items = listing.body["Tasks"] as? [[String: Any]] ?? []
                for item in items {
                    guard let id = AliyunReply.taskID(item), ids.contains(id) else { continue }
                    finished.found[id] = listedFetch(id: id, item: JSONFragment(jsonObject: item), logger: logger)
                }
                if finished.found.count == ids.count { return finished }
                if items.count < 100 { break }
                pageNumber += 1
            }
        }
        return finished
    }

    /// GetTaskResult alone: the task is known to be finished (no GetTaskStatus first), and the
    /// ListTasks item holds the rest of the answer.
    private func listedFetch(id: String, item: JSONFragment?, logger: Logger) -> VendorFetch {
        let provider = self
        return { (_) throws(GatewayError) in try await provider.fetchTask(id: id, known: nil, listed: item, logger: logger) }
    }
}
