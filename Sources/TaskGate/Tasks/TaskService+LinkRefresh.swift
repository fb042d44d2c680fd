import Foundation
import Logging
import Synchronization
import Tracing

extension TaskService {
    /// How long after a failed link refresh (the vendor forgot the task, or failed) the stored
    /// answer is served stale without asking again.
    static let refreshRetryInterval: TimeInterval = 60

    /// A final answer whose links are within the margin of expiring: the vendor is asked for the
    /// task again — once for every caller, within the rate limit and budgets — and the answer,
    /// its links signed afresh, replaces the stored one (`REFRESH`). When that cannot be had (the
    /// vendor forgot the task, failed, or changed its mind about the status) the stored answer is
    /// served `STALE`, its `linksExpireAt` saying how stale, and the vendor is not asked again
    /// for `refreshRetryInterval`.
    func refreshLinks(_ provider: ServedProvider, key: AnswerCache.Key, stored: EncodedAnswer, logger: Logger) async -> Served {
        let stale = Served(key: (key.provider, key.id), answer: stored.bytes, cache: .stale, freshness: .transient(maxAge: 0))
        let now = clock.date
        if let retryAt = refreshRetries.withLock({ $0[key] }), retryAt > now { return stale }
        do throws(GatewayError) {
            let (answer, _, _) = try await cache.load(key, policy: provider.policy) { () throws(GatewayError) -> EncodedAnswer in
                try await refreshedAnswer(provider, key: key, stored: stored, logger: logger)
            }
            return Served(
                key: (key.provider, key.id),
                answer: answer,
                cache: .refresh,
                freshness: provider.policy.finalFreshness(linksExpireAt: answer.linksExpireAt, now: clock.date) ?? .transient(maxAge: 0)
            )
        } catch {
            return stale
        }
    }

    /// The vendor call of a link refresh (one per task at a time, across replicas too), counted
    /// by outcome; a failure holds off the next try.
    private func refreshedAnswer(
        _ provider: ServedProvider,
        key: AnswerCache.Key,
        stored: EncodedAnswer,
        logger: Logger
    ) async throws(GatewayError) -> EncodedAnswer {
        let (name, id) = (key.provider, key.id)
        var outcome = "failed"
        defer { metrics?.linkRefresh(provider: name, outcome: outcome) }
        do throws(GatewayError) {
            let linksFresh = { (answer: EncodedAnswer) in
                answer.isFinal && provider.policy.finalFreshness(linksExpireAt: answer.bytes.linksExpireAt, now: self.clock.date) != nil
            }
            if let shared = try await awaitOtherReplica(provider, id: id, stored: stored, usable: linksFresh) {
                outcome = "shared"
                return shared
            }
            let fetched = await tracer.withTaskSpan(
                "refresh links",
                linkedTo: stored.traceParent,
                attributes: ["taskgate.provider": .string(name), "taskgate.task.id": .string(id)]
            ) { () async -> Result<TaskRecord, GatewayError> in
                do throws(GatewayError) {
                    return .success(try await provider.provider.fetchTask(id: id, known: nil, logger: logger))
                } catch {
                    return .failure(error)
                }
            }
            let record = try fetched.get()
            guard record.status == stored.status else {
                outcome = "inconsistent"
                logger.warning(
                    "vendor inconsistency: a final task's status changed; the stored answer stays",
                    metadata: ["provider": "\(name)", "stored_status": "\(stored.status.rawValue)", "vendor_status": "\(record.status.rawValue)"]
                )
                throw GatewayError(.vendorBadAnswer, "The vendor answered another status for a final task.", provider: name)
            }
            // Files kept before stay kept; one that could not be kept then is tried again.
            let previously = provider.mirror == nil ? [] : Artifact.listed(in: try stored.bytes.inflated())
            let (answer, files) = try await encodeKeepingFiles(record, provider: provider, previously: previously, logger: logger)
            guard try await store.replaceFinal(answer) else {
                throw GatewayError(.storeUnavailable, "The stored final answer could not be replaced.")
            }
            if let files { finishLateFiles(files, of: record, key: key, logger: logger) }
            outcome = "refreshed"
            refreshRetries.withLock { $0[key] = nil }
            return answer
        } catch {
            // Held or not, the lease goes (releasing one another replica holds changes nothing).
            await store.releaseLease(provider: name, id: id, holder: replicaID)
            if error.kind == .taskNotFound { outcome = "gone" }
            let retryAt = clock.date.addingTimeInterval(Self.refreshRetryInterval)
            refreshRetries.withLock { retries in
                if retries.count > 10_000 { retries = retries.filter { $0.value > self.clock.date } }
                retries[key] = retryAt
            }
            logger.notice(
                "links could not be refreshed; serving the stored answer stale",
                metadata: ["provider": "\(name)", "outcome": "\(outcome)", "problem": "\(error.kind.rawValue)"]
            )
            throw error
        }
    }
}
