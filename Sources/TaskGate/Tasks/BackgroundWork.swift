import ServiceLifecycle

/// Work a request starts but does not wait for — a not-final answer revalidated behind an
/// `UPDATING` answer, the files of a final answer still downloading — run in this service's task
/// group, so that nothing runs unowned and shutdown waits for it.
final class BackgroundWork: Service {
    typealias Job = @Sendable () async -> Void

    private let jobs: AsyncStream<Job>
    private let intake: AsyncStream<Job>.Continuation

    init() {
        // Unbounded: each job is one task's single vendor call or download, so the queue is
        // bounded by the tasks in flight; dropping one would leave its waiters waiting.
        (jobs, intake) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
    }

    /// Queues `job`; false once shutdown has stopped the intake (the caller then cleans up).
    func submit(_ job: @escaping Job) -> Bool {
        if case .enqueued = intake.yield(job) { return true }
        return false
    }

    /// Runs every job submitted until shutdown; then the jobs queued and under way run to their
    /// end (each bounded by its vendor call's or download's timeout).
    func run() async {
        await withDiscardingTaskGroup { group in
            await withGracefulShutdownHandler {
                for await job in jobs { group.addTask { await job() } }
            } onGracefulShutdown: {
                self.intake.finish()
            }
        }
    }
}
