import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Tracing

/// Sends the outbox's events to their receivers (`webhooks`), Standard Webhooks style: `POST`
/// with `webhook-id`, `webhook-timestamp` and `webhook-signature`, each attempt bounded by
/// `webhook_timeout`. A 2xx ends an event; anything else is tried again later (5 s, 5 min,
/// 30 min, 2 h, 5 h, 10 h, 10 h, each ±10 %), then kept as failed. At least once: the event was
/// written with the final answer, and stays pending until a receiver has taken it. Receivers are
/// served side by side, so one that is down holds up no other; replicas sharing a store claim
/// events one replica at a time.
final class WebhookDispatcher: Service {
    let outbox: any WebhookOutbox
    let receivers: [String: WebhookConfiguration]
    let client: HTTPClient
    let timeout: Duration
    let clock: any GatewayClock
    let metrics: GatewayMetrics?
    /// Traced, each attempt is a CLIENT span linked to the task's first request, and sends its
    /// `traceparent` to the receiver.
    let tracer: GatewayTracer?
    let logger: Logger

    /// Seconds before each retry (the Standard Webhooks schedule).
    static let retrySchedule: [Double] = [5, 300, 1800, 7200, 18_000, 36_000, 36_000]
    /// How often the outbox is looked at.
    static let pollInterval: Duration = .seconds(1)
    /// Events claimed per look.
    static let batch = 16

    init(
        outbox: any WebhookOutbox,
        webhooks: [WebhookConfiguration],
        client: HTTPClient,
        timeout: Duration,
        clock: any GatewayClock,
        metrics: GatewayMetrics?,
        tracer: GatewayTracer? = nil,
        logger: Logger
    ) {
        self.tracer = tracer
        self.outbox = outbox
        self.receivers = Dictionary(uniqueKeysWithValues: webhooks.map { ($0.name, $0) })
        self.client = client
        self.timeout = timeout
        self.clock = clock
        self.metrics = metrics
        self.logger = logger
    }

    /// One sender per receiver, each on its own: a receiver that is down or slow holds up only
    /// its own events. And the backlog's metrics.
    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                for name in self.receivers.keys {
                    group.addTask {
                        while !Task.isCancelled {
                            await self.deliverDue(to: name)
                            try? await self.clock.sleep(for: Self.pollInterval)
                        }
                    }
                }
                group.addTask {
                    while !Task.isCancelled {
                        await self.recordBacklog()
                        try? await self.clock.sleep(for: Self.pollInterval)
                    }
                }
            }
        }
    }

    /// Sends a receiver's events due now, in order.
    func deliverDue(to name: String) async {
        let now = clock.date
        do throws(GatewayError) {
            // Held while this look sends them; a crashed sender's come due again soon after.
            // (A slow receiver's later events may outlast it: another replica may then send one
            // again — at least once, as promised.)
            let held = now.addingTimeInterval(2 * timeout.seconds + 5)
            for event in try await outbox.claimWebhookEvents(webhook: name, now: now, until: held, limit: Self.batch) {
                await deliver(event, to: name)
            }
        } catch {
            logger.warning("webhook outbox could not be read", metadata: ["webhook": "\(name)", "problem": "\(error.kind.rawValue)"])
        }
    }

    private func recordBacklog() async {
        guard let backlog = try? await outbox.webhookBacklog() else { return }
        let now = clock.date
        for name in receivers.keys {
            let entry = backlog.first { $0.webhook == name }
            metrics?.webhookBacklog(
                webhook: name,
                pending: entry?.pending ?? 0,
                oldestAge: entry?.oldestCreatedAt.map { now.timeIntervalSince($0) } ?? 0
            )
        }
    }

    private func deliver(_ event: WebhookEvent, to name: String) async {
        guard let receiver = receivers[name] else {
            // A receiver no longer configured: its events wait, should it come back.
            return
        }
        let outcome: WebhookOutcome
        switch await attempt(event, to: receiver) {
        case .success:
            outcome = .delivered
            metrics?.webhookDelivery(webhook: name, outcome: "delivered")
        case .failure(let failure):
            let error = failure.description
            let attempt = event.attempts + 1
            if attempt > Self.retrySchedule.count {
                outcome = .failed(error: error)
                metrics?.webhookDelivery(webhook: name, outcome: "failed")
                logger.error("webhook event given up", metadata: ["webhook": "\(name)", "attempts": "\(attempt)", "error": "\(error)"])
            } else {
                let delay = Self.retrySchedule[attempt - 1] * Double.random(in: 0.9...1.1)
                outcome = .retry(at: clock.date.addingTimeInterval(delay), error: error)
                metrics?.webhookDelivery(webhook: name, outcome: "retried")
                logger.notice("webhook attempt failed", metadata: ["webhook": "\(name)", "attempt": "\(attempt)", "error": "\(error)"])
            }
        }
        do throws(GatewayError) {
            try await outbox.finishWebhookEvent(event, outcome: outcome, now: clock.date)
        } catch {
            // Sent but not marked: sent again later (at least once).
            logger.warning("webhook outcome not recorded", metadata: ["webhook": "\(name)", "problem": "\(error.kind.rawValue)"])
        }
    }

    /// One POST; a 2xx is success, anything else (status, refusal, timeout) a failure, described.
    private func attempt(_ event: WebhookEvent, to receiver: WebhookConfiguration) async -> Result<Void, DeliveryFailure> {
        let timestamp = Int(clock.date.timeIntervalSince1970)
        var request = HTTPClientRequest(url: receiver.url.absoluteString)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "webhook-id", value: event.id)
        request.headers.add(name: "webhook-timestamp", value: String(timestamp))
        request.headers.add(
            name: "webhook-signature",
            value: WebhookEvent.signature(id: event.id, timestamp: timestamp, body: event.payload, key: receiver.key)
        )
        request.headers.add(name: "user-agent", value: "taskgate")
        request.body = .bytes(event.payload)
        let span = tracer?.startLinkedSpan("webhook \(receiver.name)", kind: .client, linkedTo: event.traceParent)
        if let span, let traceparent = tracer?.traceparent(of: span) { request.headers.add(name: "traceparent", value: traceparent) }
        span?.updateAttributes { attributes in
            attributes["taskgate.webhook"] = receiver.name
            attributes["taskgate.webhook.id"] = event.id
            attributes["taskgate.webhook.attempt"] = event.attempts + 1
        }
        defer { span?.end() }
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(timeout.nanoseconds))
            // The body is not needed; reading a little frees the connection for the next event.
            _ = try? await response.body.collect(upTo: 64 << 10)
            span?.attributes["http.response.status_code"] = Int(response.status.code)
            guard (200..<300).contains(response.status.code) else {
                span?.setStatus(SpanStatus(code: .error))
                return .failure(DeliveryFailure("HTTP \(response.status.code)"))
            }
            return .success(())
        } catch {
            span?.setStatus(SpanStatus(code: .error))
            span?.attributes["error.type"] = "\(type(of: error))"
            return .failure(DeliveryFailure("\(type(of: error))"))
        }
    }

    /// Why an attempt failed, in a few words (a status, or the kind of connection error).
    struct DeliveryFailure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
