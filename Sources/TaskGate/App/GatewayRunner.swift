import Hummingbird
import Logging
import ServiceLifecycle

/// Runs the gateway until asked to stop, then shuts it down the way a proxy needs: `/readyz`
/// turns 503 at once, the listener stays open for `drainDelay` so the proxy notices, then the
/// server stops accepting and finishes the requests in flight within `gracePeriod`; the vendor
/// client and the store close last.
public struct GatewayRunner<App: ApplicationProtocol>: Sendable {
    let app: App
    let readiness: Readiness
    let drainDelay: Duration
    let gracePeriod: Duration
    let logger: Logger
    let clock: any GatewayClock

    public init(
        app: App,
        readiness: Readiness,
        drainDelay: Duration,
        gracePeriod: Duration,
        logger: Logger,
        clock: any GatewayClock = SystemClock()
    ) {
        self.app = app
        self.clock = clock
        self.readiness = readiness
        self.drainDelay = drainDelay
        self.gracePeriod = gracePeriod
        self.logger = logger
    }

    /// Runs until `stopRequested` returns (SIGTERM/SIGINT in `taskgate serve`), then drains.
    /// - Throws: `GracePeriodExceeded` when requests in flight outlast the grace period.
    public func run(until stopRequested: @escaping @Sendable () async -> Void) async throws {
        let group = ServiceGroup(configuration: .init(services: [.init(service: app)], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            tasks.addTask {
                await stopRequested()
                guard !Task.isCancelled else { return }
                readiness.beginShutdown()
                logger.notice("shutdown begun: /readyz answers 503", metadata: ["drain_delay": "\(drainDelay)"])
                try await clock.sleep(for: drainDelay)
                logger.notice("shutdown: no new connections; finishing requests in flight", metadata: ["grace_period": "\(gracePeriod)"])
                await group.triggerGracefulShutdown()
                try await clock.sleep(for: gracePeriod)
                logger.error("shutdown: requests in flight outlasted the grace period; cutting them")
                throw GracePeriodExceeded()
            }
            // The server group ends (drained, or failed): stop the watcher too.
            try await tasks.next()
            tasks.cancelAll()
        }
        logger.notice("taskgate stopped")
    }
}

public struct GracePeriodExceeded: Error, CustomStringConvertible {
    public var description: String { "requests in flight outlasted the shutdown grace period" }
}
