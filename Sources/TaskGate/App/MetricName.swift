import Prometheus

/// Every metric `/metrics` can expose, with its HELP text: `GatewayMetrics` makes metrics only
/// from these, so this list is what dashboards and alerting rules may use (a test checks
/// `deploy/`), and Prometheus's linter finds HELP text on each.
enum MetricName: String, CaseIterable, Sendable {
    case buildInfo = "taskgate_build_info"
    case httpRequestsTotal = "taskgate_http_requests_total"
    case httpRequestDurationSeconds = "taskgate_http_request_duration_seconds"
    case answersTotal = "taskgate_answers_total"
    case vendorCallsAvoidedTotal = "taskgate_vendor_calls_avoided_total"
    case vendorCallsTotal = "taskgate_vendor_calls_total"
    case vendorCallDurationSeconds = "taskgate_vendor_call_duration_seconds"
    case vendorRetriesTotal = "taskgate_vendor_retries_total"
    case vendorCallsRefusedTotal = "taskgate_vendor_calls_refused_total"
    case vendorCircuitState = "taskgate_vendor_circuit_state"
    case linkRefreshesTotal = "taskgate_link_refreshes_total"
    case storeErrorsTotal = "taskgate_store_errors_total"
    case storeOperationDurationSeconds = "taskgate_store_operation_duration_seconds"
    case storeRows = "taskgate_store_rows"
    case storeFileBytes = "taskgate_store_file_bytes"
    case artifacts = "taskgate_artifacts"
    case artifactBytes = "taskgate_artifact_bytes"
    case artifactServedBytesTotal = "taskgate_artifact_served_bytes_total"
    case authRefusedTotal = "taskgate_auth_refused_total"
    case watchedTasks = "taskgate_watched_tasks"
    case watchCapturedTotal = "taskgate_watch_captured_total"
    case watchExpiredTotal = "taskgate_watch_expired_total"
    case webhookDeliveriesTotal = "taskgate_webhook_deliveries_total"
    case webhookPending = "taskgate_webhook_pending"
    case webhookOldestPendingSeconds = "taskgate_webhook_oldest_pending_seconds"
    case eventsTotal = "taskgate_events_total"
    case eventStreams = "taskgate_event_streams"
    case eventsOldestSeconds = "taskgate_events_oldest_seconds"
    case logLinesDroppedTotal = "taskgate_log_lines_dropped_total"
    case longPolls = "taskgate_long_polls"
    case mirrorDownloadsTotal = "taskgate_mirror_downloads_total"
    case processCpuSecondsTotal = "process_cpu_seconds_total"
    case processResidentMemoryBytes = "process_resident_memory_bytes"
    case processVirtualMemoryBytes = "process_virtual_memory_bytes"
    case processOpenFds = "process_open_fds"
    case processMaxFds = "process_max_fds"
    case processStartTimeSeconds = "process_start_time_seconds"

    /// Histograms are exposed as `_bucket`, `_sum` and `_count` series.
    var isHistogram: Bool { rawValue.hasSuffix("_duration_seconds") }

    var help: String {
        switch self {
        case .buildInfo: "The running taskgate's version and Swift version (always 1)."
        case .httpRequestsTotal: "HTTP requests answered, by route template, status class and calling key."
        case .httpRequestDurationSeconds: "Time to answer an HTTP request, by route template."
        case .answersTotal: "Task answers given, by provider and where the answer came from (hit, miss, stale, ...)."
        case .vendorCallsAvoidedTotal: "Task answers given without a vendor call, by provider."
        case .vendorCallsTotal: "Vendor calls made, by provider, vendor action, outcome and the calling key."
        case .vendorCallDurationSeconds: "Time a vendor call took, by provider and vendor action."
        case .vendorRetriesTotal: "Vendor calls tried again after a transient failure, by provider and vendor action."
        case .vendorCallsRefusedTotal:
            "Vendor calls taskgate did not send, by provider, reason (circuit_open, rate_limit, task_budget, task_spacing) and calling key."
        case .vendorCircuitState: "A provider's circuit breaker: 0 closed, 1 half-open, 2 open."
        case .linkRefreshesTotal: "Final answers whose links were refreshed, by provider and outcome."
        case .storeErrorsTotal: "Store reads and writes that failed, by operation."
        case .storeOperationDurationSeconds: "Time a PostgreSQL store operation took, pool wait included, by operation."
        case .storeRows: "Tasks kept in the store."
        case .storeFileBytes: "Size of the SQLite store's files (0 for PostgreSQL)."
        case .artifacts: "Files kept by mirror."
        case .artifactBytes: "Bytes of the files kept by mirror."
        case .artifactServedBytesTotal: "Bytes of kept files sent to callers, by provider."
        case .authRefusedTotal: "Requests refused by caller authentication, by reason (missing, invalid, forbidden)."
        case .watchedTasks: "Tasks the background watch follows now, by provider."
        case .watchCapturedTotal: "Watched tasks whose final answer the watch captured, by provider."
        case .watchExpiredTotal: "Watched tasks given up before they were final, by provider."
        case .webhookDeliveriesTotal: "Webhook delivery attempts, by receiver and outcome (delivered, retried, failed)."
        case .webhookPending: "Deliveries waiting, by receiver."
        case .webhookOldestPendingSeconds: "Time the longest-waiting delivery has been queued, by receiver."
        case .eventsTotal: "Task events this process wrote to the feed, by type."
        case .eventStreams: "Event streams (GET /events as server-sent events) open now."
        case .eventsOldestSeconds: "Age of the oldest event the feed keeps (events_retention bounds it)."
        case .logLinesDroppedTotal: "Log lines dropped because standard output was blocked past the log buffer or failing."
        case .longPolls: "Long polls (?wait=) waiting now."
        case .mirrorDownloadsTotal: "Linked files mirror tried to keep, by provider and outcome (kept, refused, too_large, failed)."
        case .processCpuSecondsTotal: "Total user and system CPU time spent in seconds."
        case .processResidentMemoryBytes: "Resident memory size in bytes."
        case .processVirtualMemoryBytes: "Virtual memory size in bytes."
        case .processOpenFds: "Number of open file descriptors."
        case .processMaxFds: "Maximum number of open file descriptors."
        case .processStartTimeSeconds: "Start time of the process since unix epoch in seconds."
        }
    }

    /// The name whole (no namespace or unit to join) with its HELP text.
    var descriptor: MetricNameDescriptor { MetricNameDescriptor(metricName: rawValue, unitName: "", helpText: help) }
}
