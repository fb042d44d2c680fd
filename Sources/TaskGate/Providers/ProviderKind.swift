/// A vendor kind taskgate can talk to: its name in configuration, its own keys and rate defaults,
/// and the type of its settings, which builds its providers.
///
/// Adding a vendor: a folder under Providers/ (its settings, provider and reply), a simulator, and
/// one entry in `all` (and one in the simulators' registry).
public struct ProviderKind: Sendable {
    /// The `kind` value in configuration, e.g. `capmonster`.
    public let name: String
    /// Keys this kind reads under `providers.<name>` besides the common ones.
    public let settingKeys: Set<String>
    /// Vendor requests per second allowed when `rate_limit` is not set: the vendor's published limit.
    public let defaultRateLimit: Int
    /// Tokens saved up when `rate_burst` is not set: 1 (evenly spaced) for vendors that count
    /// per second, more where only an overall rate matters.
    public let defaultRateBurst: Int
    /// Where the vendor's own storage hands out result files: `mirror_hosts` when not set.
    public let defaultMirrorHosts: [String]
    /// How long the vendor keeps a task: `watch_horizon` when not set.
    public let defaultWatchHorizon: Duration
    /// The kind's settings, read from configuration.
    let settings: any VendorSettings.Type

    init(
        name: String,
        settingKeys: Set<String>,
        defaultRateLimit: Int,
        defaultRateBurst: Int = 1,
        defaultMirrorHosts: [String] = [],
        defaultWatchHorizon: Duration,
        settings: any VendorSettings.Type
    ) {
        self.name = name
        self.settingKeys = settingKeys
        self.defaultRateLimit = defaultRateLimit
        self.defaultRateBurst = defaultRateBurst
        self.defaultMirrorHosts = defaultMirrorHosts
        self.defaultWatchHorizon = defaultWatchHorizon
        self.settings = settings
    }

    public static let all: [ProviderKind] = [CapMonsterSettings.kind, AliyunSettings.kind, TencentSettings.kind]

    public static func named(_ name: String) -> ProviderKind? {
        all.first { $0.name == name }
    }
}

/// A vendor kind's own settings (credentials, its own limits): read from the provider's scope of
/// the configuration file, or built in code by the demo and the tests.
public protocol VendorSettings: Sendable {
    static var kind: ProviderKind { get }
    /// Reads and checks the kind's own keys; every error names its key.
    init(values: ConfigValues) throws(ConfigurationError)
    /// The credential's public part (Alibaba AccessKeyId, Tencent SecretId; CapMonster has only
    /// its client key): budgets and rates belong to the account it names, whatever the provider's
    /// name. Only ever stored hashed (`ProviderConfiguration.accountKey`).
    var accountID: String { get }
    /// A provider of this kind, on the vendor channel and store `environment` gives it.
    func makeProvider(_ configuration: ProviderConfiguration, environment: ProviderEnvironment) -> any Provider
    /// How often the background watch may ask about one task when `watch_interval` is not set.
    var defaultWatchInterval: Duration { get }
    /// The least time the vendor allows between two requests about one task: no not-final
    /// answer is reused for less, whatever `status_ttl` says (`CachePolicy`).
    var pollingFloor: Duration { get }
    /// The vendor's limit on requests about one task, when it has one: counted in the store for
    /// the account (`TaskCallBudget`), built into the provider's vendor channel.
    var perTaskLimit: PerTaskLimit? { get }
}

/// A vendor's limit on requests about one task: at most `requests`, `spacing` apart.
public struct PerTaskLimit: Sendable, Equatable {
    public var requests: Int
    public var spacing: Duration
}

extension VendorSettings {
    public var defaultWatchInterval: Duration { .seconds(30) }
    public var pollingFloor: Duration { .zero }
    public var perTaskLimit: PerTaskLimit? { nil }
}
