import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `/healthz`, `/readyz` and `/openapi.yaml`.
struct OperationsController: Sendable {
    let store: any TaskStore

    func addRoutes(to router: Router<GatewayRequestContext>) {
        router.get("/healthz") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "application/json", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#))
            )
        }
        router.get("/readyz") { _, _ in
            try await store.checkReadable()
            return Response(
                status: .ok,
                headers: [.contentType: "application/json", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ready"}"#))
            )
        }
        let specification = OpenAPIDocument.bytes
        router.get("/openapi.yaml") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "application/yaml", .cacheControl: "public, max-age=300"],
                body: .init(byteBuffer: specification)
            )
        }
    }
}

/// The OpenAPI document shipped with the binary (openapi/openapi.yaml), read once.
enum OpenAPIDocument {
    static let bytes: ByteBuffer = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"),
            let data = try? Data(contentsOf: url)
        else { return ByteBuffer(string: "openapi: 3.1.0\n") }
        return ByteBuffer(bytes: data)
    }()
}
