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
            .init(name: "billing", digest: Array(Hex.decode(CallerTests.billingDigest)!), providers: ["capmonster"], metrics: false),
            .init(name: "ops", digest: Array(Hex.decode(CallerTests.opsDigest)!), providers: ["other"], metrics: true),
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
            // Both refusals are counted under the task route, as one door would count them.
            let metrics = try await client.get("/metrics").text.split(separator: "\n")
            let refusals = metrics.filter {
                $0.hasPrefix("taskgate_http_requests_total{") && $0.contains(#"route="/tasks/{provider}/{id}""#)
                    && $0.contains(#"status_class="4xx""#)
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

/// The hot path in the real pipeline: answers from it and from the router, interleaved on one
/// keep-alive connection, each whole and in order.
@Suite(.timeLimit(.minutes(2))) struct HotPathPipelineTests {
    @Test func hotAndRoutedAnswersShareAConnection() async throws {
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey)) { sim in
            addTask(sim.state, id: "702", .state(.succeeded, result: #"{"text":"live"}"#))
            let configuration = capMonsterConfiguration(endpoint: sim.endpoint, store: temporaryStorePath())
            try await buildApplication(configuration, logger: quietLogger).test(.live) { client in
                let path = "/tasks/capmonster/702"
                let gzip: HTTPFields = [.acceptEncoding: "gzip"]
                let missed = try await client.get(path, gzip)
                #expect(missed.headers[.xCache] == "MISS")
                let hit = try await client.get(path, gzip)
                #expect(hit.status == .ok)
                #expect(hit.headers[.xCache] == "HIT")
                #expect(hit.body == missed.body)
                #expect(hit.headers[.eTag] == missed.headers[.eTag])
                // identity: the router inflates once, then the hot path has the JSON too.
                for _ in 0..<2 {
                    let identity = try await client.get(path)
                    #expect(identity.headers[.contentEncoding] == nil)
                    #expect(try identity.json()["result"] as? [String: String] == ["text": "live"])
                }
                let etag = try #require(hit.headers[.eTag])
                let notModified = try await client.get(path, gzip + [HTTPField(name: .ifNoneMatch, value: etag)])
                #expect(notModified.status == .notModified)
                #expect(notModified.body.readableBytes == 0)
                let head = try await client.execute(uri: path, method: .head, headers: gzip) { $0 }
                #expect(head.status == .ok)
                #expect(head.body.readableBytes == 0)
                #expect(head.headers[.contentLength] == String(hit.body.readableBytes))
                let listing = try await client.get("/tasks")
                #expect(listing.status == .ok)
                let again = try await client.get(path, gzip + [HTTPField(name: .xRequestID, value: "after-listing")])
                #expect(again.body == missed.body)
                #expect(again.headers[.xRequestID] == "after-listing")
            }
            #expect(sim.state.calls(for: "702")["getTaskResult"] == 1)
        }
    }
}

/// The memory layer's single flight, looked at directly.
@Suite(.timeLimit(.minutes(2))) struct AnswerCacheTests {
    @Test func aCallerThatArrivesJustAfterALoadSharesItsAnswer() async throws {
        // A caller can miss the cache, read the store, and only then reach the single flight —
        // after another caller's load has finished. It must take that answer, not load again
        // (for CapMonster a second load would wait out the 2 s per-task spacing).
        let clock = ManualClock()
        let cache = AnswerCache(budget: 1 << 20, clock: clock)
        let key = AnswerCache.Key(provider: "capmonster", id: "1")
        let record = TaskRecord(provider: "capmonster", kind: "capmonster", id: "1", status: .running, fetchedAt: clock.date)
        let answer = try EncodedAnswer(record: record)
        let first = try await cache.load(key, policy: CachePolicy()) { () throws(GatewayError) in answer }
        #expect(first.coalesced == false)
        let second = try await cache.load(key, policy: CachePolicy()) { () throws(GatewayError) -> EncodedAnswer in
            Issue.record("loaded again while a fresh answer was held")
            return answer
        }
        #expect(second.coalesced == true)
        #expect(second.answer.validator == answer.bytes.validator)
    }

    /// Tasks polled for hours: every fresh not-final answer puts its key in the eviction clock
    /// again. The clock stays within a small multiple of the answers held (it grew by one key
    /// per vendor call, and past its bound every insert walked all of it under the lock).
    @Test func pollingTheSameTasksDoesNotGrowTheEvictionClock() async throws {
        let clock = ManualClock()
        let cache = AnswerCache(budget: 64 << 20, clock: clock)
        let answers = try (0..<50).map { index in
            try EncodedAnswer(
                record: TaskRecord(provider: "capmonster", kind: "capmonster", id: String(index), status: .running, fetchedAt: clock.date)
            )
        }
        var longest = 0
        for _ in 0..<200 {
            for (index, answer) in answers.enumerated() {
                let key = AnswerCache.Key(provider: "capmonster", id: String(index))
                let loaded = try await cache.load(key, policy: CachePolicy()) { () throws(GatewayError) in answer }
                #expect(loaded.coalesced == false)
            }
            longest = max(longest, cache.clockLength)
            clock.advance(by: .seconds(3))
        }
        #expect(longest <= 2 * 1024 + 1, "10,000 vendor answers for 50 tasks: \(longest) keys in the clock")
        #expect(cache.clockLength >= 50 && cache.clockLength <= 2 * 1024 + 1)
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

/// The packed memory of final answers: exact bytes back, bounded in bytes, read answers kept.
@Suite(.timeLimit(.minutes(2))) struct PackedAnswersTests {
    static func answer(_ index: Int, size: Int = 300) -> AnswerBytes {
        var generator = SystemRandomNumberGenerator()
        let body = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let json = Array("{\"id\":\(index)}".utf8)
        return AnswerBytes(gzip: ByteBuffer(bytes: body), identity: nil, validator: Validator(of: json), status: .succeeded, linksExpireAt: nil)
    }

    static func key(_ index: Int) -> AnswerCache.Key { AnswerCache.Key(provider: "capmonster", id: String(index)) }

    @Test func answersComeBackByteForByteWithinTheBudget() {
        var packed = PackedAnswers(budget: 256 << 10)
        var inserted: [Int: AnswerBytes] = [:]
        for index in 0..<5_000 {
            let answer = Self.answer(index, size: 100 + index % 400)
            inserted[index] = answer
            packed.insert(answer, for: Self.key(index))
            #expect(packed.heldBytes <= packed.budget)
        }
        #expect(packed.count > 200 && packed.count < 5_000)
        var held = 0
        for (index, answer) in inserted {
            guard let entry = packed.lookup(Self.key(index)) else { continue }
            held += 1
            #expect(ByteBuffer(bytes: entry.gzip) == answer.gzip)
            #expect(entry.validator == answer.validator)
            #expect(entry.identity == nil)
        }
        #expect(held == packed.count)
        // The newest answers are the ones held.
        #expect(packed.lookup(Self.key(4_999)) != nil)
        #expect(packed.lookup(Self.key(0)) == nil)
    }

    @Test func anAnswerReadSinceItWasWrittenOutlivesItsSlab() {
        var packed = PackedAnswers(budget: 64 << 10)
        packed.insert(Self.answer(0), for: Self.key(0))
        packed.insert(Self.answer(1), for: Self.key(1))
        for index in 2..<2_000 {
            // Key 0 is read all along; key 1 never again.
            #expect(packed.lookup(Self.key(0)) != nil, "read answer evicted after \(index) inserts")
            packed.insert(Self.answer(index), for: Self.key(index))
        }
        #expect(packed.lookup(Self.key(1)) == nil)
        let kept = packed.lookup(Self.key(0))
        #expect(kept?.gzip.count == 300)
    }

    @Test func largeAnswersAndLaterIdentityBodiesAreHeldWhole() {
        var packed = PackedAnswers(budget: 64 << 20)
        let large = Self.answer(1, size: 3 << 20)
        packed.insert(large, for: Self.key(1))
        let entry = packed.lookup(Self.key(1))
        #expect(entry.map { ByteBuffer(bytes: $0.gzip) } == large.gzip)
        let json = ByteBuffer(string: #"{"id":1}"#)
        packed.addIdentity(json, for: Self.key(1))
        let withIdentity = packed.lookup(Self.key(1))
        #expect(withIdentity?.identity.map { ByteBuffer(bytes: $0) } == json)
        #expect(withIdentity.map { ByteBuffer(bytes: $0.gzip) } == large.gzip)
        // The same answer again changes nothing; another one (its links signed afresh) replaces it.
        packed.insert(large, for: Self.key(1))
        #expect(packed.lookup(Self.key(1))?.identity != nil)
        let refreshed = Self.answer(2)
        packed.insert(refreshed, for: Self.key(1))
        #expect(packed.lookup(Self.key(1)).map { ByteBuffer(bytes: $0.gzip) } == refreshed.gzip)
        #expect(packed.lookup(Self.key(1))?.identity == nil)
        #expect(packed.count == 1)
    }

    /// A replaced answer's old record stays in its slab; when that slab goes, the current answer stays.
    @Test func aReplacedAnswerOutlivesItsOldRecord() {
        var packed = PackedAnswers(budget: 256 << 10)
        let first = Self.answer(1)
        packed.insert(first, for: Self.key(1))
        let refreshed = Self.answer(2)
        packed.insert(refreshed, for: Self.key(1))
        _ = packed.lookup(Self.key(1))  // read: copied forward when its slab goes
        // Fill well past the budget, so every slab goes at least once; task 1 stays read.
        for index in 10..<6_000 {
            packed.insert(Self.answer(index), for: Self.key(index))
            if index % 100 == 0 { #expect(packed.lookup(Self.key(1)).map { ByteBuffer(bytes: $0.gzip) } == refreshed.gzip) }
        }
        #expect(packed.lookup(Self.key(10)) == nil)
        #expect(packed.heldBytes <= packed.budget)
    }

    /// The hot path reads an answer after letting go of the cache's lock: what it was handed
    /// stays whole while other answers push its slab out (its memory reused for theirs).
    @Test func aHeldAnswerOutlivesItsSlabGoing() {
        var packed = PackedAnswers(budget: 64 << 10)
        let first = Self.answer(1)
        packed.insert(first, for: Self.key(1))
        let held = packed.lookup(Self.key(1))
        for index in 2..<2_000 { packed.insert(Self.answer(index), for: Self.key(index)) }
        #expect(packed.lookup(Self.key(2)) == nil, "every early slab has gone")
        #expect(held?.withBytes { ByteBuffer(bytes: $0.gzip) } == first.gzip)
        #expect(held?.withBytes { $0.validator } == first.validator)
    }

    @Test func aZeroBudgetHoldsNothing() {
        var packed = PackedAnswers(budget: 0)
        packed.insert(Self.answer(1), for: Self.key(1))
        #expect(packed.lookup(Self.key(1)) == nil)
        #expect(packed.heldBytes == 0)
    }
}

/// Which targets the hot path reads as `/tasks/{provider}/{id}` (anything else goes to the router).
@Suite struct HotPathTargetTests {
    @Test(arguments: [
        ("/tasks/capmonster/91", "capmonster", "91"),
        ("/tasks/aliyun/E2A1B3C4-0000-4000-8000-00000000000A", "aliyun", "E2A1B3C4-0000-4000-8000-00000000000A"),
        ("/tasks/p/\u{e9}t\u{e9}", "p", "\u{e9}t\u{e9}"),
    ])
    func aTaskTargetIsSplit(target: String, provider: String, id: String) {
        let split = HotPath.taskPath(target)
        #expect(split?.0 == provider && split?.1 == id)
    }

    @Test(arguments: [
        "/tasks", "/tasks/", "/tasks/capmonster", "/tasks/capmonster/", "/tasks//91", "/tasks/capmonster/91/", "/tasks/a/b/c",
        "/tasks/capmonster/91?wait=5s", "/tasks/capmonster/9%31", "/task/capmonster/91", "/tasksx/capmonster/91", "/metrics",
    ])
    func anythingElseGoesToTheRouter(target: String) {
        #expect(HotPath.taskPath(target) == nil)
    }
}

@Suite(.timeLimit(.minutes(2))) struct HTTPDateTests {
    @Test(arguments: [
        (784_111_777.0, "Sun, 06 Nov 1994 08:49:37 GMT"),  // RFC 9110's example
        (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
        (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
        (1_795_478_399.9, "Mon, 23 Nov 2026 23:59:59 GMT"),
        (4_107_542_400, "Mon, 01 Mar 2100 00:00:00 GMT"),
    ])
    func formatsIMFFixdate(seconds: Double, expected: String) {
        #expect(HTTPDate.format(Date(timeIntervalSince1970: seconds)) == expected)
    }
}
