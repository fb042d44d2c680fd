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
        await #expect(throws: StoreOpenError.self) {
            try await withStore(at: database) { _ in }
        }
    }
}
