import Foundation
import GRDB
import Logging
import NIOCore
import Synchronization

/// `ArtifactStore`: kept files, once per SHA-256.
extension SQLiteTaskStore {
    public func keepArtifact(_ artifact: StoredArtifact) async throws(GatewayError) {
        try await perform("write") {
            try await self.pool.write { db in
                try db.execute(
                    sql: "INSERT INTO artifact (sha256, content_type, size, body, body_gzip) VALUES (?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
                    arguments: [
                        artifact.sha256, artifact.contentType, artifact.body.readableBytes, Data(artifact.body.readableBytesView),
                        artifact.gzipBody.map { Data($0.readableBytesView) },
                    ]
                )
            }
        }
    }

    public func artifact(sha256: String) async throws(GatewayError) -> StoredArtifact? {
        try await perform("read") {
            try await self.pool.read { db in
                try Row.fetchOne(db, sql: "SELECT content_type, body, body_gzip FROM artifact WHERE sha256 = ?", arguments: [sha256]).map { row in
                    let body: Data = row["body"]
                    let gzip: Data? = row["body_gzip"]
                    return StoredArtifact(
                        sha256: sha256,
                        contentType: row["content_type"],
                        body: ByteBuffer(bytes: body),
                        gzipBody: gzip.map { ByteBuffer(bytes: $0) }
                    )
                }
            }
        }
    }
}
