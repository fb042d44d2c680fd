import Logging
import Synchronization

extension TaskService {
    /// How long a long poll waits before asking again when its answer gives no time (stale, or a
    /// `status_ttl` of zero).
    static let longPollPause: Duration = .seconds(1)

    /// `GET /tasks/{provider}/{id}?wait=`: the task's answer as soon as it is final, or its latest
    /// once `wait` has passed. Waiters ask again whenever the answer they hold stops being fresh,
    /// through the same single flight as every request — so any number of them cost the vendor
    /// what one caller polling every `status_ttl` would (within its budget and rate). A final
    /// answer this process comes to know (a caller's request, the background watch) or another
    /// replica saves (PostgreSQL `NOTIFY`) wakes them at once. Cancelling the calling task (the
    /// caller's connection closed) ends the wait.
    public func task(provider name: String, id rawID: String, wait: Duration, logger: Logger) async throws(GatewayError) -> Served {
        let (provider, id) = try resolve(provider: name, id: rawID)
        let deadline = clock.now + wait
        let here = turnedFinal.watch(provider: name, id: id)
        let elsewhere = store.watchChanges(provider: name, id: id)
        longPolls.add(1, ordering: .relaxed)
        defer {
            longPolls.subtract(1, ordering: .relaxed)
            here.end()
            elsewhere.end()
        }
        var served = try await task(provider: name, id: id, logger: logger, fetch: nil, servesUpdating: false)
        while !served.answer.status.isFinal, clock.now < deadline, !Task.isCancelled {
            let fresh: Duration = if case .transient(let maxAge) = served.freshness, maxAge > 0 { .seconds(maxAge) } else { Self.longPollPause }
            if await waitForChange(here, elsewhere, until: min(deadline, clock.now + fresh)),
                let stored = try await store.answer(provider: name, id: id), stored.isFinal
            {
                // Another replica stored it final: this one's memory still holds the answer before.
                cache.keep(stored.bytes, for: AnswerCache.Key(provider: name, id: id))
                return Served(
                    key: (name, id),
                    answer: stored.bytes,
                    cache: .hit,
                    freshness: provider.policy.finalFreshness(linksExpireAt: stored.bytes.linksExpireAt, now: clock.date) ?? .transient(maxAge: 0)
                )
            }
            served = try await task(provider: name, id: id, logger: logger, fetch: nil, servesUpdating: false)
        }
        return served
    }

    /// Returns at `deadline` on the gateway's clock (false), when another replica's change to the
    /// task is notified (true), when this process's is (false: its memory knows), or when the
    /// calling task is cancelled.
    private func waitForChange(_ here: TaskChangeWatch, _ elsewhere: TaskChangeWatch, until deadline: ContinuousClock.Instant) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                try? await self.clock.sleep(until: deadline)
                return false
            }
            group.addTask {
                await here.next(orAfter: .seconds(3600))
                return false
            }
            group.addTask {
                await elsewhere.next(orAfter: .seconds(3600)) == .changed
            }
            let changedElsewhere = await group.next() ?? false
            group.cancelAll()
            return changedElsewhere
        }
    }
}
