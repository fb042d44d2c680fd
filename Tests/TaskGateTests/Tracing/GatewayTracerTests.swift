import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import TaskGate
import TaskGateSimulators
import Testing

@testable import TaskGate

/// Traces exported over OTLP/HTTP to a collector in the test process: a request's SERVER span on
/// both doors, child of the caller's `traceparent`, with its vendor call as a CLIENT span inside;
/// never a secret in them.
@Suite(.timeLimit(.minutes(2))) struct GatewayTracerTests {
    static let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
    static let parentSpanID = "00f067aa0ba902b7"
    static let traceparent = HTTPField.Name("traceparent")!
    static let incoming = "00-\(traceID)-\(parentSpanID)-01"
    static let clientKey = "SECRETcapmonsterKEYfor0tracing42"

    static func traced(_ configuration: inout GatewayConfiguration, endpoint: String) {
        configuration.tracing.endpoint = URL(string: endpoint)
        configuration.tracing.protocol = .httpJSON
        configuration.tracing.serviceName = "taskgate-test"
        configuration.tracing.batchDelay = .milliseconds(10)
    }

    @Test func aTracedMissIsAServerSpanWithItsVendorCallInside() async throws {
        let logs = LogRecorder()
        try await OTLPReceiver.run { collector, receiver in
            try await withSimulator(CapMonsterSimulator(clientKey: Self.clientKey)) { sim in
                addTask(sim.state, id: "3001", .state(.succeeded, result: #"{"text":"traced"}"#))
                var configuration = capMonsterConfiguration(
                    endpoint: sim.endpoint,
                    store: temporaryStorePath(),
                    clientKey: Self.clientKey,
                    logLevel: .info
                )
                Self.traced(&configuration, endpoint: collector)
                try await buildApplication(configuration, logger: logs.logger).test(.router) { client in
                    let answer = try await client.get("/tasks/capmonster/3001", [Self.traceparent: Self.incoming])
                    #expect(answer.status == .ok)
                }
            }
            let spans = receiver.spans
            let server = try #require(spans.first { $0.kind == 2 })
            #expect(server.name == "GET /tasks/{provider}/{id}")
            #expect(server.traceID == Self.traceID)
            #expect(server.parentSpanID == Self.parentSpanID)
            #expect(server.attributes["http.request.method"] == "GET")
            #expect(server.attributes["http.route"] == "/tasks/{provider}/{id}")
            #expect(server.attributes["url.path"] == "/tasks/capmonster/3001")
            #expect(server.attributes["http.response.status_code"] == "200")
            #expect(server.attributes["taskgate.provider"] == "capmonster")
            #expect(server.attributes["taskgate.cache"] == "MISS")
            #expect(server.attributes["taskgate.caller"] == "anonymous")
            #expect(server.resource["service.name"] == "taskgate-test")
            let vendor = try #require(spans.first { $0.kind == 3 })
            #expect(vendor.traceID == Self.traceID)
            #expect(vendor.parentSpanID == server.spanID)
            #expect(vendor.name == "capmonster getTaskResult")
            #expect(vendor.attributes["taskgate.vendor.call"] == "getTaskResult")
            #expect(vendor.attributes["http.response.status_code"] == "200")
            #expect(vendor.events.contains("attempt"))
            // The access line names the span.
            let access = try #require(logs.lines.first { $0.message == "request" })
            #expect(access.metadata["trace_id"] == Self.traceID)
            #expect(access.metadata["span_id"] == server.spanID)
            // No credential in anything exported.
            #expect(!receiver.rawBodies.isEmpty)
            #expect(!receiver.rawBodies.contains { $0.contains(Self.clientKey) || $0.contains(Self.clientKey.suffix(12)) })
        }
    }

    /// The hot path's answer is a SERVER span too, described as the router describes its own.
    @Test func aHotHitIsAServerSpan() async throws {
        try await OTLPReceiver.run { collector, receiver in
            try await withSimulator(CapMonsterSimulator(clientKey: testClientKey)) { sim in
                addTask(sim.state, id: "3002", .state(.succeeded))
                var configuration = capMonsterConfiguration(endpoint: sim.endpoint, store: temporaryStorePath())
                Self.traced(&configuration, endpoint: collector)
                try await buildApplication(configuration, logger: quietLogger).test(.live) { client in
                    _ = try await client.get("/tasks/capmonster/3002")
                    let hit = try await client.get("/tasks/capmonster/3002", [Self.traceparent: Self.incoming])
                    #expect(hit.headers[HTTPField.Name("X-Cache")!] == "HIT")
                }
            }
            let hit = try #require(receiver.spans.first { $0.kind == 2 && $0.traceID == Self.traceID })
            #expect(hit.name == "GET /tasks/{provider}/{id}")
            #expect(hit.parentSpanID == Self.parentSpanID)
            #expect(hit.attributes["taskgate.cache"] == "HIT")
            #expect(hit.attributes["http.response.status_code"] == "200")
            #expect(hit.attributes["taskgate.provider"] == "capmonster")
            #expect(hit.attributes["client.address"] == "127.0.0.1")
            // The first request started a trace of its own.
            #expect(receiver.spans.contains { $0.kind == 2 && $0.traceID != Self.traceID && $0.attributes["taskgate.cache"] == "MISS" })
        }
    }

    /// A task's story is one trace: its row keeps the first request's trace context, and the
    /// webhook delivery made later in the background links to it and sends its own `traceparent`.
    @Test(arguments: TaskServiceTests.Backend.allCases)
    func aWebhookDeliveryLinksToTheTasksFirstRequest(backend: TaskServiceTests.Backend) async throws {
        let clock = ManualClock()
        let store = backend == .sqlite ? temporaryStorePath() : try PostgresCluster.shared.newDatabase()
        try await OTLPReceiver.run { collector, receiver in
            try await withReceiver { url, received in
                try await withSimulator(CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))) { sim in
                    addTask(sim.state, id: "3003", .state(.succeeded))
                    var configuration = capMonsterConfiguration(endpoint: sim.endpoint, store: store)
                    configuration.webhooks = [
                        try WebhookConfiguration(name: "billing", url: URL(string: url)!, secret: WebhookDispatcherTests.secret)
                    ]
                    Self.traced(&configuration, endpoint: collector)
                    let parts = try buildGateway(configuration, logger: quietLogger, clock: clock)
                    try await parts.application.test(.router) { client in
                        let answer = try await client.get("/tasks/capmonster/3003", [Self.traceparent: Self.incoming])
                        #expect(answer.status == .ok)
                        // Until the delivery is recorded: its span has its answer.
                        try await clock.drive(for: .seconds(10), sleepers: 2) {
                            guard received.value.count == 1 else { return false }
                            return try await parts.store.webhookBacklog().isEmpty
                        }
                    }
                }
                let server = try #require(receiver.spans.first { $0.kind == 2 && $0.traceID == Self.traceID })
                let delivery = try #require(receiver.spans.first { $0.name == "webhook billing" })
                #expect(delivery.kind == 3)
                #expect(delivery.attributes["http.response.status_code"] == "200")
                #expect(delivery.links.contains { $0 == (Self.traceID, server.spanID) })
                let sent = try #require(received.value.first?.header("traceparent"))
                #expect(sent == "00-\(delivery.traceID)-\(delivery.spanID)-01")
            }
        }
    }

    /// Work no request asked for (here a watch round that finds the task final) is a trace of its
    /// own, linked to the task's first request, with its vendor call inside.
    @Test func backgroundWorkOnATaskLinksToItsFirstRequest() async throws {
        let clock = ManualClock()
        try await OTLPReceiver.run { collector, receiver in
            try await withSimulator(CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))) { sim in
                addTask(sim.state, id: "3004", .state(.running, polls: 1), .state(.succeeded))
                var configuration = capMonsterConfiguration(endpoint: sim.endpoint, store: temporaryStorePath()) { $0.watch = true }
                Self.traced(&configuration, endpoint: collector)
                let parts = try buildGateway(configuration, logger: quietLogger, clock: clock)
                try await parts.application.test(.router) { client in
                    let first = try await client.get("/tasks/capmonster/3004", [Self.traceparent: Self.incoming])
                    #expect(try first.json()["status"] as? String == "running")
                    try await clock.drive(for: .seconds(120)) {
                        try await parts.store.answer(provider: "capmonster", id: "3004")?.isFinal == true
                    }
                }
            }
            let server = try #require(receiver.spans.first { $0.kind == 2 && $0.traceID == Self.traceID })
            let follow = try #require(receiver.spans.first { $0.name == "follow task" })
            #expect(follow.traceID != Self.traceID)
            #expect(follow.links.contains { $0 == (Self.traceID, server.spanID) })
            #expect(follow.attributes["taskgate.task.id"] == "3004")
            #expect(receiver.spans.contains { $0.kind == 3 && $0.parentSpanID == follow.spanID && $0.traceID == follow.traceID })
        }
    }

    /// With a parent-based ratio, taskgate keeps new traces at that ratio (0 here: none, on
    /// either door, the vendor call of a miss included) and follows a caller's sampled trace.
    @Test func aParentBasedRatioKeepsNewTracesAtItsRatioAndFollowsCallers() async throws {
        try await OTLPReceiver.run { collector, receiver in
            try await withSimulator(CapMonsterSimulator(clientKey: testClientKey)) { sim in
                addTask(sim.state, id: "3005", .state(.succeeded))
                addTask(sim.state, id: "3006", .state(.succeeded))
                var configuration = capMonsterConfiguration(endpoint: sim.endpoint, store: temporaryStorePath())
                Self.traced(&configuration, endpoint: collector)
                configuration.tracing.sampler = .parentBasedTraceIDRatio
                configuration.tracing.samplerArgument = 0
                try await buildApplication(configuration, logger: quietLogger).test(.live) { client in
                    for _ in 0..<20 {
                        let answer = try await client.get("/tasks/capmonster/3005")
                        #expect(answer.status == .ok)
                    }
                    let followed = try await client.get("/tasks/capmonster/3006", [Self.traceparent: Self.incoming])
                    #expect(followed.status == .ok)
                }
                #expect(sim.state.calls(for: "3005")["getTaskResult"] == 1)
            }
            #expect(receiver.spans.allSatisfy { $0.traceID == Self.traceID })
            #expect(receiver.spans.contains { $0.kind == 2 && $0.parentSpanID == Self.parentSpanID })
            #expect(receiver.spans.contains { $0.kind == 3 })
        }
    }

    /// Alibaba signs its URL (AccessKeyId, Signature, SignatureNonce): none of it is exported.
    @Test func signedVendorRequestsLeaveNoCredentialInSpans() async throws {
        let secret = "SECRETaliyunTRACEsecret01234567"
        try await OTLPReceiver.run { collector, receiver in
            let vendor = AliyunSimulator(accessKeyID: aliyunKeyID, accessKeySecret: secret, state: SimulatorState(clock: ManualClock()))
            try await withSimulator(vendor) { sim in
                addTask(sim.state, id: "400200", .state(.running))
                var configuration = gatewayConfiguration(
                    store: temporaryStorePath(),
                    provider(
                        "aliyun",
                        endpoint: sim.endpoint,
                        AliyunSettings(region: "cn-shanghai", accessKeyID: aliyunKeyID, accessKeySecret: secret)
                    )
                )
                Self.traced(&configuration, endpoint: collector)
                try await buildApplication(configuration, logger: quietLogger).test(.router) { client in
                    let single = try await client.get("/tasks/aliyun/400200")
                    let listing = try await client.get("/tasks?provider=aliyun")
                    #expect(single.status == .ok)
                    #expect(listing.status == .ok)
                }
            }
            #expect(receiver.spans.contains { $0.kind == 3 && $0.attributes["taskgate.vendor.call"] == "GetTaskResult" })
            let exported = receiver.rawBodies.joined()
            for forbidden in [secret, String(secret.suffix(12)), aliyunKeyID, "Signature", "AccessKeyId", "url.full"] {
                #expect(!exported.contains(forbidden), "\(forbidden)")
            }
        }
    }
}
