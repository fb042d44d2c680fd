import Foundation
import Logging
import NIOCore
import Synchronization

/// Answers `GET /tasks/{provider}/{id}`: memory, then the store, then one vendor call shared by
/// every concurrent caller. A final answer is committed to the store before it is returned.
public final class TaskService: Sendable {
    /// Where an answer came from, sent as `X-Cache`.
    public enum CacheOutcome: String, Sendable, CaseIterable {
        case hit = "HIT"
        case miss = "MISS"
        case coalesced = "COALESCED"
        case stale = "STALE"
        /// A not-final answer just past its TTL, served while the vendor is asked again in the
        /// background (`stale_while_revalidate`; nginx's word for it).
        case updating = "UPDATING"
        /// A final answer whose links were due, asked of the vendor again and stored anew.
        case refresh = "REFRESH"
    }

    /// A task's answer as served: the bytes and where they came from.
    public struct Served: Sendable {
        /// The task, its id as the provider validated it.
        public var key: (provider: String, id: String)
        public var answer: AnswerBytes
        public var cache: CacheOutcome
        /// How long it may be reused (`Cache-Control`).
        var freshness: Freshness
        /// For a stale not-final answer: seconds since the vendor gave it (the `Age` header).
        public var age: Int?
        /// Whether this request began a vendor call in the background (an `UPDATING` answer):
        /// not a vendor call avoided.
        var startedVendorCall = false
    }

    let providers: [String: any Provider]
    let store: any TaskStore
    let cache: AnswerCache
    let clock: any GatewayClock
    let metrics: GatewayMetrics?
    /// The linked-file keepers of the providers that mirror, by provider name.
    let mirrors: [String: ArtifactMirror]
    /// This process among the replicas sharing a store: the holder of its vendor-call leases.
    let replicaID = UUID().uuidString
    /// Tasks whose links could not be refreshed, and when the vendor may be asked again.
    private let refreshRetries = Mutex<[AnswerCache.Key: Date]>([:])
    /// Tasks this process saw turn final: what wakes its long polls at once.
    let turnedFinal = TaskChangeWatches()
    /// Long polls waiting now.
    let longPolls = Atomic<Int>(0)

    /// How long a long poll waits before asking again when its answer gives no time (stale, or a
    /// `status_ttl` of zero).
    static let longPollPause: Duration = .seconds(1)

    /// How long after a failed link refresh (the vendor forgot the task, or failed) the stored
    /// answer is served stale without asking again.
    static let refreshRetryInterval: TimeInterval = 60

    init(
        providers: [any Provider],
        store: any TaskStore,
        cacheBytes: Int = 64 << 20,
        clock: any GatewayClock,
        metrics: GatewayMetrics? = nil,
        mirrors: [String: ArtifactMirror] = [:]
    ) {
        self.providers = Dictionary(uniqueKeysWithValues: providers.map { ($0.name, $0) })
        self.store = store
        self.cache = AnswerCache(budget: cacheBytes, clock: clock)
        self.clock = clock
        self.metrics = metrics
        self.mirrors = mirrors
    }

    /// The provider and the canonical id a request names: 404 for a provider not configured,
    /// then 400 for an id it cannot have. Both doors (router, hot path) check in this order.
    func resolve(provider name: String, id rawID: String) throws(GatewayError) -> (provider: any Provider, id: String) {
        try Self.resolve(providers[name], named: name, id: rawID)
    }

    /// The same checks on `provider`, what a lookup of `name` found: for the hot path, which looks
    /// providers up in its own table.
    static func resolve(
        _ provider: (any Provider)?,
        named name: String,
        id rawID: String
    ) throws(GatewayError) -> (
        provider: any Provider, id: String
    ) {
        guard let provider else { throw GatewayError(.unknownProvider, "No provider named \(name) is configured.") }
        return (provider, try provider.validateID(rawID))
    }

    /// An answer served `UPDATING`: seconds since the vendor gave it, and whether this request
    /// began the vendor call in the background.
    struct Updating {
        var age: Int
        var startedVendorCall: Bool
    }

    /// A task's answer when it is at hand without waiting: fresh in memory, final in the store
    /// (which then goes into memory), or not final just past its TTL within `staleWindow` (served
    /// `UPDATING` while the vendor is asked in the background). The hot path answers with this on
    /// the event loop; nil sends the request the long way (`task`), as for a final answer whose
    /// links are due for a refresh. The store keeps gzip, so identity comes from memory only.
    /// - Parameters:
    ///   - linkMargin: the provider's `link_refresh_margin`, in seconds.
    ///   - staleWindow: the provider's `stale_while_revalidate`.
    ///   - logger: for the vendor call an `UPDATING` answer begins.
    func withAnswerAtHand<T: Sendable>(
        _ key: AnswerCache.Key,
        coding: ContentCoding,
        linkMargin: Double,
        staleWindow: Duration = .zero,
        logger: Logger,
        _ body: (_ bytes: UnsafeRawBufferPointer, _ validator: Validator, _ freshness: Freshness, _ updating: Updating?) -> T
    ) -> T? {
        if let written = cache.withFresh(key, coding: coding, linkMargin: linkMargin, { body($0, $1, $2, nil) }) { return written }
        if staleWindow > .zero, let provider = providers[key.provider],
            let (previous, starts) = cache.staleWhileRevalidating(key, window: staleWindow)
        {
            if starts { revalidateInBackground(provider, key: key, logger: logger) }
            guard let buffer = coding == .gzip ? previous.bytes.gzip : previous.bytes.identity else { return nil }
            let updating = Updating(age: max(0, Seconds.whole(clock.date.timeIntervalSince(previous.fetchedAt))), startedVendorCall: starts)
            return buffer.withUnsafeReadableBytes { body($0, previous.bytes.validator, .transient(maxAge: 0), updating) }
        }
        guard coding == .gzip, !cache.holdsNotFinal(key), let stored = store.finalAnswerNow(provider: key.provider, id: key.id),
            let freshness = Freshness.final(linksExpireAt: stored.bytes.linksExpireAt, margin: linkMargin, now: clock.date)
        else { return nil }
        cache.keep(stored.bytes, for: key)
        return stored.bytes.gzip.withUnsafeReadableBytes { body($0, stored.bytes.validator, freshness, nil) }
    }

    /// A vendor call that stands in for `Provider.fetchTask` (a list call already holds part of
    /// the answer).
    typealias Fetch = @Sendable (_ known: LastKnownStatus?) async throws(GatewayError) -> TaskRecord

    public func task(provider name: String, id rawID: String, logger: Logger) async throws(GatewayError) -> Served {
        try await task(provider: name, id: rawID, logger: logger, fetch: nil)
    }

    /// - Parameters:
    ///   - fetch: asks the vendor in place of `provider.fetchTask`, when the answer is neither in
    ///     memory nor final in the store.
    ///   - servesUpdating: whether a not-final answer just past its TTL may be served while the
    ///     vendor is asked in the background (`stale_while_revalidate`); a long poll waits instead.
    func task(
        provider name: String,
        id rawID: String,
        logger: Logger,
        fetch: Fetch?,
        servesUpdating: Bool = true
    ) async throws(GatewayError) -> Served {
        let (provider, id) = try resolve(provider: name, id: rawID)
        let key = AnswerCache.Key(provider: name, id: id)
        if let (answer, freshness) = cache.fresh(key, linkMargin: provider.linkRefreshMargin.seconds) {
            return Served(key: (name, id), answer: answer, cache: .hit, freshness: freshness)
        }
        if servesUpdating, fetch == nil, provider.staleWhileRevalidate > .zero,
            let (previous, starts) = cache.staleWhileRevalidating(key, window: provider.staleWhileRevalidate)
        {
            if starts { revalidateInBackground(provider, key: key, logger: logger) }
            let age = max(0, Seconds.whole(clock.date.timeIntervalSince(previous.fetchedAt)))
            return Served(
                key: (name, id),
                answer: previous.bytes,
                cache: .updating,
                freshness: .transient(maxAge: 0),
                age: age,
                startedVendorCall: starts
            )
        }
        let stored = try await store.answer(provider: name, id: id)
        if let stored, stored.isFinal {
            guard let freshness = finalFreshness(stored.bytes, provider) else {
                return await refreshLinks(provider, key: key, stored: stored, logger: logger)
            }
            cache.keep(stored.bytes, for: key)
            return Served(key: (name, id), answer: stored.bytes, cache: .hit, freshness: freshness)
        }
        let known = stored.map { LastKnownStatus(status: $0.status, vendorStatus: $0.vendorStatus, fetchedAt: $0.fetchedAt) }
        let ttl = provider.statusTTL
        let loaded: (answer: AnswerBytes, expires: Date?, coalesced: Bool)
        var answeredByOtherReplica = false
        do throws(GatewayError) {
            loaded = try await cache.load(key, ttl: ttl, linkMargin: provider.linkRefreshMargin.seconds) { () throws(GatewayError) -> EncodedAnswer in
                let (answer, byOtherReplica) = try await askVendor(provider, id: id, stored: stored, fetch: fetch, logger: logger)
                answeredByOtherReplica = byOtherReplica
                return answer
            }
        } catch  where error.kind == .taskBudgetExhausted {
            var error = error
            error.lastKnown = known
            throw error
        } catch  where error.kind.handling.servesStale {
            // The vendor failed; an earlier answer that is recent enough beats an error.
            guard provider.staleMax > .zero, let stored, !stored.isFinal,
                clock.date.timeIntervalSince(stored.fetchedAt) <= provider.staleMax.seconds
            else { throw error }
            let age = max(0, Seconds.whole(clock.date.timeIntervalSince(stored.fetchedAt)))
            logger.notice(
                "vendor failed; serving the last known answer",
                metadata: ["provider": "\(name)", "problem": "\(error.kind.rawValue)", "age_s": "\(age)"]
            )
            return Served(key: (name, id), answer: stored.bytes, cache: .stale, freshness: .transient(maxAge: 0), age: age)
        }
        let (answer, expires, coalesced) = loaded
        if answer.status.isFinal, !coalesced { turnedFinal.deliver(TaskChangeWatches.key(provider: name, id: id)) }
        let outcome: CacheOutcome = coalesced || answeredByOtherReplica ? .coalesced : .miss
        let freshness = expires.map { .transient(maxAge: secondsUntil($0)) } ?? finalFreshness(answer, provider) ?? .transient(maxAge: 0)
        return Served(key: (name, id), answer: answer, cache: outcome, freshness: freshness)
    }

    /// The vendor call for a task not final in the store (`stored`: its last known answer), made
    /// once for every caller: another replica's answer when it is asking or has just answered,
    /// otherwise the vendor's, its linked files kept when final, saved before it is returned.
    private func askVendor(
        _ provider: any Provider,
        id: String,
        stored: EncodedAnswer?,
        fetch: Fetch?,
        logger: Logger
    ) async throws(GatewayError) -> (answer: EncodedAnswer, byOtherReplica: Bool) {
        let name = provider.name
        // Another replica may be asking the vendor right now, or have just answered.
        if let shared = try await awaitOtherReplica(provider, id: id, stored: stored, usable: { $0.isFinal || isFresh($0, provider) }) {
            return (shared, true)
        }
        let known = stored.map { LastKnownStatus(status: $0.status, vendorStatus: $0.vendorStatus, fetchedAt: $0.fetchedAt) }
        var record: TaskRecord
        do throws(GatewayError) {
            record =
                if let fetch {
                    try await fetch(known)
                } else {
                    try await provider.fetchTask(id: id, known: known, logger: logger)
                }
        } catch {
            await store.releaseLease(provider: name, id: id, holder: replicaID)
            throw error
        }
        // Turning final: the files it links to are kept now, while its links work.
        let (answer, files) = try await encodeKeepingFiles(record, provider: provider, logger: logger)
        do throws(GatewayError) {
            try await store.save(answer)
            if let files { finishLateFiles(files, of: record, key: AnswerCache.Key(provider: name, id: id), logger: logger) }
        } catch {
            // Saving releases the lease; a failed save must too, or other replicas wait on it
            // until it expires.
            await store.releaseLease(provider: name, id: id, holder: replicaID)
            guard !answer.isFinal else { throw error }
            // The listing misses one status update; the caller still gets the answer.
            logger.warning("could not record a not-final status", metadata: ["provider": "\(name)"])
        }
        return (answer, false)
    }

    /// A record's answer, the files it links to kept first when it is final and its provider
    /// mirrors (`ArtifactMirror.keep`). When some are still being fetched at `mirror_timeout`,
    /// the answer lists those kept so far and is reusable only for as long as the rest may take;
    /// `finishLateFiles` replaces it once they are in.
    private func encodeKeepingFiles(
        _ record: TaskRecord,
        provider: any Provider,
        previously: [Artifact] = [],
        logger: Logger
    ) async throws(GatewayError) -> (EncodedAnswer, ArtifactMirror.KeptFiles?) {
        guard record.isFinal, let mirror = mirrors[provider.name] else { return (try EncodedAnswer(record: record), nil) }
        var record = record
        let files = await mirror.keep(record.result, previously: previously, logger: logger)
        record.artifacts = files.artifacts
        guard files.late != nil else { return (try EncodedAnswer(record: record), nil) }
        // Past the link margin a request would ask the vendor again: reusable for the bound only.
        let until = clock.date.addingTimeInterval(provider.linkRefreshMargin.seconds + files.lateBound.seconds + 1)
        return (try EncodedAnswer(record: record, reusableUntil: until), files)
    }

    /// Once the downloads still under way for a final answer end, replaces it with one listing the
    /// files they kept after those it lists (positions, and so hrefs, stay), reusable as long as
    /// its links are; in memory too.
    private func finishLateFiles(_ files: ArtifactMirror.KeptFiles, of record: TaskRecord, key: AnswerCache.Key, logger: Logger) {
        guard let late = files.late else { return }
        Task {
            var record = record
            record.artifacts = files.artifacts + (await late.value)
            do throws(GatewayError) {
                let answer = try EncodedAnswer(record: record)
                guard try await store.replaceFinal(answer) else { return }
                cache.keep(answer.bytes, for: key)
            } catch {
                logger.warning("files kept late could not be added to the answer", metadata: ["provider": "\(key.provider)"])
            }
        }
    }

    /// Asks the vendor again for a task whose not-final answer is being served `UPDATING`; the
    /// answer lands in memory for the next caller. A failure is left for the next caller to meet
    /// (its own call, then `stale_max`).
    private func revalidateInBackground(_ provider: any Provider, key: AnswerCache.Key, logger: Logger) {
        Task {
            do throws(GatewayError) {
                let answer = try await cache.revalidate(key, ttl: provider.statusTTL) { () throws(GatewayError) -> EncodedAnswer in
                    let stored = try await store.answer(provider: key.provider, id: key.id)
                    // Another process stored it final meanwhile.
                    if let stored, stored.isFinal { return stored }
                    return try await askVendor(provider, id: key.id, stored: stored, fetch: nil, logger: logger).answer
                }
                if answer.status.isFinal { turnedFinal.deliver(TaskChangeWatches.key(provider: key.provider, id: key.id)) }
            } catch {
                logger.notice(
                    "background refresh failed",
                    metadata: ["provider": "\(key.provider)", "problem": "\(error.kind.rawValue)"]
                )
            }
        }
    }

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
                    freshness: finalFreshness(stored.bytes, provider) ?? .transient(maxAge: 0)
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

    /// A final answer's freshness with the provider's margin; nil when its links are due.
    private func finalFreshness(_ answer: AnswerBytes, _ provider: any Provider) -> Freshness? {
        Freshness.final(linksExpireAt: answer.linksExpireAt, margin: provider.linkRefreshMargin.seconds, now: clock.date)
    }

    /// A final answer whose links are within the margin of expiring: the vendor is asked for the
    /// task again — once for every caller, within the rate limit and budgets — and the answer,
    /// its links signed afresh, replaces the stored one (`REFRESH`). When that cannot be had (the
    /// vendor forgot the task, failed, or changed its mind about the status) the stored answer is
    /// served `STALE`, its `linksExpireAt` saying how stale, and the vendor is not asked again
    /// for `refreshRetryInterval`.
    private func refreshLinks(_ provider: any Provider, key: AnswerCache.Key, stored: EncodedAnswer, logger: Logger) async -> Served {
        let stale = Served(key: (key.provider, key.id), answer: stored.bytes, cache: .stale, freshness: .transient(maxAge: 0))
        let now = clock.date
        if let retryAt = refreshRetries.withLock({ $0[key] }), retryAt > now { return stale }
        do throws(GatewayError) {
            let (answer, _, _) = try await cache.load(key, ttl: provider.statusTTL, linkMargin: provider.linkRefreshMargin.seconds) {
                () throws(GatewayError) -> EncodedAnswer in
                try await refreshedAnswer(provider, key: key, stored: stored, logger: logger)
            }
            return Served(
                key: (key.provider, key.id),
                answer: answer,
                cache: .refresh,
                freshness: finalFreshness(answer, provider) ?? .transient(maxAge: 0)
            )
        } catch {
            return stale
        }
    }

    /// The vendor call of a link refresh (one per task at a time, across replicas too), counted
    /// by outcome; a failure holds off the next try.
    private func refreshedAnswer(
        _ provider: any Provider,
        key: AnswerCache.Key,
        stored: EncodedAnswer,
        logger: Logger
    ) async throws(GatewayError) -> EncodedAnswer {
        let (name, id) = (key.provider, key.id)
        var outcome = "failed"
        defer { metrics?.linkRefresh(provider: name, outcome: outcome) }
        do throws(GatewayError) {
            let linksFresh = { (answer: EncodedAnswer) in answer.isFinal && self.finalFreshness(answer.bytes, provider) != nil }
            if let shared = try await awaitOtherReplica(provider, id: id, stored: stored, usable: linksFresh) {
                outcome = "shared"
                return shared
            }
            let record = try await provider.fetchTask(id: id, known: nil, logger: logger)
            guard record.status == stored.status else {
                outcome = "inconsistent"
                logger.warning(
                    "vendor inconsistency: a final task's status changed; the stored answer stays",
                    metadata: ["provider": "\(name)", "stored_status": "\(stored.status.rawValue)", "vendor_status": "\(record.status.rawValue)"]
                )
                throw GatewayError(.vendorBadAnswer, "The vendor answered another status for a final task.", provider: name)
            }
            // Files kept before stay kept; one that could not be kept then is tried again.
            let previously = mirrors[name] == nil ? [] : Artifact.listed(in: try stored.bytes.inflated())
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

    /// Single flight across replicas sharing a store: returns an answer another replica saved that
    /// is `usable` (fresh or final; for a link refresh, final with fresh links), or nil once this
    /// replica holds the task's lease and must ask the vendor itself. A holder that crashed loses
    /// its lease after the provider's `timeout` (and `mirror_timeout`, when it mirrors).
    /// - Parameter stored: the row as this request already read it (the first look).
    private func awaitOtherReplica(
        _ provider: any Provider,
        id: String,
        stored: EncodedAnswer?,
        usable: (EncodedAnswer) -> Bool
    ) async throws(GatewayError) -> EncodedAnswer? {
        guard store.isShared else { return nil }
        if let stored, usable(stored) { return stored }
        let name = provider.name
        // Watching starts before the first try for the lease: a holder that saves after a failed
        // try finds it contended and wakes this wait (one that saved before freed the lease).
        let changes = store.watchChanges(provider: name, id: id)
        defer { changes.end() }
        // A holder asks the vendor and, for a final answer of a provider that mirrors, downloads
        // the files it links to: its lease lasts that long. It ends on the gateway's clock; this
        // wait for another process is also bounded in real time, so a holder that never saves
        // cannot hold a caller for ever.
        let holds = provider.callTimeout + (mirrors[name]?.policy.timeout ?? .zero)
        let giveUp = ContinuousClock.now + holds
        while true {
            let until = clock.date.addingTimeInterval(holds.seconds)
            if try await store.acquireLease(provider: name, id: id, holder: replicaID, until: until, now: clock.date) {
                // The holder before may have saved between the look and the lease: serve that.
                guard let shared = try await sharedAnswer(provider, id: id, usable: usable) else { return nil }
                await store.releaseLease(provider: name, id: id, holder: replicaID)
                return shared
            }
            guard ContinuousClock.now < giveUp, !Task.isCancelled else {
                throw GatewayError(.vendorTimeout, "Another replica's call to the vendor for this task did not finish in time.", provider: name)
            }
            // Another replica is asking the vendor: its save (or release) wakes this wait; the
            // bound covers a lost notification and a holder's lease running out.
            await changes.next(orAfter: .milliseconds(250))
            if let shared = try await sharedAnswer(provider, id: id, usable: usable) { return shared }
        }
    }

    /// The stored answer when it is usable.
    private func sharedAnswer(_ provider: any Provider, id: String, usable: (EncodedAnswer) -> Bool) async throws(GatewayError) -> EncodedAnswer? {
        guard let stored = try await store.answer(provider: provider.name, id: id) else { return nil }
        return usable(stored) ? stored : nil
    }

    private func isFresh(_ answer: EncodedAnswer, _ provider: any Provider) -> Bool {
        clock.date.timeIntervalSince(answer.fetchedAt) < provider.statusTTL.seconds
    }

    /// Adds a task a vendor's list call names to a listing page as its single answer is (stored,
    /// or asked of the vendor once). One that cannot be had now (gone at the retention edge, the
    /// rate wait ran out) makes this page incomplete, not the listing.
    /// - Parameter status: the listing's status filter; a task in another status is left out.
    func appendListed(
        provider name: String,
        id: String,
        status: TaskStatus?,
        to page: inout TaskListPage,
        logger: Logger,
        fetch: Fetch? = nil
    ) async {
        do throws(GatewayError) {
            let answer = try await task(provider: name, id: id, logger: logger, fetch: fetch).answer
            if status == nil || answer.status == status { page.tasks.append(try answer.inflated()) }
        } catch {
            if page.incomplete == nil { page.incomplete = error }
        }
    }

    /// The JSON body of a task's answer, inflated at most once per answer held in memory.
    public func identityBody(of result: Served) throws(GatewayError) -> ByteBuffer {
        if let body = result.answer.identity { return body }
        let body = try result.answer.inflated()
        cache.keepIdentity(body, for: AnswerCache.Key(provider: result.key.provider, id: result.key.id))
        return body
    }

    private func secondsUntil(_ date: Date) -> Int {
        AnswerCache.secondsUntil(date, from: clock.date)
    }
}

extension Duration {
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
