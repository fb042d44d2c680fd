import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Testing

@testable import TaskGate
@testable import TaskGateSimulators

/// The store's contract, the same tests on both backends: SQLite (a real file) and PostgreSQL (a
/// real server, `PostgresCluster`).
@Suite(.timeLimit(.minutes(2))) struct TaskStoreContractTests {
    enum Backend: String, CaseIterable, CustomTestStringConvertible {
        case sqlite, postgres
        var testDescription: String { rawValue }

        /// A fresh store location of this backend: a new file, or a new database.
        func newLocation() throws -> String {
            switch self {
            case .sqlite: temporaryStorePath()
            case .postgres: try PostgresCluster.shared.newDatabase()
            }
        }
    }

    static func answer(
        _ id: String,
        _ status: TaskStatus,
        text: String = "x",
        at seconds: Double = 1_800_000_000,
        link: String? = nil
    ) throws -> EncodedAnswer {
        var record = TaskRecord(
            provider: "p",
            kind: "capmonster",
            id: id,
            status: status,
            vendorStatus: status.rawValue,
            fetchedAt: Date(timeIntervalSince1970: seconds)
        )
        record.result = JSONFragment(jsonObject: link.map { ["text": text, "url": $0] } ?? ["text": text])
        return try EncodedAnswer(record: record)
    }

    /// An OSS V1 link that expires at `expires` (epoch seconds).
    static func link(expiring expires: Int) -> String {
        "https://b.oss-cn-shanghai.aliyuncs.com/r.json?Expires=\(expires)&OSSAccessKeyId=a&Signature=s"
    }

    static func body(_ answer: EncodedAnswer?) throws -> String? {
        try answer.map { String(buffer: try $0.bytes.inflated()) }
    }

    @Test(arguments: Backend.allCases)
    func aFinalAnswerIsKeptAndNeverReplaced(backend: Backend) async throws {
        try await withStore(at: try backend.newLocation()) { store in
            #expect(try await store.answer(provider: "p", id: "1") == nil)
            try await store.save(try Self.answer("1", .running))
            #expect(try await store.answer(provider: "p", id: "1")?.status == .running)
            let final = try Self.answer("1", .succeeded, text: "first")
            try await store.save(final)
            try await store.save(try Self.answer("1", .running))
            try await store.save(try Self.answer("1", .failed, text: "second"))
            let stored = try #require(try await store.answer(provider: "p", id: "1"))
            #expect(stored.status == .succeeded)
            #expect(try Self.body(stored) == Self.body(final))
            #expect(stored.bytes.validator == final.bytes.validator)
            #expect(stored.fetchedAt == final.fetchedAt)
            #expect(try await store.statistics().rows == 1)
        }
    }

    /// The one change a final row takes: the same status with links signed afresh.
    @Test(arguments: Backend.allCases)
    func aFinalAnswerTakesFreshLinksInItsOwnStatusOnly(backend: Backend) async throws {
        try await withStore(at: try backend.newLocation()) { store in
            let first = try Self.answer("1", .succeeded, link: Self.link(expiring: 1_800_003_600))
            #expect(first.bytes.linksExpireAt == Date(timeIntervalSince1970: 1_800_003_600))
            try await store.save(first)
            #expect(try await store.answer(provider: "p", id: "1")?.bytes.linksExpireAt == first.bytes.linksExpireAt)
            let refreshed = try Self.answer("1", .succeeded, at: 1_800_003_400, link: Self.link(expiring: 1_800_007_000))
            #expect(try await store.replaceFinal(refreshed))
            let stored = try #require(try await store.answer(provider: "p", id: "1"))
            #expect(stored.bytes.validator == refreshed.bytes.validator)
            #expect(stored.bytes.linksExpireAt == Date(timeIntervalSince1970: 1_800_007_000))
            #expect(stored.fetchedAt == refreshed.fetchedAt)
            #expect(try Self.body(stored) == Self.body(refreshed))
            // Another status, or a row that is not final (or not there), is left alone.
            #expect(try await store.replaceFinal(try Self.answer("1", .failed, link: Self.link(expiring: 1_800_009_000))) == false)
            #expect(try await store.answer(provider: "p", id: "1")?.bytes.validator == refreshed.bytes.validator)
            try await store.save(try Self.answer("2", .running))
            #expect(try await store.replaceFinal(try Self.answer("2", .running)) == false)
            #expect(try await store.replaceFinal(try Self.answer("3", .succeeded)) == false)
            #expect(try await store.answer(provider: "p", id: "3") == nil)
            // The listing keeps the task's place and shows the new answer.
            let listed = try await store.list(provider: "p", status: .succeeded, afterSequence: nil, limit: 10)
            #expect(try listed.map { String(buffer: try Gzip.inflate($0.gzipBody, maxBytes: 1 << 20)) } == [Self.body(refreshed)])
        }
    }

    @Test(arguments: Backend.allCases)
    func listingFollowsFirstSightAndFiltersByStatus(backend: Backend) async throws {
        try await withStore(at: try backend.newLocation()) { store in
            for (id, status) in [("3", TaskStatus.running), ("1", .succeeded), ("2", .running), ("4", .failed)] {
                try await store.save(try Self.answer(id, status))
            }
            try await store.save(try Self.answer("3", .succeeded))  // a later status keeps its place
            let all = try await store.list(provider: "p", status: nil, afterSequence: nil, limit: 10)
            let ids = try all.map { try JSONSerialization.jsonObject(with: Data(try Gzip.inflate($0.gzipBody, maxBytes: 1 << 20).readableBytesView)) }
                .compactMap { ($0 as? [String: Any])?["id"] as? String }
            #expect(ids == ["3", "1", "2", "4"])
            let page = try await store.list(provider: "p", status: nil, afterSequence: all[1].sequence, limit: 1)
            #expect(page.map(\.sequence) == [all[2].sequence])
            let succeeded = try await store.list(provider: "p", status: .succeeded, afterSequence: nil, limit: 10)
            #expect(succeeded.map(\.sequence) == [all[0].sequence, all[1].sequence])
            #expect(try await store.list(provider: "other", status: nil, afterSequence: nil, limit: 10).isEmpty)
        }
    }

    @Test(arguments: Backend.allCases)
    func vendorCallsAreCountedSpacedAndCapped(backend: Backend) async throws {
        try await withStore(at: try backend.newLocation()) { store in
            let start = Date(timeIntervalSince1970: 1_800_000_000)
            #expect(try await store.reserveVendorCall(account: "p", id: "9", limit: 2, spacing: 2, now: start) == .granted(calls: 1))
            let early = try await store.reserveVendorCall(account: "p", id: "9", limit: 2, spacing: 2, now: start.addingTimeInterval(1))
            #expect(early == .notBefore(start.addingTimeInterval(2)))
            let second = try await store.reserveVendorCall(account: "p", id: "9", limit: 2, spacing: 2, now: start.addingTimeInterval(2))
            #expect(second == .granted(calls: 2))
            let third = try await store.reserveVendorCall(account: "p", id: "9", limit: 2, spacing: 2, now: start.addingTimeInterval(9))
            #expect(third == .exhausted(calls: 2))
            // Another task has its own count; the vendor saying "spent" ends it at once.
            #expect(try await store.reserveVendorCall(account: "p", id: "10", limit: 2, spacing: 2, now: start) == .granted(calls: 1))
            try await store.markVendorBudgetSpent(account: "p", id: "10", now: start)
            let spent = try await store.reserveVendorCall(account: "p", id: "10", limit: 2, spacing: 0, now: start.addingTimeInterval(60))
            #expect(spent == .spentByVendor(calls: 1))
        }
    }

    /// Many callers at once (on PostgreSQL: many connections) never get more than the budget.
    @Test(arguments: Backend.allCases)
    func concurrentReservationsNeverExceedTheBudget(backend: Backend) async throws {
        try await withStore(at: try backend.newLocation()) { store in
            let now = Date(timeIntervalSince1970: 1_800_000_000)
            let granted = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<40 {
                    group.addTask {
                        if case .granted = try await store.reserveVendorCall(account: "p", id: "7", limit: 10, spacing: 0, now: now) {
                            return true
                        }
                        return false
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(granted == 10)
        }
    }
}

/// Opens the store at `location` (a file path or a postgres:// URL) as `serve` does — the pool
/// running, the schema migrated — runs `body`, and stops it.
func withStore<T: Sendable>(at location: String, _ body: @Sendable (any TransferableStore) async throws -> T) async throws -> T {
    try await StoreLocation(parsing: location).withStore(logger: quietLogger, body)
}
