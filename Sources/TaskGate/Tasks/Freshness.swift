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

    static let immutableCacheControl = "public, max-age=31536000, immutable"

    var cacheControl: String {
        switch self {
        case .immutable: Self.immutableCacheControl
        case .linked(let maxAge): "public, max-age=\(maxAge)"
        case .transient(let maxAge): "max-age=\(maxAge)"
        }
    }

    /// A final answer's freshness at `now`; nil once its links are within `margin` seconds of
    /// expiring (or expired): time to ask the vendor for fresh ones.
    static func final(linksExpireAt: Date?, margin: Double, now: Date) -> Freshness? {
        guard let linksExpireAt else { return .immutable }
        let seconds = linksExpireAt.timeIntervalSince(now) - margin
        // Rounded down: a cache must never hold the answer past the links.
        return seconds >= 1 ? .linked(maxAge: Int(seconds.rounded(.down))) : nil
    }
}
