import Foundation

/// How long a served answer may be reused, sent as `Cache-Control`.
///
/// A final answer never changes, unless its result holds signed links: they die, so the answer
/// is good only until shortly before they do (`link_refresh_margin`), when taskgate asks the
/// vendor for fresh ones.
enum Freshness: Sendable, Equatable {
    /// Final, and nothing in it expires.
    case immutable
    /// Final, with signed links: reusable for `maxAge` seconds, ending the margin before they expire.
    case linked(maxAge: Int)
    /// Not final (or a final one past its links' margin): `maxAge` seconds until taskgate asks the
    /// vendor again; 0 for an answer served stale.
    case transient(maxAge: Int)

    func cacheControl(_ scope: CacheScope) -> String {
        switch self {
        case .immutable: "\(scope.rawValue), max-age=31536000, immutable"
        case .linked(let maxAge): "\(scope.rawValue), max-age=\(maxAge)"
        case .transient(let maxAge): scope == .private ? "private, max-age=\(maxAge)" : "max-age=\(maxAge)"
        }
    }

    /// A final answer's freshness at `now`; nil once its links are within `margin` seconds of
    /// expiring (or expired): time to ask the vendor for fresh ones.
    static func final(linksExpireAt: Date?, margin: Double, now: Date) -> Freshness? {
        guard let linksExpireAt else { return .immutable }
        let seconds = linksExpireAt.timeIntervalSince(now) - margin
        // Rounded down: a cache must never hold the answer past the links; at most a year, as
        // long as an immutable answer (a link may claim any expiry).
        return seconds >= 1 ? .linked(maxAge: min(Seconds.whole(seconds), 31_536_000)) : nil
    }
}

/// Who may reuse an answer from a cache (RFC 9111 §3.5): with caller keys configured every task
/// answer, listing and kept file was given to one key, so a shared cache in front must never hand
/// it to a caller without one — `private`. Without keys they are `public`.
enum CacheScope: String, Sendable {
    case `public`
    case `private`

    init(_ auth: AuthConfiguration) { self = auth.isEnabled ? .private : .public }

    /// A listing's `Cache-Control`: revalidated every time.
    var listing: String { self == .private ? "private, no-cache" : "no-cache" }
}
