import Foundation
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// `GET /events`: pages of the task event feed, and the same feed as server-sent events, read
/// from the store (`EventLog`) so every replica serves the same events in the same order.
final class EventFeed: Sendable {
    let log: any EventLog
    let cursorKeys: CursorKeyring
    let clock: any GatewayClock
    /// The comment an idle stream sends this often (`events_heartbeat`).
    let heartbeat: Duration
    /// `limits.max_streams`.
    let maxStreams: Int
    let metrics: GatewayMetrics?
    let logger: Logger
    /// The newest events, read once for all of this process's streams.
    let tail: FeedTail
    private let openStreams = Atomic<Int>(0)

    /// Events per page and per stream read.
    static let limits = 1...500
    static let defaultLimit = 100

    init(
        log: any EventLog,
        providers: [String],
        cursorKeys: CursorKeyring,
        clock: any GatewayClock,
        heartbeat: Duration,
        maxStreams: Int,
        metrics: GatewayMetrics?,
        logger: Logger
    ) {
        self.log = log
        self.cursorKeys = cursorKeys
        self.clock = clock
        self.heartbeat = heartbeat
        self.maxStreams = maxStreams
        self.metrics = metrics
        self.logger = logger
        tail = FeedTail(log: log, cursorKeys: cursorKeys, providers: providers)
    }

    /// Streams open now.
    var streams: Int { openStreams.load(ordering: .relaxed) }

    /// A read of the feed: where, whose, how many.
    struct Query: Sendable, Equatable {
        var position: EventPosition
        /// The providers whose events are read (empty: none, e.g. a type filter nothing matches).
        var providers: [String]
        var limit: Int
    }

    /// One page read: its events in order, and the position after the last (the same position
    /// when there is nothing new).
    struct Page: Sendable {
        /// The position read after (`Query.position` resolved).
        var start: Int64
        var events: [StoredEvent]
        var next: Int64
    }

    /// Reads a page.
    /// - Throws: `events-expired` (410) when events after the position have been trimmed.
    func page(_ query: Query) async throws(GatewayError) -> Page {
        let read = try await log.events(after: query.position, providers: query.providers, limit: query.limit)
        if case .after(let position) = query.position, position < read.trimmedThrough {
            throw GatewayError(
                .eventsExpired,
                "Events after this cursor are no longer kept (events_retention); start again without after, or with after=now."
            )
        }
        return Page(start: read.start, events: read.events, next: read.events.last?.sequence ?? read.start)
    }

    /// The JSON page: `{"events": [...], "next": "<cursor>"}`.
    func pageJSON(_ page: Page) async throws(GatewayError) -> ByteBuffer {
        let key = try await cursorKeys.key()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(page.events.reduce(64) { $0 + $1.payload.readableBytes + 64 })
        bytes.append(contentsOf: #"{"events":["#.utf8)
        for (index, event) in page.events.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            event.appendJSON(to: &bytes)
        }
        bytes.append(contentsOf: #"],"next":"#.utf8)
        JSONWriter.appendQuoted(EventCursor(sequence: page.next).sealed(with: key), to: &bytes)
        bytes.append(UInt8(ascii: "}"))
        return ByteBuffer(bytes: bytes)
    }

    /// One event as a server-sent event: `id:` the cursor after it, `event:` its type, `data:` its
    /// JSON (one line; a line break in it, which taskgate's JSON never has, would start another
    /// `data:` line, which the client joins back).
    static func serverSentEvent(_ event: StoredEvent, key: CursorKey, into bytes: inout [UInt8]) {
        bytes.append(contentsOf: "id: ".utf8)
        bytes.append(contentsOf: EventCursor(sequence: event.sequence).sealed(with: key).utf8)
        bytes.append(contentsOf: "\nevent: ".utf8)
        bytes.append(contentsOf: event.type.utf8)
        var json: [UInt8] = []
        event.appendJSON(to: &json)
        for line in json.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            bytes.append(contentsOf: "\ndata: ".utf8)
            bytes.append(contentsOf: line)
        }
        bytes.append(contentsOf: "\n\n".utf8)
    }

    static let heartbeatComment = ByteBuffer(string: ": heartbeat\n\n")

    /// A place among the open streams, given back when the stream's body is gone (written out,
    /// or never written: a HEAD, a caller gone before the body began).
    final class StreamSlot: Sendable {
        private let feed: EventFeed
        fileprivate init(_ feed: EventFeed) { self.feed = feed }
        deinit { feed.openStreams.subtract(1, ordering: .relaxed) }
    }

    /// Takes a place among the open streams.
    /// - Throws: `too-many-streams` (503) past `limits.max_streams`.
    func openStream() throws(GatewayError) -> StreamSlot {
        let (_, taken) = openStreams.add(1, ordering: .relaxed)
        guard taken <= maxStreams else {
            openStreams.subtract(1, ordering: .relaxed)
            throw GatewayError(.tooManyStreams, "This replica has \(maxStreams) event streams open (limits.max_streams); try again shortly.")
        }
        return StreamSlot(self)
    }

    /// Writes the feed's events after `start` as they are written, until the caller goes, the
    /// process shuts down (the stream ends cleanly between events: the caller resumes with its
    /// last id, here or on another replica), or the feed is trimmed past it.
    func stream(
        after start: Int64,
        providers: [String],
        to writer: inout any ResponseBodyWriter,
        closure: ConnectionClosure?
    ) async throws {
        let key = try await cursorKeys.key()
        let watch = TaskChangeWatch()
        // Watching before the first read: an event committed between the read and the wait wakes it.
        log.watchEvents(with: watch)
        defer { watch.end() }
        let closed = closure?.onClose { watch.interrupt() }
        defer { if let closed { closure?.remove(closed) } }
        try await withGracefulShutdownHandler {
            // One timer per stream for the heartbeat, not one per wait: a stream woken for every
            // event would otherwise leave a cancelled timer behind each time until its deadline.
            let heartbeatDue = HeartbeatDue()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { [clock, heartbeat] in
                    while !Task.isCancelled {
                        try? await clock.sleep(for: heartbeat)
                        heartbeatDue.flag.store(true, ordering: .relaxed)
                        watch.wake()
                    }
                }
                defer { group.cancelAll() }
                var position = start
                let scope = Set(providers)
                // A stream reads the store until it has caught up, then takes the shared tail's
                // frames; one that falls behind the tail's window reads the store again.
                var fromStore = true
                while true {
                    if !fromStore, let (frames, next) = tail.frames(after: position, of: scope) {
                        if frames.count == 1 {
                            try await writer.write(frames[0])
                        } else if !frames.isEmpty {
                            var buffer = ByteBuffer()
                            buffer.reserveCapacity(frames.reduce(0) { $0 + $1.readableBytes })
                            for var frame in frames { buffer.writeBuffer(&frame) }
                            try await writer.write(buffer)
                        }
                        position = next
                    } else {
                        let read: Page?
                        do throws(GatewayError) {
                            read = try await self.page(Query(position: .after(position), providers: providers, limit: Self.defaultLimit))
                        } catch  where error.kind == .eventsExpired {
                            logger.notice("event stream fell behind the feed's retention; ended")
                            return
                        } catch {
                            // The store will be back (a PostgreSQL restart): the stream stays open
                            // and reads again when woken — by the listener coming back (it wakes
                            // every watch), an event, or the next heartbeat.
                            read = nil
                        }
                        if let read {
                            if !read.events.isEmpty {
                                var bytes: [UInt8] = []
                                for event in read.events { Self.serverSentEvent(event, key: key, into: &bytes) }
                                try await writer.write(ByteBuffer(bytes: bytes))
                                position = read.next
                                if read.events.count == Self.defaultLimit { continue }
                            }
                            fromStore = false
                        }
                    }
                    guard await watch.nextChange() == .changed else { return }
                    if heartbeatDue.flag.exchange(false, ordering: .relaxed) {
                        try await writer.write(Self.heartbeatComment)
                    } else if await !tail.refresh() {
                        fromStore = true
                    }
                }
            }
        } onGracefulShutdown: {
            watch.interrupt()
        }
    }
}

/// A stream's heartbeat timer has fired since the stream last looked.
private final class HeartbeatDue: Sendable {
    let flag = Atomic<Bool>(false)
}
