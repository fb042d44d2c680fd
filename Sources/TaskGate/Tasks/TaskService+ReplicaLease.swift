import Foundation
import Tracing

extension TaskService {
    /// Single flight across replicas sharing a store: returns an answer another replica saved that
    /// is `usable` (fresh or final; for a link refresh, final with fresh links), or nil once this
    /// replica holds the task's lease and must ask the vendor itself. A holder that crashed loses
    /// its lease after the provider's `leaseDuration`.
    /// - Parameter stored: the row as this request already read it (the first look).
    func awaitOtherReplica(
        _ provider: ServedProvider,
        id: String,
        stored: EncodedAnswer?,
        usable: (EncodedAnswer) -> Bool
    ) async throws(GatewayError) -> EncodedAnswer? {
        guard store.isShared else { return nil }
        if let stored, usable(stored) { return stored }
        let name = provider.name
        // Watching starts before the first try for the lease: a holder that saves after a failed
        // try finds it contended and wakes this wait (one that saved before freed the lease).
        let changes = store.watchChanges(provider: name, id: id)
        defer { changes.end() }
        // The lease ends on the gateway's clock; this wait for another process is also bounded in
        // real time, so a holder that never saves cannot hold a caller for ever.
        let holds = provider.leaseDuration
        let giveUp = ContinuousClock.now + holds
        // Traced, the time spent waiting on another replica's call is a span of its own.
        var waitSpan: (any Span)?
        defer { waitSpan?.end() }
        while true {
            let until = clock.date.addingTimeInterval(holds.seconds)
            if try await store.acquireLease(provider: name, id: id, holder: replicaID, until: until, now: clock.date) {
                // The holder before may have saved between the look and the lease: serve that.
                guard let shared = try await sharedAnswer(name, id: id, usable: usable) else { return nil }
                await store.releaseLease(provider: name, id: id, holder: replicaID)
                return shared
            }
            guard ContinuousClock.now < giveUp, !Task.isCancelled else {
                throw GatewayError(.vendorTimeout, "Another replica's call to the vendor for this task did not finish in time.", provider: name)
            }
            // Another replica is asking the vendor: its save (or release) wakes this wait; the
            // bound covers a lost notification and a holder's lease running out.
            if waitSpan == nil {
                waitSpan = tracer?.startSpan("lease wait")
                waitSpan?.attributes["taskgate.provider"] = name
            }
            await changes.next(orAfter: .milliseconds(250))
            if let shared = try await sharedAnswer(name, id: id, usable: usable) { return shared }
        }
    }

    /// The stored answer when it is usable.
    private func sharedAnswer(_ provider: String, id: String, usable: (EncodedAnswer) -> Bool) async throws(GatewayError) -> EncodedAnswer? {
        guard let stored = try await store.answer(provider: provider, id: id) else { return nil }
        return usable(stored) ? stored : nil
    }
}
