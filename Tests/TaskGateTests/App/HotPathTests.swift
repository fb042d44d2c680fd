import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import NIOHTTP1
import TaskGate
import TaskGateSimulators
import Testing

@testable import TaskGate

/// The event-loop hot path answers exactly what the router would, for the requests it takes,
/// and leaves every other request to the router.
@Suite(.timeLimit(.minutes(2))) struct HotPathTests {
    static let finalTask = "701"

    /// A gateway (router client) plus the hot path over the same service, with task 701 final
    /// and in memory.
    func withHotPath(
        auth: AuthConfiguration = AuthConfiguration(),
        maxURILength: Int? = nil,
        _ body: @Sendable (any TestClientProtocol, HotPath, RunningSimulator) async throws -> Void
    ) async throws {
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey)) { sim in
            addTask(sim.state, id: Self.finalTask, .state(.succeeded, result: #"{"text":"hot"}"#))
            var configuration = capMonsterConfiguration(endpoint: sim.endpoint, store: temporaryStorePath())
            configuration.auth = auth
            if let maxURILength { configuration.limits.maxURILength = maxURILength }
            let parts = try buildGateway(configuration, logger: quietLogger)
            let hotPath = parts.hotPath
            try await parts.application.test(.router) { client in
                // Fetched once through the router (with a key, in case keys are on): now in memory.
                let first = try await client.get("/tasks/capmonster/\(Self.finalTask)", [.authorization: "Bearer token-billing"])
                #expect(first.headers[.xCache] == "MISS")
                try await body(client, hotPath, sim)
            }
        }
    }

    /// What the hot path writes for a request; nil when it leaves the request to the router.
    static func hot(
        _ hotPath: HotPath,
        _ path: String,
        method: HTTPMethod = .GET,
        version: HTTPVersion = .http1_1,
        _ fields: HTTPFields = [:]
    ) -> RawAnswer? {
        var headers = HTTPHeaders()
        for field in fields { headers.add(name: field.name.rawName, value: field.value) }
        var ids = RequestIDGenerator()
        var buffer = ByteBuffer()
        let head = HTTPRequestHead(version: version, method: method, uri: path, headers: headers)
        guard hotPath.answer(head, client: nil, requestIDs: &ids, into: &buffer) else {
            #expect(buffer.readableBytes == 0, "nothing is written for a request left to the router")
            return nil
        }
        return RawAnswer(buffer)
    }

    @Test(arguments: ["gzip", nil, "gzip;q=1, identity;q=0.5"] as [String?])
    func answersWhatTheRouterAnswers(acceptEncoding: String?) async throws {
        var headers: HTTPFields = [.xRequestID: "hot-1"]
        if let acceptEncoding { headers[.acceptEncoding] = acceptEncoding }
        let fields = headers
        try await withHotPath { client, hotPath, _ in
            let path = "/tasks/capmonster/\(Self.finalTask)"
            let routed = try await client.get(path, fields)
            let hot = try #require(Self.hot(hotPath, path, fields))
            #expect(hot.status == Int(routed.status.code))
            // The same headers in the same order; Date and Server are Hummingbird's, added
            // after the router's answer is made, so they are looked at separately.
            let routedFields = routed.headers.filter { $0.name != .date && $0.name != .server }.map { "\($0.name.rawName): \($0.value)" }
            let hotFields = hot.fields.filter { !["Date", "Server"].contains($0.name) }.map { "\($0.name): \($0.value)" }
            #expect(hotFields == routedFields)
            #expect(hot.body == routed.body)
            #expect(hot["Content-Length"] == String(routed.body.readableBytes))
            #expect(hot["X-Request-Id"] == "hot-1")
            #expect(hot["Date"].map { $0.hasSuffix(" GMT") && $0.utf8.count == 29 } == true)
            #expect(hot["Server"] == "taskgate")

            // Revalidation and HEAD.
            let etag = try #require(routed.headers[.eTag])
            let notModified = try #require(Self.hot(hotPath, path, fields + [HTTPField(name: .ifNoneMatch, value: etag)]))
            #expect(notModified.status == 304)
            #expect(notModified.body.readableBytes == 0)
            #expect(notModified["Content-Length"] == nil)
            #expect(notModified["ETag"] == etag)
            let head = try #require(Self.hot(hotPath, path, method: .HEAD, fields))
            #expect(head.status == 200)
            #expect(head.body.readableBytes == 0)
            #expect(head["Content-Length"] == String(routed.body.readableBytes))
        }
    }

    @Test(arguments: ["gzip", nil] as [String?])
    func aNotFinalAnswerWithinItsTTLIsAnsweredHereWithItsMaxAge(acceptEncoding: String?) async throws {
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey)) { sim in
            addTask(sim.state, id: "703", .state(.running))
            let configuration = capMonsterConfiguration(endpoint: sim.endpoint, store: temporaryStorePath())
            // A clock that stands still, so both paths count the same seconds to the refresh.
            let parts = try buildGateway(configuration, logger: quietLogger, clock: ManualClock())
            let hotPath = parts.hotPath
            try await parts.application.test(.router) { client in
                let path = "/tasks/capmonster/703"
                var fields: HTTPFields = [.xRequestID: "not-final-1"]
                if let acceptEncoding { fields[.acceptEncoding] = acceptEncoding }
                #expect(try await client.get(path, fields).headers[.xCache] == "MISS")
                let routed = try await client.get(path, fields)
                #expect(routed.headers[.xCache] == "HIT")
                let hot = try #require(Self.hot(hotPath, path, fields))
                let routedFields = routed.headers.filter { $0.name != .date && $0.name != .server }.map { "\($0.name.rawName): \($0.value)" }
                let hotFields = hot.fields.filter { !["Date", "Server"].contains($0.name) }.map { "\($0.name): \($0.value)" }
                #expect(hotFields == routedFields)
                #expect(hot["Cache-Control"] == "max-age=2")
                #expect(hot.body == routed.body)
                let etag = try #require(routed.headers[.eTag])
                #expect(Self.hot(hotPath, path, fields + [HTTPField(name: .ifNoneMatch, value: etag)])?.status == 304)
                #expect(sim.state.calls(for: "703")["getTaskResult"] == 1)
            }
        }
    }

    @Test(arguments: ["gzip", nil] as [String?])
    func anAnswerJustPastItsTTLIsAnsweredHereUpdating(acceptEncoding: String?) async throws {
        let clock = ManualClock()
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))) { sim in
            // The second vendor answer takes a second of the test's clock: the call in the
            // background stays under way while both paths answer.
            addTask(
                sim.state,
                id: "705",
                .state(.running, polls: 1),
                SimulatedTask.Step(answer: .state(.succeeded, result: nil, errorCode: nil, errorMessage: nil), delayMilliseconds: 1000)
            )
            var configuration = capMonsterConfiguration(endpoint: sim.endpoint, store: temporaryStorePath())
            configuration.providers[0].staleWhileRevalidate = .seconds(1)
            let parts = try buildGateway(configuration, logger: quietLogger, clock: clock)
            let hotPath = parts.hotPath
            try await parts.application.test(.router) { client in
                let path = "/tasks/capmonster/705"
                var fields: HTTPFields = [.xRequestID: "updating-1"]
                if let acceptEncoding { fields[.acceptEncoding] = acceptEncoding }
                #expect(try await client.get(path, fields).headers[.xCache] == "MISS")
                clock.advance(by: .milliseconds(2500))
                // The hot path begins the call in the background and answers at once.
                let hot = try #require(Self.hot(hotPath, path, fields))
                #expect(await eventually { clock.sleepers == 1 })
                let routed = try await client.get(path, fields)
                let routedFields = routed.headers.filter { $0.name != .date && $0.name != .server }.map { "\($0.name.rawName): \($0.value)" }
                let hotFields = hot.fields.filter { !["Date", "Server"].contains($0.name) }.map { "\($0.name): \($0.value)" }
                #expect(hotFields == routedFields)
                #expect(hot["X-Cache"] == "UPDATING")
                #expect(hot["Age"] == "2")
                #expect(hot["Cache-Control"] == "max-age=0")
                #expect(hot.body == routed.body)
                #expect(sim.state.calls(for: "705")["getTaskResult"] == 2)
                clock.advance(by: .seconds(1))
                #expect(
                    try await eventuallyAnswers { try await client.get(path, fields).headers[.xCache] == "HIT" }
                )
                #expect(sim.state.calls(for: "705")["getTaskResult"] == 2)
            }
        }
    }

    @Test(arguments: [
        "/tasks/capmonster/999",  // not in memory
        "/tasks/capmonster/701?x=1",  // a query
        "/tasks/capmonster/7%301",  // percent-encoded
        "/tasks",  // the listing
        "/metrics",
    ])
    func leavesEverythingElseToTheRouter(path: String) async throws {
        try await withHotPath { _, hotPath, _ in
            #expect(Self.hot(hotPath, path) == nil)
        }
    }

    @Test func aFinalAnswerOnlyInTheStoreIsAnsweredAndKept() async throws {
        let store = temporaryStorePath()
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey)) { sim in
            addTask(sim.state, id: Self.finalTask, .state(.succeeded, result: #"{"text":"hot"}"#))
            let configuration = capMonsterConfiguration(endpoint: sim.endpoint, store: store)
            try await buildApplication(configuration, logger: quietLogger).test(.router) { client async throws in
                #expect(try await client.get("/tasks/capmonster/\(Self.finalTask)").status == .ok)
            }
            // A restart: memory is empty, the store holds the final answer.
            let parts = try buildGateway(configuration, logger: quietLogger)
            let hotPath = parts.hotPath
            // Run, so its vendor clients and store are shut down afterwards.
            try await parts.application.test(.router) { _ async throws in
                let path = "/tasks/capmonster/\(Self.finalTask)"
                // identity needs the body inflated: the router does that.
                #expect(Self.hot(hotPath, path) == nil)
                let answer = try #require(Self.hot(hotPath, path, [.acceptEncoding: "gzip"]))
                #expect(answer.status == 200)
                #expect(answer["X-Cache"] == "HIT")
                #expect(answer["X-Request-Id"]?.utf8.count == 32)
                #expect(parts.service.cache.fresh(AnswerCache.Key(provider: "capmonster", id: Self.finalTask), policy: CachePolicy()) != nil)
                #expect(sim.state.calls(for: Self.finalTask)["getTaskResult"] == 1)
            }
        }
    }

    @Test func refusedEncodingsAndConnectionCloseGoToTheRouter() async throws {
        try await withHotPath { _, hotPath, _ in
            let path = "/tasks/capmonster/\(Self.finalTask)"
            #expect(Self.hot(hotPath, path, [.acceptEncoding: "br;q=1, identity;q=0, *;q=0"]) == nil)
            #expect(Self.hot(hotPath, path, [.connection: "close"]) == nil)
            #expect(Self.hot(hotPath, path, [.connection: "keep-alive, Upgrade"]) == nil)
            #expect(Self.hot(hotPath, path, [.connection: "Keep-Alive"])?.status == 200)
            #expect(Self.hot(hotPath, path, method: .POST) == nil)
            // HTTP/1.0 closes after each answer unless asked not to: the router knows how.
            #expect(Self.hot(hotPath, path, version: .http1_0) == nil)
        }
    }

    static let scopedKeys: AuthConfiguration = {
        var auth = AuthConfiguration()
        auth.keys = [
            .init(name: "billing", digest: Array(Hex.decode(RequestPolicyTests.billingDigest)!), providers: ["capmonster"], metrics: false),
            .init(name: "ops", digest: Array(Hex.decode(RequestPolicyTests.opsDigest)!), providers: ["other"], metrics: true),
        ]
        return auth
    }()

    /// Refusals come from the same policy functions and problem renderer on both doors: the
    /// same status, headers in the same order, and body, byte for byte.
    @Test(
        arguments: [
            ("/tasks/capmonster/701", nil, 401),  // no key
            ("/tasks/capmonster/701", "Bearer not-a-known-key", 401),
            ("/tasks/capmonster/701", "Bearer token-ops", 403),  // a key for other providers
            ("/tasks/nope/701", "Bearer token-billing", 404),  // no such provider
            ("/tasks/capmonster/0701", "Bearer token-billing", 400),  // malformed id
            ("/tasks/capmonster/" + String(repeating: "7", count: 80), "Bearer token-billing", 414),
        ] as [(String, String?, Int)]
    )
    func answersErrorsAsTheRouterDoes(path: String, authorization: String?, status: Int) async throws {
        var fields: HTTPFields = [.xRequestID: "hot-refused", .acceptEncoding: "gzip"]
        if let authorization { fields[.authorization] = authorization }
        let request = fields
        try await withHotPath(auth: Self.scopedKeys, maxURILength: 64) { client, hotPath, sim in
            let routed = try await client.get(path, request)
            let hot = try #require(Self.hot(hotPath, path, request))
            #expect(Int(routed.status.code) == status)
            #expect(hot.status == status)
            let routedFields = routed.headers.filter { $0.name != .date && $0.name != .server }.map { "\($0.name.rawName): \($0.value)" }
            let hotFields = hot.fields.filter { !["Date", "Server"].contains($0.name) }.map { "\($0.name): \($0.value)" }
            #expect(hotFields == routedFields)
            #expect(hot.body == routed.body)
            #expect(hot["Content-Type"] == "application/problem+json")
            #expect(sim.state.calls(for: "0701").isEmpty)
            // Both refusals are counted under the task route and the same caller, as one door
            // would count them.
            let metrics = try await client.get("/metrics").text.split(separator: "\n")
            let refusals = metrics.filter {
                $0.hasPrefix("taskgate_http_requests_total{") && $0.contains(#"route="/tasks/{provider}/{id}""#)
                    && $0.contains(#"status_class="4xx""#) && !$0.hasSuffix(" 0")
            }
            #expect(refusals.map { $0.split(separator: " ").last } == ["2"])
        }
    }

    @Test func aCoveringKeyIsAnsweredFromMemory() async throws {
        try await withHotPath(auth: Self.scopedKeys) { _, hotPath, _ in
            let answer = try #require(Self.hot(hotPath, "/tasks/capmonster/\(Self.finalTask)", [.authorization: "Bearer token-billing"]))
            #expect(answer.status == 200)
            #expect(answer["X-Cache"] == "HIT")
        }
    }
}

/// An answer as the hot path wrote it, read back: status, headers in order, body.
struct RawAnswer {
    var status: Int
    var fields: [(name: String, value: String)]
    var body: ByteBuffer

    init?(_ buffer: ByteBuffer) {
        let bytes = Array(buffer.readableBytesView)
        let separator = Array("\r\n\r\n".utf8)
        guard bytes.count >= 4, let end = (0...(bytes.count - 4)).first(where: { Array(bytes[$0..<$0 + 4]) == separator }) else { return nil }
        let lines = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let statusLine = lines[0].split(separator: " ")
        guard statusLine.count >= 2, statusLine[0] == "HTTP/1.1", let status = Int(statusLine[1]) else { return nil }
        self.status = status
        self.fields = lines.dropFirst().map { line in
            let parts = line.split(separator: ":", maxSplits: 1)
            return (String(parts[0]), parts.count == 2 ? parts[1].trimmingCharacters(in: .whitespaces) : "")
        }
        self.body = ByteBuffer(bytes: bytes[(end + 4)...])
    }

    subscript(name: String) -> String? {
        fields.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}
