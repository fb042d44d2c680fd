import CompressNIO
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import TaskGate
import TaskGateSimulators
import Testing

/// Request ids: the caller's kept when safe, made otherwise, echoed and logged.
@Suite(.timeLimit(.minutes(2))) struct RequestIDMiddlewareTests {
    static let xRequestID = HTTPField.Name("X-Request-Id")!

    @Test func callersRequestIdIsEchoedAndLogged() async throws {
        let logs = LogRecorder()
        try await withCapMonsterGateway(logs: logs) { client, sim in
            addTask(sim.state, id: "66", .state(.running))
            let response = try await client.get("/tasks/capmonster/66", [Self.xRequestID: "req-abc-123"])
            #expect(response.headers[Self.xRequestID] == "req-abc-123")
            let problem = try await client.get("/tasks/capmonster/zzz", [Self.xRequestID: "req-def-456"])
            #expect(problem.headers[Self.xRequestID] == "req-def-456")
            #expect(try problem.json()["requestId"] as? String == "req-def-456")
        }
        let lines = logs.lines.filter { $0.metadata["request_id"] == "req-abc-123" }
        #expect(lines.contains { $0.message == "request" && $0.metadata["path"] == "/tasks/capmonster/66" })
        #expect(lines.contains { $0.message == "vendor call" && $0.metadata["provider"] == "capmonster" })
    }

    @Test func aMissingOrUnsafeRequestIdIsReplaced() async throws {
        try await withCapMonsterGateway { client, _ in
            let made = try await client.get("/healthz")
            let id = try #require(made.headers[Self.xRequestID])
            #expect(id.count == 32 && id.allSatisfy(\.isHexDigit))
            let unsafe = try await client.get("/healthz", [Self.xRequestID: "a b\tc"])
            #expect(unsafe.headers[Self.xRequestID] != "a b\tc")
            #expect(unsafe.headers[Self.xRequestID]?.count == 32)
        }
    }
}
