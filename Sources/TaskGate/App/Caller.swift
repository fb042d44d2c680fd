import Synchronization

/// Who a request works for, as metrics label it: the calling key's configured name, or
/// `anonymous` (keys off, or none sent). Work no request asked for — watch rounds, background
/// revalidation, webhook deliveries — is `taskgate`. A bounded set: the configured keys plus two.
enum Caller {
    static let anonymous = "anonymous"
    static let background = "taskgate"

    /// The request this task works for; nil outside a request (its children inherit it).
    @TaskLocal static var current: Slot?

    /// The caller that vendor calls made now are counted for.
    static var name: String { current?.name ?? background }

    /// Filled in by authentication, read by the access metrics after the answer.
    final class Slot: Sendable {
        private let value = Mutex(Caller.anonymous)
        var name: String { value.withLock { $0 } }
        func set(_ name: String) { value.withLock { $0 = name } }
    }
}
