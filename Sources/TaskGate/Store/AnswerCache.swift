import DequeModule
import Foundation
import NIOCore
import Synchronization

/// The in-memory layer in front of the store: hot answers as ready-to-send bytes, and the vendor
/// calls in flight.
///
/// A final answer (from the vendor or the store) is packed into ``PackedAnswers`` and stays until
/// evicted; a not-final one is reused until its TTL ends. Both are bounded in bytes, evicted by
/// CLOCK (second chance). Requests for a task whose vendor call is under way wait for that call
/// instead of making their own (single flight), so a polling storm costs the vendor one call.
final class AnswerCache: Sendable {
    struct Key: Hashable, Sendable {
        var provider: String
        var id: String
    }

    /// A not-final answer. A class, so a dictionary bucket holds a pointer rather than the whole
    /// answer.
    private final class Entry {
        let answer: EncodedAnswer
        let expires: Date
        var referenced = false

        init(answer: EncodedAnswer, expires: Date) {
            self.answer = answer
            self.expires = expires
        }
    }

    private enum Slot {
        case answer(Entry)
        /// A vendor call under way: its waiters, and the not-final answer before it (served
        /// meanwhile, ``staleWhileRevalidating(_:window:)``).
        case loading([CheckedContinuation<Outcome, Never>], previous: Entry?)
    }

    private enum Outcome {
        case answer(AnswerBytes, expires: Date?)
        case failed(GatewayError)
        case retry
    }

    private struct State {
        var finals: PackedAnswers
        /// Vendor calls under way and not-final answers.
        var slots: [Key: Slot] = [:]
        /// Keys holding not-final answers, in CLOCK order.
        var evictionOrder: Deque<Key> = []
        var bytes = 0
    }

    private let state: Mutex<State>
    /// Bytes of not-final answers kept at most (bodies plus a fixed overhead per entry). They
    /// live a TTL at most, so they get a small share of the memory budget.
    let transientBudget: Int
    let clock: any GatewayClock

    /// What holding one not-final answer costs beyond its bodies: dictionary bucket, entry
    /// object, clock slot, buffer headers and allocator slack.
    static let entryOverhead = 480

    /// - Parameter budget: bytes for final answers; not-final ones get an eighth of it on top.
    init(budget: Int = 64 << 20, clock: any GatewayClock) {
        self.state = Mutex(State(finals: PackedAnswers(budget: budget)))
        self.transientBudget = budget / 8
        self.clock = clock
    }

    /// Callers waiting for the vendor call in flight for `key` (tests watch a storm gather).
    func waiters(for key: Key) -> Int {
        state.withLock { state in
            if case .loading(let waiters, _)? = state.slots[key] { waiters.count } else { 0 }
        }
    }

    /// A fresh answer held in memory and for how long it stays fresh, under `policy`: a final
    /// one whose links are not due, or a not-final one within its TTL. Its bytes are read in place
    /// (``HeldAnswer/withBytes(_:_:)``), after the cache's lock is let go.
    func fresh(_ key: Key, policy: CachePolicy) -> (HeldAnswer, Freshness)? {
        let now = clock.date
        return state.withLock { state in
            if let held = state.finals.lookup(key) {
                return policy.finalFreshness(linksExpireAt: held.linksExpireAt, now: now).map { (.packed(held), $0) }
            }
            return Self.freshNotFinal(key, now: now, in: state).map {
                (.buffers($0.answer.bytes), policy.notFinalFreshness(expires: $0.expires, now: now))
            }
        }
    }

    /// Whether the task is known not to be final yet: a not-final answer is held or a vendor call
    /// is under way. The hot path then leaves the request to the router without reading the store.
    func holdsNotFinal(_ key: Key) -> Bool {
        state.withLock { $0.slots[key] != nil }
    }

    /// Keeps a final answer read from the store, so the next request touches neither SQLite nor
    /// zlib; it replaces one held with other links.
    func keep(_ answer: AnswerBytes, for key: Key) {
        state.withLock { state in
            if case .loading? = state.slots[key] { return }
            remove(key, from: &state)  // a not-final answer it replaces
            state.finals.insert(answer, for: key)
        }
    }

    /// Adds the inflated body to a kept answer, so identity callers inflate once.
    func keepIdentity(_ body: ByteBuffer, for key: Key) {
        state.withLock { state in state.finals.addIdentity(body, for: key) }
    }

    /// A not-final answer still within its TTL, marked as read.
    private static func freshNotFinal(_ key: Key, now: Date, in state: State) -> Entry? {
        guard case .answer(let entry)? = state.slots[key], entry.expires > now else { return nil }
        entry.referenced = true
        return entry
    }

    /// A final answer held in memory whose links are not due for a refresh, copied out of its slab.
    private static func final(_ key: Key, policy: CachePolicy, now: Date, in state: inout State) -> AnswerBytes? {
        guard let held = state.finals.lookup(key), policy.finalFreshness(linksExpireAt: held.linksExpireAt, now: now) != nil else {
            return nil
        }
        return HeldAnswer.packed(held).answerBytes
    }

    /// Runs `load` unless a call for the same key is already under way, in which case this waits
    /// for that call's outcome. A not-final answer is kept the policy's TTL from when it was
    /// fetched; a final one until evicted (or replaced, its links refreshed). A final answer held
    /// whose links are due is not shared: the call is for fresh ones.
    /// - Returns: the answer and whether this call shared another's vendor call.
    func load(
        _ key: Key,
        policy: CachePolicy,
        _ load: () async throws(GatewayError) -> EncodedAnswer
    ) async throws(GatewayError) -> (answer: AnswerBytes, expires: Date?, coalesced: Bool) {
        while true {
            let now = clock.date
            let (leads, fresh): (Bool, (AnswerBytes, Date?)?) = state.withLock { state in
                // Another call's vendor answer may have arrived while this caller was looking
                // elsewhere (the store): share it rather than ask the vendor again.
                if let final = Self.final(key, policy: policy, now: now, in: &state) { return (false, (final, nil)) }
                if let entry = Self.freshNotFinal(key, now: now, in: state) { return (false, (entry.answer.bytes, entry.expires)) }
                if case .loading? = state.slots[key] { return (false, nil) }
                remove(key, from: &state)
                state.slots[key] = .loading([], previous: nil)
                return (true, nil)
            }
            if let (answer, expires) = fresh { return (answer, expires, true) }
            if leads {
                let (answer, expires) = try await lead(key, policy: policy, load)
                return (answer, expires, false)
            }
            let outcome = await withCheckedContinuation { (waiter: CheckedContinuation<Outcome, Never>) in
                let immediate: Outcome? = state.withLock { state in
                    if let final = Self.final(key, policy: policy, now: now, in: &state) { return .answer(final, expires: nil) }
                    switch state.slots[key] {
                    case .loading(var waiters, let previous)?:
                        waiters.append(waiter)
                        state.slots[key] = .loading(waiters, previous: previous)
                        return nil
                    case .answer(let entry)?:
                        return .answer(entry.answer.bytes, expires: entry.expires)
                    case nil:
                        return .retry
                    }
                }
                if let immediate { waiter.resume(returning: immediate) }
            }
            switch outcome {
            case .answer(let answer, let expires): return (answer, expires, true)
            case .failed(let error): throw error
            case .retry: continue
            }
        }
    }

    /// Makes the call `load` for a key this caller holds `.loading`, keeps its answer and hands
    /// its outcome to every waiter.
    private func lead(
        _ key: Key,
        policy: CachePolicy,
        _ load: () async throws(GatewayError) -> EncodedAnswer
    ) async throws(GatewayError) -> (answer: AnswerBytes, expires: Date?) {
        let result: Result<EncodedAnswer, GatewayError>
        do throws(GatewayError) {
            result = .success(try await load())
        } catch {
            result = .failure(error)
        }
        // nil: final, kept until evicted.
        let expires: Date? =
            switch result {
            case .success(let answer) where !answer.isFinal: policy.expiry(fetchedAt: answer.fetchedAt, now: clock.date)
            default: nil
            }
        let waiters = state.withLock { state in
            guard case .loading(let waiters, _)? = state.slots[key] else { return [CheckedContinuation<Outcome, Never>]() }
            state.slots[key] = nil
            if case .success(let answer) = result {
                if let expires {
                    insert(answer, expires: expires, for: key, into: &state)
                } else {
                    state.finals.insert(answer.bytes, for: key)
                }
            }
            return waiters
        }
        switch result {
        case .success(let answer):
            for waiter in waiters { waiter.resume(returning: .answer(answer.bytes, expires: expires)) }
            return (answer.bytes, expires)
        case .failure(let error):
            for waiter in waiters { waiter.resume(returning: .failed(error)) }
            throw error
        }
    }

    /// A not-final answer past its TTL by at most the policy's `stale_while_revalidate`, to serve
    /// while one vendor call asks again in the background (nginx's `proxy_cache_use_stale
    /// updating`). `starts` is true for the one caller that must make that call, with
    /// ``revalidate(_:policy:_:)``; until it ends, others get the same answer (within the window)
    /// or wait for the call (``load``).
    func staleWhileRevalidating(_ key: Key, policy: CachePolicy) -> (answer: EncodedAnswer, starts: Bool)? {
        guard policy.staleWhileRevalidate > .zero else { return nil }
        let now = clock.date
        return state.withLock { state in
            switch state.slots[key] {
            case .answer(let entry)? where policy.mayRevalidateInBackground(expires: entry.expires, now: now):
                remove(key, from: &state)
                state.slots[key] = .loading([], previous: entry)
                return (entry.answer, true)
            case .loading(_, let previous?)? where policy.mayRevalidateInBackground(expires: previous.expires, now: now):
                return (previous.answer, false)
            default:
                return nil
            }
        }
    }

    /// The vendor call a caller of ``staleWhileRevalidating(_:policy:)`` was told to start.
    func revalidate(_ key: Key, policy: CachePolicy, _ load: () async throws(GatewayError) -> EncodedAnswer) async throws(GatewayError) -> AnswerBytes
    {
        try await lead(key, policy: policy, load).answer
    }

    /// Ends a vendor call a caller was told to start and cannot make (the process is stopping):
    /// its waiters get `error`, and the next caller starts its own.
    func abandon(_ key: Key, with error: GatewayError) {
        let waiters = state.withLock { state -> [CheckedContinuation<Outcome, Never>] in
            guard case .loading(let waiters, _)? = state.slots[key] else { return [] }
            state.slots[key] = nil
            return waiters
        }
        for waiter in waiters { waiter.resume(returning: .failed(error)) }
    }

    private func insert(_ answer: EncodedAnswer, expires: Date, for key: Key, into state: inout State) {
        remove(key, from: &state)
        state.slots[key] = .answer(Entry(answer: answer, expires: expires))
        state.evictionOrder.append(key)
        state.bytes += Self.size(of: answer)
        evictOverBudget(&state)
    }

    private func remove(_ key: Key, from state: inout State) {
        guard case .answer(let entry)? = state.slots[key] else { return }
        state.slots[key] = nil
        state.bytes -= Self.size(of: entry.answer)
        // Its key stays in the clock until reached; a stale key is skipped there.
    }

    /// CLOCK: a referenced entry gets a second chance, an unreferenced one goes.
    private func evictOverBudget(_ state: inout State) {
        while state.bytes > transientBudget, let key = state.evictionOrder.popFirst() {
            guard case .answer(let entry)? = state.slots[key] else { continue }
            if entry.referenced {
                entry.referenced = false
                state.evictionOrder.append(key)
            } else {
                state.slots[key] = nil
                state.bytes -= Self.size(of: entry.answer)
            }
        }
        // Every fresh answer for a key appends the key again; the keys of replaced and removed
        // answers pile up only until the clock passes them or this compaction (each key held
        // once after it, so it runs once per as many inserts as answers held: a task polled
        // for hours must not grow the clock, nor make every insert walk it).
        if state.evictionOrder.count > 2 * max(state.slots.count, 1024) {
            var seen = Set<Key>(minimumCapacity: state.slots.count)
            state.evictionOrder = Deque(
                state.evictionOrder.filter { key in
                    guard case .answer? = state.slots[key] else { return false }
                    return seen.insert(key).inserted
                }
            )
        }
    }

    /// Keys in the eviction clock (tests: it stays within a small multiple of the answers held).
    var clockLength: Int { state.withLock { $0.evictionOrder.count } }

    private static func size(of answer: EncodedAnswer) -> Int {
        // Capacity, not length: NIO rounds every buffer up to a power of two.
        entryOverhead + answer.bytes.gzip.capacity + (answer.bytes.identity?.capacity ?? 0)
    }
}
