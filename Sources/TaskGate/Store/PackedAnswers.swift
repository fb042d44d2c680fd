import DequeModule
import Foundation
import NIOCore

/// Final answers packed into large append-only slabs: an answer costs its gzip bytes and its
/// validator (and its JSON, once an identity caller asked for it) plus a 20-byte index entry and
/// its key in its slab's list —
/// not a buffer, an object and strings each, which cost about 1.3 KiB per answer of ~330 bytes.
///
/// Final answers never change (but for links signed afresh, which replace the answer), so their
/// bytes are written once and then only read. Memory is
/// given back a slab at a time, oldest first; an answer read since it was last passed gets a
/// second chance and is copied into the newest slab (CLOCK, over slabs).
///
/// Not thread-safe: ``AnswerCache`` keeps it under its lock. A ``Held`` answer keeps its slabs
/// alive, and a slab's written bytes are never rewritten, so its bytes can be read after the
/// lock is let go (the hot path writes its answer outside the lock, not queued behind the other
/// event loop's).
struct PackedAnswers {
    /// Where a body lies. A gzip body follows its 16-byte validator in the slab.
    struct Location {
        var slab: UInt32
        var offset: UInt32
        var length: UInt32
    }

    /// An answer held: 20 bytes, so the index of 100,000 answers is a few MiB.
    private struct Entry {
        var gzip: Location
        /// When its links expire, in whole epoch seconds (as signed); 0 when it has none.
        let linksExpireAt: UInt32
        let status: TaskStatus
        var referenced = false
    }

    /// A held answer, as read. Its bytes are valid for as long as it lives (it holds their
    /// slabs); unchecked Sendable because those bytes never change.
    struct Held: @unchecked Sendable {
        let gzip: UnsafeRawBufferPointer
        let identity: UnsafeRawBufferPointer?
        let validator: Validator
        let status: TaskStatus
        let linksExpireAt: Date?
        /// The slabs of `gzip` and `identity`.
        fileprivate let slabs: (Slab, Slab?)

        /// The body in `coding`: identity only when an identity caller asked for it before.
        func bytes(for coding: ContentCoding) -> UnsafeRawBufferPointer? {
            coding == .gzip ? gzip : identity
        }

        /// Calls `body` with this answer, its bytes kept alive meanwhile.
        func withBytes<Result>(_ body: (Held) -> Result) -> Result {
            withExtendedLifetime(slabs) { body(self) }
        }
    }

    /// One block of memory, filled from the front and never rewritten.
    fileprivate final class Slab {
        let sequence: UInt32
        let memory: UnsafeMutableRawBufferPointer
        var used = 0
        /// The answers whose gzip record is here, with its offset: what to visit when the slab
        /// goes, rather than every answer held. (A replaced answer's old record stays listed; the
        /// offset tells it from the current one.)
        var records: [(key: AnswerCache.Key, offset: UInt32)] = []

        init(sequence: UInt32, capacity: Int) {
            self.sequence = sequence
            self.memory = .allocate(byteCount: capacity, alignment: 16)
        }

        deinit { memory.deallocate() }

        var free: Int { memory.count - used }

        func append(_ parts: UnsafeRawBufferPointer...) -> UInt32 {
            let offset = used
            for part in parts {
                UnsafeMutableRawBufferPointer(rebasing: memory[used..<used + part.count]).copyMemory(from: part)
                used += part.count
            }
            return UInt32(offset)
        }

        func bytes(at offset: Int, count: Int) -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(rebasing: memory[offset..<offset + count])
        }
    }

    /// Index bytes per answer beyond its bodies: a dictionary slot (16-byte id, 20-byte entry)
    /// at a load factor of about one half, and its key and offset in its slab's list.
    static let entryOverhead = 112

    let budget: Int
    /// A slab's size: small enough that giving one back frees a small share of the budget.
    let slabSize: Int
    /// One table per provider, keyed by task id: no provider name in every key.
    private var tables: [String: [String: Entry]] = [:]
    /// JSON bodies, for the few answers identity callers asked for.
    private var identities: [AnswerCache.Key: Location] = [:]
    private var slabs: Deque<Slab> = []
    private var nextSequence: UInt32 = 0
    private(set) var count = 0
    /// Slab memory plus the index, as counted against the budget.
    private(set) var heldBytes = 0

    init(budget: Int) {
        self.budget = budget
        self.slabSize = min(max(budget / 32, 4 << 10), 1 << 20)
    }

    /// The answer held for `key`, marked as read. Read its bytes inside ``Held/withBytes(_:)``.
    mutating func lookup(_ key: AnswerCache.Key) -> Held? {
        guard let entry = tables[key.provider]?[key.id] else { return nil }
        if !entry.referenced { tables[key.provider]?[key.id]?.referenced = true }
        let gzipSlab = slab(entry.gzip.slab)
        let record = gzipSlab.bytes(at: Int(entry.gzip.offset), count: 16 + Int(entry.gzip.length))
        let identity = identities.isEmpty ? nil : identities[key].map { (slab($0.slab), $0) }
        return Held(
            gzip: UnsafeRawBufferPointer(rebasing: record[16...]),
            identity: identity.map { slab, location in slab.bytes(at: Int(location.offset), count: Int(location.length)) },
            validator: Validator(bytes: UnsafeRawBufferPointer(rebasing: record[..<16])),
            status: entry.status,
            linksExpireAt: entry.linksExpireAt == 0 ? nil : Date(timeIntervalSince1970: Double(entry.linksExpireAt)),
            slabs: (gzipSlab, identity?.0)
        )
    }

    /// Holds a final answer. The same answer already held is left as it is; a different one (its
    /// links signed afresh) takes its place.
    mutating func insert(_ answer: AnswerBytes, for key: AnswerCache.Key) {
        guard budget > 0 else { return }
        if let held = tables[key.provider]?[key.id] {
            let record = slab(held.gzip.slab).bytes(at: Int(held.gzip.offset), count: 16)
            guard Validator(bytes: record) != answer.validator else { return }
            remove(key)
        }
        let location = answer.gzip.withUnsafeReadableBytes { body in
            answer.validator.withUnsafeBytes { validator in append(validator, body, for: key) }
        }
        // Whole seconds, rounded down: never later than the links (0 stands for none).
        let linksExpireAt = answer.linksExpireAt.map { UInt32(clamping: max(1, Seconds.whole($0.timeIntervalSince1970))) } ?? 0
        tables[key.provider, default: [:]][key.id] = Entry(gzip: location, linksExpireAt: linksExpireAt, status: answer.status)
        count += 1
        heldBytes += Self.entryOverhead
        if let identity = answer.identity { identities[key] = identity.withUnsafeReadableBytes { append($0) } }
        evictOverBudget()
    }

    /// Adds the JSON body to a held answer, so identity callers inflate once.
    mutating func addIdentity(_ identity: ByteBuffer, for key: AnswerCache.Key) {
        guard tables[key.provider]?[key.id] != nil, identities[key] == nil else { return }
        identities[key] = identity.withUnsafeReadableBytes { append($0) }
        evictOverBudget()
    }

    /// Forgets a held answer; its bytes stay in their slab until the slab goes.
    private mutating func remove(_ key: AnswerCache.Key) {
        tables[key.provider]?[key.id] = nil
        if !identities.isEmpty { identities[key] = nil }
        count -= 1
        heldBytes -= Self.entryOverhead
    }

    private func slab(_ sequence: UInt32) -> Slab {
        slabs[Int(sequence &- slabs[0].sequence)]
    }

    /// Appends a record (validator and gzip body, listed under `key`; or a JSON body); the
    /// location's length is the body's.
    private mutating func append(_ parts: UnsafeRawBufferPointer..., for key: AnswerCache.Key? = nil) -> Location {
        let size = parts.reduce(0) { $0 + $1.count }
        if slabs.last.map({ $0.free < size }) ?? true {
            // An answer larger than a slab gets a slab of its own.
            let slab = Slab(sequence: nextSequence, capacity: max(slabSize, size))
            nextSequence &+= 1
            slabs.append(slab)
            heldBytes += slab.memory.count
        }
        let slab = slabs.last!
        let offset = parts.count == 2 ? slab.append(parts[0], parts[1]) : slab.append(parts[0])
        if let key { slab.records.append((key, offset)) }
        return Location(slab: slab.sequence, offset: offset, length: UInt32(parts.last!.count))
    }

    /// Gives back the oldest slabs until within budget. An answer read since its slab was last
    /// passed moves to the newest slab instead of going.
    private mutating func evictOverBudget() {
        while heldBytes > budget, let oldest = slabs.first {
            var moving: [(key: AnswerCache.Key, record: UnsafeRawBufferPointer)] = []
            for (key, offset) in oldest.records {
                // An answer listed here may have moved on already (read, copied forward, replaced).
                guard let entry = tables[key.provider]?[key.id], entry.gzip.slab == oldest.sequence, entry.gzip.offset == offset else { continue }
                if entry.referenced {
                    moving.append((key, oldest.bytes(at: Int(entry.gzip.offset), count: 16 + Int(entry.gzip.length))))
                } else {
                    remove(key)
                }
            }
            if !identities.isEmpty { identities = identities.filter { $0.value.slab != oldest.sequence } }
            // `oldest` stays alive (and readable) until the moved answers are copied.
            slabs.removeFirst()
            heldBytes -= oldest.memory.count
            for (key, record) in moving {
                let moved = append(UnsafeRawBufferPointer(rebasing: record[..<16]), UnsafeRawBufferPointer(rebasing: record[16...]), for: key)
                tables[key.provider]?[key.id]?.gzip = moved
                tables[key.provider]?[key.id]?.referenced = false
            }
            withExtendedLifetime(oldest) {}
        }
    }
}
