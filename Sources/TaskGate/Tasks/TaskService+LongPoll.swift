import Logging
import Synchronization
import Tracing

extension TaskService {
    /// How long a long poll waits before asking again when its answer gives no time (stale, or a
    /// `status_ttl` of zero).
    static let longPollPause: Duration = .seconds(1)

    /// `GET /tasks/{provider}/{id}?wait=`: the task's answer as soon as it is final, or its latest
    /// once `wait` has passed. Waiters ask again whenever the answer they hold stops being fresh,
    /// through the same single flight as every request — so any number of them cost the vendor
    /// what one caller polling every `status_ttl` would (within its budget and rate). A final
    /// answer this process comes to know (a caller's request, the background watch) or another
    /// replica saves (PostgreSQL `NOTIFY`) wakes them at once; so does the caller going
    /// (`closure`), which ends the wait. A wait costs one child task, its timer.
    func task(
        provider name: String,
        id rawID: String,
        wait: Duration,
        closure: ConnectionClosure? = nil,
        logger: Logger
    ) async throws(GatewayError) -> Served {
        let (provider, id) = try resolve(provider: name, id: rawID)
        let deadline = clock.now + wait
        // One watch hears this process's finals and other replicas' saves.
        let change = turnedFinal.watch(provider: name, id: id)
        store.watchChanges(provider: name, id: id, with: change)
        let leaving = closure.flatMap { closure in closure.onClose { change.interrupt() } }
        longPolls.add(1, ordering: .relaxed)
        defer {
            longPolls.subtract(1, ordering: .relaxed)
            if let leaving { closure?.remove(leaving) }
            change.end()
        }
        var served = try await task(provider: name, id: id, logger: logger, fetch: nil, servesUpdating: false)
        // Traced, the wait is a span of the request's: each wake-up an event, linked to the task's
        // first request once the wake-up finds it final.
        let span = served.answer.status.isFinal ? nil : tracer?.startSpan("long poll")
        defer { span?.end() }
        while !served.answer.status.isFinal, clock.now < deadline, !Task.isCancelled {
            let fresh: Duration = if case .transient(let maxAge) = served.freshness, maxAge > 0 { .seconds(maxAge) } else { Self.longPollPause }
            switch await change.next(until: min(deadline, clock.now + fresh), on: clock) {
            case .cancelled:
                return served
            case .changed:
                span?.addEvent(SpanEvent(name: "woken"))
                // Stored final here or by another replica (whose save this memory did not see).
                if let stored = try await store.answer(provider: name, id: id), stored.isFinal {
                    if let span { tracer?.link(span, to: stored.traceParent) }
                    cache.keep(stored.bytes, for: AnswerCache.Key(provider: name, id: id))
                    return Served(
                        key: (name, id),
                        answer: stored.bytes,
                        cache: .hit,
                        freshness: provider.policy.finalFreshness(linksExpireAt: stored.bytes.linksExpireAt, now: clock.date) ?? .transient(maxAge: 0)
                    )
                }
            case .boundPassed:
                break
            }
            served = try await task(provider: name, id: id, logger: logger, fetch: nil, servesUpdating: false)
        }
        return served
    }
}
