import AsyncHTTPClient
import Foundation
import GRDB
import HTTPTypes
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import TaskGateSimulators
import Testing

@testable import TaskGate

/// `GET /events`: every task turned final once, oldest first, with the answer webhooks carry; a
/// sealed cursor to poll with; scoped by key; trimmed past `events_retention` (then 410); the same
/// on every replica of a PostgreSQL store. The stream form is `EventStreamTests`.
@Suite(.timeLimit(.minutes(2))) struct EventFeedTests {
    typealias Backend = TaskStoreContractTests.Backend

    /// Two CapMonster providers, `capmonster` and `other`, on one simulator.
    static func configuration(endpoint: String, store: String) -> GatewayConfiguration {
        gatewayConfiguration(
            store: store,
            provider("capmonster", endpoint: endpoint, CapMonsterSettings(clientKey: testClientKey)),
            provider("other", endpoint: endpoint, CapMonsterSettings(clientKey: testClientKey))
        )
    }

    static func withFeedGateway<T: Sendable>(
        store: String = temporaryStorePath(),
        clock: ManualClock = ManualClock(skipsWaits: true),
        configure: @Sendable (inout GatewayConfiguration) -> Void = { _ in },
        _ body: @Sendable (any TestClientProtocol, RunningSimulator, Gateway) async throws -> T
    ) async throws -> T {
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))) { sim in
            var configuration = Self.configuration(endpoint: sim.endpoint, store: store)
            configure(&configuration)
            let parts = try buildGateway(configuration, logger: quietLogger, clock: clock)
            return try await parts.application.test(.router) { client in try await body(client, sim, parts) }
        }
    }

    /// Turns tasks final by asking for them once each.
    static func finish(_ ids: [String], on provider: String = "capmonster", _ client: any TestClientProtocol, _ sim: RunningSimulator) async throws {
        for id in ids {
            addTask(sim.state, id: id, .state(.succeeded, result: #"{"text":"task \#(id)"}"#))
            #expect(try await client.get("/tasks/\(provider)/\(id)").status == .ok)
        }
    }

    /// A page of the feed: its events' task ids (from `data`), its event ids, and `next`.
    struct Page {
        var taskIDs: [String]
        var ids: [String]
        var next: String
        var events: [[String: Any]]
    }

    static func page(_ client: any TestClientProtocol, _ query: String = "", _ headers: HTTPFields = [:]) async throws -> Page {
        let response = try await client.get("/events\(query)", headers)
        #expect(response.status == .ok, "\(response.text)")
        let json = try response.json()
        let events = try #require(json["events"] as? [[String: Any]])
        return Page(
            taskIDs: events.compactMap { ($0["data"] as? [String: Any])?["id"] as? String },
            ids: events.compactMap { $0["id"] as? String },
            next: try #require(json["next"] as? String),
            events: events
        )
    }

    static func eventID(_ task: String, _ provider: String = "capmonster") -> String { TaskEvent.id(provider: provider, taskID: task) }

    @Test(arguments: Backend.allCases)
    func eachFinalTaskIsOneEventOldestFirstWithItsAnswer(backend: Backend) async throws {
        try await Self.withFeedGateway(store: try backend.newLocation()) { client, sim, _ in
            try await Self.finish(["701", "702"], client, sim)
            addTask(sim.state, id: "709", .state(.running))
            _ = try await client.get("/tasks/capmonster/709")
            try await Self.finish(["703"], client, sim)
            // Asked again: a final answer is not saved again, so no second event.
            _ = try await client.get("/tasks/capmonster/701")
            let first = try await Self.page(client)
            #expect(first.taskIDs == ["701", "702", "703"])
            #expect(first.ids == ["701", "702", "703"].map { Self.eventID($0) })
            let event = try #require(first.events.first)
            #expect(Array(event.keys).sorted() == ["data", "id", "timestamp", "type"])
            #expect(event["type"] as? String == "task.final")
            #expect((event["timestamp"] as? String).flatMap(RFC3339.parse) != nil)
            // `data` is the task's answer, as GET gives it.
            let answer = try await client.get("/tasks/capmonster/701").json()
            let data = try JSONSerialization.data(withJSONObject: try #require(event["data"]), options: [.sortedKeys])
            #expect(data == (try JSONSerialization.data(withJSONObject: answer, options: [.sortedKeys])))
            // Nothing new: the same cursor back. Then only what came after it.
            let empty = try await Self.page(client, "?after=\(first.next)")
            #expect(empty.ids.isEmpty && empty.next == first.next)
            try await Self.finish(["704"], client, sim)
            let later = try await Self.page(client, "?after=\(first.next)")
            #expect(later.taskIDs == ["704"])
        }
    }

    @Test func afterNowStartsAtTheEndAndLimitPages() async throws {
        try await Self.withFeedGateway { client, sim, _ in
            try await Self.finish(["711", "712", "713"], client, sim)
            let now = try await Self.page(client, "?after=now")
            #expect(now.ids.isEmpty)
            try await Self.finish(["714"], client, sim)
            #expect(try await Self.page(client, "?after=\(now.next)").taskIDs == ["714"])
            let one = try await Self.page(client, "?limit=2")
            #expect(one.taskIDs == ["711", "712"])
            let two = try await Self.page(client, "?limit=2&after=\(one.next)")
            #expect(two.taskIDs == ["713", "714"])
            #expect(try await Self.page(client, "?type=task.final&after=\(two.next)").ids.isEmpty)
        }
    }

    @Test func eventsAreKeptWithoutAnyWebhook() async throws {
        try await Self.withFeedGateway { client, sim, parts in
            try await Self.finish(["715"], client, sim)
            #expect(try await parts.store.webhookBacklog().isEmpty)
            #expect(try await Self.page(client).taskIDs == ["715"])
            #expect(try await client.get("/metrics").text.contains(#"taskgate_events_total{type="task.final"} 1"#))
        }
    }

    @Test func aCursorOrQueryTaskgateDidNotMakeIsRefused() async throws {
        try await Self.withFeedGateway { client, sim, _ in
            try await Self.finish(["721", "722"], client, sim)
            let next = try await Self.page(client, "?limit=1").next
            let listCursor = try #require(try await client.get("/tasks?limit=1").json()["nextCursor"] as? String)
            var tampered = Array(next.utf8)
            tampered[tampered.count / 2] = tampered[tampered.count / 2] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            let forged = [
                "after=\(String(decoding: tampered, as: UTF8.self))", "after=\(listCursor)", "after=garbage", "after=", "after=-1",
                "after=\(String(repeating: "a", count: 5000))", "limit=0", "limit=501", "limit=x", "type=task.created", "provider=nope",
                "provider=", "since=1", "after=now&after=now",
            ]
            for query in forged {
                let response = try await client.get("/events?\(query)")
                #expect(response.status == .badRequest, "\(query)")
                #expect(try response.json()["type"] as? String == "urn:taskgate:problem:invalid-query", "\(query)")
            }
        }
    }

    @Test func keysSeeOnlyTheirProvidersEvents() async throws {
        let keyed: @Sendable (inout GatewayConfiguration) -> Void = { $0.auth = RequestPolicyTests.twoKeys }
        try await Self.withFeedGateway(configure: keyed) { client, sim, _ in
            let (billing, ops) = (RequestPolicyTests.bearer("token-billing"), RequestPolicyTests.bearer("token-ops"))
            for (id, provider) in [("731", "capmonster"), ("732", "other")] {
                addTask(sim.state, id: id, .state(.succeeded))
                #expect(try await client.get("/tasks/\(provider)/\(id)", ops).status == .ok)
            }
            #expect(try await Self.page(client, "", billing).taskIDs == ["731"])
            #expect(try await Self.page(client, "", ops).taskIDs == ["731", "732"])
            #expect(try await Self.page(client, "?provider=other", ops).taskIDs == ["732"])
            let refused = try await client.get("/events?provider=other", billing)
            #expect(refused.status == .forbidden)
            #expect(try await client.get("/events").status == .unauthorized)
        }
    }

    @Test(arguments: Backend.allCases)
    func eventsPastRetentionAreTrimmedAndTheirCursorsAre410(backend: Backend) async throws {
        let clock = ManualClock(skipsWaits: true)
        try await Self.withFeedGateway(store: try backend.newLocation(), clock: clock) { client, sim, parts in
            let origin = try await Self.page(client, "?after=now").next
            try await Self.finish(["741", "742"], client, sim)
            let afterFirst = try await Self.page(client, "?limit=1").next
            let afterBoth = try await Self.page(client).next
            clock.advance(by: .seconds(31 * 86_400))
            try await Self.finish(["743"], client, sim)
            let trimmer = EventTrimmer(log: parts.store, retention: .seconds(30 * 86_400), clock: clock, metrics: parts.metrics, logger: quietLogger)
            await trimmer.trim()
            for cursor in [origin, afterFirst] {
                let expired = try await client.get("/events?after=\(cursor)")
                #expect(expired.status == .gone)
                #expect(try expired.json()["type"] as? String == "urn:taskgate:problem:events-expired")
            }
            // A cursor at the trimmed edge lost nothing; without one, the feed starts at the oldest kept.
            #expect(try await Self.page(client, "?after=\(afterBoth)").taskIDs == ["743"])
            #expect(try await Self.page(client).taskIDs == ["743"])
            #expect(try await client.get("/metrics").text.contains("taskgate_events_oldest_seconds 0"))
            clock.advance(by: .seconds(86_400))
            await trimmer.trim()
            #expect(try await client.get("/metrics").text.contains("taskgate_events_oldest_seconds 86400"))
        }
    }

    /// Trimming works in bounded rounds: a backlog larger than one round is trimmed by several.
    @Test func aTrimDeletesInRoundsOfTheBatch() async throws {
        try await withStore(at: temporaryStorePath()) { store in
            for index in 0..<(EventTrimmer.batch + 5) {
                var answer = try TaskStoreContractTests.answer("t\(index)", .succeeded, at: 1_000 + Double(index))
                answer.traceParent = nil
                try await store.save(answer, event: try TaskEvent.final(answer, receivers: []))
            }
            let clock = ManualClock(date: Date(timeIntervalSince1970: 1_000 + 31 * 86_400))
            #expect(
                try await store.trimEvents(createdBefore: Date(timeIntervalSince1970: 2_000_000_000), limit: EventTrimmer.batch) == EventTrimmer.batch
            )
            #expect(try await store.events(after: .start, providers: ["p"], limit: 10).events.count == 5)
            await EventTrimmer(log: store, retention: .seconds(30 * 86_400), clock: clock, metrics: nil, logger: quietLogger).trim()
            let page = try await store.events(after: .start, providers: ["p"], limit: 10)
            #expect(page.events.isEmpty && page.trimmedThrough == Int64(EventTrimmer.batch + 5))
        }
    }

    /// Replicas on one PostgreSQL store serve one feed: the same events in the same order, and a
    /// cursor from one reads on at another.
    @Test func everyReplicaServesTheSameFeed() async throws {
        let store = try PostgresCluster.shared.newDatabase()
        // One clock for both: they share the vendor account's rate slots.
        let clock = ManualClock(skipsWaits: true)
        try await Self.withFeedGateway(store: store, clock: clock) { first, sim, _ in
            try await withSimulator(CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))) { otherSim in
                let configuration = Self.configuration(endpoint: otherSim.endpoint, store: store)
                try await buildApplication(configuration, logger: quietLogger, clock: clock).test(.router) { second in
                    for (index, id) in ["751", "752", "753", "754"].enumerated() {
                        addTask(sim.state, id: id, .state(.succeeded))
                        addTask(otherSim.state, id: id, .state(.succeeded))
                        let answer = try await (index % 2 == 0 ? first : second).get("/tasks/capmonster/\(id)")
                        #expect(answer.status == .ok, "\(answer.text)")
                    }
                    let (here, there) = (try await Self.page(first), try await Self.page(second))
                    #expect(here.taskIDs == ["751", "752", "753", "754"])
                    #expect(here.ids == there.ids && here.next == there.next)
                    let half = try await Self.page(first, "?limit=2")
                    #expect(try await Self.page(second, "?after=\(half.next)").taskIDs == ["753", "754"])
                }
            }
        }
    }
}

/// A store written before the feed: its outbox rows become one event per task (in the order the
/// tasks turned final, ids the new per-event ones) and one delivery per row, attempts kept.
@Suite(.timeLimit(.minutes(2))) struct EventFeedMigrationTests {
    typealias Backend = TaskStoreContractTests.Backend

    static let payload = #"{"type":"task.final","timestamp":"2027-01-15T08:00:00Z","data":{"id":"x"}}"#
    /// (id, webhook, task, created, state, attempts, next attempt, last error, finished)
    static let rows = """
        INSERT INTO webhook_event (id, webhook, provider, task_id, created_at, payload, state, attempts, next_attempt_at, last_error, finished_at)
        VALUES ('msg_a', 'billing', 'p', '3', 100, X'\(Hex.encode(Array(payload.utf8)))', 'pending', 1, 105, 'HTTP 500', NULL),
               ('msg_b', 'audit', 'p', '3', 100, X'\(Hex.encode(Array(payload.utf8)))', 'delivered', 1, 100, NULL, 101),
               ('msg_c', 'billing', 'p', '2', 50, X'\(Hex.encode(Array(payload.utf8)))', 'failed', 8, 50, 'HTTP 404', 90)
        """

    /// A store at the last schema before the feed, holding `rows`.
    static func olderStore(_ backend: Backend) throws -> String {
        let location = try backend.newLocation()
        switch backend {
        case .sqlite:
            let queue = try DatabaseQueue(path: location)
            try SQLiteTaskStore.migrator.migrate(queue, upTo: "v11: task.trace_parent")
            try queue.write { try $0.execute(sql: rows) }
            try queue.close()
        case .postgres:
            let older = PostgresTaskStore.migrations.prefix { $0.name != "v15: task_event" }
            var sql = ["CREATE TABLE taskgate_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"]
            for migration in older {
                sql += migration.sql
                sql.append("INSERT INTO taskgate_migrations (name) VALUES ('\(migration.name)')")
            }
            sql.append(rows.replacingOccurrences(of: "X'", with: "'\\x"))
            try PostgresCluster.shared.execute(sql.joined(separator: ";\n"), in: location)
        }
        return location
    }

    @Test(arguments: Backend.allCases)
    func anOlderOutboxBecomesTheFeed(backend: Backend) async throws {
        let location = try Self.olderStore(backend)
        try await withStore(at: location) { store in
            let page = try await store.events(after: .start, providers: ["p"], limit: 10)
            #expect(page.events.map(\.sequence) == [1, 2])
            #expect(page.events.map(\.id) == [TaskEvent.id(provider: "p", taskID: "2"), TaskEvent.id(provider: "p", taskID: "3")])
            #expect(page.events.allSatisfy { String(buffer: $0.payload) == Self.payload })
            let billing = try await store.deliveries(webhook: "billing", state: nil, before: nil, limit: 10)
            #expect(billing.map(\.sequence) == [2, 1])
            #expect(billing.map(\.state) == [.pending, .failed])
            #expect(billing.map { $0.attempts.map(\.error) } == [["HTTP 500"], ["HTTP 404"]])
            #expect(billing[0].attempts.first?.at == Date(timeIntervalSince1970: 100))
            let audit = try await store.deliveries(webhook: "audit", state: .delivered, before: nil, limit: 10)
            #expect(audit.map(\.sequence) == [2])
            // The next event follows them.
            let answer = try TaskStoreContractTests.answer("4", .succeeded)
            #expect(try await store.save(answer, event: try TaskEvent.final(answer, receivers: [])))
            #expect(try await store.events(after: .after(2), providers: ["p"], limit: 10).events.map(\.sequence) == [3])
        }
    }
}
