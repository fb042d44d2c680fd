import Foundation

/// Where the task store lives: an SQLite file (the embedded default) or a PostgreSQL database
/// shared by several replicas (`postgres://user:password@host:port/database?sslmode=disable`).
public enum StoreLocation: Sendable, Equatable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(PostgresStoreURL)

    /// Reads the `store` key: a `postgres://` or `postgresql://` URL, else a file path.
    public init(parsing text: String) throws(ConfigurationError) {
        let lowered = text.lowercased()
        guard lowered.hasPrefix("postgres://") || lowered.hasPrefix("postgresql://") else {
            guard !text.isEmpty else { throw ConfigurationError(key: "store", "is empty; give a file path or a postgres:// URL") }
            self = .sqlite(path: text)
            return
        }
        self = .postgres(try PostgresStoreURL(parsing: text))
    }

    /// For logs and `check-config`: the password is never shown.
    public var description: String {
        switch self {
        case .sqlite(let path): path
        case .postgres(let url): url.description
        }
    }
}

/// A PostgreSQL store URL, read into its parts. The password is a secret: `description` hides it.
public struct PostgresStoreURL: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var requiresTLS: Bool

    init(parsing text: String) throws(ConfigurationError) {
        // URLComponents reads userinfo, host, port, path and query, and undoes percent-escapes.
        guard let components = URLComponents(string: text), let host = components.host, !host.isEmpty else {
            throw ConfigurationError(key: "store", "is not a postgres://user:password@host:port/database URL")
        }
        guard let user = components.user, !user.isEmpty else {
            throw ConfigurationError(key: "store", "names no user (postgres://user:password@host:port/database)")
        }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else {
            throw ConfigurationError(key: "store", "names no database (postgres://user:password@host:port/database)")
        }
        var requiresTLS = false
        for item in components.queryItems ?? [] {
            switch (item.name, item.value) {
            case ("sslmode", "disable"): requiresTLS = false
            case ("sslmode", "require"): requiresTLS = true
            case ("sslmode", _): throw ConfigurationError(key: "store", "sslmode must be disable or require")
            default: throw ConfigurationError(key: "store", "has an unknown parameter \(item.name); known: sslmode")
            }
        }
        guard let port = components.port ?? 5432 as Int?, (1...65535).contains(port) else {
            throw ConfigurationError(key: "store", "has a port outside 1–65535")
        }
        self.host = host
        self.port = port
        self.user = user
        self.password = components.password
        self.database = database
        self.requiresTLS = requiresTLS
    }

    public var description: String {
        "postgres://\(user)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)?sslmode=\(requiresTLS ? "require" : "disable")"
    }
}
