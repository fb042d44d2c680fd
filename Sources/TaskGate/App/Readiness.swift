import Synchronization

/// Whether taskgate should receive work: false from the moment shutdown begins, so `/readyz`
/// tells the proxy to stop sending before the listener closes.
public final class Readiness: Sendable {
    private let shuttingDown = Atomic<Bool>(false)

    public init() {}

    public var isShuttingDown: Bool { shuttingDown.load(ordering: .relaxed) }

    public func beginShutdown() { shuttingDown.store(true, ordering: .relaxed) }
}
