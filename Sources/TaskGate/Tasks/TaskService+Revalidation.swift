import Logging

extension TaskService {
    /// Asks the vendor again for a task whose not-final answer is being served `UPDATING`; the
    /// answer lands in memory for the next caller. A failure is left for the next caller to meet
    /// (its own call, then `stale_max`). Past shutdown the call is not made: its waiters are told.
    func revalidateInBackground(_ provider: ServedProvider, key: AnswerCache.Key, logger: Logger) {
        let submitted = background.submit { [self] in
            do throws(GatewayError) {
                let answer = try await cache.revalidate(key, policy: provider.policy) { () throws(GatewayError) -> EncodedAnswer in
                    let stored = try await store.answer(provider: key.provider, id: key.id)
                    // Another process stored it final meanwhile.
                    if let stored, stored.isFinal { return stored }
                    return try await askVendor(provider, id: key.id, stored: stored, fetch: nil, logger: logger).answer
                }
                if answer.status.isFinal { turnedFinal.deliver(TaskChangeWatches.key(provider: key.provider, id: key.id)) }
            } catch {
                logger.notice("background refresh failed", metadata: ["provider": "\(key.provider)", "problem": "\(error.kind.rawValue)"])
            }
        }
        if !submitted {
            cache.abandon(key, with: GatewayError(.shuttingDown, "taskgate is shutting down."))
        }
    }
}
