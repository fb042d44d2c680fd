import Foundation
import HTTPTypes
import HummingbirdTesting
import TaskGate
import TaskGateSimulators
import Testing

/// `stale_while_revalidate`: a poll just past a not-final answer's TTL is answered at once with
/// that answer (`X-Cache: UPDATING`) while one vendor call asks again in the background.
@Suite(.timeLimit(.minutes(2))) struct TaskServiceRevalidationTests {
    static let xCache = HTTPField.Name("X-Cache")!

    /// A CapMonster gateway (status_ttl 2 s) serving answers up to `window` past it.
    func gateway(
        window: Duration = .seconds(1),
        clock: ManualClock,
        logs: LogRecorder? = nil,
        _ body: @Sendable (any TestClientProtocol, RunningSimulator) async throws -> Void
    ) async throws {
        try await withCapMonsterGateway(clock: clock, logs: logs, configure: { $0.staleWhileRevalidate = window }, body)
    }

    @Test func aPollJustPastTheTTLIsAnsweredAtOnceWhileOneCallAsksAgain() async throws {
        let clock = ManualClock()
        try await gateway(clock: clock) { client, sim in
            addTask(sim.state, id: "81", .state(.running, polls: 1), .state(.succeeded))
            #expect(try await client.get("/tasks/capmonster/81").headers[Self.xCache] == "MISS")
            clock.advance(by: .milliseconds(2500))
            let updating = try await client.get("/tasks/capmonster/81")
            #expect(updating.status == .ok)
            #expect(updating.headers[Self.xCache] == "UPDATING")
            #expect(updating.headers[HTTPField.Name("Cache-Status")!] == "taskgate; hit; detail=updating")
            #expect(updating.headers[.age] == "2")
            #expect(updating.headers[.cacheControl] == "max-age=0")
            #expect(try updating.json()["status"] as? String == "running")
            // Until the call in the background lands, callers get the same answer; then the new
            // one, from memory. One vendor call in all.
            var outcomes: Set<String> = []
            #expect(
                try await eventuallyAnswers {
                    let next = try await client.get("/tasks/capmonster/81")
                    outcomes.insert(next.headers[Self.xCache] ?? "-")
                    return try next.json()["status"] as? String == "succeeded"
                }
            )
            #expect(outcomes.isSubset(of: ["UPDATING", "HIT"]))
            #expect(sim.state.calls(for: "81")["getTaskResult"] == 2)
            // The first call was the caller's; the one in the background is taskgate's own.
            let metrics = try await client.get("/metrics").text
            for caller in ["anonymous", "taskgate"] {
                let line = #"taskgate_vendor_calls_total{provider="capmonster",call="getTaskResult",outcome="ok",caller="\#(caller)"} 1"#
                #expect(metrics.contains(line), "\(caller)")
            }
        }
    }

    @Test func pastTheWindowACallerWaitsForTheVendor() async throws {
        let clock = ManualClock()
        try await gateway(clock: clock) { client, sim in
            addTask(sim.state, id: "82", .state(.running, polls: 1), .state(.succeeded))
            _ = try await client.get("/tasks/capmonster/82")
            clock.advance(by: .milliseconds(3100))
            let after = try await client.get("/tasks/capmonster/82")
            #expect(after.headers[Self.xCache] == "MISS")
            #expect(try after.json()["status"] as? String == "succeeded")
        }
    }

    @Test func aLongPollWaitsForTheFreshAnswer() async throws {
        let clock = ManualClock()
        try await gateway(clock: clock) { client, sim in
            addTask(sim.state, id: "83", .state(.running, polls: 1), .state(.succeeded))
            _ = try await client.get("/tasks/capmonster/83")
            clock.advance(by: .milliseconds(2500))
            let polled = try await client.get("/tasks/capmonster/83?wait=10s")
            #expect(polled.headers[Self.xCache] == "MISS")
            #expect(try polled.json()["status"] as? String == "succeeded")
        }
    }

    @Test func aFailedCallInTheBackgroundIsMetByTheNextCaller() async throws {
        let clock = ManualClock()
        let logs = LogRecorder()
        try await gateway(clock: clock, logs: logs) { client, sim in
            addTask(sim.state, id: "84", .state(.running, polls: 1), SimulatedTask.Step(answer: .fault(.http503)))
            _ = try await client.get("/tasks/capmonster/84")
            clock.advance(by: .milliseconds(2500))
            #expect(try await client.get("/tasks/capmonster/84").headers[Self.xCache] == "UPDATING")
            // The failure ends the update: the next caller asks the vendor itself (after the
            // vendor's 2 s spacing) and, the vendor failing again, gets the last known answer
            // under `stale_max`.
            #expect(await eventually { logs.lines.contains { $0.message == "background refresh failed" } })
            #expect(sim.state.calls(for: "84")["getTaskResult"] == 2)
            clock.advance(by: .seconds(2))
            #expect(try await client.get("/tasks/capmonster/84").headers[Self.xCache] == "STALE")
            #expect(sim.state.calls(for: "84")["getTaskResult"] == 3)
        }
    }

    @Test func offByDefault() async throws {
        let clock = ManualClock()
        try await withCapMonsterGateway(clock: clock) { client, sim in
            addTask(sim.state, id: "85", .state(.running, polls: 1), .state(.succeeded))
            _ = try await client.get("/tasks/capmonster/85")
            clock.advance(by: .milliseconds(2500))
            #expect(try await client.get("/tasks/capmonster/85").headers[Self.xCache] == "MISS")
        }
    }
}
