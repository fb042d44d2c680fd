import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import TaskGateSimulators
import Testing

@testable import TaskGate

/// `GET /events` as server-sent events, over real sockets: resumes after `Last-Event-ID` with no
/// gap and no duplicate, a heartbeat on the gateway's clock, woken by a new event (on any
/// replica), at most `limits.max_streams`, and a clean end at shutdown.
@Suite(.timeLimit(.minutes(2))) struct EventStreamTests {
    /// Runs a live gateway (two CapMonster providers) with its simulator.
    static func withLiveFeed<T: Sendable>(
        store: String = temporaryStorePath(),
        clock: ManualClock = ManualClock(),
        configure: @escaping @Sendable (inout GatewayConfiguration) -> Void = { _ in },
        _ body: @escaping @Sendable (LiveGateway, RunningSimulator) async throws -> T
    ) async throws -> T {
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))) { sim in
            var configuration = EventFeedTests.configuration(endpoint: sim.endpoint, store: store)
            configure(&configuration)
            return try await LiveGateway.run(configuration, clock: clock) { gateway in try await body(gateway, sim) }
        }
    }

    /// Turns tasks final through the gateway at `port`.
    static func finish(_ ids: [String], port: Int, _ sim: RunningSimulator) async throws {
        for id in ids {
            addTask(sim.state, id: id, .state(.succeeded, result: #"{"text":"task \#(id)"}"#))
            let response = try await HTTPClient.shared.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(port)/tasks/capmonster/\(id)"),
                timeout: .seconds(30)
            )
            #expect(response.status == .ok)
            _ = try await response.body.collect(upTo: 1 << 20)
        }
    }

    static func taskID(_ message: ServerSentMessage?) throws -> String? {
        try (try #require(message).json()["data"] as? [String: Any])?["id"] as? String
    }

    @Test func aStreamResumesAfterItsLastEventIDWithoutAGapOrADuplicate() async throws {
        try await Self.withLiveFeed { gateway, sim in
            try await Self.finish(["801", "802"], port: gateway.port, sim)
            var stream = try await EventStreamClient.open(port: gateway.port)
            #expect(stream.status == 200)
            #expect(stream.header("content-type") == "text/event-stream")
            #expect(stream.header("x-accel-buffering") == "no")
            #expect(stream.header("cache-control") == "no-store")
            let first = try #require(try await stream.nextEvent())
            #expect(first.event == "task.final")
            #expect(try first.json()["id"] as? String == EventFeedTests.eventID("801"))
            #expect(try Self.taskID(first) == "801")
            #expect(try Self.taskID(try await stream.nextEvent()) == "802")
            // Reconnecting with the first event's id: the second again, then what came since.
            try await Self.finish(["803"], port: gateway.port, sim)
            var resumed = try await EventStreamClient.open(port: gateway.port, headers: [("last-event-id", try #require(first.id))])
            #expect(try Self.taskID(try await resumed.nextEvent()) == "802")
            #expect(try Self.taskID(try await resumed.nextEvent()) == "803")
            // `after` works the same; Last-Event-ID wins over it (what a reconnecting EventSource sends).
            var after = try await EventStreamClient.open(port: gateway.port, path: "/events?after=\(try #require(first.id))")
            #expect(try Self.taskID(try await after.nextEvent()) == "802")
            let forged = try await EventStreamClient.open(port: gateway.port, path: "/events?after=forged")
            #expect(forged.status == 400)
            #expect(forged.header("content-type") == "application/problem+json")
        }
    }

    @Test func anIdleStreamSendsAHeartbeatAndWakesForANewEvent() async throws {
        let clock = ManualClock()
        let heartbeat: @Sendable (inout GatewayConfiguration) -> Void = { $0.eventsHeartbeat = .seconds(15) }
        try await Self.withLiveFeed(clock: clock, configure: heartbeat) { gateway, sim in
            var stream = try await EventStreamClient.open(port: gateway.port, path: "/events?after=now")
            // The stream waits on the gateway's clock: at 15 s it says it is alive.
            #expect(await clock.sleepers(1))
            clock.advance(by: .seconds(15))
            #expect(try await stream.next() == ServerSentMessage(comment: "heartbeat"))
            // A new event wakes it at once, without the clock moving.
            #expect(await clock.sleepers(1))
            try await Self.finish(["811"], port: gateway.port, sim)
            #expect(try Self.taskID(try await stream.next()) == "811")
        }
    }

    @Test func aStreamEndsCleanlyAtShutdown() async throws {
        try await Self.withLiveFeed { gateway, sim in
            var stream = try await EventStreamClient.open(port: gateway.port)
            try await Self.finish(["821"], port: gateway.port, sim)
            let event = try #require(try await stream.nextEvent())
            #expect(try Self.taskID(event) == "821")
            await gateway.group.triggerGracefulShutdown()
            // The end of the body, after a whole event: nothing half-sent, nothing more.
            #expect(try await stream.next() == nil)
        }
    }

    @Test func streamsPastTheLimitAre503() async throws {
        let oneStream: @Sendable (inout GatewayConfiguration) -> Void = { $0.limits.maxStreams = 1 }
        try await Self.withLiveFeed(configure: oneStream) { gateway, _ in
            var open = try await EventStreamClient.open(port: gateway.port, path: "/events?after=now")
            #expect(open.status == 200)
            let refused = try await EventStreamClient.open(port: gateway.port)
            #expect(refused.status == 503)
            #expect(refused.header("retry-after") == "5")
            #expect(refused.header("content-type") == "application/problem+json")
            let metrics = try await HTTPClient.shared.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(gateway.port)/metrics"),
                timeout: .seconds(30)
            )
            let text = String(buffer: try await metrics.body.collect(upTo: 1 << 22))
            #expect(text.contains("taskgate_event_streams 1"))
            _ = open
        }
    }

    /// Replicas on one PostgreSQL store: a stream on one hears an event another writes (NOTIFY),
    /// with no clock moved and no poll.
    @Test func aStreamWakesWhenAnotherReplicaWritesAnEvent() async throws {
        let store = try PostgresCluster.shared.newDatabase()
        let clock = ManualClock()
        try await Self.withLiveFeed(store: store, clock: clock) { reader, _ in
            try await Self.withLiveFeed(store: store, clock: clock) { writer, sim in
                var stream = try await EventStreamClient.open(port: reader.port, path: "/events?after=now")
                #expect(await clock.sleepers(1))
                try await Self.finish(["831"], port: writer.port, sim)
                #expect(try Self.taskID(try await stream.nextEvent()) == "831")
            }
        }
    }

    /// A stream stays open while PostgreSQL restarts (heartbeats go on) and carries the events
    /// written after it is back.
    @Test func aStreamOutlivesAPostgreSQLRestart() async throws {
        let cluster = try PostgresCluster.dedicated()
        let store = try cluster.newDatabase()
        let clock = ManualClock()
        try await Self.withLiveFeed(store: store, clock: clock) { gateway, sim in
            var stream = try await EventStreamClient.open(port: gateway.port, path: "/events?after=now")
            #expect(stream.status == 200)
            #expect(await clock.sleepers(1))
            try cluster.stop()
            clock.advance(by: .seconds(15))
            #expect(try await stream.next() == ServerSentMessage(comment: "heartbeat"))
            try cluster.start()
            let readyz = { () async throws -> Bool in
                let response = try await HTTPClient.shared.execute(
                    HTTPClientRequest(url: "http://127.0.0.1:\(gateway.port)/readyz"),
                    timeout: .seconds(10)
                )
                return response.status == .ok
            }
            #expect(try await eventuallyAnswers(readyz))
            try await Self.finish(["861"], port: gateway.port, sim)
            #expect(try Self.taskID(try await stream.nextEvent()) == "861")
        }
        try cluster.stop()
    }
}
