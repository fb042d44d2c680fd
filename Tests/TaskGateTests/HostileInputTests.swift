import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import TaskGate
import TaskGateSimulators
import Testing

@testable import TaskGate

/// What an attacker tries (issue 25), each finding kept as a test: odd paths, forged cursors,
/// odd configuration, raw HTTP/1 framing. Requests go over a real socket, byte for byte as
/// written, so both doors (the hot path and the router) see them.
@Suite(.timeLimit(.minutes(3))) struct HostileInputTests {
    static let task = "601"

    /// A live gateway with caller keys (`CallerTests.twoKeys`) in front of a CapMonster simulator
    /// holding a final task 601; `body` gets the port.
    func withKeyedGateway(
        configure: @Sendable (inout GatewayConfiguration) -> Void = { _ in },
        _ body: @Sendable (Int, RunningSimulator) async throws -> Void
    ) async throws {
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey)) { sim in
            addTask(sim.state, id: Self.task, .state(.succeeded, result: #"{"text":"kept"}"#))
            var configuration = gatewayConfiguration(
                store: temporaryStorePath(),
                provider("capmonster", endpoint: sim.endpoint, CapMonsterSettings(clientKey: testClientKey)),
                provider("other", endpoint: sim.endpoint, CapMonsterSettings(clientKey: testClientKey))
            )
            configuration.auth = CallerTests.twoKeys
            configure(&configuration)
            try await buildApplication(configuration, logger: quietLogger).test(.live) { client in
                try await body(try #require(client.port), sim)
            }
        }
    }

    static func get(_ port: Int, _ target: String, _ headers: String = "") throws -> RawHTTPConnection.Answer? {
        try RawHTTPConnection.exchange(port: port, "GET \(target) HTTP/1.1\r\nHost: taskgate\r\n\(headers)\r\n")
    }

    /// Every way to write a protected route that is not its canonical form.
    static func variants(of path: String) -> [String] {
        let segments = path.split(separator: "/").map(String.init)
        var variants = ["/" + path, path + "/", "/." + path, path + "/.", "/x/.." + path, "http://taskgate/" + path]
        for index in segments.indices {
            var doubled = segments.map { "/" + $0 }
            doubled[index] = "/" + doubled[index]
            variants.append(doubled.joined())
            var dotted = segments.map { "/" + $0 }
            dotted[index] = "/." + dotted[index]
            variants.append(dotted.joined())
            var encoded = segments
            let first = encoded[index].unicodeScalars.first!
            encoded[index] = String(format: "%%%02X", first.value) + encoded[index].dropFirst()
            variants.append("/" + encoded.joined(separator: "/"))
        }
        if segments.count > 1 {
            variants.append("/" + segments.joined(separator: "%2F"))
            variants.append("/" + segments.joined(separator: "%2f"))
            variants.append("/" + segments[0] + "/" + segments.dropFirst().joined(separator: "%2F"))
        }
        return variants
    }

    static let protectedPaths = ["/tasks", "/tasks/capmonster/\(task)", "/tasks/capmonster/\(task)/artifacts/0", "/metrics"]

    @Test func noSpellingOfAProtectedRouteGetsPastTheKeys() async throws {
        try await withKeyedGateway { port, sim in
            // The canonical forms: refused without a key, answered with one (the test can fail).
            for path in Self.protectedPaths {
                #expect(try Self.get(port, path)?.status == 401, "\(path)")
            }
            #expect(try Self.get(port, "/tasks/capmonster/\(Self.task)", "Authorization: Bearer token-ops\r\n")?.status == 200)
            #expect(try Self.get(port, "/metrics", "Authorization: Bearer token-ops\r\n")?.status == 200)
            let callsBefore = sim.state.calls(for: Self.task).count
            for path in Self.protectedPaths {
                for variant in Self.variants(of: path) {
                    let answer = try #require(try Self.get(port, variant), "\(variant)")
                    #expect(answer.status == 400, "\(variant): \(answer.status)")
                    #expect(answer.text.contains("urn:taskgate:problem:invalid-path"), "\(variant)")
                    // Even with a key, a variant is refused: one path, one decision.
                    let keyed = try #require(try Self.get(port, variant, "Authorization: Bearer token-ops\r\n"))
                    #expect(keyed.status == 400, "\(variant) with a key: \(keyed.status)")
                }
            }
            #expect(sim.state.calls(for: Self.task).count == callsBefore, "no variant reached the vendor")
            // Unknown paths need a key too: the policy fails closed.
            #expect(try Self.get(port, "/tasks;x")?.status == 401)
            #expect(try Self.get(port, "/TASKS")?.status == 401)
            #expect(try Self.get(port, "/healthz")?.status == 200)
        }
    }

    @Test(arguments: [
        ("/", true), ("/tasks", true), ("/tasks/a-b_c/2600011633-WorkflowTask-80108cc3380155d98b2e3573a48a", true),
        ("/a/...", true), ("/a/.b", true), ("", false), ("tasks", false), ("*", false), ("//", false), ("/a//b", false),
        ("/a/", false), ("/.", false), ("/..", false), ("/a/./b", false), ("/a/../b", false), ("/a%2Fb", false),
        ("/a%41", false), ("/a#b", false), ("/a\\b", false), ("/a b", false), ("/a\u{7F}", false), ("/é", false),
    ])
    func canonicalPaths(path: String, canonical: Bool) {
        #expect(RequestPath.isCanonical(path) == canonical)
    }
}
