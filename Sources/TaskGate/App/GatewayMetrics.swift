import CoreMetrics
import Foundation
import Prometheus
import Synchronization

/// taskgate's metrics, through swift-metrics into a Prometheus registry of this application's
/// own (no global metrics system), rendered at `GET /metrics`.
///
/// Every label comes from a small fixed set: route templates, status classes, configured
/// provider names, vendor call names, outcome words. Never a task id, a key or a path.
public final class GatewayMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    private let counters = Mutex<[MetricKey: CoreMetrics.Counter]>([:])
    private let timers = Mutex<[MetricKey: CoreMetrics.Timer]>([:])
    private let gauges = Mutex<[MetricKey: CoreMetrics.Gauge]>([:])
    /// Per-request metrics by route, found with one lookup and no allocation.
    private let routes = Mutex<[String: RouteMetrics]>([:])
    /// Per-answer metrics by provider.
    private let answers = Mutex<[String: AnswerMetrics]>([:])
    private let reportedLogDrops = Mutex(0)

    struct MetricKey: Hashable {
        var name: String
        var labels: [String]
    }

    /// One route's request counters and duration histogram; the hot path holds its own, found
    /// once, so a request costs no lock or lookup to find them.
    struct RouteMetrics: Sendable {
        let requests: [CoreMetrics.Counter]  // by status class 1xx…5xx
        let duration: CoreMetrics.Timer

        func record(status: Int, duration elapsed: Duration) {
            requests[min(max(status / 100, 1), 5) - 1].increment()
            duration.recordNanoseconds(elapsed.nanoseconds)
        }
    }

    /// One provider's answer counters, by where the answer came from.
    struct AnswerMetrics: Sendable {
        let answers: [TaskService.CacheOutcome: CoreMetrics.Counter]
        let avoided: CoreMetrics.Counter

        /// Every answer but a miss, or one that began a vendor call in the background, is a
        /// vendor call avoided.
        func record(_ cache: TaskService.CacheOutcome, startedVendorCall: Bool = false) {
            answers[cache]?.increment()
            if cache != .miss, !startedVendorCall { avoided.increment() }
        }
    }

    public init(version: String = TaskGateVersion.current) {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        ]
        self.factory = factory
        gauge("taskgate_build_info", ["version": version, "swift": TaskGateVersion.swift]).record(1)
        _ = counter("taskgate_log_lines_dropped_total", [:])
    }

    /// The HTTP request metrics of `route`: the matched template (`/tasks/{provider}/{id}`), or `unmatched`.
    func route(_ route: String) -> RouteMetrics {
        routes.withLock { routes in
            if let metrics = routes[route] { return metrics }
            let metrics = RouteMetrics(
                requests: (1...5).map { counter("taskgate_http_requests_total", ["route": route, "status_class": "\($0)xx"]) },
                duration: timer("taskgate_http_request_duration_seconds", ["route": route])
            )
            routes[route] = metrics
            return metrics
        }
    }

    /// One vendor call and how it ended.
    func vendorCall(provider: String, call: String, outcome: VendorCallOutcome, duration: Duration) {
        counter("taskgate_vendor_calls_total", ["provider": provider, "call": call, "outcome": outcome.rawValue]).increment()
        timer("taskgate_vendor_call_duration_seconds", ["provider": provider, "call": call]).recordNanoseconds(duration.nanoseconds)
    }

    /// One more attempt of a vendor call after a transient failure.
    func vendorRetry(provider: String, call: String) {
        counter("taskgate_vendor_retries_total", ["provider": provider, "call": call]).increment()
    }

    /// A vendor request taskgate did not send: `circuit_open`, `rate_limit`, `task_budget`, `task_spacing`.
    func vendorCallRefused(provider: String, reason: String) {
        counter("taskgate_vendor_calls_refused_total", ["provider": provider, "reason": reason]).increment()
    }

    /// A provider's circuit: 0 closed, 1 half-open, 2 open.
    func circuit(provider: String, state: CircuitBreaker.State) {
        let value =
            switch state {
            case .closed: 0
            case .halfOpen: 1
            case .open: 2
            }
        gauge("taskgate_vendor_circuit_state", ["provider": provider]).record(value)
    }

    /// A final answer's links refreshed (or not): `refreshed`, `shared` (another replica's
    /// refresh), `gone` (the vendor forgot the task), `inconsistent` (it answered another
    /// status), `failed`.
    func linkRefresh(provider: String, outcome: String) {
        counter("taskgate_link_refreshes_total", ["provider": provider, "outcome": outcome]).increment()
    }

    /// A store read or write that failed (full or read-only disk, corruption).
    func storeFailure(operation: String) {
        counter("taskgate_store_errors_total", ["operation": operation]).increment()
    }

    /// How long a PostgreSQL store operation took, waiting for a pooled connection included.
    func storeOperation(_ operation: String, duration: Duration) {
        timer("taskgate_store_operation_duration_seconds", ["operation": operation]).recordNanoseconds(duration.nanoseconds)
    }

    /// A request refused by caller authentication: `missing`, `invalid`, `forbidden`.
    func authRefused(reason: String) {
        counter("taskgate_auth_refused_total", ["reason": reason]).increment()
    }

    /// The task answer metrics of one provider.
    func answers(provider: String) -> AnswerMetrics {
        answers.withLock { answers in
            if let metrics = answers[provider] { return metrics }
            let outcomes: [TaskService.CacheOutcome] = TaskService.CacheOutcome.allCases
            let metrics = AnswerMetrics(
                answers: Dictionary(
                    uniqueKeysWithValues: outcomes.map {
                        ($0, counter("taskgate_answers_total", ["provider": provider, "cache": $0.rawValue.lowercased()]))
                    }
                ),
                avoided: counter("taskgate_vendor_calls_avoided_total", ["provider": provider])
            )
            answers[provider] = metrics
            return metrics
        }
    }

    /// The store's size, read when metrics are scraped.
    func store(_ statistics: StoreStatistics) {
        gauge("taskgate_store_rows", [:]).record(statistics.rows)
        gauge("taskgate_store_file_bytes", [:]).record(statistics.fileBytes)
        gauge("taskgate_artifacts", [:]).record(statistics.artifacts)
        gauge("taskgate_artifact_bytes", [:]).record(statistics.artifactBytes)
    }

    /// Tasks the background watch follows now.
    func watched(provider: String, count: Int) {
        gauge("taskgate_watched_tasks", ["provider": provider]).record(count)
    }

    /// A watched task whose final answer the watch captured.
    func watchCaptured(provider: String) {
        counter("taskgate_watch_captured_total", ["provider": provider]).increment()
    }

    /// Watched tasks given up: the horizon passed (or the vendor forgot them) before they were final.
    func watchExpired(provider: String, count: Int) {
        counter("taskgate_watch_expired_total", ["provider": provider]).increment(by: Int64(count))
    }

    /// One webhook delivery attempt: `delivered`, `retried` (failed, tried again later), `failed`
    /// (the last attempt failed: kept as failed).
    func webhookDelivery(webhook: String, outcome: String) {
        counter("taskgate_webhook_deliveries_total", ["webhook": webhook, "outcome": outcome]).increment()
    }

    /// Events waiting for a receiver, and the age of the oldest.
    func webhookBacklog(webhook: String, pending: Int, oldestAge: Double) {
        gauge("taskgate_webhook_pending", ["webhook": webhook]).record(pending)
        gauge("taskgate_webhook_oldest_pending_seconds", ["webhook": webhook]).record(oldestAge)
    }

    /// Log lines dropped since the start (stdout blocked past the log buffer, or failing), read
    /// when metrics are scraped.
    func logLinesDropped(total: Int) {
        let unreported = reportedLogDrops.withLock { reported in
            defer { reported = max(reported, total) }
            return max(0, total - reported)
        }
        counter("taskgate_log_lines_dropped_total", [:]).increment(by: Int64(unreported))
    }

    /// Long polls (`?wait=`) waiting now, read when metrics are scraped.
    func longPolls(_ count: Int) {
        gauge("taskgate_long_polls", [:]).record(count)
    }

    /// A linked file `mirror` tried to keep: `kept`, `refused` (not allowed: scheme, host,
    /// address, redirects), `too_large`, `failed`.
    func mirrorDownload(provider: String, outcome: String) {
        counter("taskgate_mirror_downloads_total", ["provider": provider, "outcome": outcome]).increment()
    }

    /// Bytes of artifacts sent (`GET /tasks/{provider}/{id}/artifacts/{n}`).
    func artifactServed(provider: String, bytes: Int) {
        counter("taskgate_artifact_served_bytes_total", ["provider": provider]).increment(by: Int64(bytes))
    }

    /// The Prometheus text exposition of every metric.
    public func render() -> [UInt8] {
        registry.emitToBuffer()
    }

    private func counter(_ name: String, _ labels: KeyValuePairs<String, String>) -> CoreMetrics.Counter {
        let key = MetricKey(name: name, labels: labels.map { $0.value })
        return counters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = CoreMetrics.Counter(label: name, dimensions: labels.map { ($0.key, $0.value) }, factory: factory)
            counters[key] = counter
            return counter
        }
    }

    private func timer(_ name: String, _ labels: KeyValuePairs<String, String>) -> CoreMetrics.Timer {
        let key = MetricKey(name: name, labels: labels.map { $0.value })
        return timers.withLock { timers in
            if let timer = timers[key] { return timer }
            let timer = CoreMetrics.Timer(label: name, dimensions: labels.map { ($0.key, $0.value) }, factory: factory)
            timers[key] = timer
            return timer
        }
    }

    private func gauge(_ name: String, _ labels: KeyValuePairs<String, String>) -> CoreMetrics.Gauge {
        let key = MetricKey(name: name, labels: labels.map { $0.value })
        return gauges.withLock { gauges in
            if let gauge = gauges[key] { return gauge }
            let gauge = CoreMetrics.Gauge(label: name, dimensions: labels.map { ($0.key, $0.value) }, factory: factory)
            gauges[key] = gauge
            return gauge
        }
    }
}

/// How a vendor call ended, as a metric label.
public enum VendorCallOutcome: String, Sendable {
    case ok
    case notFound = "not_found"
    case throttled
    case authError = "auth_error"
    case timeout
    case badAnswer = "bad_answer"
    case unavailable
    case error

    init(_ error: GatewayError) {
        switch error.kind {
        case .taskNotFound: self = .notFound
        case .vendorThrottled: self = .throttled
        case .vendorRejectedCredentials: self = .authError
        case .vendorTimeout: self = .timeout
        case .vendorBadAnswer, .malformedID: self = .badAnswer
        case .vendorUnavailable, .vendorUnreachable: self = .unavailable
        default: self = .error
        }
    }
}

/// The version taskgate reports in `taskgate_build_info` and `--version`.
public enum TaskGateVersion {
    public static let current = "0.1.0"
    #if compiler(>=6.3)
    public static let swift = "6.3"
    #else
    public static let swift = "6.2"
    #endif
}

extension Duration {
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
