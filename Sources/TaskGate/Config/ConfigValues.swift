import Configuration
import Foundation

/// Reads one scope of the configuration (the top level, or `providers.<name>`) and turns every
/// bad value into a `ConfigurationError` that names the full key.
public struct ConfigValues: Sendable {
    let reader: ConfigReader
    /// Key components leading to this scope, for error messages.
    let path: [String]

    init(reader: ConfigReader, path: [String]) {
        self.reader = reader
        self.path = path
    }

    func scoped(to component: String) -> ConfigValues {
        ConfigValues(reader: reader, path: path + [component])
    }

    public func fullKey(_ name: String) -> String { (path + [name]).joined(separator: ".") }

    private func key(_ name: String) -> ConfigKey { ConfigKey(path + [name]) }

    public func string(_ name: String, isSecret: Bool = false) -> String? {
        guard let value = reader.string(forKey: key(name), isSecret: isSecret) else { return nil }
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        return trimmed.isEmpty ? nil : trimmed
    }

    public func requiredString(_ name: String, isSecret: Bool = false) throws(ConfigurationError) -> String {
        guard let value = string(name, isSecret: isSecret) else {
            throw ConfigurationError(key: fullKey(name), "is required" + (isSecret ? " (a credential)" : ""))
        }
        return value
    }

    /// An http(s) URL with a host and no query, e.g. `https://api.capmonster.cloud`.
    public func endpoint(_ name: String) throws(ConfigurationError) -> URL {
        let text = try requiredString(name)
        guard let components = URLComponents(string: text),
            let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = components.host, !host.isEmpty,
            components.query == nil, components.fragment == nil, components.user == nil,
            let url = components.url
        else {
            throw ConfigurationError(
                key: fullKey(name),
                "is not an http(s) URL with a host, without credentials or a query: \(RedactedURL.text(text))"
            )
        }
        return url
    }

    /// A duration: plain seconds (`2`, `0.5`) or with a unit (`500ms`, `2s`, `1m`, `6h`, `3d`).
    public func duration(_ name: String, default value: Duration, range: ClosedRange<Double>) throws(ConfigurationError) -> Duration {
        guard let text = string(name) else { return value }
        guard let duration = Self.duration(text, range: range) else {
            throw ConfigurationError(
                key: fullKey(name),
                "is not a duration between \(range.lowerBound)s and \(range.upperBound)s: \(text)"
            )
        }
        return duration
    }

    /// `text` as a duration (plain seconds or with a unit) within `range` seconds; nil otherwise.
    /// Query parameters (`?wait=30s`) are read the same way.
    static func duration(_ text: String, range: ClosedRange<Double>) -> Duration? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        var number = Substring(text)
        var scale = 1.0
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            number = text.dropLast(suffix.count)
            scale = factor
            break
        }
        guard let amount = Double(number.trimmingCharacters(in: .whitespaces)), amount.isFinite, range.contains(amount * scale),
            (amount * scale).magnitude < 1e12
        else { return nil }
        return .milliseconds(Int64((amount * scale * 1000).rounded()))
    }

    public func integer(_ name: String, default value: Int, range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let text = string(name) else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw ConfigurationError(key: fullKey(name), "is not an integer in \(range.lowerBound)…\(range.upperBound): \(text)")
        }
        return number
    }

    /// A size in bytes: plain (`1048576`) or with a unit (`512KiB`, `64MiB`, `1GiB`, `64MB`).
    public func size(_ name: String, default value: Int, range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let text = string(name) else { return value }
        guard let size = Self.size(text, range: range) else {
            throw ConfigurationError(key: fullKey(name), "is not a size like 64MiB within \(range.upperBound >> 20)MiB: \(text)")
        }
        return size
    }

    /// `text` as a size in bytes (plain, or with a unit) within `range`; nil otherwise, an
    /// amount whose bytes overflow among them.
    static func size(_ text: String, range: ClosedRange<Int>) -> Int? {
        let units: [(String, Int)] = [
            ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("KB", 1000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("B", 1),
        ]
        var number = Substring(text)
        var scale = 1
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            number = text.dropLast(suffix.count)
            scale = factor
            break
        }
        guard let amount = Int(number.trimmingCharacters(in: .whitespaces)) else { return nil }
        let (bytes, overflow) = amount.multipliedReportingOverflow(by: scale)
        return !overflow && range.contains(bytes) ? bytes : nil
    }

    /// A list: a YAML sequence, or a comma-separated string (handy in environment variables);
    /// nil when the key is not set.
    /// - Throws: when it is set but names nothing (an empty variable, `,`): for a key's scope,
    ///   "every provider" must be said by leaving the key out.
    public func list(_ name: String) throws(ConfigurationError) -> [String]? {
        let values: [String]
        if let array = reader.stringArray(forKey: key(name)) {
            values = array
        } else if let text = reader.string(forKey: key(name)) {
            values = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        } else {
            return nil
        }
        let entries = values.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !entries.isEmpty else {
            throw ConfigurationError(key: fullKey(name), "is set but names nothing (leave the key out for its default)")
        }
        return entries
    }

    /// `true` or `false`.
    public func bool(_ name: String, default value: Bool) throws(ConfigurationError) -> Bool {
        guard let text = string(name) else { return value }
        switch text.lowercased() {
        case "true": return true
        case "false": return false
        default: throw ConfigurationError(key: fullKey(name), "is not true or false: \(text)")
        }
    }
}
