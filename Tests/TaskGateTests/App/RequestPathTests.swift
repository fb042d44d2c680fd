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

/// One path, one decision: every spelling of a route that is not its canonical form is refused
/// before the key and the route, on both doors.
@Suite(.timeLimit(.minutes(3))) struct RequestPathTests {
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

    static let protectedPaths = [
        "/tasks", "/tasks/capmonster/\(KeyedGateway.task)", "/tasks/capmonster/\(KeyedGateway.task)/artifacts/0", "/metrics",
    ]

    @Test func noSpellingOfAProtectedRouteGetsPastTheKeys() async throws {
        try await KeyedGateway.run { port, sim in
            // The canonical forms: refused without a key, answered with one (the test can fail).
            for path in Self.protectedPaths {
                #expect(try await KeyedGateway.get(port, path)?.status == 401, "\(path)")
            }
            #expect(try await KeyedGateway.get(port, "/tasks/capmonster/\(KeyedGateway.task)", "Authorization: Bearer token-ops\r\n")?.status == 200)
            #expect(try await KeyedGateway.get(port, "/metrics", "Authorization: Bearer token-ops\r\n")?.status == 200)
            let callsBefore = sim.state.calls(for: KeyedGateway.task).count
            for path in Self.protectedPaths {
                for variant in Self.variants(of: path) {
                    let answer = try #require(try await KeyedGateway.get(port, variant), "\(variant)")
                    #expect(answer.status == 400, "\(variant): \(answer.status)")
                    #expect(answer.text.contains("urn:taskgate:problem:invalid-path"), "\(variant)")
                    // Even with a key, a variant is refused: one path, one decision.
                    let keyed = try #require(try await KeyedGateway.get(port, variant, "Authorization: Bearer token-ops\r\n"))
                    #expect(keyed.status == 400, "\(variant) with a key: \(keyed.status)")
                }
            }
            #expect(sim.state.calls(for: KeyedGateway.task).count == callsBefore, "no variant reached the vendor")
            // Unknown paths need a key too: the policy fails closed.
            #expect(try await KeyedGateway.get(port, "/tasks;x")?.status == 401)
            #expect(try await KeyedGateway.get(port, "/TASKS")?.status == 401)
            #expect(try await KeyedGateway.get(port, "/healthz")?.status == 200)
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
