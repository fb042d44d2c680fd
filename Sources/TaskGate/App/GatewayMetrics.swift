import Foundation
import Prometheus
import Synchronization

/// taskgate's metrics, in a Prometheus registry of this application's own (no global metrics
/// system), rendered at `GET /metrics`. Each name and its HELP text is a `MetricName`.
///
/// Every label comes from a small fixed set: route templates, status classes, configured
/// provider and key names, vendor call names, outcome words. Never a task id, a token or a path.
public final class GatewayMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let counters = Mutex<[MetricKey: Counter]>([:])
    private let timers = Mutex<[MetricKey: DurationHistogram]>([:])
    private let gauges = Mutex<[MetricKey: Gauge]>([:])
    private let process = ProcessMetrics()
    /// Per-request metrics by route and caller, found with one lookup and no allocation.
    private let routes = Mutex<[RouteKey: RouteMetrics]>([:])
    /// Per-answer metrics by provider.
    private let answers = Mutex<[String: AnswerMetrics]>([:])
    private let reportedLogDrops = Mutex(0)

    struct MetricKey: Hashable {
        var name: MetricName
        var labels: [String]
    }

    struct RouteKey: Hashable {
        var route: String
        var caller: String
    }

    /// One route's request counters and duration histogram; the hot path holds its own, found
    /// once, so a request costs no lock or lookup to find them.
    struct RouteMetrics: Sendable {
        let requests: [Counter]  // by status class 1xx…5xx
        let duration: DurationHistogram

        func record(status: Int, duration elapsed: Duration) {
            requests[min(max(status / 100, 1), 5) - 1].increment()
            duration.recordNanoseconds(elapsed.nanoseconds)
        }
    }

    /// One provider's answer counters, by where the answer came from.
    struct AnswerMetrics: Sendable {
        let answers: [TaskService.CacheOutcome: Counter]
        let avoided: Counter

        /// Every answer but a miss, or one that began a vendor call in the background, is a
        /// vendor call avoided.
        func record(_ cache: TaskService.CacheOutcome, startedVendorCall: Bool = false) {
            answers[cache]?.increment()
            if cache != .miss, !startedVendorCall { avoided.increment() }
        }
    }

    public init(version: String = TaskGateVersion.current) {
        registry = PrometheusCollectorRegistry()
        gauge(.buildInfo, ["version": version, "swift": TaskGateVersion.swift]).set(Int64(1))
        _ = counter(.logLinesDroppedTotal, [:])
    }

    /// The HTTP request metrics of `route` (the matched template, `/tasks/{provider}/{id}`, or
    /// `unmatched`) asked by `caller` (`Caller`).
    func route(_ route: String, caller: String) -> RouteMetrics {
        routes.withLock { routes in
            let key = RouteKey(route: route, caller: caller)
            if let metrics = routes[key] { return metrics }
            let metrics = RouteMetrics(
                requests: (1...5).map {
                    counter(.httpRequestsTotal, ["route": route, "status_class": "\($0)xx", "caller": caller])
                },
                duration: timer(.httpRequestDurationSeconds, ["route": route])
            )
            routes[key] = metrics
            return metrics
        }
    }

    /// One vendor call and how it ended, counted for the caller whose request made it.
    func vendorCall(provider: String, call: String, outcome: VendorCallOutcome, duration: Duration) {
        counter(.vendorCallsTotal, ["provider": provider, "call": call, "outcome": outcome.rawValue, "caller": Caller.name])
            .increment()
        timer(.vendorCallDurationSeconds, ["provider": provider, "call": call]).recordNanoseconds(duration.nanoseconds)
    }

    /// One more attempt of a vendor call after a transient failure.
    func vendorRetry(provider: String, call: String) {
        counter(.vendorRetriesTotal, ["provider": provider, "call": call]).increment()
    }

    /// A vendor request taskgate did not send: `circuit_open`, `rate_limit`, `task_budget`, `task_spacing`.
    func vendorCallRefused(provider: String, reason: String) {
        counter(.vendorCallsRefusedTotal, ["provider": provider, "reason": reason, "caller": Caller.name]).increment()
    }

    /// A provider's circuit: 0 closed, 1 half-open, 2 open.
    func circuit(provider: String, state: CircuitBreaker.State) {
        let value =
            switch state {
            case .closed: 0
            case .halfOpen: 1
            case .open: 2
            }
        gauge(.vendorCircuitState, ["provider": provider]).set(Int64(value))
    }

    /// A final answer's links refreshed (or not): `refreshed`, `shared` (another replica's
    /// refresh), `gone` (the vendor forgot the task), `inconsistent` (it answered another
    /// status), `failed`.
    func linkRefresh(provider: String, outcome: String) {
        counter(.linkRefreshesTotal, ["provider": provider, "outcome": outcome]).increment()
    }

    /// A store read or write that failed (full or read-only disk, corruption).
    func storeFailure(operation: String) {
        counter(.storeErrorsTotal, ["operation": operation]).increment()
    }

    /// How long a PostgreSQL store operation took, waiting for a pooled connection included.
    func storeOperation(_ operation: String, duration: Duration) {
        timer(.storeOperationDurationSeconds, ["operation": operation]).recordNanoseconds(duration.nanoseconds)
    }

    /// A request refused by caller authentication: `missing`, `invalid`, `forbidden`.
    func authRefused(reason: String) {
        counter(.authRefusedTotal, ["reason": reason]).increment()
    }

    /// The task answer metrics of one provider.
    func answers(provider: String) -> AnswerMetrics {
        answers.withLock { answers in
            if let metrics = answers[provider] { return metrics }
            let outcomes: [TaskService.CacheOutcome] = TaskService.CacheOutcome.allCases
            let metrics = AnswerMetrics(
                answers: Dictionary(
                    uniqueKeysWithValues: outcomes.map {
                        ($0, counter(.answersTotal, ["provider": provider, "cache": $0.rawValue.lowercased()]))
                    }
                ),
                avoided: counter(.vendorCallsAvoidedTotal, ["provider": provider])
            )
            answers[provider] = metrics
            return metrics
        }
    }

    /// The store's size, read when metrics are scraped.
    func store(_ statistics: StoreStatistics) {
        gauge(.storeRows, [:]).set(Int64(statistics.rows))
        gauge(.storeFileBytes, [:]).set(Int64(statistics.fileBytes))
        gauge(.artifacts, [:]).set(Int64(statistics.artifacts))
        gauge(.artifactBytes, [:]).set(Int64(statistics.artifactBytes))
    }

    /// Tasks the background watch follows now.
    func watched(provider: String, count: Int) {
        gauge(.watchedTasks, ["provider": provider]).set(Int64(count))
    }

    /// A watched task whose final answer the watch captured.
    func watchCaptured(provider: String) {
        counter(.watchCapturedTotal, ["provider": provider]).increment()
    }

    /// Watched tasks given up: the horizon passed (or the vendor forgot them) before they were final.
    func watchExpired(provider: String, count: Int) {
        counter(.watchExpiredTotal, ["provider": provider]).increment(by: Int64(count))
    }

    /// One webhook delivery attempt: `delivered`, `retried` (failed, tried again later), `failed`
    /// (the last attempt failed: kept as failed).
    func webhookDelivery(webhook: String, outcome: String) {
        counter(.webhookDeliveriesTotal, ["webhook": webhook, "outcome": outcome]).increment()
    }

    /// Events waiting for a receiver, and the age of the oldest.
    func webhookBacklog(webhook: String, pending: Int, oldestAge: Double) {
        gauge(.webhookPending, ["webhook": webhook]).set(Int64(pending))
        gauge(.webhookOldestPendingSeconds, ["webhook": webhook]).set(oldestAge)
    }

    /// An event this process wrote to the feed.
    func eventWritten(type: String) {
        counter(.eventsTotal, ["type": type]).increment()
    }

    /// Event streams open now, read when metrics are scraped.
    func eventStreams(_ count: Int) {
        gauge(.eventStreams, [:]).set(Int64(count))
    }

    /// The age of the feed's oldest event (0 when it keeps none).
    func eventsOldest(age: Double) {
        gauge(.eventsOldestSeconds, [:]).set(age)
    }

    /// Log lines dropped since the start (stdout blocked past the log buffer, or failing), read
    /// when metrics are scraped.
    func logLinesDropped(total: Int) {
        let unreported = reportedLogDrops.withLock { reported in
            defer { reported = max(reported, total) }
            return max(0, total - reported)
        }
        counter(.logLinesDroppedTotal, [:]).increment(by: Int64(unreported))
    }

    /// Long polls (`?wait=`) waiting now, read when metrics are scraped.
    func longPolls(_ count: Int) {
        gauge(.longPolls, [:]).set(Int64(count))
    }

    /// A linked file `mirror` tried to keep: `kept`, `refused` (not allowed: scheme, host,
    /// address, redirects), `too_large`, `failed`.
    func mirrorDownload(provider: String, outcome: String) {
        counter(.mirrorDownloadsTotal, ["provider": provider, "outcome": outcome]).increment()
    }

    /// Bytes of artifacts sent (`GET /tasks/{provider}/{id}/artifacts/{n}`).
    func artifactServed(provider: String, bytes: Int) {
        counter(.artifactServedBytesTotal, ["provider": provider]).increment(by: Int64(bytes))
    }

    /// The Prometheus text exposition of every metric, the process's read now.
    public func render() -> [UInt8] {
        process.update(self)
        return registry.emitToBuffer()
    }

    /// Request and call durations: from the hot path's 100 µs to a vendor's 10 s.
    static let durationBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    func counter(_ name: MetricName, _ labels: KeyValuePairs<String, String>) -> Counter {
        let key = MetricKey(name: name, labels: labels.map { $0.value })
        return counters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = registry.makeCounter(descriptor: name.descriptor, labels: labels.map { ($0.key, $0.value) })
            counters[key] = counter
            return counter
        }
    }

    private func timer(_ name: MetricName, _ labels: KeyValuePairs<String, String>) -> DurationHistogram {
        let key = MetricKey(name: name, labels: labels.map { $0.value })
        return timers.withLock { timers in
            if let timer = timers[key] { return timer }
            let timer = registry.makeDurationHistogram(
                descriptor: name.descriptor,
                labels: labels.map { ($0.key, $0.value) },
                buckets: Self.durationBuckets
            )
            timers[key] = timer
            return timer
        }
    }

    func gauge(_ name: MetricName, _ labels: KeyValuePairs<String, String>) -> Gauge {
        let key = MetricKey(name: name, labels: labels.map { $0.value })
        return gauges.withLock { gauges in
            if let gauge = gauges[key] { return gauge }
            let gauge = registry.makeGauge(descriptor: name.descriptor, labels: labels.map { ($0.key, $0.value) })
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
