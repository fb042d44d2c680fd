import Crypto
import Foundation
import NIOCore

/// Which receivers hear about each provider's tasks: what the store writes into its outbox in
/// the transaction that stores a task's final answer.
public struct WebhookRoutes: Sendable {
    private let receivers: [String: [String]]

    public static let none = WebhookRoutes(receivers: [:])

    private init(receivers: [String: [String]]) { self.receivers = receivers }

    public init(_ webhooks: [WebhookConfiguration], providers: [String]) {
        var receivers: [String: [String]] = [:]
        for provider in providers {
            let names = webhooks.filter { $0.covers(provider) }.map(\.name)
            if !names.isEmpty { receivers[provider] = names }
        }
        self.receivers = receivers
    }

    /// The receivers of `provider`'s tasks, by name.
    func receivers(of provider: String) -> [String] { receivers[provider] ?? [] }

    /// The outbox rows for a task that has just turned final: one per receiver, its id the
    /// `webhook-id` (the same for every attempt, and for a second save of the same task).
    func events(for answer: EncodedAnswer) throws(GatewayError) -> [WebhookEvent] {
        let names = receivers(of: answer.provider)
        guard answer.isFinal, !names.isEmpty else { return [] }
        let payload = try WebhookEvent.payload(for: answer)
        return names.map { name in
            WebhookEvent(id: WebhookEvent.id(webhook: name, provider: answer.provider, taskID: answer.id), webhook: name, payload: payload)
        }
    }
}
