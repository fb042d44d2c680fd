import Crypto
import Foundation
import Synchronization

/// Seals cursors with HMAC-SHA256 over the query they are bound to and their contents:
/// `base64url(JSON) "." base64url(MAC)`. The key is shared by every replica (`CursorKeyring`),
/// so a cursor made by one is taken by all.
struct CursorKey: Sendable {
    /// The key's bytes (`SymmetricKey` is not `Sendable`).
    let bytes: [UInt8]

    private var key: SymmetricKey { SymmetricKey(data: bytes) }

    func seal(_ cursor: some Encodable, binding: String) -> String {
        let payload = (try? JSONEncoder().encode(cursor)) ?? Data()
        let mac = HMAC<SHA256>.authenticationCode(for: Self.signed(payload: payload, binding: binding), using: key)
        return Base64URL.encode(payload) + "." + Base64URL.encode(Data(mac))
    }

    /// - Throws: `invalid-query` (400) for anything but a cursor this key sealed for `binding`.
    func open(_ text: String, binding: String) throws(GatewayError) -> TaskCursor {
        guard let cursor = open(text, as: TaskCursor.self, binding: binding), cursor.providerIndex >= 0 else { throw TaskCursor.notOurs }
        return cursor
    }

    /// The contents of a cursor this key sealed for `binding`; nil for anything else (checked
    /// before the contents are decoded).
    func open<Cursor: Decodable>(_ text: String, as type: Cursor.Type, binding: String) -> Cursor? {
        let parts = text.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard text.utf8.count <= TaskCursor.maxLength, parts.count == 2,
            let payload = Base64URL.decode(Substring(parts[0])), let mac = Base64URL.decode(Substring(parts[1])),
            HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Self.signed(payload: payload, binding: binding), using: key)
        else { return nil }
        return try? JSONDecoder().decode(Cursor.self, from: payload)
    }

    private static func signed(payload: Data, binding: String) -> Data {
        Data("taskgate-cursor-v1\n\(binding)\n".utf8) + payload
    }
}
