import Testing

@testable import TaskGate

/// A wait on a `TaskChangeWatch` returns for its own reason, and only a change carries over to
/// the next wait: a long poll that took a cancelled or bounded wait for a change would spin.
@Suite struct TaskChangeWatchTests {
    @Test func aChangeWakesTheWaitInProgressOrTheNextOne() async {
        let watches = TaskChangeWatches()
        let watch = watches.watch(provider: "aliyun", id: "1")
        defer { watch.end() }
        watches.deliver(TaskChangeWatches.key(provider: "aliyun", id: "1"))
        #expect(await watch.next(orAfter: .seconds(3600)) == .changed)
        async let woken = watch.next(orAfter: .seconds(3600))
        watches.deliver(TaskChangeWatches.key(provider: "aliyun", id: "1"))
        #expect(await woken == .changed)
    }

    @Test func aCancelledWaitLeavesTheNextOneWaiting() async {
        let watch = TaskChangeWatch.unnotified()
        let cancelled = Task { await watch.next(orAfter: .seconds(3600)) }
        cancelled.cancel()
        #expect(await cancelled.value == .cancelled)
        #expect(await watch.next(orAfter: .milliseconds(1)) == .boundPassed)
    }

    @Test func aWaitWhoseBoundPassedLeavesTheNextOneWaiting() async {
        let watch = TaskChangeWatch.unnotified()
        #expect(await watch.next(orAfter: .milliseconds(1)) == .boundPassed)
        let cancelled = Task { await watch.next(orAfter: .seconds(3600)) }
        cancelled.cancel()
        #expect(await cancelled.value == .cancelled)
    }

    @Test func anotherTasksChangeIsNotThisOnes() async {
        let watches = TaskChangeWatches()
        let watch = watches.watch(provider: "aliyun", id: "1")
        defer { watch.end() }
        watches.deliver(TaskChangeWatches.key(provider: "aliyun", id: "2"))
        #expect(await watch.next(orAfter: .milliseconds(1)) == .boundPassed)
    }
}
