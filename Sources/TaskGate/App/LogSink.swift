import Foundation
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Log lines on their way to a file (stdout), the way nginx writes `access_log … buffer= flush=`:
/// rendered into one buffer and written in batches by a thread of their own — when the batch
/// reaches `flushBytes`, at most `flushInterval` after a line, and at `flush()` (shutdown) — so a
/// request costs no write system call. A line is rendered in its thread's own scratch buffer and
/// only copied into the batch under the lock, so the event loops do not queue for each other
/// while rendering. `flush(then:)` writes a line at once, after everything before it. Bounded:
/// while the file does not take bytes (a blocked pipe), lines past `capacity` are dropped and
/// counted (`droppedLines`), never queued without end.
public final class LogSink: @unchecked Sendable {
    /// Standard output, where taskgate's JSON lines go.
    public static let standardOutput = LogSink(fileDescriptor: STDOUT_FILENO)

    private let fileDescriptor: Int32
    private let flushBytes: Int
    private let flushInterval: TimeInterval
    private let capacity: Int

    /// The lines not yet written. A `Mutex` (which spins briefly before it sleeps): a line is
    /// added in the time of one copy, so the event loops seldom wait for each other.
    private let batch: Mutex<Batch>
    /// Wakes the writer when a batch is full or the sink closes.
    private let due = NSCondition()

    private struct Batch {
        var filling: [UInt8] = []
        var lines = 0
        /// The previous batch's storage, kept to be filled again.
        var spare: [UInt8] = []
        var writerStarted = false
        var closed = false
    }

    /// Held from taking a batch until it is written, so batches reach the file in order.
    private let writing = NSLock()
    private let dropped = Atomic<Int>(0)

    public init(fileDescriptor: Int32, flushBytes: Int = 64 << 10, flushInterval: Duration = .seconds(1), capacity: Int = 1 << 20) {
        self.fileDescriptor = fileDescriptor
        self.flushBytes = flushBytes
        self.flushInterval = flushInterval.seconds
        self.capacity = capacity
        var batch = Batch()
        batch.filling.reserveCapacity(flushBytes + 4096)
        self.batch = Mutex(batch)
    }

    /// Lines dropped since the start: the file did not take them (blocked past `capacity`, or
    /// failing).
    public var droppedLines: Int { dropped.load(ordering: .relaxed) }

    /// Renders one line (its newline included) and adds it to the batch; `render` is also given
    /// the time now in the log's format, made once a second.
    func append(_ render: (inout [UInt8], _ time: inout LogTime) -> Void) {
        let scratch = Scratch.current
        scratch.line.removeAll(keepingCapacity: true)
        render(&scratch.line, &scratch.time)
        append(line: scratch.line)
    }

    /// Adds one rendered line (its newline included) to the batch.
    func append(line: [UInt8]) {
        let (startsWriter, added, filled) = batch.withLock { batch -> (Bool, Bool, Bool) in
            let startsWriter = !batch.writerStarted && !batch.closed
            if startsWriter { batch.writerStarted = true }
            guard batch.filling.count < capacity else { return (startsWriter, false, false) }
            let wasShort = batch.filling.count < flushBytes
            batch.filling.append(contentsOf: line)
            batch.lines += 1
            return (startsWriter, true, wasShort && batch.filling.count >= flushBytes)
        }
        if startsWriter { startWriter() }
        if !added { dropped.add(1, ordering: .relaxed) }
        if filled { wakeWriter() }
    }

    /// Writes everything buffered, then `line` if any, before returning.
    public func flush(then line: [UInt8] = []) {
        writing.lock()
        defer { writing.unlock() }
        var (batch, lines) = takeBatch()
        batch.append(contentsOf: line)
        writeAll(batch, lines: lines + (line.isEmpty ? 0 : 1))
        giveBack(batch)
    }

    /// Writes everything buffered and stops the writer thread; lines appended later are written
    /// only by `flush`.
    public func close() {
        batch.withLock { $0.closed = true }
        wakeWriter()
        flush()
    }

    private func wakeWriter() {
        due.lock()
        due.signal()
        due.unlock()
    }

    /// A thread's line being rendered and its log time, shared by every sink (a thread renders
    /// one line at a time). Unchecked: only the thread that made it touches it.
    private final class Scratch: @unchecked Sendable {
        var line: [UInt8] = []
        var time = LogTime()
        /// A line longer than this (a huge path) does not keep its storage for the thread.
        static let keptCapacity = 4096
        private static let perThread = ThreadSpecificVariable<Scratch>()

        static var current: Scratch {
            let scratch = perThread.current(orMake: Scratch.init)
            if scratch.line.capacity > keptCapacity { scratch.line = [] }
            return scratch
        }
    }

    private func startWriter() {
        let thread = Thread { [self] in
            while writeWhenDue() {}
        }
        thread.name = "taskgate-log"
        thread.start()
    }

    /// Waits for a full batch or the interval, then writes what there is.
    /// - Returns: false once the sink is closed.
    private func writeWhenDue() -> Bool {
        let deadline = Date(timeIntervalSinceNow: flushInterval)
        due.lock()
        // A line that fills the batch signals under `due`'s lock after adding itself, so it is
        // either seen here or wakes the wait.
        while !batch.withLock({ $0.filling.count >= flushBytes || $0.closed }), due.wait(until: deadline) {}
        due.unlock()
        let (empty, open) = batch.withLock { ($0.filling.isEmpty, !$0.closed) }
        if !empty { flush() }
        return open
    }

    private func takeBatch() -> ([UInt8], Int) {
        batch.withLock { batch in
            var taken: [UInt8] = []
            swap(&taken, &batch.filling)
            swap(&batch.filling, &batch.spare)
            defer { batch.lines = 0 }
            return (taken, batch.lines)
        }
    }

    /// Keeps a written batch's storage for the next one.
    private func giveBack(_ written: consuming [UInt8]) {
        written.removeAll(keepingCapacity: true)
        guard written.capacity <= capacity * 2 else { return }
        batch.withLock { [written] batch in batch.spare = written }
    }

    /// Writes all of `batch`; if the file refuses it, its lines count as dropped.
    private func writeAll(_ batch: [UInt8], lines: Int) {
        guard !batch.isEmpty else { return }
        let written = batch.withUnsafeBytes { bytes -> Bool in
            var offset = 0
            while offset < bytes.count {
                let count = write(fileDescriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if count > 0 {
                    offset += count
                } else if count < 0, errno == EINTR {
                    continue
                } else {
                    return false
                }
            }
            return true
        }
        if !written { dropped.add(lines, ordering: .relaxed) }
    }
}

/// The time in log lines, `2026-11-28T09:51:51.123Z` (UTC, milliseconds): the part up to the
/// second is rendered once a second, not by Foundation's formatter per line.
struct LogTime {
    private var second = Int.min
    private var prefix: [UInt8] = []

    mutating func write(into line: inout [UInt8], now: Date = Date()) {
        let interval = now.timeIntervalSince1970
        let whole = Int(interval.rounded(.down))
        if whole != second {
            second = whole
            prefix = Self.render(second: whole)
        }
        line.append(contentsOf: prefix)
        let millis = min(999, Int((interval - Double(whole)) * 1000))
        line.append(UInt8(ascii: "0") + UInt8(millis / 100))
        line.append(UInt8(ascii: "0") + UInt8(millis / 10 % 10))
        line.append(UInt8(ascii: "0") + UInt8(millis % 10))
        line.append(UInt8(ascii: "Z"))
    }

    /// `2026-11-28T09:51:51.`
    private static func render(second: Int) -> [UInt8] {
        var seconds = time_t(second)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var text: [UInt8] = []
        text.reserveCapacity(20)
        func digits(_ value: Int32, _ count: Int) {
            var divisor: Int32 = 1
            for _ in 1..<count { divisor *= 10 }
            while divisor > 0 {
                text.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                divisor /= 10
            }
        }
        digits(parts.tm_year + 1900, 4)
        text.append(UInt8(ascii: "-"))
        digits(parts.tm_mon + 1, 2)
        text.append(UInt8(ascii: "-"))
        digits(parts.tm_mday, 2)
        text.append(UInt8(ascii: "T"))
        digits(parts.tm_hour, 2)
        text.append(UInt8(ascii: ":"))
        digits(parts.tm_min, 2)
        text.append(UInt8(ascii: ":"))
        digits(parts.tm_sec, 2)
        text.append(UInt8(ascii: "."))
        return text
    }
}
