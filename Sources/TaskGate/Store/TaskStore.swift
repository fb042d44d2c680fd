import Foundation
import NIOCore

/// Where taskgate keeps every task it has seen: the composition of the store's roles, for wiring
/// (a backend implements them all). Each consumer takes only the role it needs: the service its
/// answers and leases, the watcher the watch, `/events` the event log, the webhook sender the
/// outbox, a vendor budget the budgets, the mirror the artifacts, `/readyz` and `/metrics` the health.
public protocol TaskStore: AnswerStore, ReplicaLeases, VendorBudgetStore, WatchStore, EventLog, WebhookOutbox, ArtifactStore,
    SharedSecretStore, StoreHealth
{}

/// Tasks' answers: final ones for ever, not-final ones as the last known status (for listing
/// vendors that have no list call).
public protocol AnswerStore: Sendable {
    /// The stored answer of a task, final or not; nil when taskgate has never seen it.
    func answer(provider: String, id: String) async throws(GatewayError) -> EncodedAnswer?

    /// A stored *final* answer, read synchronously; nil when there is none or it cannot be read
    /// (the caller then takes the async path, which reports errors).
    func finalAnswerNow(provider: String, id: String) -> EncodedAnswer?

    /// Records an answer. A final row is never replaced; this returns once the row is durable.
    /// - Parameter event: the event of a task turning final, with a delivery per receiver, written
    ///   in the same transaction when this save is the one that makes the row final (at the
    ///   feed's next position: commit order is feed order, on every backend).
    /// - Returns: whether `event` was written (false when the row was final already).
    @discardableResult
    func save(_ answer: EncodedAnswer, event: TaskEvent?) async throws(GatewayError) -> Bool

    /// Replaces a final answer with the vendor's newer one of the same status (its links signed
    /// afresh) and releases the task's lease like `save`; false, with nothing written, when the
    /// stored row is not final in that status.
    func replaceFinal(_ answer: EncodedAnswer) async throws(GatewayError) -> Bool

    /// Tasks of one provider in the order taskgate first saw them, after `afterSequence`.
    func list(provider: String, status: TaskStatus?, afterSequence: Int64?, limit: Int) async throws(GatewayError) -> [StoredListing]
}

extension AnswerStore {
    public func save(_ answer: EncodedAnswer) async throws(GatewayError) { try await save(answer, event: nil) }
}

/// Single flight across replicas: one vendor call per task at a time, whichever replica asks.
public protocol ReplicaLeases: Sendable {
    /// Whether other replicas share this store (then a vendor call for a task is leased in it).
    var isShared: Bool { get }

    /// Takes the task's vendor-call lease until `until` unless another holder has one that has
    /// not expired; true when `holder` has it now. Saving the task's answer releases it.
    func acquireLease(provider: String, id: String, holder: String, until: Date, now: Date) async throws(GatewayError) -> Bool

    /// Gives a lease back early (the vendor call failed).
    func releaseLease(provider: String, id: String, holder: String) async

    /// Adds another replica's saves and lease releases of a task to what wakes `watch`, until
    /// it ends.
    func watchChanges(provider: String, id: String, with watch: TaskChangeWatch)
}

extension ReplicaLeases {
    /// One process: its own single flight is the only one, nothing to lease.
    public var isShared: Bool { false }

    public func acquireLease(provider: String, id: String, holder: String, until: Date, now: Date) async throws(GatewayError) -> Bool {
        true
    }

    public func releaseLease(provider: String, id: String, holder: String) async {}

    public func watchChanges(provider: String, id: String, with watch: TaskChangeWatch) {}

    /// Begins watching a task for another replica's save or lease release; `end()` it when done.
    public func watchChanges(provider: String, id: String) -> TaskChangeWatch {
        let watch = TaskChangeWatch()
        watchChanges(provider: provider, id: id, with: watch)
        return watch
    }
}

/// Vendors' per-task request budgets, counted for the vendor account (`TaskCallBudget`). A
/// store shared by replicas also keeps the account's request rate (`RateSlotStore`).
public protocol VendorBudgetStore: Sendable {
    /// Counts one vendor request about a task against its vendor account's budget, atomically:
    /// granted only when fewer than `limit` were made and the last one was at least `spacing`
    /// seconds before `now`.
    func reserveVendorCall(account: String, id: String, limit: Int, spacing: Double, now: Date) async throws(GatewayError) -> VendorCallReservation

    /// Marks a task's budget spent because the vendor said so (CapMonster ERROR_TOO_MUCH_REQUESTS):
    /// every later reservation is `exhausted`, whatever was counted.
    func markVendorBudgetSpent(account: String, id: String, now: Date) async throws(GatewayError)
}

/// The background watch's work list: the tasks seen while not final (`TaskWatcher`).
public protocol WatchStore: Sendable {
    /// Claims up to `limit` not-final tasks of `provider` for the background watch — first seen
    /// at or after `firstSeenSince`, nobody (caller or watcher) having looked at them since
    /// `lookedBefore` — marking them looked at `now`, so that other replicas pass them by until
    /// their interval has passed again. Least recently looked at first.
    func claimWatched(provider: String, firstSeenSince: Date, lookedBefore: Date, now: Date, limit: Int) async throws(GatewayError) -> [String]

    /// Ends the watch of not-final tasks of `provider` first seen before `firstSeenBefore`;
    /// returns how many.
    func endWatch(provider: String, firstSeenBefore: Date) async throws(GatewayError) -> Int

    /// Ends the watch of one task (the vendor no longer has it).
    func endWatch(provider: String, id: String) async throws(GatewayError)

    /// How many tasks of `provider` the background watch follows.
    func watchedCount(provider: String) async throws(GatewayError) -> Int
}

/// The task events, written with the final rows, kept `events_retention` (`GET /events`).
public protocol EventLog: Sendable {
    /// Up to `limit` events of `providers` after `position`, oldest first, read in one snapshot
    /// with where the feed starts and ends (so a page and its expiry check agree).
    func events(after position: EventPosition, providers: [String], limit: Int) async throws(GatewayError) -> EventPage

    /// Deletes up to `limit` of the oldest events created before `before`, in feed order (with
    /// their deliveries), and moves the feed's start past them; returns how many.
    func trimEvents(createdBefore before: Date, limit: Int) async throws(GatewayError) -> Int

    /// When the oldest kept event was written; nil when none is kept.
    func oldestEventDate() async throws(GatewayError) -> Date?

    /// Adds every later event written (by any replica) to what wakes `watch`, until it ends.
    func watchEvents(with watch: TaskChangeWatch)
}

/// The webhook outbox: one delivery per event and receiver, written with the event
/// (`WebhookDispatcher`), listed and queued again by `/webhooks/{name}/…`.
public protocol WebhookOutbox: Sendable {
    /// Claims up to `limit` of one receiver's deliveries due at `now` (feed order), holding them
    /// until `until` (another replica passes them by; a crashed sender's come due again then).
    func claimDeliveries(webhook: String, now: Date, until: Date, limit: Int) async throws(GatewayError) -> [WebhookDelivery]

    /// Records an attempt to deliver and what became of the delivery.
    func finishDelivery(_ delivery: WebhookDelivery, attempt: WebhookAttempt, outcome: WebhookOutcome) async throws(GatewayError)

    /// Deliveries not made yet, per receiver.
    func webhookBacklog() async throws(GatewayError) -> [WebhookBacklog]

    /// One receiver's deliveries, newest first, before feed position `before` (a page cursor),
    /// only those in `state` when given.
    func deliveries(webhook: String, state: DeliveryState?, before: Int64?, limit: Int) async throws(GatewayError) -> [DeliveryRecord]

    /// Queues one delivery again, due `now`, with a fresh round of attempts; nil when the
    /// receiver has no delivery of that event.
    func retryDelivery(webhook: String, eventID: String, now: Date) async throws(GatewayError) -> DeliveryRecord?

    /// Queues every event of `providers` after feed position `after` to `webhook` again, due
    /// `now` (deliveries it had are queued afresh); returns how many.
    func replayEvents(to webhook: String, providers: [String], after: Int64, now: Date) async throws(GatewayError) -> Int
}

/// Files final answers link to, kept once each (`ArtifactMirror`, `ArtifactController`).
public protocol ArtifactStore: Sendable {
    /// Keeps a linked file's bytes under their SHA-256: once, however many tasks link to it.
    func keepArtifact(_ artifact: StoredArtifact) async throws(GatewayError)

    /// A kept file; nil when none has that SHA-256.
    func artifact(sha256: String) async throws(GatewayError) -> StoredArtifact?
}

/// Secrets every process on the store shares (`CursorKeyring`).
public protocol SharedSecretStore: Sendable {
    /// The secret named `name` that every process on this store shares: `candidate` is kept as it
    /// when there is none yet (the first start), atomically; the kept one is returned.
    func sharedSecret(named name: String, candidate: [UInt8]) async throws(GatewayError) -> [UInt8]
}

/// Whether the store answers and what it holds (`/readyz`, `/metrics`).
public protocol StoreHealth: Sendable {
    /// Throws when the store cannot be read (for `/readyz`).
    func checkReadable() async throws(GatewayError)

    /// Rows held and bytes on disk, for metrics.
    func statistics() async throws(GatewayError) -> StoreStatistics
}

/// What a store holds, for `/metrics`.
public struct StoreStatistics: Sendable, Equatable {
    /// Tasks.
    public var rows: Int
    /// The store's size on disk (SQLite file; PostgreSQL tables and indexes).
    public var fileBytes: Int
    /// Kept linked files and their bytes (each once).
    public var artifacts: Int
    public var artifactBytes: Int
}

/// One row of a store listing: its position and its gzipped answer body.
public struct StoredListing: Sendable {
    public var sequence: Int64
    public var gzipBody: ByteBuffer
}
