import Crypto
import Foundation
import Synchronization

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
