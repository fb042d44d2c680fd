import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import NIOHTTP1
import TaskGate
import TaskGateSimulators
import Testing

@testable import TaskGate

/// The packed memory of final answers: exact bytes back, bounded in bytes, read answers kept.
@Suite(.timeLimit(.minutes(2))) struct PackedAnswersTests {
    static func answer(_ index: Int, size: Int = 300) -> AnswerBytes {
        var generator = SystemRandomNumberGenerator()
        let body = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let json = Array("{\"id\":\(index)}".utf8)
        return AnswerBytes(gzip: ByteBuffer(bytes: body), identity: nil, validator: Validator(of: json), status: .succeeded, linksExpireAt: nil)
    }

    static func key(_ index: Int) -> AnswerCache.Key { AnswerCache.Key(provider: "capmonster", id: String(index)) }

    @Test func answersComeBackByteForByteWithinTheBudget() {
        var packed = PackedAnswers(budget: 256 << 10)
        var inserted: [Int: AnswerBytes] = [:]
        for index in 0..<5_000 {
            let answer = Self.answer(index, size: 100 + index % 400)
            inserted[index] = answer
            packed.insert(answer, for: Self.key(index))
            #expect(packed.heldBytes <= packed.budget)
        }
        #expect(packed.count > 200 && packed.count < 5_000)
        var held = 0
        for (index, answer) in inserted {
            guard let entry = packed.lookup(Self.key(index)) else { continue }
            held += 1
            #expect(ByteBuffer(bytes: entry.gzip) == answer.gzip)
            #expect(entry.validator == answer.validator)
            #expect(entry.identity == nil)
        }
        #expect(held == packed.count)
        // The newest answers are the ones held.
        #expect(packed.lookup(Self.key(4_999)) != nil)
        #expect(packed.lookup(Self.key(0)) == nil)
    }

    @Test func anAnswerReadSinceItWasWrittenOutlivesItsSlab() {
        var packed = PackedAnswers(budget: 64 << 10)
        packed.insert(Self.answer(0), for: Self.key(0))
        packed.insert(Self.answer(1), for: Self.key(1))
        for index in 2..<2_000 {
            // Key 0 is read all along; key 1 never again.
            #expect(packed.lookup(Self.key(0)) != nil, "read answer evicted after \(index) inserts")
            packed.insert(Self.answer(index), for: Self.key(index))
        }
        #expect(packed.lookup(Self.key(1)) == nil)
        let kept = packed.lookup(Self.key(0))
        #expect(kept?.gzip.count == 300)
    }

    @Test func largeAnswersAndLaterIdentityBodiesAreHeldWhole() {
        var packed = PackedAnswers(budget: 64 << 20)
        let large = Self.answer(1, size: 3 << 20)
        packed.insert(large, for: Self.key(1))
        let entry = packed.lookup(Self.key(1))
        #expect(entry.map { ByteBuffer(bytes: $0.gzip) } == large.gzip)
        let json = ByteBuffer(string: #"{"id":1}"#)
        packed.addIdentity(json, for: Self.key(1))
        let withIdentity = packed.lookup(Self.key(1))
        #expect(withIdentity?.identity.map { ByteBuffer(bytes: $0) } == json)
        #expect(withIdentity.map { ByteBuffer(bytes: $0.gzip) } == large.gzip)
        // The same answer again changes nothing; another one (its links signed afresh) replaces it.
        packed.insert(large, for: Self.key(1))
        #expect(packed.lookup(Self.key(1))?.identity != nil)
        let refreshed = Self.answer(2)
        packed.insert(refreshed, for: Self.key(1))
        #expect(packed.lookup(Self.key(1)).map { ByteBuffer(bytes: $0.gzip) } == refreshed.gzip)
        #expect(packed.lookup(Self.key(1))?.identity == nil)
        #expect(packed.count == 1)
    }

    /// A replaced answer's old record stays in its slab; when that slab goes, the current answer stays.
    @Test func aReplacedAnswerOutlivesItsOldRecord() {
        var packed = PackedAnswers(budget: 256 << 10)
        let first = Self.answer(1)
        packed.insert(first, for: Self.key(1))
        let refreshed = Self.answer(2)
        packed.insert(refreshed, for: Self.key(1))
        _ = packed.lookup(Self.key(1))  // read: copied forward when its slab goes
        // Fill well past the budget, so every slab goes at least once; task 1 stays read.
        for index in 10..<6_000 {
            packed.insert(Self.answer(index), for: Self.key(index))
            if index % 100 == 0 { #expect(packed.lookup(Self.key(1)).map { ByteBuffer(bytes: $0.gzip) } == refreshed.gzip) }
        }
        #expect(packed.lookup(Self.key(10)) == nil)
        #expect(packed.heldBytes <= packed.budget)
    }

    /// The hot path reads an answer after letting go of the cache's lock: what it was handed
    /// stays whole while other answers push its slab out (its memory reused for theirs).
    @Test func aHeldAnswerOutlivesItsSlabGoing() {
        var packed = PackedAnswers(budget: 64 << 10)
        let first = Self.answer(1)
        packed.insert(first, for: Self.key(1))
        let held = packed.lookup(Self.key(1))
        for index in 2..<2_000 { packed.insert(Self.answer(index), for: Self.key(index)) }
        #expect(packed.lookup(Self.key(2)) == nil, "every early slab has gone")
        #expect(held?.withBytes { ByteBuffer(bytes: $0.gzip) } == first.gzip)
        #expect(held?.withBytes { $0.validator } == first.validator)
    }

    @Test func aZeroBudgetHoldsNothing() {
        var packed = PackedAnswers(budget: 0)
        packed.insert(Self.answer(1), for: Self.key(1))
        #expect(packed.lookup(Self.key(1)) == nil)
        #expect(packed.heldBytes == 0)
    }
}
