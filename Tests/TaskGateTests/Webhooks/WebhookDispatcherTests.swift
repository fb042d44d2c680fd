import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import TaskGateSimulators
import Testing

@testable import TaskGate

/// Signed webhooks: a receiver hears of every task that turns final, in the Standard Webhooks
/// format, checked here with an HMAC of the test's own; failed deliveries are tried again on the
/// schedule, and the outbox outlives a restart. Time is the test's (a `ManualClock`).
@Suite(.timeLimit(.minutes(2))) struct WebhookDispatcherTests {
    static let key: [UInt8] = Array("taskgate-webhook-test-key-32byte".utf8)
    static var secret: String { "whsec_" + Data(key).base64EncodedString() }

    /// A request the receiver got.
    struct Received: Sendable {
        var headers: HTTPFields
        var body: [UInt8]
        var header: (String) -> String? {
            { name in HTTPField.Name(name).flatMap { headers[$0] } }
        }
    }

    /// Runs a CapMonster gateway with one webhook `billing` to `url`, watch off.
    static func withHookedGateway<T: Sendable>(
        url: String,
        store: String = temporaryStorePath(),
        clock: ManualClock,
        _ body: @Sendable (any TestClientProtocol, RunningSimulator, Gateway) async throws -> T
    ) async throws -> T {
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))) { sim in
            var configuration = capMonsterConfiguration(endpoint: sim.endpoint, store: store)
            configuration.webhooks = [try WebhookConfiguration(name: "billing", url: URL(string: url)!, secret: Self.secret)]
            let parts = try buildGateway(configuration, logger: quietLogger, clock: clock)
            return try await parts.application.test(.router) { client in try await body(client, sim, parts) }
        }
    }

    /// What Standard Webhooks receivers check, computed here: HMAC-SHA256 over `id.timestamp.body`.
    static func expectedSignature(_ received: Received) -> String {
        let signed = Array("\(received.header("webhook-id") ?? "").\(received.header("webhook-timestamp") ?? "").".utf8) + received.body
        return "v1," + Data(HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: key))).base64EncodedString()
    }

    @Test func aReceiverGetsTheFinalTaskSignedAsStandardWebhooksSays() async throws {
        let clock = ManualClock()
        try await withReceiver { url, received in
            try await Self.withHookedGateway(url: url, clock: clock) { client, sim, parts in
                addTask(sim.state, id: "990001", .state(.succeeded, result: #"{"text":"hooked"}"#))
                let answer = try await client.get("/tasks/capmonster/990001")
                // Written with the final row, before any delivery.
                #expect(
                    try await parts.store.webhookBacklog() == [WebhookBacklog(webhook: "billing", pending: 1, oldestCreatedAt: clock.date)]
                )
                await clock.drive(for: .seconds(10), sleepers: 2) { received.value.count == 1 }
                let event = try #require(received.value.first)
                #expect(event.header("content-type") == "application/json")
                #expect(event.header("webhook-id")?.hasPrefix("msg_") == true)
                #expect(event.header("webhook-timestamp").flatMap(Int.init) != nil)
                #expect(event.header("webhook-signature") == Self.expectedSignature(event))
                let body = try #require(try JSONSerialization.jsonObject(with: Data(event.body)) as? [String: Any])
                #expect(body["type"] as? String == "task.final")
                #expect((body["timestamp"] as? String).flatMap(RFC3339.parse) != nil)
                let data = try JSONSerialization.data(withJSONObject: try #require(body["data"]), options: [.sortedKeys])
                let given = try JSONSerialization.data(withJSONObject: try answer.json(), options: [.sortedKeys])
                #expect(data == given)
                // Delivered once: nothing pending, nothing sent again.
                await clock.drive(for: .seconds(30), sleepers: 2)
                #expect(received.value.count == 1)
                #expect(try await parts.store.webhookBacklog().isEmpty)
            }
        }
    }

    @Test func aReceiverThatFailsTwiceGetsTheEventAtItsThirdAttempt() async throws {
        let clock = ManualClock()
        try await withReceiver(answering: [500, 500]) { url, received in
            try await Self.withHookedGateway(url: url, clock: clock) { client, sim, _ in
                addTask(sim.state, id: "990002", .state(.succeeded, result: #"{"text":"retried"}"#))
                _ = try await client.get("/tasks/capmonster/990002")
                let started = clock.now
                await clock.drive(for: .seconds(600), sleepers: 2) { received.value.count == 3 }
                #expect(received.value.count == 3)
                // 5 s, then 5 min (each ±10 %).
                let waited = clock.now - started
                #expect(waited >= .seconds(4.5 + 270) && waited <= .seconds(5.5 + 330 + 2), "\(waited)")
                let ids = Set(received.value.compactMap { $0.header("webhook-id") })
                #expect(ids.count == 1)
                #expect(Set(received.value.map(\.body)).count == 1)
                #expect(received.value.allSatisfy { $0.header("webhook-signature") == Self.expectedSignature($0) })
                await clock.drive(for: .seconds(3600), sleepers: 2)
                #expect(received.value.count == 3)
                let metrics = try await client.get("/metrics").text
                #expect(metrics.contains(#"taskgate_webhook_deliveries_total{webhook="billing",outcome="retried"} 2"#))
                #expect(metrics.contains(#"taskgate_webhook_deliveries_total{webhook="billing",outcome="delivered"} 1"#))
            }
        }
    }

    /// A receiver that takes connections and never answers holds up only its own events.
    @Test func aReceiverThatHangsHoldsUpNoOther() async throws {
        let clock = ManualClock()
        let silent = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { _ in MultiThreadedEventLoopGroup.singleton.next().makeSucceededVoidFuture() }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { silent.close(promise: nil) }
        let silentPort = try #require(silent.localAddress?.port)
        try await withReceiver { url, received in
            try await withSimulator(CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))) { sim in
                var configuration = capMonsterConfiguration(endpoint: sim.endpoint, store: temporaryStorePath())
                configuration.webhooks = [
                    try WebhookConfiguration(name: "billing", url: URL(string: url)!, secret: Self.secret),
                    try WebhookConfiguration(name: "stuck", url: URL(string: "http://127.0.0.1:\(silentPort)/hook")!, secret: Self.secret),
                ]
                configuration.webhookTimeout = .seconds(60)
                let parts = try buildGateway(configuration, logger: quietLogger, clock: clock)
                try await parts.application.test(.router) { client in
                    for id in ["990010", "990011"] {
                        addTask(sim.state, id: id, .state(.succeeded, result: #"{"text":"side by side"}"#))
                        _ = try await client.get("/tasks/capmonster/\(id)")
                    }
                    // The next look (1 s on) sends both; one receiver never answers.
                    #expect(await clock.sleepers(3))
                    clock.advance(by: .seconds(1))
                    #expect(await eventually { received.value.count == 2 })
                }
            }
        }
    }

    /// The event outlives the process: a receiver down while one gateway runs hears of the task
    /// from the next one on the same store.
    @Test func anEventOutlivesARestart() async throws {
        let clock = ManualClock()
        let store = temporaryStorePath()
        // A port nobody listens on any more.
        let closed = try await withReceiver { url, _ in url }
        try await Self.withHookedGateway(url: closed, store: store, clock: clock) { client, sim, parts in
            addTask(sim.state, id: "990003", .state(.succeeded, result: #"{"text":"durable"}"#))
            _ = try await client.get("/tasks/capmonster/990003")
            await clock.drive(for: .seconds(2), sleepers: 2)
            let backlog = try await parts.store.webhookBacklog()
            #expect(backlog.map(\.pending) == [1])
        }
        try await withReceiver { url, received in
            try await Self.withHookedGateway(url: url, store: store, clock: clock) { _, _, _ in
                await clock.drive(for: .seconds(60), sleepers: 2) { received.value.count == 1 }
                #expect(received.value.count == 1)
                #expect(received.value.first.map { $0.header("webhook-signature") == Self.expectedSignature($0) } == true)
            }
        }
    }
}

/// Runs a webhook receiver on 127.0.0.1 while `body` runs: it answers the statuses in
/// `answering` in turn, then 200, and records every request.
func withReceiver<T: Sendable>(
    answering script: [Int] = [],
    _ body: @Sendable (String, Shared<[WebhookDispatcherTests.Received]>) async throws -> T
) async throws -> T {
    let received = Shared<[WebhookDispatcherTests.Received]>([])
    let router = Router()
    router.post("/hooks") { request, _ -> Response in
        let bytes = try await request.body.collect(upTo: 1 << 20)
        var count = 0
        received.update {
            $0.append(WebhookDispatcherTests.Received(headers: request.headers, body: Array(bytes.readableBytesView)))
            count = $0.count
        }
        let status = count <= script.count ? script[count - 1] : 200
        return Response(status: HTTPResponse.Status(code: status))
    }
    return try await withLocalServer(router) { base in try await body(base + "/hooks", received) }
}
