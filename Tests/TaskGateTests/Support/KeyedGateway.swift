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

/// A live gateway with caller keys (`RequestPolicyTests.twoKeys`) in front of a CapMonster simulator
/// holding a final task, reached over a real socket byte for byte as written, so both doors (the
/// hot path and the router) see each request.
enum KeyedGateway {
    static let task = "601"

    /// Runs `body` with the gateway's port.
    static func run(
        configure: @Sendable (inout GatewayConfiguration) -> Void = { _ in },
        _ body: @Sendable (Int, RunningSimulator) async throws -> Void
    ) async throws {
        // Time stands still unless the test moves it: a not-final answer's max-age is exact.
        let clock = ManualClock(skipsWaits: true)
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))) { sim in
            addTask(sim.state, id: Self.task, .state(.succeeded, result: #"{"text":"kept"}"#))
            var configuration = gatewayConfiguration(
                store: temporaryStorePath(),
                provider("capmonster", endpoint: sim.endpoint, CapMonsterSettings(clientKey: testClientKey)),
                provider("other", endpoint: sim.endpoint, CapMonsterSettings(clientKey: testClientKey))
            )
            configuration.auth = RequestPolicyTests.twoKeys
            configure(&configuration)
            try await buildApplication(configuration, logger: quietLogger, clock: clock).test(.live) { client in
                try await body(try #require(client.port), sim)
            }
        }
    }

    static func get(_ port: Int, _ target: String, _ headers: String = "") async throws -> RawHTTPConnection.Answer? {
        try await RawHTTPConnection.exchange(port: port, "GET \(target) HTTP/1.1\r\nHost: taskgate\r\n\(headers)\r\n")
    }
}
