import Configuration
import Foundation
import Logging
import SystemPackage
import Yams

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
    static let scopes: Set<String> = ["providers", "auth", "limits", "webhooks", "tracing"]

    init(yaml: String, file: String) throws(ConfigurationError) {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigurationError(key: file, "is not valid YAML")
        }
        for key in GatewayConfiguration.topLevelKeys.subtracting(Self.scopes) { leaves[key] = false }
        for key in LimitsConfiguration.keys { leaves["limits.\(key)"] = false }
        for key in TracingConfiguration.keys { leaves["tracing.\(key)"] = false }
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
            case "tracing":
                try Self.checkKeys(of: value, at: "tracing", known: TracingConfiguration.keys)
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
        for (key, value) in top where key.string == "limits" || key.string == "auth" || key.string == "tracing" {
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
