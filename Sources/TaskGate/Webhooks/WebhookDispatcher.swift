import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Tracing

/// Sends the outbox's deliveries to their receivers (`webhooks`), Standard Webhooks style: `POST`
/// with `webhook-id` (the event's id), `webhook-timestamp` and `webhook-signature`, each attempt
/// bounded by `webhook_timeout`. A 2xx ends a delivery; anything else is tried again later (5 s,
/// 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, each ±10 %), then kept as failed (and can be queued again
/// by `POST /webhooks/{name}/…`). At least once: the delivery was written with the event and the
/// final answer, and stays pending until the receiver has taken it. Receivers are served side by
/// side, so one that is down holds up no other; replicas sharing a store claim deliveries one
/// replica at a time.
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

    /// Sends a receiver's deliveries due now, in feed order.
    func deliverDue(to name: String) async {
        let now = clock.date
        do throws(GatewayError) {
            // Held while this look sends them; a crashed sender's come due again soon after.
            // (A slow receiver's later events may outlast it: another replica may then send one
            // again — at least once, as promised.)
            let held = now.addingTimeInterval(2 * timeout.seconds + 5)
            for delivery in try await outbox.claimDeliveries(webhook: name, now: now, until: held, limit: Self.batch) {
                await deliver(delivery, to: name)
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

    private func deliver(_ delivery: WebhookDelivery, to name: String) async {
        guard let receiver = receivers[name] else {
            // A receiver no longer configured: its deliveries wait, should it come back.
            return
        }
        let attempt = await self.attempt(delivery, to: receiver)
        let outcome: WebhookOutcome
        let attempts = delivery.attempts + 1
        if attempt.isSuccess {
            outcome = .delivered
            metrics?.webhookDelivery(webhook: name, outcome: "delivered")
        } else if attempts > Self.retrySchedule.count {
            outcome = .failed
            metrics?.webhookDelivery(webhook: name, outcome: "failed")
            logger.error("webhook delivery given up", metadata: ["webhook": "\(name)", "attempts": "\(attempts)", "error": "\(attempt.summary)"])
        } else {
            let delay = Self.retrySchedule[attempts - 1] * Double.random(in: 0.9...1.1)
            outcome = .retry(at: clock.date.addingTimeInterval(delay))
            metrics?.webhookDelivery(webhook: name, outcome: "retried")
            logger.notice("webhook attempt failed", metadata: ["webhook": "\(name)", "attempt": "\(attempts)", "error": "\(attempt.summary)"])
        }
        do throws(GatewayError) {
            try await outbox.finishDelivery(delivery, attempt: attempt, outcome: outcome)
        } catch {
            // Sent but not marked: sent again later (at least once).
            logger.warning("webhook outcome not recorded", metadata: ["webhook": "\(name)", "problem": "\(error.kind.rawValue)"])
        }
    }

    /// One POST, and what came of it: the receiver's status (a 2xx is success) or, when it
    /// answered nothing, the kind of error (refusal, timeout).
    private func attempt(_ delivery: WebhookDelivery, to receiver: WebhookConfiguration) async -> WebhookAttempt {
        let started = clock.date
        let timestamp = Int(started.timeIntervalSince1970)
        var request = HTTPClientRequest(url: receiver.url.absoluteString)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "webhook-id", value: delivery.id)
        request.headers.add(name: "webhook-timestamp", value: String(timestamp))
        request.headers.add(
            name: "webhook-signature",
            value: WebhookDelivery.signature(id: delivery.id, timestamp: timestamp, body: delivery.payload, key: receiver.key)
        )
        request.headers.add(name: "user-agent", value: "taskgate")
        request.body = .bytes(delivery.payload)
        let span = tracer?.startLinkedSpan("webhook \(receiver.name)", kind: .client, linkedTo: delivery.traceParent)
        if let span, let traceparent = tracer?.traceparent(of: span) { request.headers.add(name: "traceparent", value: traceparent) }
        span?.updateAttributes { attributes in
            attributes["taskgate.webhook"] = receiver.name
            attributes["taskgate.webhook.id"] = delivery.id
            attributes["taskgate.webhook.attempt"] = delivery.attempts + 1
        }
        defer { span?.end() }
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(timeout.nanoseconds))
            // The body is not needed; reading a little frees the connection for the next event.
            _ = try? await response.body.collect(upTo: 64 << 10)
            span?.attributes["http.response.status_code"] = Int(response.status.code)
            let attempt = WebhookAttempt(at: started, status: Int(response.status.code))
            if !attempt.isSuccess { span?.setStatus(SpanStatus(code: .error)) }
            return attempt
        } catch {
            span?.setStatus(SpanStatus(code: .error))
            span?.attributes["error.type"] = "\(type(of: error))"
            // HTTPClientError says what happened (`connectTimeout`) and nothing of the URL.
            return WebhookAttempt(at: started, error: error is HTTPClientError ? "\(error)" : "\(type(of: error))")
        }
    }
}

extension WebhookAttempt {
    var isSuccess: Bool { status.map { (200..<300).contains($0) } ?? false }

    /// The attempt in a few words, for logs.
    var summary: String { status.map { "HTTP \($0)" } ?? error ?? "?" }
}
