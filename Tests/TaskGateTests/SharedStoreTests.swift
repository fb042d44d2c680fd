import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import Testing

@testable import TaskGate
@testable import TaskGateSimulators

/// Several replicas on one PostgreSQL database: what one has stored, every other serves.
@Suite(.timeLimit(.minutes(2))) struct SharedStoreTests {
    @Test func aFinalAnswerGivenByOneReplicaIsAHitOnAnother() async throws {
        let database = try PostgresCluster.shared.newDatabase()
        let clock = ManualClock(skipsWaits: true)
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))) { sim in
            addTask(sim.state, id: "31", .state(.succeeded, result: #"{"text":"shared"}"#))
            let configuration = capMonsterConfiguration(endpoint: sim.endpoint, store: database)
            let first = try buildApplication(configuration, logger: quietLogger, clock: clock)
            let given = try await first.test(.router) { client in
                let response = try await client.get("/tasks/capmonster/31")
                #expect(response.headers[.init("X-Cache")!] == "MISS")
                return response.body
            }
            let second = try buildApplication(configuration, logger: quietLogger, clock: clock)
            try await second.test(.router) { client in
                let response = try await client.get("/tasks/capmonster/31")
                #expect(response.status == .ok)
                #expect(response.headers[.init("X-Cache")!] == "HIT")
                #expect(response.body == given)
                let listed = try await client.get("/tasks?provider=capmonster").json()
                #expect((listed["tasks"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["31"])
            }
            #expect(sim.state.calls(for: "31") == ["getTaskResult": 1])
        }
    }

    @Test func aStoreWrittenByANewerTaskgateIsRefused() async throws {
        let database = try PostgresCluster.shared.newDatabase()
        try await withStore(at: database) { store in
            let postgres = try #require(store as? PostgresTaskStore)
            try await postgres.client.query("INSERT INTO taskgate_migrations (name) VALUES ('v99: from the future')")
        }
        do {
            try await withStore(at: database) { _ in }
            Issue.record("a store from a newer taskgate was opened")
        } catch let error as StoreOpenError {
            #expect(error.isRefusal)
            #expect(error.reason.contains("v99: from the future"))
        }
    }

    /// PostgreSQL down under a running gateway: nothing exits, final answers in memory are still
    /// served, what needs the store is 503 store-unavailable, /readyz is 503 — and when the
    /// database is back taskgate reconnects by itself.
    @Test func aDatabaseOutageIsSurvivedWithoutARestart() async throws {
        let cluster = try PostgresCluster.dedicated()
        let database = try cluster.newDatabase()
        let clock = ManualClock(skipsWaits: true)
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))) { sim in
            addTask(sim.state, id: "41", .state(.succeeded))
            addTask(sim.state, id: "42", .state(.running))
            let app = try buildApplication(capMonsterConfiguration(endpoint: sim.endpoint, store: database), logger: quietLogger, clock: clock)
            try await app.test(.router) { client in
                #expect(try await eventuallyAnswers { try await client.get("/readyz").status == .ok })
                #expect(try await client.get("/tasks/capmonster/41").status == .ok)

                try cluster.stop()
                #expect(try await client.get("/readyz").status == .serviceUnavailable)
                let held = try await client.get("/tasks/capmonster/41")
                #expect(held.status == .ok)
                #expect(held.headers[.init("X-Cache")!] == "HIT")
                let needsStore = try await client.get("/tasks/capmonster/42")
                #expect(needsStore.status == .serviceUnavailable)
                #expect(try needsStore.json()["type"] as? String == "urn:taskgate:problem:store-unavailable")

                try cluster.start()
                #expect(try await eventuallyAnswers { try await client.get("/readyz").status == .ok })
                #expect(try await client.get("/tasks/capmonster/42").status == .ok)
            }
        }
        try cluster.stop()
    }
}
