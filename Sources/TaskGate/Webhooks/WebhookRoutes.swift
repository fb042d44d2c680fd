import Crypto
import Foundation
import NIOCore

/// Which receivers hear about each provider's tasks: the deliveries the store writes with a
/// task's event, in the transaction that stores its final answer.
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

    /// The feed event of a task that has just turned final (nil for a not-final answer), with a
    /// delivery to each receiver of its provider; its id is the `webhook-id` every receiver gets,
    /// on every attempt, and for a second save of the same task.
    func event(for answer: EncodedAnswer) throws(GatewayError) -> TaskEvent? {
        guard answer.isFinal else { return nil }
        return try TaskEvent.final(answer, receivers: receivers(of: answer.provider))
    }
}
