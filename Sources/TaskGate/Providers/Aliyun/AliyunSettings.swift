import Foundation

/// `kind: aliyun-multimediaai` (Alibaba Cloud Multimedia AI).
///
/// Keys:
/// - `region` (string, required): e.g. `cn-shanghai`.
/// - `access_key_id` (string, required) and `access_key_secret` (string, required, secret).
/// - `signature` (string, default `rpc`): `rpc` (HMAC-SHA1) or `v3` (ACS3-HMAC-SHA256).
public struct AliyunSettings: VendorSettings {
    public static let kind = ProviderKind(
        name: "aliyun-multimediaai",
        settingKeys: ["region", "access_key_id", "access_key_secret", "signature"],
        defaultRateLimit: 100,
        // OSS, where multimediaai writes its result files.
        defaultMirrorHosts: [".aliyuncs.com"],
        defaultWatchHorizon: .seconds(7 * 86_400),
        settings: AliyunSettings.self
    )

    public var region: String
    public var accessKeyID: String
    public var accessKeySecret: String
    public var signature = SignatureScheme.rpc

    public enum SignatureScheme: String, Sendable {
        case rpc
        case v3
    }

    public var accountID: String { accessKeyID }

    public init(region: String, accessKeyID: String, accessKeySecret: String) {
        self.region = region
        self.accessKeyID = accessKeyID
        self.accessKeySecret = accessKeySecret
    }

    public init(values: ConfigValues) throws(ConfigurationError) {
        self.init(
            region: try values.requiredString("region"),
            accessKeyID: try values.requiredString("access_key_id"),
            accessKeySecret: try values.requiredString("access_key_secret", isSecret: true)
        )
        let schemeText = values.string("signature") ?? signature.rawValue
        guard let scheme = SignatureScheme(rawValue: schemeText) else {
            throw ConfigurationError(key: values.fullKey("signature"), "must be rpc or v3: \(schemeText)")
        }
        signature = scheme
    }

    public func makeProvider(_ configuration: ProviderConfiguration, environment: ProviderEnvironment) -> any Provider {
        AliyunMultimediaAIProvider(
            name: configuration.name,
            endpoint: configuration.endpoint,
            region: region,
            accessKeyID: accessKeyID,
            accessKeySecret: accessKeySecret,
            scheme: signature,
            environment: environment
        )
    }
}
