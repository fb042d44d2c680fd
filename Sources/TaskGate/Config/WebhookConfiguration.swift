import Foundation

/// One receiver told when a task turns final (`webhooks.<name>`), in the Standard Webhooks
/// format (standardwebhooks.com).
///
/// Keys:
/// - `url` (URL, required): where events are POSTed.
/// - `secret` (secret, required): `whsec_` and the base64 of the signing key, as Standard
///   Webhooks libraries make and read it.
/// - `providers` (list, default every provider): whose tasks it hears about.
/// `webhook_timeout` (top level, default `10s`) bounds each delivery attempt.
public struct WebhookConfiguration: Sendable, Equatable {
    public var name: String
    public var url: URL
    /// The HMAC-SHA256 key: the secret's base64 after `whsec_`, decoded.
    public var key: [UInt8]
    /// nil: every provider.
    public var providers: Set<String>?

    static let keys: Set<String> = ["url", "secret", "providers"]

    public init(name: String, url: URL, secret: String, providers: Set<String>? = nil) throws(ConfigurationError) {
        self.name = name
        self.url = url
        guard let key = Self.key(fromSecret: secret) else {
            throw ConfigurationError(key: "webhooks.\(name).secret", "is not whsec_ followed by base64 (a Standard Webhooks secret)")
        }
        self.key = key
        self.providers = providers
    }

    init(name: String, values: ConfigValues, providerNames: [String]) throws(ConfigurationError) {
        let url = try values.endpoint("url")
        let secret = try values.requiredString("secret", isSecret: true)
        var providers: Set<String>?
        if let names = try values.list("providers") {
            for provider in names where !providerNames.contains(provider) {
                throw ConfigurationError(key: values.fullKey("providers"), "names \(provider), which is not a configured provider")
            }
            providers = Set(names)
        }
        try self.init(name: name, url: url, secret: secret, providers: providers)
    }

    /// Whether events about `provider`'s tasks go to this receiver.
    func covers(_ provider: String) -> Bool { providers?.contains(provider) ?? true }

    static func key(fromSecret secret: String) -> [UInt8]? {
        guard secret.hasPrefix("whsec_"), let key = Data(base64Encoded: String(secret.dropFirst(6))), !key.isEmpty else { return nil }
        return Array(key)
    }
}
