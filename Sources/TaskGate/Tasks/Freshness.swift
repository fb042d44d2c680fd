import Foundation

/// How long a served answer may be reused, sent as `Cache-Control`.
///
/// A final answer never changes, unless its result holds signed links: they die, so the answer
/// is good only until shortly before they do (`link_refresh_margin`), when taskgate asks the
/// vendor for fresh ones. ``CachePolicy`` decides which applies and the number.
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
        case .immutable: "\(scope.rawValue), max-age=\(Self.year), immutable"
        case .linked(let maxAge): "\(scope.rawValue), max-age=\(maxAge)"
        case .transient(let maxAge): scope == .private ? "private, max-age=\(maxAge)" : "max-age=\(maxAge)"
        }
    }

    /// The longest max-age sent: an immutable answer's, and the most a linked one gets.
    static let year = 31_536_000
}
