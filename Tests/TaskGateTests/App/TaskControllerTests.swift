import Crypto
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import TaskGate
import TaskGateSimulators
import Testing

@testable import TaskGate

@Suite(.timeLimit(.minutes(3))) struct TaskControllerTests {
    /// With keys, every answer was given to one key: `private`, on both doors (the second final
    /// answer comes from the hot path), for listings and not-final answers too.
    @Test func keyedAnswersArePrivate() async throws {
        try await KeyedGateway.run { port, sim in
            addTask(sim.state, id: "602", .state(.running))
            let key = "Authorization: Bearer token-ops\r\n"
            for cache in ["MISS", "HIT"] {
                let answer = try #require(try await KeyedGateway.get(port, "/tasks/capmonster/\(KeyedGateway.task)", key))
                #expect(answer.header("X-Cache") == cache)
                #expect(answer.header("Cache-Control") == "private, max-age=31536000, immutable")
            }
            #expect(try await KeyedGateway.get(port, "/tasks/capmonster/602", key)?.header("Cache-Control") == "private, max-age=2")
            #expect(try await KeyedGateway.get(port, "/tasks", key)?.header("Cache-Control") == "private, no-cache")
        }
    }

    /// The task and artifact routes read their query as strictly as `/tasks` does.
    @Test func unknownAndRepeatedParametersAreRefusedOnEveryRoute() async throws {
        try await KeyedGateway.run { port, sim in
            let key = "Authorization: Bearer token-ops\r\n"
            for target in [
                "/tasks/capmonster/\(KeyedGateway.task)?x=1", "/tasks/capmonster/\(KeyedGateway.task)?wait=1s&wait=2s",
                "/tasks/capmonster/\(KeyedGateway.task)?wait",
                "/tasks/capmonster/\(KeyedGateway.task)/artifacts/0?download=1", "/tasks?status=running&status=failed",
            ] {
                let answer = try #require(try await KeyedGateway.get(port, target, key))
                #expect(answer.status == 400, "\(target)")
                #expect(answer.text.contains("urn:taskgate:problem:invalid-query"), "\(target)")
            }
            #expect(sim.state.calls(for: KeyedGateway.task).isEmpty)
        }
    }
}
