import Prometheus

/// The HELP text of every metric `/metrics` exposes, in one place: Prometheus's linter
/// (`promtool check metrics`) wants one per name, and the registry keeps the first it is given.
enum MetricHelp {
    /// `name` whole (no namespace or unit to join) with its HELP text.
    static func descriptor(_ name: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: all[name] ?? "")
    }

    static let all: [String: String] = [
        "taskgate_build_info": "The running taskgate's version and Swift version (always 1).",
        "taskgate_http_requests_total": "HTTP requests answered, by route template, status class and calling key.",
        "taskgate_http_request_duration_seconds": "Time to answer an HTTP request, by route template.",
        "taskgate_answers_total": "Task answers given, by provider and where the answer came from (hit, miss, stale, ...).",
        "taskgate_vendor_calls_avoided_total": "Task answers given without a vendor call, by provider.",
        "taskgate_vendor_calls_total": "Vendor calls made, by provider, vendor action, outcome and the calling key.",
        "taskgate_vendor_call_duration_seconds": "Time a vendor call took, by provider and vendor action.",
        "taskgate_vendor_retries_total": "Vendor calls tried again after a transient failure, by provider and vendor action.",
        "taskgate_vendor_calls_refused_total":
            "Vendor calls taskgate did not send, by provider, reason (circuit_open, rate_limit, task_budget, task_spacing) and calling key.",
        "taskgate_vendor_circuit_state": "A provider's circuit breaker: 0 closed, 1 half-open, 2 open.",
        "taskgate_link_refreshes_total": "Final answers whose links were refreshed, by provider and outcome.",
        "taskgate_store_errors_total": "Store reads and writes that failed, by operation.",
        "taskgate_store_operation_duration_seconds": "Time a PostgreSQL store operation took, pool wait included, by operation.",
        "taskgate_store_rows": "Tasks kept in the store.",
        "taskgate_store_file_bytes": "Size of the SQLite store's files (0 for PostgreSQL).",
        "taskgate_artifacts": "Files kept by mirror.",
        "taskgate_artifact_bytes": "Bytes of the files kept by mirror.",
        "taskgate_artifact_served_bytes_total": "Bytes of kept files sent to callers, by provider.",
        "taskgate_auth_refused_total": "Requests refused by caller authentication, by reason (missing, invalid, forbidden).",
        "taskgate_watched_tasks": "Tasks the background watch follows now, by provider.",
        "taskgate_watch_captured_total": "Watched tasks whose final answer the watch captured, by provider.",
        "taskgate_watch_expired_total": "Watched tasks given up before they were final, by provider.",
        "taskgate_webhook_deliveries_total": "Webhook delivery attempts, by receiver and outcome (delivered, retried, failed).",
        "taskgate_webhook_pending": "Events waiting for delivery, by receiver.",
        "taskgate_webhook_oldest_pending_seconds": "Age of the oldest event waiting for delivery, by receiver.",
        "taskgate_log_lines_dropped_total": "Log lines dropped because standard output was blocked past the log buffer or failing.",
        "taskgate_long_polls": "Long polls (?wait=) waiting now.",
        "taskgate_mirror_downloads_total": "Linked files mirror tried to keep, by provider and outcome (kept, refused, too_large, failed).",
        "process_cpu_seconds_total": "Total user and system CPU time spent in seconds.",
        "process_resident_memory_bytes": "Resident memory size in bytes.",
        "process_virtual_memory_bytes": "Virtual memory size in bytes.",
        "process_open_fds": "Number of open file descriptors.",
        "process_max_fds": "Maximum number of open file descriptors.",
        "process_start_time_seconds": "Start time of the process since unix epoch in seconds.",
    ]
}
