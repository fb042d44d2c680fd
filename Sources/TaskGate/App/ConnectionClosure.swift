import NIOCore
import Synchronization

/// Tells a request's handler that its caller has gone: the connection closed, or its input did
/// (the caller closed its socket; the server keeps half-closed connections open to answer what
/// was already sent). A long poll ends then rather than wait out its time for nobody.
final class ConnectionClosure: Sendable {
    private struct State {
        var closed = false
        var handlers: [UInt64: @Sendable () -> Void] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Runs `handler` once the caller goes (at once when it has gone already); the returned id
    /// takes it back (`remove`).
    func onClose(_ handler: @escaping @Sendable () -> Void) -> UInt64? {
        let id = state.withLock { state -> UInt64? in
            guard !state.closed else { return nil }
            state.nextID += 1
            state.handlers[state.nextID] = handler
            return state.nextID
        }
        if id == nil { handler() }
        return id
    }

    func remove(_ id: UInt64) {
        _ = state.withLock { $0.handlers.removeValue(forKey: id) }
    }

    /// The caller has gone (called on the connection's event loop).
    func close() {
        let handlers = state.withLock { state in
            state.closed = true
            defer { state.handlers = [:] }
            return Array(state.handlers.values)
        }
        for handler in handlers { handler() }
    }

    /// The closure of the connection `channel` is, when its pipeline has the hot path (the live
    /// server; not the router test client).
    static func of(_ channel: any Channel) async -> ConnectionClosure? {
        try? await channel.pipeline.handler(type: HotPathHandler.self).map(\.closure).get()
    }
}
