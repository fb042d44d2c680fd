import Crypto
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import TaskGate
import TaskGateSimulators
import Testing

@testable import TaskGate

@Suite(.timeLimit(.minutes(3))) struct HotPathHandlerTests {
    /// HTTP/1 framing as RFC 9112 and nginx have it: HTTP/1.0 without keep-alive closes after its
    /// answer; CONNECT and a request without exactly one Host get a framed answer, then the close.
    @Test func framingIsAnsweredAndClosedAsNginxDoes() async throws {
        try await KeyedGateway.run { port, _ in
            let cases: [(String, Int, Bool)] = [
                ("GET /healthz HTTP/1.0\r\n\r\n", 200, true),
                ("GET /healthz HTTP/1.0\r\nHost: taskgate\r\n\r\n", 200, true),
                ("GET /healthz HTTP/1.1\r\nHost: taskgate\r\nConnection: close\r\n\r\n", 200, true),
                ("CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n", 405, true),
                ("GET /healthz HTTP/1.1\r\n\r\n", 400, true),
                ("GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, true),
                ("GET /healthz HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400, true),
                ("GET /tasks/capmonster/\(KeyedGateway.task) HTTP/1.1\r\nAuthorization: Bearer token-ops\r\n\r\n", 400, true),
                ("GET /healthz HTTP/1.1\r\nHost: taskgate\r\n\r\n", 200, false),
            ]
            for (request, status, closes) in cases {
                let connection = try await RawHTTPConnection.open(port: port)
                connection.send(request)
                let answer = try #require(try await connection.readAnswer(), "\(request)")
                #expect(answer.status == status, "\(request)")
                #expect(answer.header("Content-Length") != nil, "\(request): framed")
                if closes {
                    #expect(try await connection.isClosedByServer(), "\(request)")
                    #expect(answer.header("Connection") == "close", "\(request)")
                }
                if status == 405 { #expect(answer.header("Allow") == "GET, HEAD") }
            }
            // Behind an answer under way, a refused request is answered in order, then the close.
            let connection = try await RawHTTPConnection.open(port: port)
            connection.send(
                "GET /tasks HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer token-ops\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"
                    + "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
            )
            #expect(try await connection.readAnswer()?.status == 200)
            #expect(try await connection.readAnswer()?.status == 400)
            #expect(try await connection.isClosedByServer())
        }
    }
}
