import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import TaskGate
import TaskGateSimulators
import Testing

@testable import TaskGate

/// Caller keys and request limits, as `RequestPolicy` checks them on both doors.
@Suite(.timeLimit(.minutes(2))) struct RequestPolicyTests {
    // SHA-256 of "token-billing" and "token-ops"; the tokens themselves are not in the config.
    static let billingDigest = "b6ae839bca626d6cab5c5278f0b68d9d83e7fc5fe9b90abfb3332b7cde4dfb66"
    static let opsDigest = "8a614cb2ba0c93943279cc96da7ef50c8885b0b3e6d9ff566979a956444c8f05"

    func gateway(
        auth: AuthConfiguration = AuthConfiguration(),
        logs: LogRecorder? = nil,
        _ body: @Sendable (any TestClientProtocol, RunningSimulator) async throws -> Void
    ) async throws {
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey)) { sim in
            var configuration = gatewayConfiguration(
                store: temporaryStorePath(),
                logLevel: logs == nil ? .critical : .trace,
                provider("capmonster", endpoint: sim.endpoint, CapMonsterSettings(clientKey: testClientKey)),
                provider("other", endpoint: sim.endpoint, CapMonsterSettings(clientKey: testClientKey))
            )
            configuration.limits.maxURILength = 512
            configuration.auth = auth
            try await buildApplication(configuration, logger: logs?.logger ?? quietLogger).test(.router) { client in
                try await body(client, sim)
            }
        }
    }

    static let twoKeys = {
        var auth = AuthConfiguration()
        auth.keys = [
            .init(name: "billing", digest: Array(Hex.decode(billingDigest)!), providers: ["capmonster"], metrics: false),
            .init(name: "ops", digest: Array(Hex.decode(opsDigest)!), providers: nil, metrics: true),
        ]
        auth.metricsRequiresKey = true
        return auth
    }()

    static func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }

    @Test func keysOpenTheirProvidersOnly() async throws {
        let logs = LogRecorder()
        try await gateway(auth: Self.twoKeys, logs: logs) { client, sim in
            addTask(sim.state, id: "601", .state(.succeeded))
            let missing = try await client.get("/tasks/capmonster/601")
            #expect(missing.status == .unauthorized)
            #expect(missing.headers[.wwwAuthenticate] == #"Bearer realm="taskgate""#)
            #expect(try missing.json()["type"] as? String == "urn:taskgate:problem:unauthorized")
            #expect(try await client.get("/tasks/capmonster/601", Self.bearer("token-wrong")).status == .unauthorized)
            #expect(try await client.get("/tasks/capmonster/601", [.authorization: "Basic dG9rZW4tYmlsbGluZw=="]).status == .unauthorized)
            #expect(sim.state.calls(for: "601").isEmpty)

            #expect(try await client.get("/tasks/capmonster/601", Self.bearer("token-billing")).status == .ok)
            let forbidden = try await client.get("/tasks/other/601", Self.bearer("token-billing"))
            #expect(forbidden.status == .forbidden)
            #expect(try forbidden.json()["type"] as? String == "urn:taskgate:problem:forbidden")
            #expect(try await client.get("/tasks/other/601", Self.bearer("token-ops")).status == .ok)

            // Listing: a scoped key sees its providers; naming another is 403.
            let page = try await client.get("/tasks", Self.bearer("token-billing"))
            #expect(page.status == .ok)
            let providers = Set(try #require(page.json()["tasks"] as? [[String: Any]]).compactMap { $0["provider"] as? String })
            #expect(providers == ["capmonster"])
            #expect(try await client.get("/tasks?provider=other", Self.bearer("token-billing")).status == .forbidden)
            #expect(try await client.get("/tasks?provider=capmonster", Self.bearer("token-billing")).status == .ok)

            // Health stays open; metrics need a key that may read them.
            #expect(try await client.get("/healthz").status == .ok)
            #expect(try await client.get("/readyz").status == .ok)
            #expect(try await client.get("/metrics").status == .unauthorized)
            #expect(try await client.get("/metrics", Self.bearer("token-billing")).status == .forbidden)
            let metrics = try await client.get("/metrics", Self.bearer("token-ops"))
            #expect(metrics.status == .ok)
            #expect(metrics.text.contains(#"taskgate_auth_refused_total{reason="invalid"} 2"#))
        }
        // Neither the tokens nor their digests reach the logs.
        let text = logs.lines.map(\.rendered).joined(separator: "\n")
        for secret in ["token-billing", "token-ops", "token-wrong", Self.billingDigest, Self.opsDigest] {
            #expect(!text.contains(secret))
        }
    }

    @Test func withoutKeysEveryRouteIsOpen() async throws {
        try await gateway { client, sim async throws in
            addTask(sim.state, id: "602", .state(.succeeded))
            #expect(try await client.get("/tasks/capmonster/602").status == .ok)
            #expect(try await client.get("/metrics").status == .ok)
        }
    }

    @Test func aLongRequestTargetIs414() async throws {
        try await gateway { client, _ in
            let response = try await client.get("/tasks?cursor=" + String(repeating: "a", count: 600))
            #expect(response.status == .uriTooLong)
            #expect(try response.json()["type"] as? String == "urn:taskgate:problem:uri-too-long")
        }
    }

    @Test func headersPastTheLimitAre431ProblemAndTheConnectionCloses() async throws {
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey)) { sim in
            var configuration = capMonsterConfiguration(endpoint: sim.endpoint, store: temporaryStorePath())
            configuration.limits.maxHeaderSize = 4 << 10
            try await buildApplication(configuration, logger: quietLogger).test(.live) { client in
                let response = try await client.get("/healthz", [HTTPField.Name("X-Big")!: String(repeating: "a", count: 5_000)])
                #expect(response.status.code == 431)
                #expect(response.headers[.contentType] == "application/problem+json")
                #expect(response.headers[.connection] == "close")
                let problem = try response.json()
                #expect(problem["type"] as? String == "urn:taskgate:problem:request-headers-too-large")
                #expect(problem["status"] as? Int == 431)
                #expect(problem["requestId"] as? String == response.headers[HTTPField.Name("X-Request-Id")!])
            }
        }
    }

    @Test(arguments: [
        ("auth: {keys: {a: {sha256: abc}}}", "auth.keys.a.sha256"),
        ("auth: {keys: {a: {sha256: \(opsDigest), providers: [nope]}}}", "auth.keys.a.providers"),
        ("auth: {keys: {a: {sha256: \(opsDigest), scope: x}}}", "auth.keys.a.scope"),
        ("auth: {metrics_requires_key: true, keys: {a: {sha256: \(opsDigest)}}}", "auth.metrics_requires_key"),
        ("limits: {idle_timeout: forever}", "limits.idle_timeout"),
        ("limits: {max_conections: 5}", "limits.max_conections"),
    ])
    func badCallerSettingsNameTheirKey(yaml: String, key: String) async throws {
        do {
            _ = try await loadConfiguration(yaml + "\nproviders:\n  capmonster: {kind: capmonster, endpoint: http://127.0.0.1:1, client_key: k}\n")
            Issue.record("loaded")
        } catch let error as ConfigurationError {
            #expect(error.key == key)
        }
    }
}
