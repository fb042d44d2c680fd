import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// `ArtifactStore`: kept files, once per SHA-256.
extension PostgresTaskStore {
    public func keepArtifact(_ artifact: StoredArtifact) async throws(GatewayError) {
        let (sha256, contentType, size, body, gzip) = (
            artifact.sha256, artifact.contentType, artifact.body.readableBytes, artifact.body, artifact.gzipBody
        )
        try await perform("write", within: .seconds(60)) {
            try await self.client.query(
                """
                INSERT INTO artifact (sha256, content_type, size, body, body_gzip) VALUES (\(sha256), \(contentType), \(size), \(body), \(gzip))
                ON CONFLICT (sha256) DO NOTHING
                """,
                logger: self.logger
            )
        }
    }

    public func artifact(sha256: String) async throws(GatewayError) -> StoredArtifact? {
        try await perform("read", within: .seconds(60)) {
            let rows = try await self.client.query(
                "SELECT content_type, body, body_gzip FROM artifact WHERE sha256 = \(sha256)",
                logger: self.logger
            )
            for try await (contentType, body, gzip) in rows.decode((String, ByteBuffer, ByteBuffer?).self) {
                return StoredArtifact(sha256: sha256, contentType: contentType, body: body, gzipBody: gzip)
            }
            return nil
        }
    }
}
