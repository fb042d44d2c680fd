import Foundation
import Logging
import NIOCore

/// Answers `GET /tasks/{provider}/{id}`: memory, then the store, then one vendor call shared by
/// every concurrent caller. A final answer is committed to the store before it is returned.
public final class TaskService: Sendable {
    /// Where an answer came from, sent as `X-Cache`.
    public enum CacheOutcome: String, Sendable {
        case hit = "HIT"
        case miss = "MISS"
        case coalesced = "COALESCED"
        case stale = "STALE"
    }

    /// A task's answer as served: the bytes and where they came from.
    public struct Served: Sendable {
        /// The task, its id as the provider validated it.
        public var key: (provider: String, id: String)
        public var answer: AnswerBytes
        public var cache: CacheOutcome
        /// Seconds until taskgate would ask the vendor again; nil for a final answer.
        public var maxAge: Int?
        /// For a stale answer: seconds since the vendor gave it (the `Age` header).
        public var age: Int?
    }

    let providers: [String: any Provider]
    let store: any TaskStore
    let cache: AnswerCache
    let clock: any GatewayClock
    /// This process among the replicas sharing a store: the holder of its vendor-call leases.
    let replicaID = UUID().uuidString

    init(providers: [any Provider], store: any TaskStore, cacheBytes: Int = 64 << 20, clock: any GatewayClock) {
        self.providers = Dictionary(uniqueKeysWithValues: providers.map { ($0.name, $0) })
        self.store = store
        self.cache = AnswerCache(budget: cacheBytes, clock: clock)
        self.clock = clock
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

    /// A task's answer when it is at hand without waiting: fresh in memory, or final in the store
    /// (which then goes into memory). The hot path answers with this on the event loop; nil sends
    /// the request the long way (`task`). The store keeps gzip, so identity comes from memory only.
    func withAnswerAtHand<T: Sendable>(
        _ key: AnswerCache.Key,
        coding: ContentCoding,
        _ body: (_ bytes: UnsafeRawBufferPointer, _ validator: Validator, _ maxAge: Int?) -> T
    ) -> T? {
        if let written = cache.withFresh(key, coding: coding, body) { return written }
        guard coding == .gzip, !cache.holdsNotFinal(key), let stored = store.finalAnswerNow(provider: key.provider, id: key.id) else {
            return nil
        }
        cache.keep(stored.bytes, for: key)
        return stored.bytes.gzip.withUnsafeReadableBytes { body($0, stored.bytes.validator, nil) }
    }

    /// A vendor call that stands in for `Provider.fetchTask` (a list call already holds part of
    /// the answer).
    typealias Fetch = @Sendable (_ known: LastKnownStatus?) async throws(GatewayError) -> TaskRecord

    public func task(provider name: String, id rawID: String, logger: Logger) async throws(GatewayError) -> Served {
        try await task(provider: name, id: rawID, logger: logger, fetch: nil)
    }

    /// - Parameter fetch: asks the vendor in place of `provider.fetchTask`, when the answer is
    ///   neither in memory nor final in the store.
    func task(provider name: String, id rawID: String, logger: Logger, fetch: Fetch?) async throws(GatewayError) -> Served {
        let (provider, id) = try resolve(provider: name, id: rawID)
        let key = AnswerCache.Key(provider: name, id: id)
        if let (answer, expires) = cache.fresh(key) {
            return Served(key: (name, id), answer: answer, cache: .hit, maxAge: expires.map(secondsUntil))
        }
        let stored = try await store.answer(provider: name, id: id)
        if let stored, stored.isFinal {
            cache.keep(stored.bytes, for: key)
            return Served(key: (name, id), answer: stored.bytes, cache: .hit, maxAge: nil)
        }
        let known = stored.map { LastKnownStatus(status: $0.status, vendorStatus: $0.vendorStatus, fetchedAt: $0.fetchedAt) }
        let ttl = provider.statusTTL
        let loaded: (answer: AnswerBytes, expires: Date?, coalesced: Bool)
        var answeredByOtherReplica = false
        do throws(GatewayError) {
            loaded = try await cache.load(key, ttl: ttl) { () throws(GatewayError) -> EncodedAnswer in
                // Another replica may be asking the vendor right now, or have just answered.
                if let shared = try await awaitOtherReplica(provider, id: id, stored: stored) {
                    answeredByOtherReplica = true
                    return shared
                }
                let record: TaskRecord
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
                let answer = try EncodedAnswer(record: record)
                if answer.isFinal {
                    try await store.save(answer)
                } else {
                    do throws(GatewayError) {
                        try await store.save(answer)
                    } catch {
                        // The listing misses one status update; the caller still gets the answer.
                        logger.warning("could not record a not-final status", metadata: ["provider": "\(name)"])
                    }
                }
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
            let age = max(0, Int(clock.date.timeIntervalSince(stored.fetchedAt)))
            logger.notice(
                "vendor failed; serving the last known answer",
                metadata: ["provider": "\(name)", "problem": "\(error.kind.rawValue)", "age_s": "\(age)"]
            )
            return Served(key: (name, id), answer: stored.bytes, cache: .stale, maxAge: 0, age: age)
        }
        let (answer, expires, coalesced) = loaded
        let outcome: CacheOutcome = coalesced || answeredByOtherReplica ? .coalesced : .miss
        return Served(key: (name, id), answer: answer, cache: outcome, maxAge: expires.map(secondsUntil))
    }

    /// Single flight across replicas sharing a store: returns an answer another replica saved that
    /// is fresh (or final), or nil once this replica holds the task's lease and must ask the
    /// vendor itself. A holder that crashed loses its lease after the provider's `timeout`.
    /// - Parameter stored: the row as this request already read it (the first look).
    private func awaitOtherReplica(_ provider: any Provider, id: String, stored: EncodedAnswer?) async throws(GatewayError) -> EncodedAnswer? {
        guard store.isShared else { return nil }
        if let stored, stored.isFinal || isFresh(stored, provider) { return stored }
        let name = provider.name
        // Watching starts before the first try for the lease: a holder that saves after a failed
        // try finds it contended and wakes this wait (one that saved before freed the lease).
        let changes = store.watchChanges(provider: name, id: id)
        defer { changes.end() }
        // The holder's lease ends on the gateway's clock; this wait for another process is also
        // bounded in real time, so a holder that never saves cannot hold a caller for ever.
        let giveUp = ContinuousClock.now + provider.callTimeout
        while true {
            let until = clock.date.addingTimeInterval(provider.callTimeout.seconds)
            if try await store.acquireLease(provider: name, id: id, holder: replicaID, until: until, now: clock.date) {
                // The holder before may have saved between the look and the lease: serve that.
                guard let shared = try await sharedAnswer(provider, id: id) else { return nil }
                await store.releaseLease(provider: name, id: id, holder: replicaID)
                return shared
            }
            guard ContinuousClock.now < giveUp, !Task.isCancelled else {
                throw GatewayError(.vendorTimeout, "Another replica's call to the vendor for this task did not finish in time.", provider: name)
            }
            // Another replica is asking the vendor: its save (or release) wakes this wait; the
            // bound covers a lost notification and a holder's lease running out.
            await changes.next(orAfter: .milliseconds(250))
            if let shared = try await sharedAnswer(provider, id: id) { return shared }
        }
    }

    /// The stored answer when it is final or still fresh.
    private func sharedAnswer(_ provider: any Provider, id: String) async throws(GatewayError) -> EncodedAnswer? {
        guard let stored = try await store.answer(provider: provider.name, id: id) else { return nil }
        return stored.isFinal || isFresh(stored, provider) ? stored : nil
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
