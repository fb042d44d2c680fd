import DequeModule
import Foundation
import NIOCore
import Synchronization

/// The in-memory layer in front of the store: hot answers as ready-to-send bytes, and the vendor
/// calls in flight.
///
/// A not-final answer is reused until its TTL ends; a final one (from the vendor or the store)
/// stays until evicted. Memory is bounded in bytes; eviction is CLOCK (second chance), O(1) per
/// eviction. Requests for a task whose vendor call is under way wait for that call instead of
/// making their own (single flight), so a polling storm costs the vendor one call.
final class AnswerCache: Sendable {
    struct Key: Hashable, Sendable {
        var provider: String
        var id: String
    }

    /// A class, so a dictionary bucket holds a pointer rather than the whole answer.
    private final class Entry {
        var answer: EncodedAnswer
        let expires: Date?
        var referenced = false

        init(answer: EncodedAnswer, expires: Date?) {
            self.answer = answer
            self.expires = expires
        }
    }

    private enum Slot {
        case answer(Entry)
        case loading([CheckedContinuation<Outcome, Never>])
    }

    private enum Outcome {
        case answer(EncodedAnswer)
        case failed(GatewayError)
        case retry
    }

    private struct State {
        var slots: [Key: Slot] = [:]
        /// Keys holding answers, in CLOCK order.
        var clock: Deque<Key> = []
        var bytes = 0
    }

    private let state = Mutex(State())
    /// Bytes of answers kept at most (bodies plus a fixed overhead per entry).
    let budget: Int
    let now: @Sendable () -> Date

    /// Measured (bench/run.sh, RSS against entries held): dictionary bucket, entry object, ETag
    /// strings, clock slot, buffer headers and allocator slack per answer.
    static let entryOverhead = 480

    init(budget: Int = 64 << 20, now: @escaping @Sendable () -> Date) {
        self.budget = budget
        self.now = now
    }

    /// A cached answer still fresh, and when it stops being fresh (nil: final).
    func fresh(_ key: Key) -> (answer: EncodedAnswer, expires: Date?)? {
        let now = now()
        return state.withLock { state in
            guard case .answer(let entry)? = state.slots[key] else { return nil }
            if let expires = entry.expires, expires <= now { return nil }
            entry.referenced = true
            return (entry.answer, entry.expires)
        }
    }

    /// Keeps a final answer read from the store, so the next request touches neither SQLite nor zlib.
    func keep(_ answer: EncodedAnswer, for key: Key) {
        state.withLock { state in
            if case .loading? = state.slots[key] { return }
            insert(answer, expires: nil, for: key, into: &state)
        }
    }

    /// Adds the inflated body to a kept answer, so identity callers inflate once.
    func keepIdentity(_ body: ByteBuffer, for key: Key) {
        state.withLock { state in
            guard case .answer(let entry)? = state.slots[key], entry.answer.identityBody == nil else { return }
            entry.answer.identityBody = body
            state.bytes += body.capacity
            evictOverBudget(&state)
        }
    }

    /// Runs `load` unless a call for the same key is already under way, in which case this waits
    /// for that call's outcome. A not-final answer is kept `ttl` from when it was fetched; a
    /// final one until evicted.
    /// - Returns: the answer and whether this call shared another's vendor call.
    func load(
        _ key: Key,
        ttl: Duration,
        _ load: () async throws(GatewayError) -> EncodedAnswer
    ) async throws(GatewayError) -> (answer: EncodedAnswer, coalesced: Bool) {
        while true {
            let now = now()
            let (leads, fresh): (Bool, EncodedAnswer?) = state.withLock { state in
                switch state.slots[key] {
                case .loading?:
                    return (false, nil)
                case .answer(let entry)? where entry.expires.map { $0 > now } ?? true:
                    // Another call's vendor answer arrived while this caller was looking
                    // elsewhere (the store): share it rather than ask the vendor again.
                    return (false, entry.answer)
                default:
                    remove(key, from: &state)
                    state.slots[key] = .loading([])
                    return (true, nil)
                }
            }
            if let fresh { return (fresh, true) }
            if leads {
                let result: Result<EncodedAnswer, GatewayError>
                do throws(GatewayError) {
                    result = .success(try await load())
                } catch {
                    result = .failure(error)
                }
                let waiters = state.withLock { state in
                    guard case .loading(let waiters)? = state.slots[key] else { return [CheckedContinuation<Outcome, Never>]() }
                    state.slots[key] = nil
                    if case .success(let answer) = result {
                        insert(answer, expires: expiry(of: answer, ttl: ttl), for: key, into: &state)
                    }
                    return waiters
                }
                switch result {
                case .success(let answer):
                    for waiter in waiters { waiter.resume(returning: .answer(answer)) }
                    return (answer, false)
                case .failure(let error):
                    for waiter in waiters { waiter.resume(returning: .failed(error)) }
                    throw error
                }
            }
            let outcome = await withCheckedContinuation { (waiter: CheckedContinuation<Outcome, Never>) in
                let immediate: Outcome? = state.withLock { state in
                    switch state.slots[key] {
                    case .loading(var waiters)?:
                        waiters.append(waiter)
                        state.slots[key] = .loading(waiters)
                        return nil
                    case .answer(let entry)?:
                        return .answer(entry.answer)
                    case nil:
                        return .retry
                    }
                }
                if let immediate { waiter.resume(returning: immediate) }
            }
            switch outcome {
            case .answer(let answer): return (answer, true)
            case .failed(let error): throw error
            case .retry: continue
            }
        }
    }

    /// When a fresh answer stops being reused: never for a final one; `ttl` after it was fetched
    /// otherwise, but not in the past (a slow vendor call must not cache an expired answer).
    private func expiry(of answer: EncodedAnswer, ttl: Duration) -> Date? {
        guard !answer.isFinal else { return nil }
        return max(answer.fetchedAt.addingTimeInterval(ttl.seconds), now())
    }

    private func insert(_ answer: EncodedAnswer, expires: Date?, for key: Key, into state: inout State) {
        remove(key, from: &state)
        state.slots[key] = .answer(Entry(answer: answer, expires: expires))
        state.clock.append(key)
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
        while state.bytes > budget, let key = state.clock.popFirst() {
            guard case .answer(let entry)? = state.slots[key] else { continue }
            if entry.referenced {
                entry.referenced = false
                state.clock.append(key)
            } else {
                state.slots[key] = nil
                state.bytes -= Self.size(of: entry.answer)
            }
        }
        // Keys of removed entries pile up only until the clock passes them.
        if state.clock.count > 2 * max(state.slots.count, 1024) {
            state.clock = Deque(state.clock.filter { if case .answer? = state.slots[$0] { true } else { false } })
        }
    }

    private static func size(of answer: EncodedAnswer) -> Int {
        // Capacity, not length: NIO rounds every buffer up to a power of two.
        entryOverhead + answer.gzipBody.capacity + (answer.identityBody?.capacity ?? 0)
    }
}
