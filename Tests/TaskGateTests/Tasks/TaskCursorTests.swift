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

/// Listing cursors are sealed and bound to their query: forged ones never reach a vendor.
@Suite(.timeLimit(.minutes(3))) struct TaskCursorTests {
    static let cursorSecret = "a-cursor-secret-of-at-least-32-characters"

    /// An Alibaba gateway (router client) with five listed tasks, its cursors sealed with
    /// `cursorSecret` when given (else with the store's own key).
    func withListingGateway(
        cursorSecret: String? = TaskCursorTests.cursorSecret,
        store: String = temporaryStorePath(),
        _ body: @Sendable (any TestClientProtocol, RunningSimulator) async throws -> Void
    ) async throws {
        let clock = ManualClock(skipsWaits: true)
        let simulator = AliyunSimulator(accessKeyID: aliyunKeyID, accessKeySecret: aliyunSecret, state: SimulatorState(clock: clock))
        try await withSimulator(simulator) { sim in
            for index in 0..<5 {
                sim.state.add(SimulatedTask(id: String(500 + index), steps: [.state(.running)], createdAt: clock.date))
            }
            var configuration = gatewayConfiguration(
                store: store,
                provider(
                    "aliyun",
                    endpoint: sim.endpoint,
                    AliyunSettings(region: "cn-shanghai", accessKeyID: aliyunKeyID, accessKeySecret: aliyunSecret)
                )
            )
            configuration.cursorSecret = cursorSecret
            try await buildApplication(configuration, logger: quietLogger, clock: clock).test(.router) { client in
                try await body(client, sim)
            }
        }
    }

    static func listCalls(_ sim: RunningSimulator) -> Int { sim.state.calls(for: "*")["ListTasks"] ?? 0 }

    @Test func forgedTamperedAndTruncatedCursorsAreRefusedBeforeTheVendor() async throws {
        try await withListingGateway { client, sim in
            let first = try await client.get("/tasks?provider=aliyun&limit=2").json()
            let cursor = try #require(first["nextCursor"] as? String)
            let calls = Self.listCalls(sim)
            // The issue's forged cursor: old-style JSON whose Alibaba token overflowed a product.
            let forged = Data(#"{"f":"haZEvWBV","i":0,"t":"4611686018427387904/2/0"}"#.utf8).base64EncodedString()
            // Sealed with the right key, but a token whose page would overflow: the source's own
            // check refuses it (the seal is not the only defence).
            let key = CursorKey(bytes: Array(SHA256.hash(data: Array(Self.cursorSecret.utf8))))
            let query = try TaskQuery(parameters: [("provider", "aliyun"), ("limit", "2")], configured: ["aliyun"], cursorKey: key)
            let overflowing = key.seal(TaskCursor(providerIndex: 0, token: "4611686018427387904/2/0"), binding: query.binding)
            let negative = key.seal(TaskCursor(providerIndex: -1, token: nil), binding: query.binding)
            var tampered = Array(cursor.utf8)
            tampered[3] = tampered[3] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            for bad in [
                forged, String(cursor.dropLast()), String(cursor.dropFirst()), String(decoding: tampered, as: UTF8.self), cursor + "A",
                overflowing, negative, "", ".", cursor.replacingOccurrences(of: ".", with: ""),
            ] {
                let response = try await client.get("/tasks?provider=aliyun&limit=2&cursor=\(bad)")
                #expect(response.status == .badRequest, "\(bad)")
                #expect(try response.json()["type"] as? String == "urn:taskgate:problem:invalid-query", "\(bad)")
            }
            // Bound to its query: another status or limit-independent filter is refused.
            #expect(try await client.get("/tasks?provider=aliyun&status=running&limit=2&cursor=\(cursor)").status == .badRequest)
            #expect(Self.listCalls(sim) == calls, "no refused cursor reached the vendor")
            // The gateway is still up, and the real cursor goes on.
            let second = try await client.get("/tasks?provider=aliyun&limit=2&cursor=\(cursor)")
            #expect(second.status == .ok)
            #expect(try #require(second.json()["tasks"] as? [[String: Any]]).map { $0["id"] as? String } == ["502", "503"])
        }
    }

    @Test func theStoreKeepsOneCursorKeyForEveryProcessOnIt() async throws {
        let store = temporaryStorePath()
        let cursor = Shared<String?>(nil)
        try await withListingGateway(cursorSecret: nil, store: store) { client, _ in
            cursor.value = try await client.get("/tasks?provider=aliyun&limit=2").json()["nextCursor"] as? String
        }
        let made = try #require(cursor.value)
        // Another process on the same store takes it; one on another store does not.
        try await withListingGateway(cursorSecret: nil, store: store) { client, _ async throws in
            #expect(try await client.get("/tasks?provider=aliyun&limit=2&cursor=\(made)").status == .ok)
        }
        try await withListingGateway(cursorSecret: nil) { client, _ async throws in
            #expect(try await client.get("/tasks?provider=aliyun&limit=2&cursor=\(made)").status == .badRequest)
        }
    }
}
