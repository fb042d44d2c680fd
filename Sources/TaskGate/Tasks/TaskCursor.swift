import Crypto
import Foundation
import Synchronization

/// Where the next page of `GET /tasks` starts: which provider, and that provider's own page token.
///
/// Opaque to callers and sealed (`CursorKey`): a cursor taskgate did not make, or made for
/// another query, is refused before anything reads its contents.
public struct TaskCursor: Sendable, Equatable, Codable {
    var providerIndex: Int
    var token: String?

    enum CodingKeys: String, CodingKey {
        case providerIndex = "i"
        case token = "t"
    }

    /// Longer cursors are refused unread.
    static let maxLength = 2048

    static let notOurs = GatewayError(
        .invalidQuery,
        "The cursor is not one taskgate made for this query (status, provider and vendor.* must stay the same)."
    )
}
