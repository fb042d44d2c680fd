import Crypto
import Foundation

/// Who may call taskgate (`auth`): optional bearer keys, each stored as its SHA-256.
///
/// Keys:
/// - `auth.keys.<name>.sha256` (64 hex digits, required per key): SHA-256 of the bearer token
///   (`printf %s "$TOKEN" | sha256sum`); the token itself is never in the configuration.
/// - `auth.keys.<name>.providers` (list, default every provider): the providers the key may read.
/// - `auth.keys.<name>.metrics` (bool, default `false`): the key may read `/metrics`.
/// - `auth.keys.<name>.admin` (bool, default `false`): the key may list webhook deliveries and
///   queue them again (`/webhooks/…`) for webhooks whose providers it covers. Without such a key
///   those routes answer 403, keys configured or not.
/// - `auth.metrics_requires_key` (bool, default `false`): `/metrics` needs a key with `metrics: true`.
/// With no keys configured every route is open. `/healthz`, `/readyz` and `/openapi.yaml` are
/// always open.
public struct AuthConfiguration: Sendable {
    public struct Key: Sendable {
        /// The configured name, for logs and metrics (never the token).
        public var name: String
        public var digest: [UInt8]
        /// nil: every provider.
        public var providers: Set<String>?
        public var metrics: Bool
        public var admin = false

        func covers(_ provider: String) -> Bool { providers?.contains(provider) ?? true }
    }

    public var keys: [Key] = []
    public var metricsRequiresKey = false

    static let keySettings: Set<String> = ["sha256", "providers", "metrics", "admin"]

    init() {}

    init(values: ConfigValues, keyNames: [String], providerNames: [String]) throws(ConfigurationError) {
        for name in keyNames {
            let scope = values.scoped(to: "keys").scoped(to: name)
            let hex = try scope.requiredString("sha256", isSecret: true).lowercased()
            guard let digest = Hex.decode(hex), digest.count == SHA256.byteCount else {
                throw ConfigurationError(key: scope.fullKey("sha256"), "is not a SHA-256 digest (64 hex digits)")
            }
            var providers: Set<String>?
            if let names = try scope.list("providers") {
                for provider in names where !providerNames.contains(provider) {
                    throw ConfigurationError(key: scope.fullKey("providers"), "names \(provider), which is not a configured provider")
                }
                providers = Set(names)
            }
            var key = Key(name: name, digest: digest, providers: providers, metrics: try scope.bool("metrics", default: false))
            key.admin = try scope.bool("admin", default: false)
            keys.append(key)
        }
        metricsRequiresKey = try values.bool("metrics_requires_key", default: false)
        if metricsRequiresKey, !keys.contains(where: \.metrics) {
            throw ConfigurationError(key: values.fullKey("metrics_requires_key"), "is true but no key has metrics: true")
        }
    }

    public var isEnabled: Bool { !keys.isEmpty }

    /// The key an `Authorization: Bearer <key>` header presents; nil for no header, another
    /// scheme, or an unknown key.
    func key(forAuthorization header: String?) -> Key? {
        guard let header, header.utf8.count > 7, header.prefix(7).lowercased() == "bearer " else { return nil }
        return key(matching: header.dropFirst(7))
    }

    /// The key whose digest matches `token`'s. Every configured key is compared, each in
    /// constant time, so the time taken says nothing about which bytes matched.
    func key(matching token: Substring) -> Key? {
        let digest = Array(SHA256.hash(data: Array(token.utf8)))
        var found: Key?
        for key in keys {
            var difference: UInt8 = 0
            for (a, b) in zip(key.digest, digest) { difference |= a ^ b }
            if difference == 0 { found = key }
        }
        return found
    }
}
