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

    /// Throws `invalid-query` for a parameter that is not in `known` (nor `vendor.<Name>` where
    /// `vendorFilters`), or is given twice: every route reads its query this strictly.
    static func checkNames(of parameters: [(String, String)], known: Set<String>, vendorFilters: Bool = false) throws(GatewayError) {
        var seen: Set<String> = []
        for (name, _) in parameters {
            guard known.contains(name) || (vendorFilters && name.hasPrefix("vendor.")) else {
                let names = known.sorted() + (vendorFilters ? ["vendor.<Name>"] : [])
                throw GatewayError(
                    .invalidQuery,
                    "Unknown query parameter \(name); known: \(names.isEmpty ? "none" : names.joined(separator: ", "))."
                )
            }
            guard seen.insert(name).inserted else {
                throw GatewayError(.invalidQuery, "Query parameter \(name) is given more than once.")
            }
        }
    }

    /// What a cursor is bound to: the query's status, providers and vendor filters, each
    /// written unambiguously (a cursor cannot be replayed against another query).
    var binding: String {
        var parts = [status?.rawValue ?? "*", providers.joined(separator: ",")]
        parts += vendorFilters.map { "\($0.name)=\($0.value)" }
        return parts.map { "\($0.utf8.count):\($0)" }.joined()
    }
    static let parameters: Set<String> = ["status", "provider", "limit", "cursor"]

    /// `provider=a,b`: configured names, each once, in the order given (`GET /tasks`, `GET /events`).
    static func providerNames(_ text: String, configured: [String]) throws(GatewayError) -> [String] {
        var names: [String] = []
        for name in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            guard configured.contains(name) else {
                throw GatewayError(.invalidQuery, "provider \(name.isEmpty ? "(empty)" : name) is not configured.")
            }
            if !names.contains(name) { names.append(name) }
        }
        return names
    }

    /// Parses and checks the query parameters.
    /// - Parameters:
    ///   - configured: every configured provider name, sorted; the default set.
    ///   - cursorKey: what a `cursor` must be sealed with (`TaskCursor`).
    ///   - vendorFilterNames: the `vendor.*` filters a provider's list call accepts.
    init(
        parameters: [(String, String)],
        configured: [String],
        cursorKey: CursorKey,
        vendorFilterNames: (String) -> [String] = { _ in [] }
    ) throws(GatewayError) {
        try Self.checkNames(of: parameters, known: Self.parameters, vendorFilters: true)
        let value = { (name: String) in parameters.first { $0.0 == name }?.1 }

        if let text = value("status") {
            guard let status = TaskStatus(rawValue: text) else {
                throw GatewayError(.invalidQuery, "status must be one of queued, running, succeeded, failed.")
            }
            self.status = status
        }
        if let text = value("provider") {
            providers = try Self.providerNames(text, configured: configured)
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
            let cursor = try cursorKey.open(text, binding: binding)
            guard cursor.providerIndex < providers.count else { throw TaskCursor.notOurs }
            self.cursor = cursor
        }
    }
}
