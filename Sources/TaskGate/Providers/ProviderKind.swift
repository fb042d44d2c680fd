/// A vendor kind taskgate can talk to, and how to build a provider of it from configuration.
///
/// Adding a vendor: a folder under Providers/, a simulator, and one entry in `all`.
public struct ProviderKind: Sendable {
    public typealias Builder = @Sendable (ProviderConfiguration, ProviderEnvironment) -> any Provider

    /// The `kind` value in configuration, e.g. `capmonster`.
    public let name: String
    /// Keys this kind reads under `providers.<name>` besides the common ones.
    public let settingKeys: Set<String>
    /// Vendor requests per second allowed when `rate_limit` is not set: the vendor's published limit.
    public let defaultRateLimit: Int
    /// Tokens saved up when `rate_burst` is not set: 1 (evenly spaced) for vendors that count
    /// per second, more where only an overall rate matters.
    public let defaultRateBurst: Int
    /// Reads and checks the kind's own keys (errors name the key) and returns the builder.
    let prepare: @Sendable (ConfigValues) throws(ConfigurationError) -> Builder

    init(
        name: String,
        settingKeys: Set<String>,
        defaultRateLimit: Int,
        defaultRateBurst: Int = 1,
        prepare: @escaping @Sendable (ConfigValues) throws(ConfigurationError) -> Builder
    ) {
        self.name = name
        self.settingKeys = settingKeys
        self.defaultRateLimit = defaultRateLimit
        self.defaultRateBurst = defaultRateBurst
        self.prepare = prepare
    }

    public static let all: [ProviderKind] = [.capmonster, .aliyunMultimediaAI, .tencentMPS]

    public static func named(_ name: String) -> ProviderKind? {
        all.first { $0.name == name }
    }
}
