import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import TaskGateSimulators
import Testing

@testable import TaskGate

/// `/webhooks/{name}/…`: a receiver's deliveries with their attempts, one queued again, every
/// event after a cursor replayed — each with the event's own `webhook-id`, so a receiver
/// de-duplicates — behind keys with `admin: true`. Time is the test's (a `ManualClock`).
@Suite(.timeLimit(.minutes(2))) struct WebhookControllerTests {
    static let adminToken = "token-admin"

    /// `twoKeys` (billing: capmonster only; ops: every provider, no admin) and `admin`.
    static var keys: AuthConfiguration {
        var auth = RequestPolicyTests.twoKeys
        var admin = AuthConfiguration.Key(name: "admin", digest: Array(SHA256.hash(data: Array(adminToken.utf8))), providers: nil, metrics: false)
        admin.admin = true
        var scoped = admin
        scoped.name = "scoped-admin"
        scoped.digest = Array(SHA256.hash(data: Array("token-scoped-admin".utf8)))
        scoped.providers = ["other"]
        auth.keys += [admin, scoped]
        return auth
    }

    static let admin = RequestPolicyTests.bearer(adminToken)

    /// A CapMonster gateway with webhook `billing` to `url`, caller keys on.
    static func withAdminGateway<T: Sendable>(
        url: String,
        clock: ManualClock,
        _ body: @Sendable (any TestClientProtocol, RunningSimulator) async throws -> T
    ) async throws -> T {
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))) { sim in
            var configuration = EventFeedTests.configuration(endpoint: sim.endpoint, store: temporaryStorePath())
            configuration.webhooks = [
                try WebhookConfiguration(name: "billing", url: URL(string: url)!, secret: WebhookDispatcherTests.secret, providers: ["capmonster"])
            ]
            configuration.auth = Self.keys
            let parts = try buildGateway(configuration, logger: quietLogger, clock: clock)
            return try await parts.application.test(.router) { client in try await body(client, sim) }
        }
    }

    static func finish(_ id: String, _ client: any TestClientProtocol, _ sim: RunningSimulator) async throws {
        addTask(sim.state, id: id, .state(.succeeded, result: #"{"text":"task \#(id)"}"#))
        #expect(try await client.get("/tasks/capmonster/\(id)", admin).status == .ok)
    }

    static func deliveries(_ client: any TestClientProtocol, _ query: String = "") async throws -> [[String: Any]] {
        let response = try await client.get("/webhooks/billing/deliveries\(query)", admin)
        #expect(response.status == .ok, "\(response.text)")
        return try #require(try response.json()["deliveries"] as? [[String: Any]])
    }

    static func post(_ client: any TestClientProtocol, _ path: String, _ headers: HTTPFields = admin) async throws -> TestResponse {
        try await client.execute(uri: path, method: .post, headers: headers) { $0 }
    }

    @Test func theRoutesNeedAnAdminKeyCoveringTheWebhook() async throws {
        try await withReceiver { url, _ in
            try await Self.withAdminGateway(url: url, clock: ManualClock()) { client, _ in
                let path = "/webhooks/billing/deliveries"
                #expect(try await client.get(path).status == .unauthorized)
                for token in ["token-ops", "token-billing", "token-scoped-admin"] {
                    let refused = try await client.get(path, RequestPolicyTests.bearer(token))
                    #expect(refused.status == .forbidden, "\(token)")
                    #expect(try refused.json()["type"] as? String == "urn:taskgate:problem:forbidden")
                }
                #expect(try await client.get(path, Self.admin).status == .ok)
                let unknown = try await client.get("/webhooks/nope/deliveries", Self.admin)
                #expect(unknown.status == .notFound)
                #expect(try unknown.json()["type"] as? String == "urn:taskgate:problem:webhook-not-found")
                let wrongMethod = try await Self.post(client, path)
                #expect(wrongMethod.status == .methodNotAllowed && wrongMethod.headers[.allow] == "GET, HEAD")
                let readReplay = try await client.get("/webhooks/billing/replay", Self.admin)
                #expect(readReplay.status == .methodNotAllowed && readReplay.headers[.allow] == "POST")
                let missing = try await Self.post(client, "/webhooks/billing/deliveries/msg_00/retry")
                #expect(missing.status == .notFound)
                #expect(try missing.json()["type"] as? String == "urn:taskgate:problem:delivery-not-found")
                for query in ["?status=lost", "?limit=0", "?cursor=forged", "?other=1"] {
                    #expect(try await client.get(path + query, Self.admin).status == .badRequest, "\(query)")
                }
                #expect(try await Self.post(client, "/webhooks/billing/replay?after=forged").status == .badRequest)
            }
        }
    }

    /// A receiver that fails: its delivery is listed with the attempt, queued again by hand, and
    /// taken the second time with the same `webhook-id`.
    @Test func aFailedDeliveryIsListedAndRetriedWithTheSameID() async throws {
        let clock = ManualClock()
        try await withReceiver(answering: [500]) { url, received in
            try await Self.withAdminGateway(url: url, clock: clock) { client, sim in
                try await Self.finish("901", client, sim)
                await clock.drive(for: .seconds(2), sleepers: 2) { received.value.count == 1 }
                // The attempt is recorded just after the receiver answered.
                #expect(try await eventuallyAnswers { try await !Self.deliveries(client, "?status=pending").isEmpty })
                #expect(try await eventuallyAnswers { (try await Self.deliveries(client).first?["attempts"] as? [Any])?.count == 1 })
                let pending = try #require(try await Self.deliveries(client, "?status=pending").first)
                let eventID = try #require(pending["eventId"] as? String)
                #expect(eventID == EventFeedTests.eventID("901"))
                #expect(received.value.first?.header("webhook-id") == eventID)
                let attempts = try #require(pending["attempts"] as? [[String: Any]])
                #expect(attempts.count == 1 && attempts[0]["status"] as? Int == 500 && attempts[0]["at"] is String)
                #expect(pending["nextAttemptAt"] is String)
                // Queued again now, rather than in 5 s: the next look sends it.
                let retried = try await Self.post(client, "/webhooks/billing/deliveries/\(eventID)/retry")
                #expect(retried.status == .accepted)
                #expect(try retried.json()["status"] as? String == "pending")
                await clock.drive(for: .seconds(2), sleepers: 2) { received.value.count == 2 }
                #expect(received.value.map { $0.header("webhook-id") } == [eventID, eventID])
                #expect(try await eventuallyAnswers { try await !Self.deliveries(client, "?status=delivered").isEmpty })
                let delivered = try #require(try await Self.deliveries(client, "?status=delivered").first)
                #expect((delivered["attempts"] as? [[String: Any]])?.compactMap { $0["status"] as? Int } == [500, 200])
                #expect(delivered["nextAttemptAt"] is NSNull)
                #expect(try await Self.deliveries(client, "?status=pending").isEmpty)
            }
        }
    }

    /// A receiver back after everything was given up gets every event after a cursor again, each
    /// with the id it had; the list pages newest first.
    @Test func aReplayQueuesEveryEventAfterTheCursorWithTheSameIDs() async throws {
        let clock = ManualClock()
        try await withReceiver { url, received in
            try await Self.withAdminGateway(url: url, clock: clock) { client, sim in
                let origin = try #require(try await client.get("/events?after=now", Self.admin).json()["next"] as? String)
                for id in ["911", "912", "913"] { try await Self.finish(id, client, sim) }
                await clock.drive(for: .seconds(2), sleepers: 2) { received.value.count == 3 }
                let firstIDs = received.value.compactMap { $0.header("webhook-id") }
                #expect(firstIDs == ["911", "912", "913"].map { EventFeedTests.eventID($0) })
                let afterFirst = try #require(try await client.get("/events?limit=1", Self.admin).json()["next"] as? String)
                let replay = try await Self.post(client, "/webhooks/billing/replay?after=\(afterFirst)")
                #expect(replay.status == .accepted)
                #expect(try replay.json()["queued"] as? Int == 2)
                await clock.drive(for: .seconds(2), sleepers: 2) { received.value.count == 5 }
                #expect(received.value.dropFirst(3).compactMap { $0.header("webhook-id") } == Array(firstIDs.dropFirst()))
                #expect(try await Self.post(client, "/webhooks/billing/replay?after=\(origin)").json()["queued"] as? Int == 3)
                await clock.drive(for: .seconds(2), sleepers: 2) { received.value.count == 8 }
                #expect(Set(received.value.compactMap { $0.header("webhook-id") }) == Set(firstIDs))
                // Newest first, two per page.
                let page = try await client.get("/webhooks/billing/deliveries?limit=2", Self.admin).json()
                #expect((page["deliveries"] as? [[String: Any]])?.compactMap { $0["eventId"] as? String } == firstIDs.reversed().prefix(2).map { $0 })
                let next = try #require(page["next"] as? String)
                let rest = try await Self.deliveries(client, "?limit=2&cursor=\(next)")
                #expect(rest.compactMap { $0["eventId"] as? String } == [firstIDs[0]])
                let wrongFilter = try await client.get("/webhooks/billing/deliveries?limit=2&status=failed&cursor=\(next)", Self.admin)
                #expect(wrongFilter.status == .badRequest)
            }
        }
    }

    /// Deliveries given up (a receiver down past the whole schedule) are delivered by a replay,
    /// each event once, under its own id.
    @Test func aReceiverBackAfterEverythingWasGivenUpGetsEachEventOnceAfterAReplay() async throws {
        let clock = ManualClock()
        try await withReceiver(answering: [500, 500]) { url, received in
            try await withSimulator(CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))) { sim in
                var configuration = EventFeedTests.configuration(endpoint: sim.endpoint, store: temporaryStorePath())
                configuration.webhooks = [try WebhookConfiguration(name: "billing", url: URL(string: url)!, secret: WebhookDispatcherTests.secret)]
                configuration.auth = Self.keys
                let parts = try buildGateway(configuration, logger: quietLogger, clock: clock)
                try await parts.application.test(.router) { client in
                    for id in ["921", "922"] { try await Self.finish(id, client, sim) }
                    await clock.drive(for: .seconds(2), sleepers: 2) { received.value.count == 2 }
                    #expect(try await eventuallyAnswers { try await Self.deliveries(client, "?status=pending").count == 2 })
                    // The rest of the schedule, as the dispatcher would end it: given up.
                    let due = try await parts.store.claimDeliveries(webhook: "billing", now: .distantFuture, until: .distantFuture, limit: 10)
                    for delivery in due {
                        try await parts.store.finishDelivery(
                            delivery,
                            attempt: WebhookAttempt(at: clock.date, error: "connectTimeout"),
                            outcome: .failed
                        )
                    }
                    #expect(try await Self.deliveries(client, "?status=failed").count == 2)
                    let replay = try await Self.post(client, "/webhooks/billing/replay")
                    #expect(try replay.json()["queued"] as? Int == 2)
                    await clock.drive(for: .seconds(2), sleepers: 2) { received.value.count == 4 }
                    #expect(try await eventuallyAnswers { try await Self.deliveries(client, "?status=delivered").count == 2 })
                    await clock.drive(for: .seconds(60), sleepers: 2)
                    let after = received.value.dropFirst(2).compactMap { $0.header("webhook-id") }
                    #expect(after.sorted() == ["921", "922"].map { EventFeedTests.eventID($0) }.sorted())
                }
            }
        }
    }
}
