import AsyncHTTPClient
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import TaskGate
import TaskGateSimulators
import Testing

@testable import TaskGate

/// A final answer whose result holds signed links is cached no longer than they live, and asked
/// of the vendor again (once) when they are about to die. Through the Alibaba simulator, whose
/// ProcessResultUrl is an OSS V1 link signed for an hour by every GetTaskResult.
@Suite(.timeLimit(.minutes(2))) struct TaskServiceLinkRefreshTests {
    /// The simulator's link lifetime and taskgate's default margin, in seconds.
    static let lifetime = 3600
    static let margin = 300

    static func cacheControl(_ response: TestResponse) -> String { response.headers[.cacheControl] ?? "" }

    /// When the answer's links expire, as it says.
    static func linksExpireAt(_ response: TestResponse) throws -> Date {
        let text = try #require(try response.json()["linksExpireAt"] as? String)
        return try #require(RFC3339.parse(text))
    }

    /// The Cache-Control a final answer with links expiring at `expiry` must carry at `now`:
    /// whole seconds until the margin before they expire, rounded down.
    static func linkedCacheControl(until expiry: Date, margin: Int = margin, now: Date) -> String {
        "public, max-age=\(Int((expiry.timeIntervalSince(now) - Double(margin)).rounded(.down)))"
    }

    /// Whether `expiry` is a link signed for `lifetime` at about `now` (the simulator signs whole
    /// seconds; the vendor call itself may move the test clock a little).
    static func isSignedForALifetime(_ expiry: Date, at now: Date) -> Bool {
        abs(expiry.timeIntervalSince(now) - Double(lifetime)) <= 1
    }

    static func processResultURL(_ task: [String: Any]) throws -> String {
        try #require((task["result"] as? [String: Any])?["ProcessResultUrl"] as? String)
    }

    /// GET of a URL outside the gateway (the simulator's object storage).
    static func download(_ url: String) async throws -> (status: Int, body: [UInt8]) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 64 << 20)
        return (Int(response.status.code), Array(body.readableBytesView))
    }

    @Test func cachingNeverOutlivesTheLinks() async throws {
        let clock = ManualClock(skipsWaits: true)
        try await withAliyunGateway(clock: clock) { client, sim in
            addTask(sim.state, id: "500001", .state(.succeeded))
            let first = try await client.get("/tasks/aliyun/500001")
            #expect(first.headers[.xCache] == "MISS")
            let expiry = try Self.linksExpireAt(first)
            #expect(Self.isSignedForALifetime(expiry, at: clock.date))
            #expect(Self.cacheControl(first) == Self.linkedCacheControl(until: expiry, now: clock.date))
            let task = try first.json()
            // The link works: it is the simulator's file.
            let link = try Self.processResultURL(task)
            let file = try await Self.download(link)
            #expect(file.status == 200)
            #expect(file.body == AliyunSimulator.resultFileBody(taskID: "500001", bytes: 2048))

            clock.advance(by: .seconds(1000))
            let later = try await client.get("/tasks/aliyun/500001")
            #expect(later.headers[.xCache] == "HIT")
            #expect(Self.cacheControl(later) == Self.linkedCacheControl(until: expiry, now: clock.date))
            #expect(Self.cacheControl(later) != Self.cacheControl(first))
            #expect(later.headers[.eTag] == first.headers[.eTag])
            #expect(sim.state.calls(for: "500001")["GetTaskResult"] == 1)

            // Past its expiry the link is OSS's 403, in OSS's words.
            clock.advance(by: .seconds(Self.lifetime))
            let expired = try await HTTPClient.shared.execute(HTTPClientRequest(url: link), timeout: .seconds(10))
            let text = String(buffer: try await expired.body.collect(upTo: 1 << 16))
            #expect(expired.status == .forbidden)
            #expect(text.contains("<Code>AccessDenied</Code>") && text.contains("<Message>Request has expired.</Message>"))
        }
    }

    /// A final answer without links is immutable, as ever.
    @Test func anAnswerWithoutLinksStaysImmutable() async throws {
        try await withAliyunGateway { client, sim in
            addTask(sim.state, id: "500002", .state(.succeeded, result: #"{"VideoName":"v.mp4"}"#))
            let response = try await client.get("/tasks/aliyun/500002")
            #expect(Self.cacheControl(response) == "public, max-age=31536000, immutable")
        }
    }

    @Test func aStormAfterTheMarginRefreshesOnceWithFreshLinks() async throws {
        let clock = ManualClock(skipsWaits: true)
        let store = temporaryStorePath()
        let refreshedExpiry = try await withAliyunGateway(store: store, clock: clock) { client, sim in
            addTask(sim.state, id: "500003", .state(.succeeded))
            let first = try await client.get("/tasks/aliyun/500003")
            let firstTask = try first.json()
            let callsBefore = sim.state.calls(for: "500003")
            // One second into the margin.
            clock.advance(by: .seconds(Self.lifetime - Self.margin + 1))
            let answers = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for _ in 0..<32 { group.addTask { try await client.get("/tasks/aliyun/500003") } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(sim.state.calls(for: "500003")["GetTaskResult"] == callsBefore["GetTaskResult"].map { $0 + 1 })
            #expect(answers.allSatisfy { $0.status == .ok })
            #expect(answers.contains { $0.headers[.xCache] == "REFRESH" })
            #expect(answers.allSatisfy { ["REFRESH", "HIT"].contains($0.headers[.xCache]) })
            #expect(Set(answers.map { $0.headers[.eTag] }).count == 1)
            let refreshed = try #require(answers.first)
            #expect(refreshed.headers[.eTag] != first.headers[.eTag])
            let expiry = try Self.linksExpireAt(refreshed)
            #expect(Self.isSignedForALifetime(expiry, at: clock.date))
            #expect(Self.cacheControl(refreshed) == Self.linkedCacheControl(until: expiry, now: clock.date))
            let task = try refreshed.json()
            #expect(task["status"] as? String == "succeeded")
            #expect(task["final"] as? Bool == true)
            #expect(try Self.processResultURL(task) != Self.processResultURL(firstTask))
            #expect(try await Self.download(Self.processResultURL(task)).status == 200)
            // The refreshed answer is the stored one now, and served as a hit.
            let again = try await client.get("/tasks/aliyun/500003")
            #expect(again.headers[.xCache] == "HIT")
            #expect(again.headers[.eTag] == refreshed.headers[.eTag])
            let metrics = try await client.get("/metrics").text
            #expect(metrics.contains(#"taskgate_link_refreshes_total{provider="aliyun",outcome="refreshed"} 1"#))
            return try Self.linksExpireAt(refreshed)
        }
        let stored = try await withStore(at: store) { store in try await store.answer(provider: "aliyun", id: "500003") }
        #expect(stored?.isFinal == true)
        #expect(stored?.bytes.linksExpireAt == refreshedExpiry)
    }

    @Test func aTaskTheVendorForgotIsServedStale() async throws {
        let clock = ManualClock(skipsWaits: true)
        try await withAliyunGateway(clock: clock) { client, sim in
            // The vendor keeps the task 4,000 s, past the link's hour.
            addTask(sim.state, id: "500004", .state(.succeeded, seconds: 4000), .gone)
            let first = try await client.get("/tasks/aliyun/500004")
            let calls = sim.state.calls(for: "500004")["GetTaskResult"] ?? 0
            clock.advance(by: .seconds(4001))
            let stale = try await client.get("/tasks/aliyun/500004")
            #expect(stale.status == .ok)
            #expect(stale.headers[.xCache] == "STALE")
            #expect(Self.cacheControl(stale) == "max-age=0")
            #expect(stale.headers[.eTag] == first.headers[.eTag])
            let linksExpireText = try #require(try stale.json()["linksExpireAt"] as? String)
            let linksExpireAt = try #require(RFC3339.parse(linksExpireText))
            #expect(linksExpireAt < clock.date)
            #expect(sim.state.calls(for: "500004")["GetTaskResult"] == calls + 1)
            // Not asked again at once: the next try waits.
            #expect(try await client.get("/tasks/aliyun/500004").headers[.xCache] == "STALE")
            #expect(sim.state.calls(for: "500004")["GetTaskResult"] == calls + 1)
            clock.advance(by: .seconds(Int64(TaskService.refreshRetryInterval) + 1))
            #expect(try await client.get("/tasks/aliyun/500004").headers[.xCache] == "STALE")
            #expect(sim.state.calls(for: "500004")["GetTaskResult"] == calls + 2)
            let metrics = try await client.get("/metrics").text
            #expect(metrics.contains(#"taskgate_link_refreshes_total{provider="aliyun",outcome="gone"} 2"#))
        }
    }

    @Test func aDifferentStatusIsLoggedAndNotApplied() async throws {
        let clock = ManualClock(skipsWaits: true)
        let logs = LogRecorder()
        try await withAliyunGateway(logs: logs, clock: clock) { client, sim in
            addTask(sim.state, id: "500005", .state(.succeeded, seconds: 3400), .failed(code: "VideoDecodeFailed"))
            let first = try await client.get("/tasks/aliyun/500005")
            clock.advance(by: .seconds(3500))
            let answer = try await client.get("/tasks/aliyun/500005")
            #expect(answer.headers[.xCache] == "STALE")
            #expect(answer.headers[.eTag] == first.headers[.eTag])
            #expect(try answer.json()["status"] as? String == "succeeded")
        }
        let warning = logs.lines.first { $0.message.contains("vendor inconsistency") }
        #expect(warning?.metadata["stored_status"] == "succeeded")
        #expect(warning?.metadata["vendor_status"] == "failed")
    }

    /// The hot path sends the same max-age, and leaves an answer whose links are due to the router.
    @Test func theHotPathLimitsMaxAgeAndLeavesDueLinksToTheRouter() async throws {
        let clock = ManualClock(skipsWaits: true)
        let state = SimulatorState(clock: clock)
        try await withSimulator(AliyunSimulator(accessKeyID: aliyunKeyID, accessKeySecret: aliyunSecret, state: state)) { sim in
            addTask(sim.state, id: "500006", .state(.succeeded))
            var aliyun = provider(
                "aliyun",
                endpoint: sim.endpoint,
                AliyunSettings(region: "cn-shanghai", accessKeyID: aliyunKeyID, accessKeySecret: aliyunSecret)
            )
            aliyun.linkRefreshMargin = .seconds(60)
            let parts = try buildGateway(gatewayConfiguration(store: temporaryStorePath(), aliyun), logger: quietLogger, clock: clock)
            try await parts.application.test(.router) { client in
                let path = "/tasks/aliyun/500006"
                let routed = try await client.get(path, [.acceptEncoding: "gzip"])
                let expiry = try Self.linksExpireAt(routed)
                #expect(routed.headers[.cacheControl] == Self.linkedCacheControl(until: expiry, margin: 60, now: clock.date))
                clock.advance(by: .seconds(100))
                let hot = try #require(HotPathTests.hot(parts.hotPath, path, [.acceptEncoding: "gzip"]))
                #expect(hot["Cache-Control"] == Self.linkedCacheControl(until: expiry, margin: 60, now: clock.date))
                #expect(hot["ETag"] == routed.headers[.eTag])
                clock.advance(by: .seconds(Self.lifetime - 60 - 100))
                #expect(HotPathTests.hot(parts.hotPath, path, [.acceptEncoding: "gzip"]) == nil)
                let refreshed = try await client.get(path, [.acceptEncoding: "gzip"])
                #expect(refreshed.headers[.xCache] == "REFRESH")
                let hotAgain = try #require(HotPathTests.hot(parts.hotPath, path, [.acceptEncoding: "gzip"]))
                #expect(hotAgain["ETag"] == refreshed.headers[.eTag])
                let refreshedExpiry = try Self.linksExpireAt(refreshed)
                #expect(refreshedExpiry > expiry)
                #expect(hotAgain["Cache-Control"] == Self.linkedCacheControl(until: refreshedExpiry, margin: 60, now: clock.date))
            }
        }
    }
}
