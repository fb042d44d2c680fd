import Foundation

/// `kind: tencent-mps` (Tencent Cloud Media Processing Service).
///
/// Keys:
/// - `secret_id` (string, required) and `secret_key` (string, required, secret).
/// - `region` (string, optional): sent as `X-TC-Region` when set.
public struct TencentSettings: VendorSettings {
    public static let kind = ProviderKind(
        name: "tencent-mps",
        settingKeys: ["region", "secret_id", "secret_key"],
        defaultRateLimit: 100,
        // COS, where MPS writes its outputs.
        defaultMirrorHosts: [".myqcloud.com", ".tencentcos.cn"],
        // MPS keeps task details three days.
        defaultWatchHorizon: .seconds(3 * 86_400),
        settings: TencentSettings.self
    )

    public var secretID: String
    public var secretKey: String
    public var region: String?

    public var accountID: String { secretID }

    public init(secretID: String, secretKey: String, region: String? = nil) {
        self.secretID = secretID
        self.secretKey = secretKey
        self.region = region
    }

    public init(values: ConfigValues) throws(ConfigurationError) {
        self.init(
            secretID: try values.requiredString("secret_id"),
            secretKey: try values.requiredString("secret_key", isSecret: true),
            region: values.string("region")
        )
    }

    public func makeProvider(_ configuration: ProviderConfiguration, environment: ProviderEnvironment) -> any Provider {
        TencentMPSProvider(
            name: configuration.name,
            endpoint: configuration.endpoint,
            region: region,
            secretID: secretID,
            secretKey: secretKey,
            environment: environment
        )
    }
}
