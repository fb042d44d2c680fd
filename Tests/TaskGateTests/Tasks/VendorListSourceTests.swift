import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import TaskGate
@testable import TaskGateSimulators

/// A vendor's list pages, resolved item by item through the service.
@Suite(.timeLimit(.minutes(2))) struct VendorListSourceTests {
    /// One FINISH item that cannot be resolved now (here: the rate wait ran out) leaves the rest
    /// of its page, names the provider in that page's `incomplete`, and the cursor goes on.
    @Test func anUnresolvableListedTaskMakesOnlyItsPageIncomplete() async throws {
        let clock = ManualClock(skipsWaits: true)
        let configure: @Sendable (inout ProviderConfiguration) -> Void = {
            $0.rateLimit = 1
            $0.rateBurst = 2
            $0.rateLimitWait = .zero
        }
        try await withTencentGateway(configure: configure, clock: clock) { client, sim in
            for suffix in ["a", "b", "c"] {
                addTask(sim.state, id: "2600010949-WorkflowTask-\(suffix)", .state(.succeeded, result: TencentMPSProviderTests.transcode))
            }
            let first = try await client.get("/tasks?provider=tencent&status=succeeded&limit=2").json()
            #expect((first["tasks"] as? [[String: Any]])?.count == 1)
            let incomplete = try #require(first["incomplete"] as? [[String: String]])
            #expect(incomplete.map { $0["provider"] } == ["tencent"])
            let cursor = try #require(first["nextCursor"] as? String)
            clock.advance(by: .seconds(10))
            let second = try await client.get("/tasks?provider=tencent&status=succeeded&limit=2&cursor=\(cursor)").json()
            #expect((second["tasks"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["2600010949-WorkflowTask-c"])
            #expect((second["incomplete"] as? [Any])?.isEmpty == true)
        }
    }
}
