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

/// Configuration never fails open: a value of the wrong shape is refused naming its key.
@Suite(.timeLimit(.minutes(3))) struct ConfigLayoutTests {
    static let capmonsterYAML = "providers:\n  capmonster: {kind: capmonster, endpoint: http://127.0.0.1:1, client_key: k}\n"
    static let scopedKey = "auth: {keys: {scoped: {sha256: \(RequestPolicyTests.opsDigest), providers: [capmonster]}}}\n"

    /// A value of the wrong shape or an overflowing number never falls back to a default: the
    /// load fails naming the key (`check-config` and `serve` exit 78).
    @Test(
        arguments: [
            ("auth: {keys: {scoped: {sha256: \(RequestPolicyTests.opsDigest), providers: {capmonster: true}}}}\n", [:], "auth.keys.scoped.providers"),
            ("auth: {keys: {scoped: {sha256: \(RequestPolicyTests.opsDigest), providers: }}}\n", [:], "auth.keys.scoped.providers"),
            ("auth: {keys: {scoped: {sha256: \(RequestPolicyTests.opsDigest), providers: []}}}\n", [:], "auth.keys.scoped.providers"),
            ("auth: {keys: {scoped: {sha256: \(RequestPolicyTests.opsDigest), providers: [[capmonster]]}}}\n", [:], "auth.keys.scoped.providers"),
            ("auth: {keys: {scoped: {sha256: \(RequestPolicyTests.opsDigest), providers: capmonster}}}\n", [:], "auth.keys.scoped.providers"),
            (scopedKey, ["AUTH_KEYS_SCOPED_PROVIDERS": ","], "auth.keys.scoped.providers"),
            (scopedKey, ["AUTH_KEYS_SCOPED_PROVIDERS_CAPMONSTER": "true"], "auth.keys.scoped.providers"),
            (
                "auth: {metrics_requires_key: [true], keys: {ops: {sha256: \(RequestPolicyTests.opsDigest), metrics: true}}}\n", [:],
                "auth.metrics_requires_key"
            ),
            ("auth: {keys: {ops: {sha256: \(RequestPolicyTests.opsDigest), metrics: {a: true}}}}\n", [:], "auth.keys.ops.metrics"),
            ("store: [x.sqlite]\n", [:], "store"),
            ("store: {path: x.sqlite}\n", [:], "store"),
            ("store:\n", [:], "store"),
            ("listen: [1, 2]\n", [:], "listen"),
            ("cache_memory: 9999999999999GiB\n", [:], "cache_memory"),
            ("", ["CACHE_MEMORY": "9999999999999GiB"], "cache_memory"),
            ("", ["CACHE_MEMORY": "-9223372036854775808KiB"], "cache_memory"),
            ("limits: {max_uri_length: 9223372036854775807KiB}\n", [:], "limits.max_uri_length"),
            ("limits: {idle_timeout: [1]}\n", [:], "limits.idle_timeout"),
            ("webhook_timeout: 1e300\n", [:], "webhook_timeout"),
            ("shutdown_grace_period: 99999999999999999999d\n", [:], "shutdown_grace_period"),
        ] as [(String, [String: String], String)]
    )
    func wrongShapesAndOverflowsAreRefusedNamingTheirKey(yaml: String, environment: [String: String], key: String) async throws {
        do {
            _ = try await loadConfiguration(yaml + Self.capmonsterYAML, environment: environment)
            Issue.record("loaded")
        } catch let error as ConfigurationError {
            #expect(error.key == key, "\(error)")
        }
    }

    @Test(arguments: [
        ("timeout: {a: 1}", "timeout"), ("mirror_hosts: {a: b}", "mirror_hosts"), ("mirror_hosts: ['*']", "mirror_hosts"),
        ("mirror_hosts: ['http://files.example.com']", "mirror_hosts"), ("mirror_hosts: [a..b]", "mirror_hosts"),
        ("mirror_hosts: [.]", "mirror_hosts"), ("mirror_hosts: ['files example']", "mirror_hosts"), ("mirror: [true]", "mirror"),
        ("result_budget: [1]", "result_budget"),
    ])
    func wrongProviderSettingsAreRefusedNamingTheirKey(setting: String, key: String) async throws {
        do {
            _ = try await loadConfiguration("providers:\n  capmonster: {kind: capmonster, endpoint: http://127.0.0.1:1, client_key: k, \(setting)}\n")
            Issue.record("loaded")
        } catch let error as ConfigurationError {
            #expect(error.key == "providers.capmonster.\(key)", "\(error)")
        }
    }

    @Test func goodShapesStillLoad() async throws {
        let yaml = """
            cache_memory: 8GiB
            auth: {keys: {scoped: {sha256: \(RequestPolicyTests.opsDigest), providers: [capmonster]}, other: {sha256: \(RequestPolicyTests.billingDigest), providers: [capmonster]}}}
            providers:
              capmonster: {kind: capmonster, endpoint: http://127.0.0.1:1, client_key: k, mirror_hosts: [.example.com, files.example.org, 10.0.0.7, "::1"]}

            """
        let configuration = try await loadConfiguration(
            yaml,
            environment: ["PROVIDERS_CAPMONSTER_RETRY_BACKOFF_MAX": "3s", "AUTH_KEYS_OTHER_PROVIDERS": "capmonster,capmonster"]
        )
        #expect(configuration.cacheMemoryBytes == 8 << 30)
        #expect(configuration.auth.keys.map(\.providers) == [["capmonster"], ["capmonster"]])
        #expect(configuration.providers[0].mirror.hosts == [".example.com", "files.example.org", "10.0.0.7", "::1"])
    }

    /// URLs keep their credentials out of every message: userinfo and query are redacted.
    @Test func urlsInErrorsAndSourcesKeepNoSecrets() async throws {
        for yaml in [
            "providers:\n  capmonster: {kind: capmonster, endpoint: 'https://user:hunter2@api.example.com/?token=s3cret', client_key: k}\n",
            Self.capmonsterYAML + "webhooks:\n  hook: {url: 'https://hook:hunter2@example.com/in?token=s3cret', secret: whsec_AAAA}\n",
            "providers:\n  capmonster: {kind: capmonster, endpoint: 'ftp://user:hunter2@x?token=s3cret', client_key: k}\n",
        ] {
            do {
                _ = try await loadConfiguration(yaml)
                Issue.record("loaded")
            } catch let error as ConfigurationError {
                #expect(!"\(error)".contains("hunter2") && !"\(error)".contains("s3cret"), "\(error)")
                #expect("\(error)".contains("***"), "\(error)")
            }
        }
        #expect(RedactedURL.text("https://u:p@h.example/a?b=c#d") == "https://***@h.example/a?***")
        #expect(RedactedURL.text("u:p@h/a") == "***@h/a")
        #expect(RedactedURL.text("https://h.example/a@b") == "https://h.example/a@b")
        let source = ArtifactMirror.source(of: URL(string: "https://user:pass@files.example.com/a/b.png?Signature=x")!)
        #expect(source == "https://files.example.com/a/b.png")
    }
}
