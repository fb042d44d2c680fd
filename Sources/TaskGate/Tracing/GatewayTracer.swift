import Foundation
import HTTPTypes
import Logging
import NIOHTTP1
import OTel
import ServiceLifecycle
import Synchronization
import Tracing

/// taskgate's OpenTelemetry tracer, held by whatever starts spans (not bootstrapped globally:
/// several gateways live in one test process, and no library's own tracing — AsyncHTTPClient's
/// `url.full` would carry Alibaba's `AccessKeyId` and `Signature` — may pick it up). Absent when
/// tracing is off, so an untraced request pays one nil check.
public final class GatewayTracer: Sendable {
    let tracer: any Tracer
    /// With `parentbased_traceidratio`, the share of new traces kept, decided here before
    /// swift-otel is asked: it makes a trace id and a span id (the system's random source,
    /// under one lock) for every span, even one its sampler then drops — most of the cost of
    /// a hot answer at 1%. nil: swift-otel's sampler decides alone.
    let rootRatio: Double?
    private let draws = Atomic<UInt64>(UInt64.random(in: .min ... .max))

    init(tracer: any Tracer, rootRatio: Double? = nil) {
        self.tracer = tracer
        self.rootRatio = rootRatio
    }

    /// The tracer and the service that exports its spans (run it beside the server); nil when
    /// tracing is off.
    static func make(
        _ configuration: TracingConfiguration,
        environment: [String: String],
        logger: Logger
    ) throws(ConfigurationError) -> (tracer: GatewayTracer, exporter: any Service)? {
        guard configuration.isEnabled(environment: environment) else { return nil }
        let (sampler, ratio) = configuration.effectiveSampler(environment: environment)
        var otel = OTel.Configuration.default
        otel.serviceName = configuration.serviceName
        otel.resourceAttributes = configuration.resourceAttributes
        otel.diagnosticLogger = .custom(logger)
        otel.diagnosticLogLevel = .warning
        otel.propagators = [.traceContext]
        otel.logs.enabled = false
        otel.metrics.enabled = false
        otel.traces.enabled = true
        otel.traces.exporter = .otlp
        otel.traces.otlpExporter.protocol = configuration.protocol == .httpJSON ? .httpJSON : .httpProtobuf
        if let endpoint = configuration.endpoint {
            let base = endpoint.absoluteString
            otel.traces.otlpExporter.endpoint = base + (base.hasSuffix("/") ? "v1/traces" : "/v1/traces")
        }
        otel.traces.sampler =
            switch sampler {
            case .alwaysOn: .alwaysOn
            case .alwaysOff: .alwaysOff
            case .traceIDRatio: .traceIDRatio(ratio: ratio) ?? .alwaysOn
            case .parentBasedAlwaysOn: .parentBasedAlwaysOn
            case .parentBasedAlwaysOff: .parentBasedAlwaysOff
            // New traces are sampled here (`rootRatio`); what reaches swift-otel is kept.
            case .parentBasedTraceIDRatio: .parentBasedAlwaysOn
            }
        // swift-otel applies the OTEL_* variables over this configuration: taskgate has read the
        // sampler ones itself (`effectiveSampler`), so they must not apply twice.
        if sampler == .parentBasedTraceIDRatio {
            for name in ["OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"] where environment[name] != nil { unsetenv(name) }
        }
        otel.traces.batchSpanProcessor.scheduleDelay = configuration.batchDelay
        otel.traces.batchSpanProcessor.maxQueueSize = configuration.batchMaxQueue
        otel.traces.batchSpanProcessor.maxExportBatchSize = min(512, configuration.batchMaxQueue)
        do {
            let backend = try OTel.makeTracingBackend(configuration: otel)
            let rootRatio = sampler == .parentBasedTraceIDRatio ? ratio : nil
            return (GatewayTracer(tracer: backend.factory, rootRatio: rootRatio), backend.service)
        } catch {
            throw ConfigurationError(key: "tracing", "cannot start the OTLP exporter: \(error)")
        }
    }

    /// Whether a new trace is kept (`rootRatio`): one atomic step of a SplitMix64 sequence.
    private func keepsNewTrace() -> Bool {
        guard let rootRatio else { return true }
        var z = draws.wrappingAdd(0x9E37_79B9_7F4A_7C15, ordering: .relaxed).newValue
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Double((z ^ (z >> 31)) >> 11) * 0x1p-53 < rootRatio
    }

    /// The context of work whose trace was not kept: nothing under it starts a span.
    static let unsampled: ServiceContext = {
        var context = ServiceContext.topLevel
        context[NotSampledKey.self] = true
        return context
    }()

    private enum NotSampledKey: ServiceContextKey {
        typealias Value = Bool
    }

    /// A span whose parent is the W3C trace context in `carrier` (`traceparent`, `tracestate`),
    /// or a new trace when it has none; nil when that new trace is not kept.
    func startSpan<Carrier, Extract: Extractor>(
        _ name: String,
        kind: SpanKind,
        parentIn carrier: Carrier,
        using extractor: Extract,
        at start: DefaultTracerClock.Instant = DefaultTracerClock.now
    ) -> (any Span)? where Extract.Carrier == Carrier {
        var context = ServiceContext.topLevel
        // Most requests carry no trace context: nothing to read then.
        if extractor.extract(key: "traceparent", from: carrier) != nil {
            tracer.extract(carrier, into: &context, using: extractor)
        } else if !keepsNewTrace() {
            return nil
        }
        return tracer.startSpan(name, context: context, ofKind: kind, at: start)
    }

    /// A span, child of the span this task works in (`ServiceContext.current`), if any; nil
    /// under work whose trace was not kept, or for a new trace not kept.
    func startSpan(_ name: String, kind: SpanKind = .internal, at start: DefaultTracerClock.Instant = DefaultTracerClock.now) -> (any Span)? {
        let current = ServiceContext.current
        if current?[NotSampledKey.self] == true { return nil }
        if current == nil, !keepsNewTrace() { return nil }
        return tracer.startSpan(name, context: current ?? .topLevel, ofKind: kind, at: start)
    }

    /// A span that starts a trace of its own and links to the trace `traceparent` names (a
    /// task's first request): how background work on a task joins its story. nil when the new
    /// trace is not kept.
    func startLinkedSpan(_ name: String, kind: SpanKind = .internal, linkedTo traceparent: String?) -> (any Span)? {
        guard keepsNewTrace() else { return nil }
        let span = tracer.startSpan(name, context: .topLevel, ofKind: kind)
        if let linked = context(traceparent: traceparent) { span.addLink(SpanLink(context: linked, attributes: [:])) }
        return span
    }

    /// Links `span` to the trace `traceparent` names (a task's first request), if it names one.
    func link(_ span: any Span, to traceparent: String?) {
        if let linked = context(traceparent: traceparent) { span.addLink(SpanLink(context: linked, attributes: [:])) }
    }

    /// Runs `work` in a span of its own — child of the current span if there is one, else the
    /// start of a trace — linked to the task's first request (`traceparent`), current inside it
    /// so the vendor calls `work` makes are its children.
    func withTaskSpan<T>(
        _ name: String,
        linkedTo traceparent: String?,
        attributes: SpanAttributes = [:],
        _ work: () async -> T
    ) async -> T {
        let span =
            ServiceContext.current == nil
            ? startLinkedSpan(name, linkedTo: traceparent)
            : startSpan(name)
        guard let span else {
            // Not kept: neither is anything `work` starts.
            return await ServiceContext.withValue(ServiceContext.current ?? Self.unsampled) { await work() }
        }
        if ServiceContext.current != nil, let traceparent, let linked = context(traceparent: traceparent),
            traceparent != currentTraceparent()
        {
            span.addLink(SpanLink(context: linked, attributes: [:]))
        }
        span.attributes.merge(attributes)
        defer { span.end() }
        return await ServiceContext.withValue(span.context) { await work() }
    }

    /// The `traceparent` header value of `span` (`00-<trace id>-<span id>-<flags>`).
    func traceparent(of span: any Span) -> String? { traceparent(of: span.context) }

    /// The `traceparent` of the span this task works in, if any: what a task's row keeps from
    /// the first request that saw it.
    func currentTraceparent() -> String? { ServiceContext.current.flatMap(traceparent(of:)) }

    private func traceparent(of context: ServiceContext) -> String? {
        var fields: [String: String] = [:]
        tracer.inject(context, into: &fields, using: DictionaryInjector())
        return fields["traceparent"]
    }

    /// The trace and span ids of a sampled span, for log lines; nil for one not recorded.
    func ids(of span: any Span) -> TraceIDs? {
        guard span.isRecording, let traceparent = traceparent(of: span) else { return nil }
        return TraceIDs(traceparent: traceparent)
    }

    private func context(traceparent: String?) -> ServiceContext? {
        guard let traceparent, TraceIDs(traceparent: traceparent) != nil else { return nil }
        var context = ServiceContext.topLevel
        tracer.extract(["traceparent": traceparent], into: &context, using: DictionaryExtractor())
        return context
    }
}

extension Optional where Wrapped == GatewayTracer {
    /// `GatewayTracer.withTaskSpan`, or `work` alone when tracing is off.
    func withTaskSpan<T>(
        _ name: String,
        linkedTo traceparent: @autoclosure () -> String?,
        attributes: @autoclosure () -> SpanAttributes = [:],
        _ work: () async -> T
    ) async -> T {
        guard let tracer = self else { return await work() }
        return await tracer.withTaskSpan(name, linkedTo: traceparent(), attributes: attributes(), work)
    }
}

/// A W3C trace context's ids, as log lines carry them.
struct TraceIDs: Equatable, Sendable {
    var traceID: String
    var spanID: String

    /// Parses `00-<32 hex>-<16 hex>-<2 hex>`; nil for anything else.
    init?(traceparent: String) {
        let parts = traceparent.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0].count == 2, parts[1].count == 32, parts[2].count == 16, parts[3].count == 2,
            parts.allSatisfy({ $0.utf8.allSatisfy { Hex.isLowercaseDigit($0) } })
        else { return nil }
        traceID = String(parts[1])
        spanID = String(parts[2])
    }
}

struct DictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}

struct DictionaryExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}

/// Reads `traceparent` and `tracestate` from a request the hot path parsed.
struct HTTPHeadersExtractor: Extractor {
    func extract(key: String, from carrier: HTTPHeaders) -> String? { carrier.first(name: key) }
}

/// Reads `traceparent` and `tracestate` from a request Hummingbird parsed.
struct HTTPFieldsExtractor: Extractor {
    func extract(key: String, from carrier: HTTPFields) -> String? { HTTPField.Name(key).flatMap { carrier[$0] } }
}

/// Writes `traceparent` into an outgoing request's headers (webhook deliveries).
struct HTTPHeadersInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout HTTPHeaders) { carrier.replaceOrAdd(name: key, value: value) }
}
