import Foundation
import Logging
import NIOCore
import Synchronization
import Tracing

/// Answers `GET /tasks/{provider}/{id}`: one lookup (memory, then the store) under the provider's
/// ``CachePolicy``, then one vendor call shared by every concurrent caller. A final answer is
/// committed to the store before it is returned.
///
/// The concerns around it live beside it: the long poll (`TaskService+LongPoll.swift`), link
/// refresh (`+LinkRefresh`), the lease shared with other replicas (`+ReplicaLease`), kept files
/// (`+KeptFiles`) and background revalidation (`+Revalidation`).
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

    /// What the lookup finds for a task, before any vendor call.
    enum Lookup {
        /// Fresh in memory.
        case fresh(HeldAnswer, Freshness)
        /// Not final and just past its TTL: served while one vendor call asks again in the
        /// background (`startedVendorCall`: this lookup began that call).
        case updating(HeldAnswer, age: Int, startedVendorCall: Bool)
        /// Final in the store, its links good; now held in memory too.
        case storedFinal(HeldAnswer, Freshness)
        /// Only the vendor can answer. `stored` is the last answer known (a final one: its links
        /// are due).
        case needsVendor(stored: EncodedAnswer?)
    }

    let providers: [String: ServedProvider]
    /// The answers, and the leases that make one vendor call per task across replicas.
    let store: any AnswerStore & ReplicaLeases
    let cache: AnswerCache
    let clock: any GatewayClock
    let metrics: GatewayMetrics?
    /// The receivers told of a task turning final: their outbox events are saved with its row.
    let webhooks: WebhookRoutes
    /// Runs what a request starts and does not wait for.
    let background: BackgroundWork
    /// This process among the replicas sharing a store: the holder of its vendor-call leases.
    let replicaID = UUID().uuidString
    /// Tasks whose links could not be refreshed, and when the vendor may be asked again.
    let refreshRetries = Mutex<[AnswerCache.Key: Date]>([:])
    /// Tasks this process saw turn final: what wakes its long polls at once.
    let turnedFinal = TaskChangeWatches()
    /// Long polls waiting now.
    let longPolls = Atomic<Int>(0)
    /// nil when tracing is off.
    let tracer: GatewayTracer?

    init(
        providers: [ServedProvider],
        store: any AnswerStore & ReplicaLeases,
        cacheBytes: Int = 64 << 20,
        clock: any GatewayClock,
        metrics: GatewayMetrics? = nil,
        webhooks: WebhookRoutes = .none,
        background: BackgroundWork,
        tracer: GatewayTracer? = nil
    ) {
        self.tracer = tracer
        self.providers = Dictionary(uniqueKeysWithValues: providers.map { ($0.name, $0) })
        self.store = store
        self.cache = AnswerCache(budget: cacheBytes, clock: clock)
        self.clock = clock
        self.metrics = metrics
        self.webhooks = webhooks
        self.background = background
    }

    /// The provider and the canonical id a request names: 404 for a provider not configured,
    /// then 400 for an id it cannot have. Both doors (router, hot path) check in this order.
    func resolve(provider name: String, id rawID: String) throws(GatewayError) -> (provider: ServedProvider, id: String) {
        try Self.resolve(providers[name], named: name, id: rawID)
    }

    /// The same checks on `provider`, what a lookup of `name` found: for the hot path, which looks
    /// providers up in its own table.
    static func resolve(
        _ provider: ServedProvider?,
        named name: String,
        id rawID: String
    ) throws(GatewayError) -> (
        provider: ServedProvider, id: String
    ) {
        guard let provider else { throw GatewayError(.unknownProvider, "No provider named \(name) is configured.") }
        return (provider, try provider.provider.validateID(rawID))
    }

    /// The one lookup both doors make, without waiting: memory (fresh, then — when
    /// `servesUpdating` — a not-final answer within `stale_while_revalidate`, its vendor call
    /// begun in the background), then, when `readsStoreNow`, a final answer the store has at
    /// hand. nil: only the store's own read can tell.
    func lookup(_ key: AnswerCache.Key, in provider: ServedProvider, servesUpdating: Bool, readsStoreNow: Bool, logger: Logger) -> Lookup? {
        let policy = provider.policy
        if let (held, freshness) = cache.fresh(key, policy: policy) { return .fresh(held, freshness) }
        if servesUpdating, let (previous, starts) = cache.staleWhileRevalidating(key, policy: policy) {
            if starts { revalidateInBackground(provider, key: key, logger: logger) }
            let age = CachePolicy.age(fetchedAt: previous.fetchedAt, now: clock.date)
            return .updating(.buffers(previous.bytes), age: age, startedVendorCall: starts)
        }
        // A task memory knows is not final yet is not looked for final in the store.
        guard readsStoreNow, !cache.holdsNotFinal(key), let stored = store.finalAnswerNow(provider: key.provider, id: key.id) else { return nil }
        return found(stored, key: key, policy: policy)
    }

    /// The lookup, with the store's read when memory cannot tell.
    func lookup(_ key: AnswerCache.Key, in provider: ServedProvider, servesUpdating: Bool, logger: Logger) async throws(GatewayError) -> Lookup {
        if let found = lookup(key, in: provider, servesUpdating: servesUpdating, readsStoreNow: false, logger: logger) { return found }
        return found(try await store.answer(provider: key.provider, id: key.id), key: key, policy: provider.policy)
    }

    /// What the store's row means: a final answer with good links is served (and kept in memory);
    /// anything else needs the vendor.
    private func found(_ stored: EncodedAnswer?, key: AnswerCache.Key, policy: CachePolicy) -> Lookup {
        guard let stored, stored.isFinal, let freshness = policy.finalFreshness(linksExpireAt: stored.bytes.linksExpireAt, now: clock.date) else {
            return .needsVendor(stored: stored)
        }
        cache.keep(stored.bytes, for: key)
        return .storedFinal(.buffers(stored.bytes), freshness)
    }

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
        fetch: VendorFetch?,
        servesUpdating: Bool = true
    ) async throws(GatewayError) -> Served {
        let (provider, id) = try resolve(provider: name, id: rawID)
        let key = AnswerCache.Key(provider: name, id: id)
        switch try await lookup(key, in: provider, servesUpdating: servesUpdating && fetch == nil, logger: logger) {
        case .fresh(let held, let freshness), .storedFinal(let held, let freshness):
            return Served(key: (name, id), answer: held.answerBytes, cache: .hit, freshness: freshness)
        case .updating(let held, let age, let started):
            return Served(
                key: (name, id),
                answer: held.answerBytes,
                cache: .updating,
                freshness: .transient(maxAge: 0),
                age: age,
                startedVendorCall: started
            )
        case .needsVendor(let stored?) where stored.isFinal:
            return await refreshLinks(provider, key: key, stored: stored, logger: logger)
        case .needsVendor(let stored):
            return try await answerFromVendor(provider, key: key, stored: stored, fetch: fetch, logger: logger)
        }
    }

    /// One vendor call for every caller asking now (single flight); when the vendor fails, an
    /// earlier answer the policy allows (`stale_max`) stands in.
    private func answerFromVendor(
        _ provider: ServedProvider,
        key: AnswerCache.Key,
        stored: EncodedAnswer?,
        fetch: VendorFetch?,
        logger: Logger
    ) async throws(GatewayError) -> Served {
        let policy = provider.policy
        let loaded: (answer: AnswerBytes, expires: Date?, coalesced: Bool)
        var answeredByOtherReplica = false
        do throws(GatewayError) {
            loaded = try await cache.load(key, policy: policy) { () throws(GatewayError) -> EncodedAnswer in
                let (answer, byOtherReplica) = try await askVendor(provider, id: key.id, stored: stored, fetch: fetch, logger: logger)
                answeredByOtherReplica = byOtherReplica
                return answer
            }
        } catch  where error.kind == .taskBudgetExhausted {
            var error = error
            error.lastKnown = stored.map(LastKnownStatus.init)
            throw error
        } catch  where error.kind.handling.servesStale {
            // The vendor failed; an earlier answer that is recent enough beats an error.
            guard let stored, !stored.isFinal, policy.mayServeStale(fetchedAt: stored.fetchedAt, now: clock.date) else { throw error }
            let age = CachePolicy.age(fetchedAt: stored.fetchedAt, now: clock.date)
            logger.notice(
                "vendor failed; serving the last known answer",
                metadata: ["provider": "\(key.provider)", "problem": "\(error.kind.rawValue)", "age_s": "\(age)"]
            )
            return Served(key: (key.provider, key.id), answer: stored.bytes, cache: .stale, freshness: .transient(maxAge: 0), age: age)
        }
        let (answer, expires, coalesced) = loaded
        if answer.status.isFinal, !coalesced { turnedFinal.deliver(TaskChangeWatches.key(provider: key.provider, id: key.id)) }
        let outcome: CacheOutcome = coalesced || answeredByOtherReplica ? .coalesced : .miss
        let now = clock.date
        let freshness =
            expires.map { policy.notFinalFreshness(expires: $0, now: now) }
            ?? policy.finalFreshness(linksExpireAt: answer.linksExpireAt, now: now) ?? .transient(maxAge: 0)
        return Served(key: (key.provider, key.id), answer: answer, cache: outcome, freshness: freshness)
    }

    /// The vendor call for a task not final in the store (`stored`: its last known answer), made
    /// once for every caller: another replica's answer when it is asking or has just answered,
    /// otherwise the vendor's, its linked files kept when final, saved before it is returned.
    func askVendor(
        _ provider: ServedProvider,
        id: String,
        stored: EncodedAnswer?,
        fetch: VendorFetch?,
        logger: Logger
    ) async throws(GatewayError) -> (answer: EncodedAnswer, byOtherReplica: Bool) {
        let name = provider.name
        let usable = { (answer: EncodedAnswer) in answer.isFinal || provider.policy.isFresh(fetchedAt: answer.fetchedAt, now: self.clock.date) }
        if let shared = try await awaitOtherReplica(provider, id: id, stored: stored, usable: usable) {
            return (shared, true)
        }
        let known = stored.map(LastKnownStatus.init)
        let record: TaskRecord
        do throws(GatewayError) {
            let ask = { () async -> Result<TaskRecord, GatewayError> in
                do throws(GatewayError) {
                    if let fetch { return .success(try await fetch(known)) }
                    return .success(try await provider.provider.fetchTask(id: id, known: known, logger: logger))
                } catch {
                    return .failure(error)
                }
            }
            // Asked for no request (a watch round, a revalidation in the background): a trace of
            // its own, linked to the task's first request.
            record =
                try await ServiceContext.current == nil
                ? tracer.withTaskSpan(
                    "follow task",
                    linkedTo: stored?.traceParent,
                    attributes: ["taskgate.provider": .string(name), "taskgate.task.id": .string(id)],
                    ask
                ).get()
                : ask().get()
        } catch {
            await store.releaseLease(provider: name, id: id, holder: replicaID)
            throw error
        }
        // Turning final: the files it links to are kept now, while its links work.
        var (answer, files) = try await encodeKeepingFiles(record, provider: provider, logger: logger)
        // The row keeps the first request's trace: the store does not replace one it has.
        answer.traceParent = stored?.traceParent ?? tracer?.currentTraceparent()
        do throws(GatewayError) {
            let event = try webhooks.event(for: answer)
            if try await store.save(answer, event: event), let event { metrics?.eventWritten(type: event.type) }
            if let files { finishLateFiles(files, of: record, key: AnswerCache.Key(provider: name, id: id), logger: logger) }
        } catch {
            // Saving releases the lease; a failed save must too, or other replicas wait on it
            // until it expires.
            await store.releaseLease(provider: name, id: id, holder: replicaID)
            // A final answer never stored must not be served: it would be cached as immutable
            // with no webhook event and no row.
            guard !answer.isFinal else { throw error }
            // The listing misses one status update; the caller still gets the answer.
            logger.warning("could not record a not-final status", metadata: ["provider": "\(name)"])
        }
        return (answer, false)
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
        fetch: VendorFetch? = nil
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
}

extension LastKnownStatus {
    init(_ answer: EncodedAnswer) {
        self.init(status: answer.status, vendorStatus: answer.vendorStatus, fetchedAt: answer.fetchedAt)
    }
}
