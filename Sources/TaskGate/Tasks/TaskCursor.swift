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

/// Seals cursors with HMAC-SHA256 over the query they are bound to and their contents:
/// `base64url(JSON) "." base64url(MAC)`. The key is shared by every replica (`CursorKeyring`),
/// so a cursor made by one is taken by all.
struct CursorKey: Sendable {
    /// The key's bytes (`SymmetricKey` is not `Sendable`).
    let bytes: [UInt8]

    private var key: SymmetricKey { SymmetricKey(data: bytes) }

    func seal(_ cursor: TaskCursor, binding: String) -> String {
        let payload = (try? JSONEncoder().encode(cursor)) ?? Data()
        let mac = HMAC<SHA256>.authenticationCode(for: Self.signed(payload: payload, binding: binding), using: key)
        return Base64URL.encode(payload) + "." + Base64URL.encode(Data(mac))
    }

    /// - Throws: `invalid-query` (400) for anything but a cursor this key sealed for `binding`.
    func open(_ text: String, binding: String) throws(GatewayError) -> TaskCursor {
        let parts = text.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard text.utf8.count <= TaskCursor.maxLength, parts.count == 2,
            let payload = Base64URL.decode(Substring(parts[0])), let mac = Base64URL.decode(Substring(parts[1])),
            HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Self.signed(payload: payload, binding: binding), using: key),
            let cursor = try? JSONDecoder().decode(TaskCursor.self, from: payload), cursor.providerIndex >= 0
        else { throw TaskCursor.notOurs }
        return cursor
    }

    private static func signed(payload: Data, binding: String) -> Data {
        Data("taskgate-cursor-v1\n\(binding)\n".utf8) + payload
    }
}

/// The cursor key: `cursor_secret` from the configuration, or a random key the store keeps
/// (made by the first process to start; every replica on the same store reads the same one).
/// Read from the store once, on the first listing.
final class CursorKeyring: Sendable {
    private let store: any SharedSecretStore
    private let cached: Mutex<CursorKey?>

    static let secretName = "cursor_key"

    init(store: any SharedSecretStore, configuredSecret: String?) {
        self.store = store
        cached = Mutex(configuredSecret.map { CursorKey(bytes: Array(SHA256.hash(data: Array($0.utf8)))) })
    }

    func key() async throws(GatewayError) -> CursorKey {
        if let key = cached.withLock({ $0 }) { return key }
        let candidate = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        let kept = try await store.sharedSecret(named: Self.secretName, candidate: candidate)
        guard kept.count >= 32 else {
            throw GatewayError(.storeUnavailable, "The store's cursor key is not readable.")
        }
        let key = CursorKey(bytes: kept)
        cached.withLock { $0 = key }
        return key
    }
}

/// Base64url without padding (RFC 4648 §5), as cursors are written.
enum Base64URL {
    static func encode(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// nil for any byte outside the alphabet, or a length no encoding has.
    static func decode(_ text: Substring) -> Data? {
        guard
            text.utf8.allSatisfy({ byte in
                switch byte {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                    UInt8(ascii: "-"), UInt8(ascii: "_"):
                    true
                default: false
                }
            }), text.utf8.count % 4 != 1
        else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.utf8.count % 4) % 4)
        return Data(base64Encoded: base64)
    }
}
