import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle

/// The SQLite store's group writer until shutdown; then the store closes, last, once nothing
/// can write to it.
struct StoreService: Service {
    let store: SQLiteTaskStore
    let logger: Logger

    func run() async throws {
        await withGracefulShutdownHandler {
            await store.runWriter()
        } onGracefulShutdown: {
            store.stopWriter()
        }
        do {
            try store.close()
        } catch {
            logger.error("closing the store failed", metadata: ["error": "\(SQLiteTaskStore.describe(error))"])
        }
    }
}
