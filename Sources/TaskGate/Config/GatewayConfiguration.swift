import Configuration
import Foundation
import Logging
import SystemPackage
import Yams

/// taskgate's whole configuration: YAML file first, every key overridable by environment
/// (`providers.aliyun.access_key_secret` ← `PROVIDERS_ALIYUN_ACCESS_KEY_SECRET`).
///
/// Keys (top level):
/// - `listen` (string, default `127.0.0.1:8080`): address the HTTP server binds to.
/// - `store` (string, default `taskgate.sqlite`): the SQLite file, created on first start; or a
///   `postgres://user:password@host:port/database?sslmode=disable|require` URL (`postgresql://`
///   too) for a store several replicas share. The password is a secret.
/// - `store_pool` (integer, default `8`, at least 2): PostgreSQL connections per replica, one of
///   them listening for the other replicas' saves.
/// - `log_level` (string, default `info`): trace, debug, info, notice, warning, error, critical.
/// - `log_format` (string, default `json`): `json` (one object per line) or `text`.
/// - `shutdown_grace_period` (duration, default `30s`): the longest requests in flight may take to
///   finish after SIGTERM before they are cut.
/// - `shutdown_drain_delay` (duration, default `0s`): how long `/readyz` answers 503 before the
///   listener closes, so a proxy or orchestrator stops sending work first.
/// - `cache_memory` (size, default `64MiB`): bytes of final answers kept in memory in front of the
///   store (`64MiB`, `512KiB`, or plain bytes); not-final answers get an eighth of it on top.
/// - `cursor_secret` (secret, optional, at least 32 characters): the key `GET /tasks` cursors are
///   sealed with (HMAC-SHA256). Without it the store keeps a random key made on first start,
///   which every replica on that store shares.
/// - `providers` (map): one entry per provider instance; see `ProviderConfiguration`.
/// - `auth` (map, optional): caller keys; see `AuthConfiguration`.
/// - `limits` (map, optional): connection and request bounds; see `LimitsConfiguration`.
/// - `webhooks` (map, optional): receivers told when a task turns final; see
///   `WebhookConfiguration`. `webhook_timeout` (duration, default `10s`): one delivery attempt.
/// - `tracing` (map, optional): OpenTelemetry traces; see `TracingConfiguration`.
/// - `events_retention` (duration, default `30d`): how long task events are kept for `GET /events`
///   and webhook replays; a cursor older than that is 410 `events-expired`.
/// - `events_heartbeat` (duration, default `15s`): the comment line an idle event stream sends,
///   below a proxy's read timeout (nginx: 60 s).
public struct GatewayConfiguration: Sendable {
    public var listen: ListenAddress
    public var store: StoreLocation
    /// PostgreSQL connections this replica may open.
    public var storePool = 8
    public var logLevel: Logger.Level
    public var logFormat: LogFormat = .json
    public var shutdownGracePeriod: Duration = .seconds(30)
    public var shutdownDrainDelay: Duration = .zero
    public var cacheMemoryBytes = 64 << 20
    /// nil: the store's own key seals cursors.
    public var cursorSecret: String?
    public var auth = AuthConfiguration()
    public var limits = LimitsConfiguration()
    public var tracing = TracingConfiguration()
    /// Sorted by name.
    public var webhooks: [WebhookConfiguration] = []
    public var webhookTimeout: Duration = .seconds(10)
    public var eventsRetention: Duration = .seconds(30 * 86_400)
    public var eventsHeartbeat: Duration = .seconds(15)
    /// Sorted by name, so listings and logs are stable.
    public var providers: [ProviderConfiguration]

    public init(listen: ListenAddress, store: StoreLocation, logLevel: Logger.Level, providers: [ProviderConfiguration]) {
        self.listen = listen
        self.store = store
        self.logLevel = logLevel
        self.providers = providers.sorted { $0.name < $1.name }
    }

    static let topLevelKeys: Set<String> = [
        "listen", "store", "store_pool", "log_level", "log_format", "shutdown_grace_period", "shutdown_drain_delay", "cache_memory", "cursor_secret",
        "providers", "auth", "limits", "webhooks", "webhook_timeout", "tracing", "events_retention", "events_heartbeat",
    ]

    public enum LogFormat: String, Sendable {
        case json
        case text
    }

    /// Loads and validates a configuration file; every problem names its key.
    /// - Parameter environment: the process environment (tests pass their own).
    public static func load(
        filePath: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws(ConfigurationError) -> GatewayConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: filePath, encoding: .utf8)
        } catch {
            throw ConfigurationError(key: filePath, "cannot be read")
        }
        let layout = try ConfigLayout(yaml: text, file: filePath)
        try layout.checkEnvironment(environment)
        let fileProvider: FileProvider<YAMLSnapshot>
        do {
            fileProvider = try await FileProvider<YAMLSnapshot>(filePath: FilePath(filePath))
        } catch {
            throw ConfigurationError(key: filePath, "is not valid YAML")
        }
        let reader = ConfigReader(providers: [
            EnvironmentVariablesProvider(
                environmentVariables: environment,
                secretsSpecifier: .dynamic { name, _ in
                    ["SECRET", "KEY", "TOKEN", "PASSWORD"].contains { name.uppercased().contains($0) }
                }
            ),
            fileProvider,
        ])
        var configuration = try GatewayConfiguration(values: ConfigValues(reader: reader, path: []), providerNames: layout.providerNames)
        let root = ConfigValues(reader: reader, path: [])
        configuration.auth = try AuthConfiguration(
            values: root.scoped(to: "auth"),
            keyNames: layout.authKeyNames,
            providerNames: configuration.providers.map(\.name)
        )
        configuration.limits = try LimitsConfiguration(values: root.scoped(to: "limits"))
        configuration.tracing = try TracingConfiguration(values: root.scoped(to: "tracing"))
        configuration.webhooks = try layout.webhookNames.sorted().map { name throws(ConfigurationError) in
            try WebhookConfiguration(
                name: name,
                values: root.scoped(to: "webhooks").scoped(to: name),
                providerNames: configuration.providers.map(\.name)
            )
        }
        return configuration
    }

    /// Builds the configuration from a reader; `providerNames` are the entries under `providers`.
    public init(reader: ConfigReader, providerNames: [String]) throws(ConfigurationError) {
        try self.init(values: ConfigValues(reader: reader, path: []), providerNames: providerNames)
    }

    init(values: ConfigValues, providerNames: [String]) throws(ConfigurationError) {
        let listenText = values.string("listen") ?? "127.0.0.1:8080"
        guard let listen = ListenAddress(parsing: listenText) else {
            throw ConfigurationError(key: "listen", "is not a host:port address: \(listenText)")
        }
        let levelText = values.string("log_level") ?? "info"
        guard let level = Logger.Level(rawValue: levelText.lowercased()) else {
            throw ConfigurationError(key: "log_level", "is not one of trace, debug, info, notice, warning, error, critical: \(levelText)")
        }
        var providers: [ProviderConfiguration] = []
        for name in providerNames {
            providers.append(try ProviderConfiguration(name: name, values: values.scoped(to: "providers").scoped(to: name)))
        }
        let store = try StoreLocation(parsing: values.string("store", isSecret: true) ?? "taskgate.sqlite")
        self.init(listen: listen, store: store, logLevel: level, providers: providers)
        storePool = try values.integer("store_pool", default: 8, range: 2...1000)
        let formatText = values.string("log_format") ?? "json"
        guard let format = LogFormat(rawValue: formatText) else {
            throw ConfigurationError(key: "log_format", "is not json or text: \(formatText)")
        }
        logFormat = format
        shutdownGracePeriod = try values.duration("shutdown_grace_period", default: .seconds(30), range: 0...3600)
        shutdownDrainDelay = try values.duration("shutdown_drain_delay", default: .zero, range: 0...600)
        cacheMemoryBytes = try values.size("cache_memory", default: 64 << 20, range: 0...(64 << 30))
        webhookTimeout = try values.duration("webhook_timeout", default: webhookTimeout, range: 0.1...600)
        eventsRetention = try values.duration("events_retention", default: eventsRetention, range: 60...(3650 * 86_400))
        eventsHeartbeat = try values.duration("events_heartbeat", default: eventsHeartbeat, range: 1...3600)
        if let secret = values.string("cursor_secret", isSecret: true) {
            guard secret.utf8.count >= 32 else { throw ConfigurationError(key: "cursor_secret", "is shorter than 32 characters") }
            cursorSecret = secret
        }
    }
}
