import Foundation

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
