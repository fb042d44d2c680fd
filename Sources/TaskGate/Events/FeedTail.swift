import Foundation
import Logging
import NIOCore
import Synchronization

/// The feed's newest events, read from the store once for every stream of this process and kept
/// as ready-made server-sent event frames: a thousand streams woken by one event cost one store
/// read and one frame, not a thousand of each. A stream further behind than the window reads the
/// store itself (`EventFeed.stream`).
///
/// The window is every event in (`low`, `high`]: reading on after `high` in feed order misses
/// nothing, because positions commit in order on every backend.
final class FeedTail: Sendable {
    struct Entry: Sendable {
        var sequence: Int64
        var provider: String
        /// `id:`, `event:`, `data:` and the blank line (`EventFeed.serverSentEvent`).
        var frame: ByteBuffer
    }

    private struct State {
        var entries: [Entry] = []
        /// nil until the first read.
        var low: Int64?
        var high: Int64?
        var reading = false
        /// The last read failed: the window may be behind the store.
        var failed = false
        var waiters: [CheckedContinuation<Bool, Never>] = []
    }

    private let state = Mutex(State())
    private let log: any EventLog
    private let cursorKeys: CursorKeyring
    /// Every configured provider: the tail holds them all; streams filter.
    private let providers: [String]
    /// Entries kept.
    static let capacity = 2048
    /// Events per store read.
    static let batch = 500

    init(log: any EventLog, cursorKeys: CursorKeyring, providers: [String]) {
        self.log = log
        self.cursorKeys = cursorKeys
        self.providers = providers
    }

    /// The frames after `position` of `providers`, and the position they bring a stream to (the
    /// window's end: events of other providers are passed over). nil when the window does not
    /// reach back to `position`, or not yet up to it: read the store.
    func frames(after position: Int64, of providers: Set<String>) -> (frames: [ByteBuffer], next: Int64)? {
        state.withLock { state in
            guard let low = state.low, let high = state.high, low <= position, position <= high else { return nil }
            // The first entry after `position` (entries are in feed order).
            var (lower, upper) = (0, state.entries.count)
            while lower < upper {
                let middle = (lower + upper) / 2
                if state.entries[middle].sequence > position { upper = middle } else { lower = middle + 1 }
            }
            var frames: [ByteBuffer] = []
            for entry in state.entries[lower...] where providers.contains(entry.provider) { frames.append(entry.frame) }
            return (frames, high)
        }
    }

    /// Reads what the store has after the window, once however many streams ask at the same
    /// moment (the others wait for that read). False when the read failed: the window may be
    /// behind, and the caller reads the store itself (which reports the error).
    @discardableResult
    func refresh() async -> Bool {
        let reader = state.withLock { state -> Bool in
            if state.reading { return false }
            state.reading = true
            return true
        }
        guard reader else {
            return await withCheckedContinuation { (waiter: CheckedContinuation<Bool, Never>) in
                let done = state.withLock { state -> Bool? in
                    guard state.reading else { return !state.failed }
                    state.waiters.append(waiter)
                    return nil
                }
                if let done { waiter.resume(returning: done) }
            }
        }
        // Until a short page: a backlog larger than one read is not left for the next event.
        var current = false
        while let read = try? await read() {
            state.withLock { apply(read, to: &$0) }
            if read.entries.count < Self.batch {
                current = true
                break
            }
        }
        let waiters = state.withLock { state in
            state.reading = false
            state.failed = !current
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: current) }
        return current
    }

    private func read() async throws(GatewayError) -> (start: Int64, entries: [Entry]) {
        let key = try await cursorKeys.key()
        let position: EventPosition = state.withLock { $0.high }.map { .after($0) } ?? .end
        let page = try await log.events(after: position, providers: providers, limit: Self.batch)
        let entries = page.events.map { event in
            var bytes: [UInt8] = []
            EventFeed.serverSentEvent(event, key: key, into: &bytes)
            return Entry(sequence: event.sequence, provider: event.provider, frame: ByteBuffer(bytes: bytes))
        }
        return (page.start, entries)
    }

    private func apply(_ read: (start: Int64, entries: [Entry]), to state: inout State) {
        // Only a read that follows on from the window extends it (one reader at a time: it does).
        guard state.high == nil || state.high == read.start else { return }
        if state.low == nil { state.low = read.start }
        state.entries += read.entries
        state.high = read.entries.last?.sequence ?? read.start
        if state.entries.count > Self.capacity {
            let dropped = state.entries.count - Self.capacity
            state.low = state.entries[dropped - 1].sequence
            state.entries.removeFirst(dropped)
        }
    }
}
