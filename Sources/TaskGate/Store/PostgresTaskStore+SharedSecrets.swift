import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// `SharedSecretStore`: secrets every replica shares.
extension PostgresTaskStore {
    public func sharedSecret(named name: String, candidate: [UInt8]) async throws(GatewayError) -> [UInt8] {
        let candidate = ByteBuffer(bytes: candidate)
        return try await perform("write") {
            try await self.client.query(
                "INSERT INTO gateway_secret (name, value) VALUES (\(name), \(candidate)) ON CONFLICT (name) DO NOTHING",
                logger: self.logger
            )
            for try await value in try await self.client.query("SELECT value FROM gateway_secret WHERE name = \(name)", logger: self.logger)
                .decode(ByteBuffer.self)
            {
                return Array(value.readableBytesView)
            }
            return []
        }
    }
}
