import Synchronization

/// One answer's file downloads as they end: the files kept so far by position, and whether all
/// have ended. The caller waits for them a bounded time; what is late is read once they end.
final class FileDownloads: Sendable {
    private struct State {
        var files: [Int: Artifact] = [:]
        var ended = false
        var waiters: [UInt64: CheckedContinuation<Bool, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let state = Mutex(State())

    func kept(_ file: Artifact, at position: Int) { state.withLock { $0.files[position] = file } }

    /// Every download has ended: wakes the waiters.
    func end() {
        let waiters = state.withLock { state in
            state.ended = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: true) }
    }

    /// The files kept so far, by position.
    var files: [Int: Artifact] { state.withLock { $0.files } }

    /// Waits until every download has ended (true) or `bound` has passed (false); its timer is
    /// one child task.
    func waitForEnd(orAfter bound: Duration) async -> Bool {
        let id = state.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return await withTaskGroup(of: Void.self) { group in
            group.addTask {
                if (try? await Task.sleep(for: bound)) != nil { self.stopWaiting(id) }
            }
            let ended = await withTaskCancellationHandler {
                await withCheckedContinuation { (waiter: CheckedContinuation<Bool, Never>) in
                    let ended = state.withLock { state -> Bool? in
                        if state.ended { return true }
                        if Task.isCancelled { return false }
                        state.waiters[id] = waiter
                        return nil
                    }
                    if let ended { waiter.resume(returning: ended) }
                }
            } onCancel: {
                self.stopWaiting(id)
            }
            group.cancelAll()
            return ended
        }
    }

    /// Waits until every download has ended.
    func waitForEnd() async {
        while await !waitForEnd(orAfter: .seconds(3600)) {}
    }

    private func stopWaiting(_ id: UInt64) {
        state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(returning: false)
    }
}
