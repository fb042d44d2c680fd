import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import TaskGate
@testable import TaskGateSimulators

/// CapMonster's final per-task limit, kept per vendor account and across restarts.
@Suite(.timeLimit(.minutes(2))) struct TaskCallBudgetTests {
    @Test func theVendorsPerTaskLimitIsFinalAndRemembered() async throws {
        let logs = LogRecorder()
        let store = temporaryStorePath()
        let clock = ManualClock(skipsWaits: true)
        let retry: @Sendable (inout ProviderConfiguration) -> Void = { $0.retries = 2 }
        try await withCapMonsterGateway(store: store, clock: clock, logs: logs, configure: retry) { client, sim in
            addTask(sim.state, id: "47", .state(.running, polls: 1), SimulatedTask.Step(answer: .vendorError(code: "ERROR_TOO_MUCH_REQUESTS")))
            #expect(try await client.get("/tasks/capmonster/47").json()["status"] as? String == "running")
            for _ in 0..<2 {
                clock.advance(by: .seconds(3))
                let response = try await client.get("/tasks/capmonster/47")
                #expect(response.status == .tooManyRequests)
                let problem = try response.json()
                #expect(problem["type"] as? String == "urn:taskgate:problem:task-budget-exhausted")
                #expect(problem["vendorCode"] as? String == "ERROR_TOO_MUCH_REQUESTS")
                #expect((problem["lastKnown"] as? [String: Any])?["status"] as? String == "running")
            }
            // Once when it said so, never again: no retry, no later request.
            #expect(sim.state.calls(for: "47") == ["getTaskResult": 2])
        }
        let alerted = logs.lines.contains { $0.level == .error && $0.metadata["vendor_code"] == "ERROR_TOO_MUCH_REQUESTS" }
        #expect(alerted)
        // A restart on the same store remembers: the vendor is not asked again.
        try await withCapMonsterGateway(store: store) { client, sim in
            addTask(sim.state, id: "47", .state(.succeeded))
            let response = try await client.get("/tasks/capmonster/47")
            #expect(response.status == .tooManyRequests)
            #expect(sim.state.totalCalls == 0)
        }
    }

    /// Budgets belong to the vendor account, not to the provider's name: two names for one
    /// CapMonster key spend one budget.
    @Test func twoNamesForOneAccountShareItsBudget() async throws {
        let clock = ManualClock(skipsWaits: true)
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))) { sim in
            addTask(sim.state, id: "49", .state(.running))
            var settings = CapMonsterSettings(clientKey: testClientKey)
            settings.resultBudget = 2
            var first = provider("capmonster", endpoint: sim.endpoint, settings)
            var second = provider("capmonster-too", endpoint: sim.endpoint, settings)
            first.statusTTL = .zero
            second.statusTTL = .zero
            #expect(first.accountKey == second.accountKey)
            #expect(!first.accountKey.contains(testClientKey))
            let app = try buildApplication(gatewayConfiguration(store: temporaryStorePath(), first, second), logger: quietLogger, clock: clock)
            try await app.test(.router) { client in
                var statuses: [HTTPResponse.Status] = []
                for path in ["/tasks/capmonster/49", "/tasks/capmonster-too/49", "/tasks/capmonster-too/49", "/tasks/capmonster/49"] {
                    statuses.append(try await client.get(path).status)
                    clock.advance(by: .seconds(3))
                }
                #expect(statuses == [.ok, .ok, .tooManyRequests, .tooManyRequests])
            }
            #expect(sim.state.calls(for: "49") == ["getTaskResult": 2])
        }
    }
}
