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
    /// Sorted by name.
    public var webhooks: [WebhookConfiguration] = []
    public var webhookTimeout: Duration = .seconds(10)
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
        "providers", "auth", "limits", "webhooks", "webhook_timeout",
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
        if let secret = values.string("cursor_secret", isSecret: true) {
            guard secret.utf8.count >= 32 else { throw ConfigurationError(key: "cursor_secret", "is shorter than 32 characters") }
            cursorSecret = secret
        }
    }
}

/// The shape of the YAML file: which providers exist, that no key is misspelt, and that every
/// value has the shape its key takes — one value, or a list where a list belongs. (A
/// `ConfigReader` answers lookups but cannot list keys, and it drops a value of the wrong type
/// silently; the key's default would then apply, failing open.)
struct ConfigLayout {
    var providerNames: [String] = []
    var authKeyNames: [String] = []
    var webhookNames: [String] = []
    /// Every leaf key the file may set, dotted (`providers.aliyun.region`), with whether it
    /// takes a list; the environment is checked against them.
    var leaves: [String: Bool] = [:]

    /// Leaf keys that take a list (a YAML sequence in the file, `a,b` in the environment); every other
    /// takes one value.
    static let listKeys: Set<String> = ["providers", "mirror_hosts"]
    static let scopes: Set<String> = ["providers", "auth", "limits", "webhooks"]

    init(yaml: String, file: String) throws(ConfigurationError) {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigurationError(key: file, "is not valid YAML")
        }
        for key in GatewayConfiguration.topLevelKeys.subtracting(Self.scopes) { leaves[key] = false }
        for key in LimitsConfiguration.keys { leaves["limits.\(key)"] = false }
        leaves["auth.metrics_requires_key"] = false
        guard let root else { return }
        guard let top = root.mapping else { throw ConfigurationError(key: file, "must be a YAML mapping") }
        for (key, value) in top {
            guard let name = key.string, GatewayConfiguration.topLevelKeys.contains(name) else {
                throw ConfigurationError(
                    key: key.string ?? "?",
                    "is not a known key (known: \(GatewayConfiguration.topLevelKeys.sorted().joined(separator: ", ")))"
                )
            }
            switch name {
            case "limits":
                try Self.checkKeys(of: value, at: "limits", known: LimitsConfiguration.keys)
            case "auth":
                try Self.checkKeys(of: value, at: "auth", known: ["keys", "metrics_requires_key"])
                guard let keys = value.mapping?["keys"] else { continue }
                for (keyName, settings) in try Self.entries(of: keys, at: "auth.keys", naming: "key") {
                    try checkScope(settings, at: "auth.keys.\(keyName)", known: AuthConfiguration.keySettings)
                    authKeyNames.append(keyName)
                }
            case "webhooks":
                for (webhookName, settings) in try Self.entries(of: value, at: "webhooks", naming: "webhook") {
                    try checkScope(settings, at: "webhooks.\(webhookName)", known: WebhookConfiguration.keys)
                    webhookNames.append(webhookName)
                }
            case "providers":
                for (providerName, settings) in try Self.entries(of: value, at: "providers", naming: "provider") {
                    guard let mapping = settings.mapping else {
                        throw ConfigurationError(key: "providers.\(providerName)", "must be a mapping")
                    }
                    // A missing or unknown kind is reported by `ProviderConfiguration`, naming `kind`.
                    var allowed = ProviderConfiguration.commonKeys
                    if let kindName = mapping["kind"]?.string, let kind = ProviderKind.named(kindName) {
                        allowed.formUnion(kind.settingKeys)
                    } else {
                        allowed = Set(mapping.keys.compactMap(\.string))
                    }
                    try checkScope(settings, at: "providers.\(providerName)", known: allowed)
                    providerNames.append(providerName)
                }
            default:
                try Self.checkLeaf(value, at: name, list: false)
            }
        }
        for (key, value) in top where key.string == "limits" || key.string == "auth" {
            for (leaf, setting) in value.mapping ?? [:] where leaf.string != "keys" {
                try Self.checkLeaf(setting, at: "\(key.string ?? "?").\(leaf.string ?? "?")", list: false)
            }
        }
    }

    /// The named entries of a mapping of names (`providers`, `auth.keys`, `webhooks`); none when null.
    private static func entries(of node: Node, at path: String, naming what: String) throws(ConfigurationError) -> [(String, Node)] {
        if node.null != nil { return [] }
        guard let mapping = node.mapping else { throw ConfigurationError(key: path, "must be a mapping of \(what) names") }
        var entries: [(String, Node)] = []
        for (key, value) in mapping {
            let name = key.string ?? ""
            guard ProviderConfiguration.isValidName(name) else {
                throw ConfigurationError(key: "\(path).\(name)", "is not a valid \(what) name (lowercase letters, digits, - and _)")
            }
            entries.append((name, value))
        }
        return entries
    }

    /// Checks one named entry's settings: known keys only, each of its shape; records its leaves.
    private mutating func checkScope(_ node: Node, at path: String, known: Set<String>) throws(ConfigurationError) {
        try Self.checkKeys(of: node, at: path, known: known)
        for key in known { leaves["\(path).\(key)"] = Self.listKeys.contains(key) }
        for (key, value) in node.mapping ?? [:] {
            let name = key.string ?? "?"
            try Self.checkLeaf(value, at: "\(path).\(name)", list: Self.listKeys.contains(name))
        }
    }

    /// Throws unless `node` is one non-empty value, or (`list`) a non-empty YAML sequence of such values.
    static func checkLeaf(_ node: Node, at path: String, list: Bool) throws(ConfigurationError) {
        switch node {
        case .scalar:
            guard node.null == nil, let text = node.string, !text.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw ConfigurationError(key: path, "has no value (leave the key out for its default)")
            }
            // `a,b` is the environment's way to write a list; in the file a list is a sequence.
            guard !list else { throw ConfigurationError(key: path, "takes a list ([\(text)]), not one value") }
        case .sequence(let items) where list:
            guard !items.isEmpty else { throw ConfigurationError(key: path, "is an empty list (leave the key out for its default)") }
            for item in items {
                guard case .scalar = item, item.null == nil, let text = item.string, !text.trimmingCharacters(in: .whitespaces).isEmpty else {
                    throw ConfigurationError(key: path, "must be a list of plain values")
                }
            }
        case .sequence:
            throw ConfigurationError(key: path, "takes one value, not a list")
        case .mapping:
            throw ConfigurationError(key: path, list ? "takes a list, not a mapping" : "takes one value, not a mapping")
        case .alias:
            throw ConfigurationError(key: path, "is a YAML alias; write the value itself")
        }
    }

    /// Throws for an environment variable that would make a leaf key a mapping
    /// (`AUTH_KEYS_OPS_PROVIDERS_ALIYUN=true` under the list `auth.keys.ops.providers`): the
    /// environment's counterpart of a mapping in the file. Only the scopes' variables are read.
    func checkEnvironment(_ environment: [String: String]) throws(ConfigurationError) {
        let names = Dictionary(leaves.keys.map { (Self.environmentName($0), $0) }, uniquingKeysWith: { first, _ in first })
        let scoped = Self.scopes.map { $0.uppercased() + "_" }
        for variable in environment.keys.sorted() where names[variable] == nil && scoped.contains(where: variable.hasPrefix) {
            for (name, key) in names where variable.hasPrefix(name + "_") {
                throw ConfigurationError(key: key, "is given as a mapping by the environment variable \(variable); it takes one value")
            }
        }
    }

    /// `providers.aliyun-bj.access_key_secret` → `PROVIDERS_ALIYUN_BJ_ACCESS_KEY_SECRET`.
    static func environmentName(_ key: String) -> String {
        String(key.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
    }

    /// Throws unless `node` is a mapping (or empty) whose keys are all in `known`.
    private static func checkKeys(of node: Node, at path: String, known: Set<String>) throws(ConfigurationError) {
        if node.null != nil { return }
        guard let mapping = node.mapping else { throw ConfigurationError(key: path, "must be a mapping") }
        for key in mapping.keys where !known.contains(key.string ?? "?") {
            throw ConfigurationError(
                key: "\(path).\(key.string ?? "?")",
                "is not a known key (known: \(known.sorted().joined(separator: ", ")))"
            )
        }
    }
}
