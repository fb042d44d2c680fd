import Foundation
import HTTPTypes
import HummingbirdTesting
import TaskGate
import TaskGateSimulators
import Testing

/// When a vendor fails, what taskgate already knows still answers.
@Suite(.timeLimit(.minutes(2))) struct ResilienceTests {
    static let xCache = HTTPField.Name("X-Cache")!

    /// Polls move the test clock past CapMonster's 2 s spacing instead of waiting for it.
    func gateway(
        staleMax: Duration,
        clock: ManualClock = ManualClock(skipsWaits: true),
        _ body: @Sendable (any TestClientProtocol, RunningSimulator) async throws -> Void
    ) async throws {
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))) { sim in
            let configuration = capMonsterConfiguration(endpoint: sim.endpoint, store: temporaryStorePath()) { $0.staleMax = staleMax }
            try await buildApplication(configuration, logger: quietLogger, clock: clock).test(.router) { client in try await body(client, sim) }
        }
    }

    @Test(arguments: [SimulatedTask.Step.Fault.http503, .garbage, .http429])
    func aFailingVendorIsAnsweredWithTheLastKnownStatus(fault: SimulatedTask.Step.Fault) async throws {
        let clock = ManualClock()
        try await gateway(staleMax: .seconds(60), clock: clock) { client, sim in
            addTask(sim.state, id: "95", .state(.running, polls: 1), SimulatedTask.Step(answer: .fault(fault)))
            let fresh = try await client.get("/tasks/capmonster/95")
            #expect(fresh.headers[Self.xCache] == "MISS")
            clock.advance(by: .seconds(2))
            let stale = try await client.get("/tasks/capmonster/95")
            #expect(stale.status == .ok)
            #expect(stale.headers[Self.xCache] == "STALE")
            #expect(Int(stale.headers[.age] ?? "") != nil)
            #expect(stale.headers[.cacheControl] == "max-age=0")
            #expect(try stale.json()["status"] as? String == "running")
            #expect(sim.state.calls(for: "95")["getTaskResult"] == 2)
        }
    }

    @Test func staleAnswersCanBeTurnedOff() async throws {
        let clock = ManualClock()
        try await gateway(staleMax: .zero, clock: clock) { client, sim in
            addTask(sim.state, id: "96", .state(.running, polls: 1), SimulatedTask.Step(answer: .fault(.http503)))
            _ = try await client.get("/tasks/capmonster/96")
            clock.advance(by: .seconds(2))
            #expect(try await client.get("/tasks/capmonster/96").status == .badGateway)
        }
    }

    @Test func aVendorAnswerIsNeverReplacedByAStaleOne() async throws {
        let clock = ManualClock()
        try await gateway(staleMax: .seconds(60), clock: clock) { client, sim in
            addTask(sim.state, id: "97", .state(.running, polls: 1), SimulatedTask.Step(answer: .vendorError(code: "ERROR_KEY_DOES_NOT_EXIST")))
            _ = try await client.get("/tasks/capmonster/97")
            clock.advance(by: .seconds(2))
            // Credentials refused is an answer, not an outage: the caller must see it.
            #expect(try await client.get("/tasks/capmonster/97").status == .badGateway)
        }
    }
}
