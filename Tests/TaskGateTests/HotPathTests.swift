import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import TaskGate
import TaskGateSimulators
import Testing

@testable import TaskGate

/// The event-loop hot path answers exactly what the router would, for the requests it takes,
/// and leaves every other request to the router.
@Suite struct HotPathTests {
    static let finalTask = "701"

    /// A gateway (router client) plus the hot path over the same service, with task 701 final
    /// and in memory.
    func withHotPath(
        auth: AuthConfiguration = AuthConfiguration(),
        _ body: @Sendable (any TestClientProtocol, HotPath, RunningSimulator) async throws -> Void
    ) async throws {
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey)) { sim in
            addTask(sim.state, id: Self.finalTask, .state(.succeeded, result: #"{"text":"hot"}"#))
            var configuration = try await capMonsterConfiguration(endpoint: sim.endpoint, store: temporaryStorePath())
            configuration.auth = auth
            let parts = try buildGateway(configuration, logger: quietLogger)
            let hotPath = HotPath(
                service: parts.service,
                metrics: parts.metrics,
                auth: auth,
                limits: configuration.limits,
                logger: quietLogger,
                serverName: "taskgate"
            )
            try await parts.application.test(.router) { client in
                // Fetched once through the router (with a key, in case keys are on): now in memory.
                let first = try await client.get("/tasks/capmonster/\(Self.finalTask)", [.authorization: "Bearer token-billing"])
                #expect(first.headers[.xCache] == "MISS")
                try await body(client, hotPath, sim)
            }
        }
    }

    static func request(_ path: String, method: HTTPRequest.Method = .get, _ fields: HTTPFields = [:]) -> HTTPRequest {
        HTTPRequest(method: method, scheme: nil, authority: "taskgate", path: path, headerFields: fields)
    }

    @Test(arguments: ["gzip", nil, "gzip;q=1, identity;q=0.5"] as [String?])
    func answersWhatTheRouterAnswers(acceptEncoding: String?) async throws {
        var headers: HTTPFields = [.xRequestID: "hot-1"]
        if let acceptEncoding { headers[.acceptEncoding] = acceptEncoding }
        let fields = headers
        try await withHotPath { client, hotPath, _ in
            let path = "/tasks/capmonster/\(Self.finalTask)"
            let routed = try await client.get(path, fields)
            let hot = try #require(hotPath.answer(Self.request(path, fields), remote: nil))
            #expect(hot.head.status == routed.status)
            for name in [HTTPField.Name.vary, .eTag, .cacheControl, .xCache, .contentType, .contentEncoding, .xRequestID] {
                #expect(hot.head.headerFields[name] == routed.headers[name], "\(name)")
            }
            #expect(hot.body == routed.body)
            #expect(hot.head.headerFields[.contentLength] == String(routed.body.readableBytes))
            #expect(hot.head.headerFields[.date] != nil)

            // Revalidation and HEAD.
            let etag = try #require(routed.headers[.eTag])
            let notModified = try #require(hotPath.answer(Self.request(path, fields + [HTTPField(name: .ifNoneMatch, value: etag)]), remote: nil))
            #expect(notModified.head.status == .notModified)
            #expect(notModified.body == nil)
            let head = try #require(hotPath.answer(Self.request(path, method: .head, fields), remote: nil))
            #expect(head.head.status == .ok)
            #expect(head.body == nil)
            #expect(head.head.headerFields[.contentLength] == String(routed.body.readableBytes))
        }
    }

    @Test(arguments: [
        "/tasks/capmonster/999",  // not in memory
        "/tasks/capmonster/0701",  // malformed: the router's 400
        "/tasks/nope/701",  // unknown provider
        "/tasks/capmonster/701?x=1",  // a query
        "/tasks/capmonster/7%301",  // percent-encoded
        "/tasks",  // the listing
        "/metrics",
    ])
    func leavesEverythingElseToTheRouter(path: String) async throws {
        try await withHotPath { _, hotPath, _ in
            #expect(hotPath.answer(Self.request(path), remote: nil) == nil)
        }
    }

    @Test func aFinalAnswerOnlyInTheStoreIsAnsweredAndKept() async throws {
        let store = temporaryStorePath()
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey)) { sim in
            addTask(sim.state, id: Self.finalTask, .state(.succeeded, result: #"{"text":"hot"}"#))
            let configuration = try await capMonsterConfiguration(endpoint: sim.endpoint, store: store)
            try await buildApplication(configuration, logger: quietLogger).test(.router) { client async throws in
                #expect(try await client.get("/tasks/capmonster/\(Self.finalTask)").status == .ok)
            }
            // A restart: memory is empty, the store holds the final answer.
            let parts = try buildGateway(configuration, logger: quietLogger)
            let hotPath = HotPath(
                service: parts.service,
                metrics: parts.metrics,
                auth: configuration.auth,
                limits: configuration.limits,
                logger: quietLogger,
                serverName: "taskgate"
            )
            // Run, so its vendor clients and store are shut down afterwards.
            try await parts.application.test(.router) { _ async throws in
                let path = "/tasks/capmonster/\(Self.finalTask)"
                // identity needs the body inflated: the router does that.
                #expect(hotPath.answer(Self.request(path), remote: nil) == nil)
                let answer = try #require(hotPath.answer(Self.request(path, [.acceptEncoding: "gzip"]), remote: nil))
                #expect(answer.head.status == .ok)
                #expect(answer.head.headerFields[.xCache] == "HIT")
                #expect(parts.service.cache.fresh(AnswerCache.Key(provider: "capmonster", id: Self.finalTask)) != nil)
                #expect(sim.state.calls(for: Self.finalTask)["getTaskResult"] == 1)
            }
        }
    }

    @Test func refusedEncodingsAndConnectionHeadersGoToTheRouter() async throws {
        try await withHotPath { _, hotPath, _ in
            let path = "/tasks/capmonster/\(Self.finalTask)"
            #expect(hotPath.answer(Self.request(path, [.acceptEncoding: "br;q=1, identity;q=0, *;q=0"]), remote: nil) == nil)
            #expect(hotPath.answer(Self.request(path, [.connection: "close"]), remote: nil) == nil)
            #expect(hotPath.answer(Self.request(path, method: .post), remote: nil) == nil)
        }
    }

    @Test func withCallerKeysOnlyACoveringKeyIsAnsweredHere() async throws {
        var auth = AuthConfiguration()
        auth.keys = [
            .init(name: "billing", digest: Array(Hex.decode(CallerTests.billingDigest)!), providers: ["capmonster"], metrics: false),
            .init(name: "ops", digest: Array(Hex.decode(CallerTests.opsDigest)!), providers: ["other"], metrics: true),
        ]
        try await withHotPath(auth: auth) { _, hotPath, _ in
            let path = "/tasks/capmonster/\(Self.finalTask)"
            #expect(hotPath.answer(Self.request(path, [.authorization: "Bearer token-billing"]), remote: nil) != nil)
            #expect(hotPath.answer(Self.request(path, [.authorization: "Bearer token-ops"]), remote: nil) == nil)
            #expect(hotPath.answer(Self.request(path), remote: nil) == nil)
        }
    }
}

/// The memory layer's single flight, looked at directly.
@Suite struct AnswerCacheTests {
    @Test func aCallerThatArrivesJustAfterALoadSharesItsAnswer() async throws {
        // A caller can miss the cache, read the store, and only then reach the single flight —
        // after another caller's load has finished. It must take that answer, not load again
        // (for CapMonster a second load would wait out the 2 s per-task spacing).
        let cache = AnswerCache(budget: 1 << 20, now: Date.init)
        let key = AnswerCache.Key(provider: "capmonster", id: "1")
        let record = TaskRecord(provider: "capmonster", kind: "capmonster", id: "1", status: .running, fetchedAt: Date())
        let answer = try EncodedAnswer(record: record)
        let first = try await cache.load(key, ttl: .seconds(2)) { () throws(GatewayError) in answer }
        #expect(first.coalesced == false)
        let second = try await cache.load(key, ttl: .seconds(2)) { () throws(GatewayError) -> EncodedAnswer in
            Issue.record("loaded again while a fresh answer was held")
            return answer
        }
        #expect(second.coalesced == true)
        #expect(second.answer.etag == answer.etag)
    }
}
