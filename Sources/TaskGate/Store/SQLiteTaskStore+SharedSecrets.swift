import Foundation
import GRDB
import Logging
import NIOCore
import Synchronization

/// `SharedSecretStore`: secrets every process on the file shares.
extension SQLiteTaskStore {
    public func sharedSecret(named name: String, candidate: [UInt8]) async throws(GatewayError) -> [UInt8] {
        try await perform("write") {
            try await self.pool.write { db in
                try db.execute(
                    sql: "INSERT INTO gateway_secret (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                    arguments: [name, Data(candidate)]
                )
                return try [UInt8](Data.fetchOne(db, sql: "SELECT value FROM gateway_secret WHERE name = ?", arguments: [name]) ?? Data())
            }
        }
    }
}
