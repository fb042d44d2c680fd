import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import TaskGate
import TaskGateSimulators
import Testing

@testable import TaskGate
@testable import TaskGateSimulators

/// The service's promises that no single route's test pins down.
@Suite(.timeLimit(.minutes(2))) struct TaskServiceTests {
    static let xCache = HTTPField.Name("X-Cache")!

    enum Backend: String, CaseIterable { case sqlite, postgres }

    /// A store that cannot save while the vendor answers final: the caller gets 503
    /// `store-unavailable`, never a final answer that was not stored (it would be cached as
    /// immutable, with no row and no webhook event); nothing is kept in memory, and once the
    /// store takes writes again the vendor is asked again and the answer stored.
    @Test(arguments: Backend.allCases)
    func aFinalAnswerTheStoreCannotSaveIsNotServed(backend: Backend) async throws {
        let store = backend == .sqlite ? temporaryStorePath() : try PostgresCluster.shared.newDatabase()
        try await refuseTaskWrites(at: store, true)
        let clock = ManualClock(skipsWaits: true)
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))) { sim in
            addTask(sim.state, id: "41", .state(.succeeded, result: #"{"text":"never lost"}"#))
            let app = try buildApplication(capMonsterConfiguration(endpoint: sim.endpoint, store: store), logger: quietLogger, clock: clock)
            try await app.test(.router) { client in
                let refused = try await client.get("/tasks/capmonster/41")
                #expect(refused.status == .serviceUnavailable)
                #expect(try refused.json()["type"] as? String == "urn:taskgate:problem:store-unavailable")
                #expect(refused.headers[.cacheControl]?.contains("immutable") != true)
                // Nothing was kept in memory: asked again, it is asked of the vendor again.
                let again = try await client.get("/tasks/capmonster/41")
                #expect(again.status == .serviceUnavailable)
                #expect(sim.state.calls(for: "41") == ["getTaskResult": 2])

                try await refuseTaskWrites(at: store, false)
                let stored = try await client.get("/tasks/capmonster/41")
                #expect(stored.status == .ok)
                #expect(stored.headers[.init("X-Cache")!] == "MISS")
                #expect(sim.state.calls(for: "41") == ["getTaskResult": 3])
            }
        }
        let kept = try await withStore(at: store) { store in try await store.answer(provider: "capmonster", id: "41")?.status }
        #expect(kept == .succeeded)
    }

    /// Makes the store's task table refuse every write (a trigger raising an error, as a full
    /// disk or a read-only database would), or take them again.
    private func refuseTaskWrites(at location: String, _ refuse: Bool) async throws {
        try await withStore(at: location) { store in
            if let sqlite = store as? SQLiteTaskStore {
                try await sqlite.pool.write { db in
                    try db.execute(
                        sql: refuse
                            ? "CREATE TRIGGER refuse_insert BEFORE INSERT ON task BEGIN SELECT RAISE(ABORT, 'disk full'); END;"
                                + "CREATE TRIGGER refuse_update BEFORE UPDATE ON task BEGIN SELECT RAISE(ABORT, 'disk full'); END;"
                            : "DROP TRIGGER refuse_insert; DROP TRIGGER refuse_update"
                    )
                }
            } else {
                let postgres = try #require(store as? PostgresTaskStore)
                if refuse {
                    try await postgres.client.query(
                        "CREATE FUNCTION refuse_write() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql"
                    )
                    try await postgres.client.query(
                        "CREATE TRIGGER refuse_write BEFORE INSERT OR UPDATE ON task FOR EACH ROW EXECUTE FUNCTION refuse_write()"
                    )
                } else {
                    try await postgres.client.query("DROP TRIGGER refuse_write ON task")
                }
            }
        }
    }

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
            #expect(stale.headers[.cacheStatus] == "taskgate; fwd=stale; detail=vendor-failed")
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
