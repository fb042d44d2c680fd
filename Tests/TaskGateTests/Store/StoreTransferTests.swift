import Foundation
import NIOCore
import Testing

@testable import TaskGate

/// `taskgate migrate-store`: every row from SQLite to PostgreSQL and back, the same answers,
/// order and budgets on the other side; never into a store that holds rows.
@Suite(.timeLimit(.minutes(2))) struct StoreTransferTests {
    typealias Contract = TaskStoreContractTests

    /// One of the tasks `fill` saves; task 3's result holds a signed link.
    static func original(_ id: String, _ status: TaskStatus) throws -> EncodedAnswer {
        try Contract.answer(id, status, text: "task \(id)", link: id == "3" ? Contract.link(expiring: 1_800_003_600) : nil)
    }

    /// Fills a store with final and not-final tasks and budgets (one spent by the vendor).
    static func fill(_ store: any TaskStore) async throws {
        for (id, status) in [("3", TaskStatus.succeeded), ("1", .running), ("2", .failed)] {
            let answer = try original(id, status)
            try await store.save(answer, event: answer.isFinal ? try TaskEvent.final(answer, receivers: ["billing"]) : nil)
        }
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        // Task 3's delivery tried once and failed; task 2's delivered.
        for (delivery, status) in zip(
            try await store.claimDeliveries(webhook: "billing", now: .distantFuture, until: .distantFuture, limit: 9),
            [500, 204]
        ) {
            let attempt = WebhookAttempt(at: now, status: status)
            try await store.finishDelivery(delivery, attempt: attempt, outcome: status == 500 ? .retry(at: now + 5) : .delivered)
        }
        for _ in 0..<2 { _ = try await store.reserveVendorCall(account: "account-a", id: "1", limit: 5, spacing: 0, now: now) }
        try await store.markVendorBudgetSpent(account: "account-a", id: "9", now: now)
        try await store.keepArtifact(StoredArtifact(contentType: "text/plain", body: ByteBuffer(string: "a kept file\n")))
    }

    /// What a copy must keep: each answer byte for byte, the listing's order, the budgets' counts.
    static func expectSameRows(_ copy: any TaskStore) async throws {
        for (id, status) in [("3", TaskStatus.succeeded), ("1", .running), ("2", .failed)] {
            let stored = try #require(try await copy.answer(provider: "p", id: id))
            let original = try original(id, status)
            #expect(stored.status == status)
            #expect(stored.bytes.validator == original.bytes.validator)
            #expect(stored.bytes.linksExpireAt == original.bytes.linksExpireAt)
            #expect(try Contract.body(stored) == Contract.body(original))
        }
        let listed = try await copy.list(provider: "p", status: nil, afterSequence: nil, limit: 10)
        let ids = try listed.map { try JSONSerialization.jsonObject(with: Data(try Gzip.inflate($0.gzipBody, maxBytes: 1 << 20).readableBytesView)) }
            .compactMap { ($0 as? [String: Any])?["id"] as? String }
        #expect(ids == ["3", "1", "2"])
        let later = Date(timeIntervalSince1970: 1_800_000_100)
        #expect(try await copy.reserveVendorCall(account: "account-a", id: "1", limit: 2, spacing: 0, now: later) == .exhausted(calls: 2))
        #expect(try await copy.reserveVendorCall(account: "account-a", id: "9", limit: 5, spacing: 0, now: later) == .spentByVendor(calls: 0))
        let file = StoredArtifact(contentType: "text/plain", body: ByteBuffer(string: "a kept file\n"))
        #expect(try await copy.artifact(sha256: file.sha256) == file)
        // The feed at the same positions, the deliveries with their attempts; the next event
        // follows the last.
        let page = try await copy.events(after: .start, providers: ["p"], limit: 10)
        #expect(page.events.map(\.sequence) == [1, 2])
        #expect(page.events.map(\.id) == [TaskEvent.id(provider: "p", taskID: "3"), TaskEvent.id(provider: "p", taskID: "2")])
        let deliveries = try await copy.deliveries(webhook: "billing", state: nil, before: nil, limit: 10)
        #expect(deliveries.map(\.state) == [.delivered, .pending])
        #expect(deliveries.map { $0.attempts.map(\.status) } == [[204], [500]])
    }

    @Test func everyRowGoesFromSQLiteToPostgreSQLAndBack() async throws {
        let (sqlite, postgres, back) = (temporaryStorePath(), try PostgresCluster.shared.newDatabase(), temporaryStorePath())
        try await withStore(at: sqlite) { try await Self.fill($0) }
        let there = try await withStore(at: sqlite) { source in
            try await withStore(at: postgres) { destination in try await StoreTransfer.copy(from: source, to: destination) }
        }
        #expect(there == StoreTransfer.Summary(tasks: 3, budgets: 2, artifacts: 1, events: 2, deliveries: 2))
        let home = try await withStore(at: postgres) { source in
            try await Self.expectSameRows(source)
            return try await withStore(at: back) { destination in try await StoreTransfer.copy(from: source, to: destination) }
        }
        #expect(home == StoreTransfer.Summary(tasks: 3, budgets: 2, artifacts: 1, events: 2, deliveries: 2))
        try await withStore(at: back) { store in
            let counts = try await store.rowCounts()
            #expect(counts.tasks == 3 && counts.budgets == 2)
            let stored = try #require(try await store.answer(provider: "p", id: "3"))
            #expect(try Contract.body(stored) == Contract.body(try Self.original("3", .succeeded)))
            #expect(stored.bytes.linksExpireAt == Date(timeIntervalSince1970: 1_800_003_600))
        }
    }

    @Test(arguments: TaskStoreContractTests.Backend.allCases)
    func aDestinationThatHoldsRowsIsRefused(backend: TaskStoreContractTests.Backend) async throws {
        let (source, destination) = (temporaryStorePath(), try backend.newLocation())
        try await withStore(at: source) { try await Self.fill($0) }
        try await withStore(at: destination) { try await $0.save(try Contract.answer("7", .succeeded)) }
        let refusal = await #expect(throws: StoreTransferError.self) {
            try await withStore(at: source) { source in
                try await withStore(at: destination) { destination in try await StoreTransfer.copy(from: source, to: destination) }
            }
        }
        #expect(refusal?.description.contains("holds 1 tasks") == true)
        try await withStore(at: destination) { store in
            let counts = try await store.rowCounts()
            #expect(counts.tasks == 1 && counts.budgets == 0)
        }
    }
}
