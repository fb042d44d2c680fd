import Logging

extension TencentMPSProvider {
    /// DescribeTasks `Status=FINISH`, 100 a page, following `ScrollToken`; DescribeTaskDetail then
    /// tells succeeded from failed for the ones named.
    func finished(among ids: Set<String>, maxPages: Int, logger: Logger) async throws(GatewayError) -> FinishedTasks? {
        var finished = FinishedTasks()
        var scroll = ""
        for _ in 0..<maxPages {
            let listing = try await describeTasks(status: "FINISH", limit: 100, scrollToken: scroll, logger: logger)
            for item in listing.items {
                if let id = item["TaskId"] as? String, ids.contains(id) { finished.found[id] = .some(nil) }
            }
            scroll = listing.scrollToken
            if scroll.isEmpty || listing.items.isEmpty || finished.found.count == ids.count { return finished }
        }
        finished.complete = false
        return finished
    }
}
