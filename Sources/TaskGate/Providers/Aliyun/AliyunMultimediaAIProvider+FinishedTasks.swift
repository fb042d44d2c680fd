import Logging

extension AliyunMultimediaAIProvider {
    /// ListTasks `Status=2` (succeeded), then `Status=3` (failed), 100 a page; the item listed
    /// completes the answer, so only GetTaskResult is asked per task named.
    func finished(among ids: Set<String>, maxPages: Int, logger: Logger) async throws(GatewayError) -> FinishedTasks? {
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
}
