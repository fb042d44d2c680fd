import Foundation

/// OpenTelemetry traces (`tracing`), exported over OTLP/HTTP. Off unless an endpoint is set,
/// here or by `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`. The standard
/// `OTEL_*` variables (`OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_SERVICE_NAME`,
/// `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`/`_ARG`, `OTEL_BSP_*`,
/// `OTEL_EXPORTER_OTLP_HEADERS`) override these keys, as every OpenTelemetry SDK lets them.
///
/// Keys:
/// - `tracing.endpoint` (URL, optional): the collector's OTLP/HTTP base URL
///   (`http://otel-collector:4318`); spans go to its `/v1/traces`.
/// - `tracing.protocol` (string, default `http/protobuf`): or `http/json`.
/// - `tracing.service_name` (string, default `taskgate`): the `service.name` resource attribute.
/// - `tracing.resource_attributes` (string, optional): more resource attributes,
///   `deployment.environment=prod,service.namespace=media`.
/// - `tracing.sampler` (string, default `parentbased_always_on`): `always_on`, `always_off`,
///   `traceidratio`, `parentbased_always_on`, `parentbased_always_off`,
///   `parentbased_traceidratio`. A parent-based sampler follows the caller's `traceparent`;
///   with `parentbased_traceidratio` taskgate keeps new traces at the ratio itself
///   (`GatewayTracer.rootRatio`).
/// - `tracing.sampler_arg` (number 0…1, default `1`): the ratio of the `traceidratio` samplers.
/// - `tracing.batch_delay` (duration, default `5s`): how long spans wait to be sent in a batch.
/// - `tracing.batch_max_queue` (integer, default `2048`): spans kept waiting; beyond it new ones
///   are dropped, never the requests.
public struct TracingConfiguration: Sendable {
    public var endpoint: URL?
    public var `protocol` = ExportProtocol.httpProtobuf
    public var serviceName = "taskgate"
    public var resourceAttributes: [String: String] = [:]
    public var sampler = Sampler.parentBasedAlwaysOn
    public var samplerArgument = 1.0
    public var batchDelay: Duration = .seconds(5)
    public var batchMaxQueue = 2048

    public enum ExportProtocol: String, Sendable {
        case httpProtobuf = "http/protobuf"
        case httpJSON = "http/json"
    }

    public enum Sampler: String, Sendable, CaseIterable {
        case alwaysOn = "always_on"
        case alwaysOff = "always_off"
        case traceIDRatio = "traceidratio"
        case parentBasedAlwaysOn = "parentbased_always_on"
        case parentBasedAlwaysOff = "parentbased_always_off"
        case parentBasedTraceIDRatio = "parentbased_traceidratio"
    }

    static let keys: Set<String> = [
        "endpoint", "protocol", "service_name", "resource_attributes", "sampler", "sampler_arg", "batch_delay", "batch_max_queue",
    ]

    public init() {}

    init(values: ConfigValues) throws(ConfigurationError) {
        if values.string("endpoint") != nil { endpoint = try values.endpoint("endpoint") }
        if let text = values.string("protocol") {
            guard let value = ExportProtocol(rawValue: text) else {
                throw ConfigurationError(key: values.fullKey("protocol"), "is not http/protobuf or http/json: \(text)")
            }
            `protocol` = value
        }
        serviceName = values.string("service_name") ?? serviceName
        if let text = values.string("resource_attributes") {
            guard let attributes = Self.attributes(text) else {
                throw ConfigurationError(key: values.fullKey("resource_attributes"), "is not a list of key=value pairs separated by commas")
            }
            resourceAttributes = attributes
        }
        if let text = values.string("sampler") {
            guard let value = Sampler(rawValue: text) else {
                throw ConfigurationError(
                    key: values.fullKey("sampler"),
                    "is not one of \(Sampler.allCases.map(\.rawValue).joined(separator: ", ")): \(text)"
                )
            }
            sampler = value
        }
        if let text = values.string("sampler_arg") {
            guard let ratio = Double(text), (0...1).contains(ratio) else {
                throw ConfigurationError(key: values.fullKey("sampler_arg"), "is not a number from 0 to 1: \(text)")
            }
            samplerArgument = ratio
        }
        batchDelay = try values.duration("batch_delay", default: batchDelay, range: 0.001...60)
        batchMaxQueue = try values.integer("batch_max_queue", default: batchMaxQueue, range: 1...1_000_000)
    }

    /// `k=v,k2=v2` (the `OTEL_RESOURCE_ATTRIBUTES` form); nil when a pair has no `=` or no key.
    static func attributes(_ text: String) -> [String: String]? {
        var attributes: [String: String] = [:]
        for pair in text.split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { return nil }
            let key = parts[0].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty else { return nil }
            attributes[key] = parts[1].trimmingCharacters(in: .whitespaces)
        }
        return attributes
    }

    /// The sampler and its ratio in force: `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`
    /// over the keys, as every OpenTelemetry SDK reads them (an unknown value is ignored).
    func effectiveSampler(environment: [String: String]) -> (Sampler, Double) {
        let sampler = environment["OTEL_TRACES_SAMPLER"].flatMap { Sampler(rawValue: $0.lowercased()) } ?? self.sampler
        let ratio = environment["OTEL_TRACES_SAMPLER_ARG"].flatMap(Double.init).flatMap { (0...1).contains($0) ? $0 : nil }
        return (sampler, ratio ?? samplerArgument)
    }

    /// Whether traces are exported: an endpoint here or in the environment, and the SDK not
    /// switched off there (`OTEL_SDK_DISABLED=true`, `OTEL_TRACES_EXPORTER=none`).
    func isEnabled(environment: [String: String]) -> Bool {
        if environment["OTEL_SDK_DISABLED"]?.lowercased() == "true" || environment["OTEL_TRACES_EXPORTER"]?.lowercased() == "none" {
            return false
        }
        return endpoint != nil || environment["OTEL_EXPORTER_OTLP_ENDPOINT"] != nil
            || environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] != nil
    }
}
