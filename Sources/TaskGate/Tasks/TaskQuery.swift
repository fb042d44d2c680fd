import Crypto
import Foundation

/// The validated query of `GET /tasks?status=&provider=&limit=&cursor=`.
public struct TaskQuery: Sendable, Equatable {
    public var status: TaskStatus?
    /// Provider instance names, in the order they are listed.
    public var providers: [String]
    public var limit: Int
    public var cursor: TaskCursor?
    /// `vendor.<Name>=value`: the vendor's own list filters, for a query naming one provider.
    public var vendorFilters: [VendorFilter] = []

    public static let limits = 1...200
    public static let defaultLimit = 50
    static let parameters: Set<String> = ["status", "provider", "limit", "cursor"]

    /// Parses and checks the query parameters.
    /// - Parameters:
    ///   - configured: every configured provider name, sorted; the default set.
    ///   - vendorFilterNames: the `vendor.*` filters a provider's list call accepts.
    public init(
        parameters: [(String, String)],
        configured: [String],
        vendorFilterNames: (String) -> [String] = { _ in [] }
    ) throws(GatewayError) {
        var seen: Set<String> = []
        for (name, _) in parameters {
            guard Self.parameters.contains(name) || name.hasPrefix("vendor.") else {
                throw GatewayError(.invalidQuery, "Unknown query parameter \(name); known: cursor, limit, provider, status, vendor.<Name>.")
            }
            guard seen.insert(name).inserted else {
                throw GatewayError(.invalidQuery, "Query parameter \(name) is given more than once.")
            }
        }
        let value = { (name: String) in parameters.first { $0.0 == name }?.1 }

        if let text = value("status") {
            guard let status = TaskStatus(rawValue: text) else {
                throw GatewayError(.invalidQuery, "status must be one of queued, running, succeeded, failed.")
            }
            self.status = status
        }
        if let text = value("provider") {
            var names: [String] = []
            for name in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
                guard configured.contains(name) else {
                    throw GatewayError(.invalidQuery, "provider \(name.isEmpty ? "(empty)" : name) is not configured.")
                }
                if !names.contains(name) { names.append(name) }
            }
            providers = names
        } else {
            providers = configured
        }
        if let text = value("limit") {
            guard let limit = Int(text), Self.limits.contains(limit) else {
                throw GatewayError(.invalidQuery, "limit must be an integer from \(Self.limits.lowerBound) to \(Self.limits.upperBound).")
            }
            self.limit = limit
        } else {
            limit = Self.defaultLimit
        }
        let vendorParameters = parameters.filter { $0.0.hasPrefix("vendor.") }
        if !vendorParameters.isEmpty {
            guard value("provider") != nil, providers.count == 1 else {
                throw GatewayError(.invalidQuery, "vendor.* filters need provider to name exactly one provider.")
            }
            let accepted = vendorFilterNames(providers[0])
            for (name, filterValue) in vendorParameters {
                let vendorName = String(name.dropFirst("vendor.".count))
                guard accepted.contains(vendorName) else {
                    let known = accepted.isEmpty ? "none" : accepted.map { "vendor.\($0)" }.joined(separator: ", ")
                    throw GatewayError(.invalidQuery, "\(name) is not a filter of provider \(providers[0]); it accepts: \(known).")
                }
                vendorFilters.append(VendorFilter(name: vendorName, value: filterValue))
            }
            vendorFilters.sort { $0.name < $1.name }
        }
        if let text = value("cursor") {
            let cursor = try TaskCursor(encoded: text)
            guard cursor.filter == TaskCursor.filter(status: status, providers: providers, vendorFilters: vendorFilters),
                cursor.providerIndex < providers.count
            else {
                throw GatewayError(.invalidQuery, "The cursor belongs to a different query (status, provider and vendor.* must stay the same).")
            }
            self.cursor = cursor
        }
    }
}

/// Where the next page starts: which provider, and that provider's own page token.
///
/// Opaque to callers: base64url of a small JSON object, bound to the query's filter.
public struct TaskCursor: Sendable, Equatable, Codable {
    var filter: String
    var providerIndex: Int
    var token: String?

    enum CodingKeys: String, CodingKey {
        case filter = "f"
        case providerIndex = "i"
        case token = "t"
    }

    init(filter: String, providerIndex: Int, token: String?) {
        self.filter = filter
        self.providerIndex = providerIndex
        self.token = token
    }

    init(encoded: String) throws(GatewayError) {
        var base64 = encoded.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard encoded.count <= 2048, let data = Data(base64Encoded: base64),
            let cursor = try? JSONDecoder().decode(TaskCursor.self, from: data), cursor.providerIndex >= 0
        else {
            throw GatewayError(.invalidQuery, "The cursor is not one taskgate made.")
        }
        self = cursor
    }

    var encoded: String {
        let data = (try? JSONEncoder().encode(self)) ?? Data()
        return data.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// A short digest of the filter, so a cursor cannot be replayed against another query.
    static func filter(status: TaskStatus?, providers: [String], vendorFilters: [VendorFilter] = []) -> String {
        var text = (status?.rawValue ?? "*") + "|" + providers.joined(separator: ",")
        for filter in vendorFilters { text += "|\(filter.name)=\(filter.value)" }
        return Data(SHA256.hash(data: Array(text.utf8)).prefix(6)).base64EncodedString()
    }
}
