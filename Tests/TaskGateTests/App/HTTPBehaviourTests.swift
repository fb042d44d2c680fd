import CompressNIO
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import TaskGate
import TaskGateSimulators
import Testing

/// gzip negotiation, validators, cache headers and request ids, as DESIGN.md specifies.
@Suite(.timeLimit(.minutes(2))) struct HTTPBehaviourTests {
    static let xCache = HTTPField.Name("X-Cache")!
    static let xRequestID = HTTPField.Name("X-Request-Id")!

    @Test(arguments: [
        ("gzip", true), ("gzip, deflate, br", true), ("identity", false), ("gzip;q=0", false),
        ("gzip;q=0, identity", false), ("*", true), ("identity;q=0.5, gzip;q=0.8", true), ("x-gzip", true),
        ("br", false), ("gzip;q=0.2, identity;q=0.9", false),
    ])
    func gzipIsSentOnlyWhenAccepted(acceptEncoding: String, expectGzip: Bool) async throws {
        try await withCapMonsterGateway { client, sim in
            addTask(sim.state, id: "60", .state(.succeeded, result: #"{"text":"zip"}"#))
            let response = try await client.get("/tasks/capmonster/60", [.acceptEncoding: acceptEncoding])
            #expect(response.status == .ok)
            #expect(response.headers[.vary] == "Accept-Encoding")
            #expect(response.headers[.contentEncoding] == (expectGzip ? "gzip" : nil))
            #expect(try response.json()["id"] as? String == "60")
        }
    }

    @Test func noAcceptEncodingMeansIdentity() async throws {
        try await withCapMonsterGateway { client, sim in
            addTask(sim.state, id: "61", .state(.succeeded))
            let response = try await client.get("/tasks/capmonster/61")
            #expect(response.headers[.contentEncoding] == nil)
            #expect(response.headers[.vary] == "Accept-Encoding")
            #expect(response.text.hasPrefix(#"{"provider":"capmonster""#))
        }
    }

    @Test(arguments: ["identity;q=0", "*;q=0", "gzip;q=0, identity;q=0"])
    func noAcceptableCodingIsNotAcceptable(acceptEncoding: String) async throws {
        try await withCapMonsterGateway { client, sim in
            let response = try await client.get("/tasks/capmonster/62", [.acceptEncoding: acceptEncoding])
            #expect(response.status == .notAcceptable)
            #expect(try response.json()["type"] as? String == "urn:taskgate:problem:not-acceptable")
            #expect(sim.state.totalCalls == 0)
        }
    }

    @Test func aStoredFinalAnswerIsSentAsStoredAndInflatedForIdentity() async throws {
        try await withCapMonsterGateway { client, sim in
            addTask(sim.state, id: "63", .state(.succeeded, result: #"{"text":"stored"}"#))
            let first = try await client.get("/tasks/capmonster/63", [.acceptEncoding: "gzip"])
            let second = try await client.get("/tasks/capmonster/63", [.acceptEncoding: "gzip"])
            #expect(first.headers[Self.xCache] == "MISS")
            #expect(second.headers[Self.xCache] == "HIT")
            #expect(first.body == second.body)  // the same gzip bytes, not compressed again
            let identity = try await client.get("/tasks/capmonster/63")
            var gzip = second.body
            #expect(try gzip.decompress(with: .gzip()) == identity.body)
            #expect(sim.state.calls(for: "63")["getTaskResult"] == 1)
        }
    }

    @Test func strongETagPerRepresentationAndIfNoneMatchGives304() async throws {
        try await withCapMonsterGateway { client, sim in
            addTask(sim.state, id: "64", .state(.succeeded))
            let gzip = try await client.get("/tasks/capmonster/64", [.acceptEncoding: "gzip"])
            let identity = try await client.get("/tasks/capmonster/64")
            let gzipTag = try #require(gzip.headers[.eTag])
            let identityTag = try #require(identity.headers[.eTag])
            #expect(gzipTag.hasPrefix("\"") && !gzipTag.hasPrefix("W/"))
            #expect(gzipTag != identityTag)

            let notModified = try await client.get("/tasks/capmonster/64", [.acceptEncoding: "gzip", .ifNoneMatch: gzipTag])
            #expect(notModified.status == .notModified)
            #expect(notModified.body.readableBytes == 0)
            #expect(notModified.headers[.eTag] == gzipTag)
            #expect(notModified.headers[.vary] == "Accept-Encoding")
            #expect(notModified.headers[.cacheControl] == "public, max-age=31536000, immutable")

            let weak = try await client.get("/tasks/capmonster/64", [.ifNoneMatch: "\"other\", W/\(identityTag)"])
            #expect(weak.status == .notModified)
            let star = try await client.get("/tasks/capmonster/64", [.ifNoneMatch: "*"])
            #expect(star.status == .notModified)
            let stale = try await client.get("/tasks/capmonster/64", [.ifNoneMatch: "\"0000\""])
            #expect(stale.status == .ok)
            // The gzip tag does not validate the identity representation.
            let crossed = try await client.get("/tasks/capmonster/64", [.ifNoneMatch: gzipTag])
            #expect(crossed.status == .ok)
        }
    }

    @Test func notFinalAnswersCarryTheSecondsUntilTheNextVendorCall() async throws {
        try await withCapMonsterGateway(statusTTL: .seconds(5)) { client, sim in
            addTask(sim.state, id: "65", .state(.running))
            let miss = try await client.get("/tasks/capmonster/65")
            #expect(miss.headers[.cacheControl] == "max-age=5")
            #expect(miss.headers[.eTag] != nil)
            let hit = try await client.get("/tasks/capmonster/65")
            #expect(hit.headers[Self.xCache] == "HIT")
            let maxAge = try #require(hit.headers[.cacheControl])
            #expect(["max-age=5", "max-age=4"].contains(maxAge))
            #expect(sim.state.calls(for: "65")["getTaskResult"] == 1)
        }
    }

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

    @Test func operationalRoutesAnswer() async throws {
        try await withCapMonsterGateway { client, _ in
            #expect(try await client.get("/healthz").status == .ok)
            let ready = try await client.get("/readyz")
            #expect(ready.status == .ok)
            #expect(try ready.json()["status"] as? String == "ready")
            let spec = try await client.get("/openapi.yaml")
            #expect(spec.status == .ok)
            #expect(spec.text.hasPrefix("openapi: 3.1"))
            #expect(spec.text.contains("/tasks/{provider}/{id}"))
            let missing = try await client.get("/nowhere")
            #expect(missing.status == .notFound)
            #expect(missing.headers[.contentType] == "application/problem+json")
            #expect(try missing.json()["type"] as? String == "urn:taskgate:problem:route-not-found")
        }
    }

    @Test func theLiveServerAnswersOverASocket() async throws {
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey)) { sim in
            addTask(sim.state, id: "67", .state(.succeeded))
            let configuration = capMonsterConfiguration(endpoint: sim.endpoint, store: temporaryStorePath())
            let app = try buildApplication(configuration, logger: quietLogger)
            try await app.test(.live) { client in
                let response = try await client.get("/tasks/capmonster/67", [.acceptEncoding: "gzip"])
                #expect(response.status == .ok)
                #expect(response.headers[.contentEncoding] == "gzip")
                #expect(try response.json()["status"] as? String == "succeeded")
            }
        }
    }

    @Test func otherMethodsAre405WithAllowAndHeadIsGetWithoutABody() async throws {
        try await withCapMonsterGateway { client, sim in
            addTask(sim.state, id: "68", .state(.succeeded))
            for (method, path) in [(HTTPRequest.Method.post, "/tasks/capmonster/68"), (.delete, "/tasks"), (.put, "/healthz")] {
                let response = try await client.execute(uri: path, method: method) { $0 }
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "GET, HEAD")
                #expect(try response.json()["type"] as? String == "urn:taskgate:problem:method-not-allowed")
            }
            #expect(sim.state.totalCalls == 0)
            let head = try await client.execute(uri: "/tasks/capmonster/68", method: .head) { $0 }
            #expect(head.status == .ok)
            #expect(head.body.readableBytes == 0)
            #expect(head.headers[.eTag] != nil)
            #expect(try await client.execute(uri: "/elsewhere", method: .post) { $0 }.status == .notFound)
        }
    }
}
