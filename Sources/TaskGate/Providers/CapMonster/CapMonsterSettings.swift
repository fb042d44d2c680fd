import Foundation

/// `kind: capmonster` (CapMonster Cloud and other anti-captcha protocol vendors).
///
/// Keys:
/// - `client_key` (string, required, secret): the account's API key.
/// - `result_budget` (integer, default `110`, at most `120`): `getTaskResult` requests taskgate
///   makes per task; the vendor refuses past 120.
/// - `min_poll_interval` (duration, default `2s`, at least `2s`): shortest time between two
///   requests about one task; also the least a not-final answer is reused.
public struct CapMonsterSettings: VendorSettings {
    public static let kind = ProviderKind(
        name: "capmonster",
        settingKeys: ["client_key", "result_budget", "min_poll_interval"],
        defaultRateLimit: 1000,
        // Many tasks fall due together (a batch created at once); only the overall rate matters.
        defaultRateBurst: 1000,
        // The vendor forgets a result minutes after it is ready.
        defaultWatchHorizon: .seconds(600),
        settings: CapMonsterSettings.self
    )

    public var clientKey: String
    public var resultBudget = 110
    public var minPollInterval: Duration = .seconds(2)

    public init(clientKey: String) {
        self.clientKey = clientKey
    }

    public init(values: ConfigValues) throws(ConfigurationError) {
        self.init(clientKey: try values.requiredString("client_key", isSecret: true))
        resultBudget = try values.integer("result_budget", default: resultBudget, range: 1...120)
        minPollInterval = try values.duration("min_poll_interval", default: minPollInterval, range: 2...3600)
    }

    public var accountID: String { clientKey }

    /// Never sooner than the vendor allows one task to be asked about.
    public var defaultWatchInterval: Duration { minPollInterval }

    /// A not-final answer is reused at least as long as the vendor wants between two requests.
    public var pollingFloor: Duration { minPollInterval }

    /// `result_budget` getTaskResult requests per task, `min_poll_interval` apart.
    public var perTaskLimit: PerTaskLimit? { PerTaskLimit(requests: resultBudget, spacing: minPollInterval) }

    public func makeProvider(_ configuration: ProviderConfiguration, environment: ProviderEnvironment) -> any Provider {
        CapMonsterProvider(
            name: configuration.name,
            resultURL: configuration.endpoint.appending(path: "getTaskResult").absoluteString,
            clientKey: clientKey,
            environment: environment
        )
    }
}
