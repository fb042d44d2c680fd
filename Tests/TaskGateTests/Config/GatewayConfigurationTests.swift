import Foundation
import TaskGate
import Testing

@testable import TaskGate

/// Loading and checking taskgate.yaml: every bad value names its key.
@Suite(.timeLimit(.minutes(2))) struct GatewayConfigurationTests {
    static let valid = """
        listen: 127.0.0.1:8080
        store: /tmp/x.sqlite
        providers:
          capmonster:
            kind: capmonster
            endpoint: https://api.capmonster.cloud
            client_key: from-the-file
          anticaptcha:
            kind: capmonster
            endpoint: https://api.anti-captcha.com
            client_key: another
            status_ttl: 500ms
            stale_while_revalidate: 1s
        """

    @Test func aValidFileLoads() async throws {
        let configuration = try await loadConfiguration(Self.valid)
        #expect(configuration.listen == ListenAddress(host: "127.0.0.1", port: 8080))
        #expect(configuration.store == .sqlite(path: "/tmp/x.sqlite"))
        #expect(configuration.providers.map(\.name) == ["anticaptcha", "capmonster"])
        #expect(configuration.providers[0].endpoint.absoluteString == "https://api.anti-captcha.com")
        #expect(configuration.providers[0].statusTTL == .milliseconds(500))
        #expect(configuration.providers[1].statusTTL == .seconds(2))
        #expect(configuration.providers[0].staleWhileRevalidate == .seconds(1))
        #expect(configuration.providers[1].staleWhileRevalidate == .zero)
    }

    @Test func webhooksLoadWithTheirSecretDecoded() async throws {
        let configuration = try await loadConfiguration(
            Self.valid
                + "\nwebhooks:\n  billing:\n    url: https://billing.internal/hooks/taskgate\n    secret: whsec_c2VjcmV0LWtleQ==\n    providers: [capmonster]\nwebhook_timeout: 3s\n"
        )
        #expect(configuration.webhooks.map(\.name) == ["billing"])
        #expect(configuration.webhooks.first?.key == Array("secret-key".utf8))
        #expect(configuration.webhooks.first?.providers == ["capmonster"])
        #expect(configuration.webhookTimeout == .seconds(3))
    }

    /// Traces are off unless an endpoint is set here or in the OpenTelemetry environment.
    @Test func tracingLoadsAndIsOffWithoutAnEndpoint() async throws {
        let off = try await loadConfiguration(Self.valid)
        #expect(off.tracing.endpoint == nil)
        #expect(!off.tracing.isEnabled(environment: [:]))
        #expect(off.tracing.isEnabled(environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"]))
        let on = try await loadConfiguration(
            Self.valid
                + "\ntracing:\n  endpoint: http://collector:4318\n  protocol: http/json\n  sampler: parentbased_traceidratio\n"
                + "  sampler_arg: 0.01\n  resource_attributes: deployment.environment=prod, team=media\n",
            environment: ["TRACING_SERVICE_NAME": "taskgate-eu"]
        )
        #expect(on.tracing.endpoint?.absoluteString == "http://collector:4318")
        #expect(on.tracing.protocol == .httpJSON)
        #expect(on.tracing.sampler == .parentBasedTraceIDRatio)
        #expect(on.tracing.samplerArgument == 0.01)
        #expect(on.tracing.resourceAttributes == ["deployment.environment": "prod", "team": "media"])
        #expect(on.tracing.serviceName == "taskgate-eu")
        #expect(on.tracing.isEnabled(environment: [:]))
        #expect(!on.tracing.isEnabled(environment: ["OTEL_SDK_DISABLED": "true"]))
        #expect(!on.tracing.isEnabled(environment: ["OTEL_TRACES_EXPORTER": "none"]))
        // The standard variables win over the keys; a value they cannot mean is ignored.
        #expect(on.tracing.effectiveSampler(environment: [:]) == (.parentBasedTraceIDRatio, 0.01))
        let overridden = on.tracing.effectiveSampler(environment: ["OTEL_TRACES_SAMPLER": "always_on", "OTEL_TRACES_SAMPLER_ARG": "0.5"])
        #expect(overridden == (.alwaysOn, 0.5))
        let ignored = on.tracing.effectiveSampler(environment: ["OTEL_TRACES_SAMPLER": "sometimes", "OTEL_TRACES_SAMPLER_ARG": "7"])
        #expect(ignored == (.parentBasedTraceIDRatio, 0.01))
    }

    @Test func environmentOverridesTheFile() async throws {
        let configuration = try await loadConfiguration(
            Self.valid,
            environment: ["PROVIDERS_CAPMONSTER_CLIENT_KEY": "from-the-environment", "LISTEN": "0.0.0.0:9000"]
        )
        #expect(configuration.listen.description == "0.0.0.0:9000")
        #expect((configuration.providers[1].vendor as? CapMonsterSettings)?.clientKey == "from-the-environment")
    }

    @Test(arguments: [
        ("listen: nowhere\n", "listen"),
        ("listen: 127.0.0.1:99999\n", "listen"),
        ("colour: blue\n", "colour"),
        ("log_level: loud\n", "log_level"),
        ("cache_memory: lots\n", "cache_memory"),
        ("log_format: xml\n", "log_format"),
        ("shutdown_grace_period: -1s\n", "shutdown_grace_period"),
        ("providers:\n  x:\n    kind: nosuch\n    endpoint: http://a\n", "providers.x.kind"),
        ("providers:\n  x:\n    endpoint: http://a\n    client_key: k\n", "providers.x.kind"),
        ("providers:\n  x:\n    kind: capmonster\n    endpoint: http://a\n", "providers.x.client_key"),
        ("providers:\n  x:\n    kind: capmonster\n    endpoint: ftp://a\n    client_key: k\n", "providers.x.endpoint"),
        ("providers:\n  x:\n    kind: capmonster\n    endpoint: not a url\n    client_key: k\n", "providers.x.endpoint"),
        ("providers:\n  x:\n    kind: capmonster\n    client_key: k\n", "providers.x.endpoint"),
        ("providers:\n  x:\n    kind: capmonster\n    endpoint: http://a\n    client_key: k\n    status_ttl: soon\n", "providers.x.status_ttl"),
        ("providers:\n  x:\n    kind: capmonster\n    endpoint: http://a\n    clientkey: k\n", "providers.x.clientkey"),
        ("providers:\n  Bad.Name:\n    kind: capmonster\n", "providers.Bad.Name"),
        (
            "providers:\n  x:\n    kind: capmonster\n    endpoint: http://a\n    client_key: k\n    watch_horizon: forever\n",
            "providers.x.watch_horizon"
        ),
        ("providers:\n  x:\n    kind: capmonster\n    endpoint: http://a\n    client_key: k\n    mirror: maybe\n", "providers.x.mirror"),
        ("limits:\n  max_wait: 2h\n", "limits.max_wait"),
        ("limits:\n  max_streams: -1\n", "limits.max_streams"),
        ("limits:\n  max_streams: many\n", "limits.max_streams"),
        ("events_retention: 10s\n", "events_retention"),
        ("events_retention: forever\n", "events_retention"),
        ("events_heartbeat: 0s\n", "events_heartbeat"),
        ("auth:\n  keys:\n    ops:\n      sha256: \(String(repeating: "a", count: 64))\n      admin: sometimes\n", "auth.keys.ops.admin"),
        ("auth:\n  keys:\n    ops:\n      sha256: \(String(repeating: "a", count: 64))\n      admin: [true]\n", "auth.keys.ops.admin"),
        ("webhooks:\n  billing:\n    url: https://b.example/hook\n    secret: not-whsec\n", "webhooks.billing.secret"),
        ("webhooks:\n  billing:\n    url: ftp://b.example/hook\n    secret: whsec_c2VjcmV0\n", "webhooks.billing.url"),
        ("webhooks:\n  billing:\n    url: https://b.example/hook\n    secret: whsec_c2VjcmV0\n    retries: 3\n", "webhooks.billing.retries"),
        (
            "webhooks:\n  billing:\n    url: https://b.example/hook\n    secret: whsec_c2VjcmV0\n    providers: [nosuch]\n",
            "webhooks.billing.providers"
        ),
        ("webhook_timeout: never\n", "webhook_timeout"),
        ("tracing:\n  endpoint: collector:4318\n", "tracing.endpoint"),
        ("tracing:\n  endpoint: http://c:4318\n  protocol: grpc\n", "tracing.protocol"),
        ("tracing:\n  sampler: sometimes\n", "tracing.sampler"),
        ("tracing:\n  sampler_arg: 2\n", "tracing.sampler_arg"),
        ("tracing:\n  resource_attributes: team\n", "tracing.resource_attributes"),
        ("tracing:\n  exporter: zipkin\n", "tracing.exporter"),
        ("tracing:\n  batch_delay: [1s]\n", "tracing.batch_delay"),
    ])
    func aBadValueNamesItsKey(yaml: String, key: String) async throws {
        do {
            _ = try await loadConfiguration(yaml)
            Issue.record("\(yaml) must not load")
        } catch let error as ConfigurationError {
            #expect(error.key == key, "\(error)")
        }
    }

    @Test func theEventFeedSettingsLoad() async throws {
        let digest = String(repeating: "a", count: 64)
        let yaml =
            "events_retention: 7d\nevents_heartbeat: 20s\nlimits:\n  max_streams: 10\nauth:\n  keys:\n    ops:\n      sha256: \(digest)\n      admin: true\n"
        let configuration = try await loadConfiguration(yaml)
        #expect(configuration.eventsRetention == .seconds(7 * 86_400))
        #expect(configuration.eventsHeartbeat == .seconds(20))
        #expect(configuration.limits.maxStreams == 10)
        #expect(configuration.auth.keys.map(\.admin) == [true])
        let defaults = try await loadConfiguration("log_level: info\n")
        #expect(defaults.eventsRetention == .seconds(30 * 86_400) && defaults.eventsHeartbeat == .seconds(15) && defaults.limits.maxStreams == 1000)
        let overridden = try await loadConfiguration(yaml, environment: ["AUTH_KEYS_OPS_ADMIN": "false", "EVENTS_RETENTION": "1d"])
        #expect(overridden.auth.keys.map(\.admin) == [false] && overridden.eventsRetention == .seconds(86_400))
    }

    @Test func secretsAreNeverPrintedInErrors() async throws {
        do {
            _ = try await loadConfiguration("providers:\n  x:\n    kind: capmonster\n    endpoint: nope\n    client_key: s3cr3t-value\n")
            Issue.record("must not load")
        } catch let error as ConfigurationError {
            #expect(!error.description.contains("s3cr3t-value"))
        }
    }

    @Test(arguments: [
        ("127.0.0.1:8080", "127.0.0.1", 8080), ("[::1]:80", "::1", 80), ("0.0.0.0:0", "0.0.0.0", 0), ("localhost:1", "localhost", 1),
    ])
    func listenAddressesParse(text: String, host: String, port: Int) {
        #expect(ListenAddress(parsing: text) == ListenAddress(host: host, port: port))
    }

    @Test(arguments: ["8080", ":8080", "host:", "host:port", "::1:80", "[::1]80", "a b:1"])
    func badListenAddressesDoNotParse(text: String) {
        #expect(ListenAddress(parsing: text) == nil)
    }

    @Test func aPostgresStoreIsAURLWhosePasswordIsNeverShown() async throws {
        let url = "postgres://gate:pa%40ss@db.internal:6432/taskgate?sslmode=require"
        let configuration = try await loadConfiguration(Self.valid, environment: ["STORE": url, "STORE_POOL": "16"])
        guard case .postgres(let parsed) = configuration.store else {
            Issue.record("not a postgres store: \(configuration.store)")
            return
        }
        #expect(parsed.host == "db.internal" && parsed.port == 6432 && parsed.database == "taskgate")
        #expect(parsed.user == "gate" && parsed.password == "pa@ss" && parsed.requiresTLS)
        #expect(configuration.storePool == 16)
        #expect(configuration.store.description == "postgres://gate:***@db.internal:6432/taskgate?sslmode=require")
        let short = try #require(try Self.postgres("postgresql://u@h/d"))
        #expect(short.port == 5432 && short.password == nil && !short.requiresTLS)
    }

    static func postgres(_ text: String) throws -> PostgresStoreURL? {
        if case .postgres(let url) = try StoreLocation(parsing: text) { return url }
        return nil
    }

    @Test(arguments: [
        "postgres://u:p@h:5432/", "postgres://:p@h/d", "postgres://u:p@h/d?sslmode=prefer", "postgres://u:p@h/d?pool=3",
        "postgres://u:p@h:0/d",
    ])
    func badPostgresURLsNameTheStoreKeyAndNotThePassword(url: String) {
        #expect(throws: ConfigurationError.self) { try StoreLocation(parsing: url) }
        do {
            _ = try StoreLocation(parsing: url)
        } catch {
            #expect(error.key == "store")
            #expect(!error.description.contains(":p@"))
        }
    }
}
