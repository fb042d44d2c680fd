import Foundation
import Synchronization

/// The in-memory layer in front of the store: recent answers, and the vendor calls in flight.
///
/// A not-final answer is reused until its TTL ends; a final one until evicted. Requests for a
/// task whose vendor call is under way wait for that call instead of making their own
/// (single flight), so a polling storm costs the vendor one call.
final class AnswerCache: Sendable {
    struct Key: Hashable, Sendable {
        var provider: String
        var id: String
    }

    private enum Slot {
        case answer(EncodedAnswer, expires: Date?)
        case loading([CheckedContinuation<Outcome, Never>])
    }

    private enum Outcome {
        case answer(EncodedAnswer)
        case failed(GatewayError)
        case retry
    }

    private let slots = Mutex<[Key: Slot]>([:])
    /// Answers kept at most; loading slots are never evicted.
    let capacity: Int
    let now: @Sendable () -> Date

    init(capacity: Int = 10_000, now: @escaping @Sendable () -> Date) {
        self.capacity = capacity
        self.now = now
    }

    /// A cached answer still fresh, and when it stops being fresh (nil: final).
    func fresh(_ key: Key) -> (answer: EncodedAnswer, expires: Date?)? {
        let now = now()
        return slots.withLock { slots in
            guard case .answer(let answer, let expires)? = slots[key] else { return nil }
            if let expires, expires <= now { return nil }
            return (answer, expires)
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
            let leads = slots.withLock { slots in
                if case .loading? = slots[key] { return false }
                slots[key] = .loading([])
                return true
            }
            if leads {
                let result: Result<EncodedAnswer, GatewayError>
                do throws(GatewayError) {
                    result = .success(try await load())
                } catch {
                    result = .failure(error)
                }
                let waiters = slots.withLock { slots in
                    guard case .loading(let waiters)? = slots[key] else { return [CheckedContinuation<Outcome, Never>]() }
                    switch result {
                    case .success(let answer): slots[key] = .answer(answer, expires: expiry(of: answer, ttl: ttl))
                    case .failure: slots[key] = nil
                    }
                    if slots.count > capacity { evict(&slots, keeping: key) }
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
                let immediate: Outcome? = slots.withLock { slots in
                    switch slots[key] {
                    case .loading(var waiters)?:
                        waiters.append(waiter)
                        slots[key] = .loading(waiters)
                        return nil
                    case .answer(let answer, _)?:
                        return .answer(answer)
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

    /// Drops expired answers, then the oldest-fetched, down to 90% of capacity.
    private func evict(_ slots: inout [Key: Slot], keeping key: Key) {
        let now = now()
        slots = slots.filter { entry in
            if case .answer(_, let expires?) = entry.value, expires <= now, entry.key != key { return false }
            return true
        }
        let target = capacity * 9 / 10
        guard slots.count > target else { return }
        let victims = slots.compactMap { entry -> (Key, Date)? in
            guard case .answer(let answer, _) = entry.value, entry.key != key else { return nil }
            return (entry.key, answer.fetchedAt)
        }.sorted { $0.1 < $1.1 }.prefix(slots.count - target)
        for (victim, _) in victims { slots[victim] = nil }
    }
}
