import CompressNIO
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

@Suite(.timeLimit(.minutes(3))) struct TaskControllerTests {
    static let xCache = HTTPField.Name("X-Cache")!

    /// With keys, every answer was given to one key: `private`, on both doors (the second final
    /// answer comes from the hot path), for listings and not-final answers too.
    @Test func keyedAnswersArePrivate() async throws {
        try await KeyedGateway.run { port, sim in
            addTask(sim.state, id: "602", .state(.running))
            let key = "Authorization: Bearer token-ops\r\n"
            for cache in ["MISS", "HIT"] {
                let answer = try #require(try await KeyedGateway.get(port, "/tasks/capmonster/\(KeyedGateway.task)", key))
                #expect(answer.header("X-Cache") == cache)
                #expect(answer.header("Cache-Control") == "private, max-age=31536000, immutable")
            }
            #expect(try await KeyedGateway.get(port, "/tasks/capmonster/602", key)?.header("Cache-Control") == "private, max-age=2")
            #expect(try await KeyedGateway.get(port, "/tasks", key)?.header("Cache-Control") == "private, no-cache")
        }
    }

    /// The task and artifact routes read their query as strictly as `/tasks` does.
    @Test func unknownAndRepeatedParametersAreRefusedOnEveryRoute() async throws {
        try await KeyedGateway.run { port, sim in
            let key = "Authorization: Bearer token-ops\r\n"
            for target in [
                "/tasks/capmonster/\(KeyedGateway.task)?x=1", "/tasks/capmonster/\(KeyedGateway.task)?wait=1s&wait=2s",
                "/tasks/capmonster/\(KeyedGateway.task)?wait",
                "/tasks/capmonster/\(KeyedGateway.task)/artifacts/0?download=1", "/tasks?status=running&status=failed",
            ] {
                let answer = try #require(try await KeyedGateway.get(port, target, key))
                #expect(answer.status == 400, "\(target)")
                #expect(answer.text.contains("urn:taskgate:problem:invalid-query"), "\(target)")
            }
            #expect(sim.state.calls(for: KeyedGateway.task).isEmpty)
        }
    }

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
            #expect(miss.headers[.cacheStatus] == "taskgate; fwd=miss; stored; ttl=5")
            #expect(miss.headers[.eTag] != nil)
            let hit = try await client.get("/tasks/capmonster/65")
            #expect(hit.headers[Self.xCache] == "HIT")
            let maxAge = try #require(hit.headers[.cacheControl])
            #expect(["max-age=5", "max-age=4"].contains(maxAge))
            #expect(hit.headers[.cacheStatus] == "taskgate; hit; ttl=\(maxAge.dropFirst(8))")
            #expect(sim.state.calls(for: "65")["getTaskResult"] == 1)
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
}
