import Foundation

/// One provider instance under `providers.<name>`.
///
/// Keys every kind has:
/// - `kind` (string, required): `capmonster`, …; see `ProviderKind.all`.
/// - `endpoint` (URL, required): the vendor's base URL; a simulator's for tests and demos.
/// - `status_ttl` (duration, default `2s`): how long a not-final answer is reused before the
///   vendor is asked again.
/// - `timeout` (duration, default `10s`): the whole vendor call, connect included.
/// - `stale_max` (duration, default `60s`): when the vendor fails (timeout, throttling, 5xx,
///   garbage), an earlier not-final answer at most this old is served instead, marked
///   `X-Cache: STALE` with `Age`; `0s` turns this off.
/// Credentials and other keys belong to the kind.
public struct ProviderConfiguration: Sendable {
    public var name: String
    public var kind: ProviderKind
    public var endpoint: URL
    public var statusTTL: Duration
    public var timeout: Duration
    public var staleMax: Duration
    /// This provider's scope of the configuration, for kind-specific keys.
    public var values: ConfigValues
    let build: ProviderKind.Builder

    static let commonKeys: Set<String> = ["kind", "endpoint", "status_ttl", "timeout", "stale_max"]

    static func isValidName(_ name: String) -> Bool {
        guard let first = name.utf8.first, (0x61...0x7A).contains(first) || (0x30...0x39).contains(first) else { return false }
        return name.utf8.count <= 64
            && name.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D || $0 == 0x5F }
    }

    init(name: String, values: ConfigValues) throws(ConfigurationError) {
        let kindName = try values.requiredString("kind")
        guard let kind = ProviderKind.named(kindName) else {
            throw ConfigurationError(
                key: values.fullKey("kind"),
                "unknown kind \(kindName) (known: \(ProviderKind.all.map(\.name).joined(separator: ", ")))"
            )
        }
        self.name = name
        self.kind = kind
        self.values = values
        self.endpoint = try values.endpoint("endpoint")
        self.statusTTL = try values.duration("status_ttl", default: .seconds(2), range: 0...3600)
        self.timeout = try values.duration("timeout", default: .seconds(10), range: 0.001...600)
        self.staleMax = try values.duration("stale_max", default: .seconds(60), range: 0...86_400)
        self.build = try kind.prepare(values)
    }

    /// Builds the provider; the configuration was validated when it was loaded.
    public func makeProvider(environment: ProviderEnvironment) -> any Provider {
        build(self, environment)
    }
}
