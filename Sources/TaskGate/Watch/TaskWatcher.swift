import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Follows every task taskgate has seen while not final until it is final or its provider's
/// `watch_horizon` has passed since it was first seen, so its final answer is stored even if
/// nobody asks again — before the vendor forgets it (`providers.<name>.watch`).
///
/// What is watched is the store's not-final rows: a restart resumes it, and replicas sharing a
/// store each claim their own (SKIP LOCKED). A task is asked about at most once per
/// `watch_interval`, and not at all while callers keep asking (their answers count as a look).
/// Where the vendor lists finished tasks in one call (`Provider.finished(among:maxPages:logger:)`), that call replaces
/// one per watched task. The watch takes at most half the provider's `rate_limit`, so callers'
/// requests always find room; budgets (CapMonster) bind it like any caller.
final class TaskWatcher: Service {
    struct Watched: Sendable {
        var provider: any Provider
        var horizon: Duration
        var interval: Duration
        /// The shortest time between two of the watch's vendor requests: two per `rate_limit`.
        var spacing: Duration
    }

    let service: TaskService
    let store: any WatchStore
    let watched: [Watched]
    let metrics: GatewayMetrics?
    let logger: Logger
    /// Tasks claimed per provider and round.
    static let batch = 100
    /// List pages per provider and round (100 tasks each).
    static let maxListPages = 10

    init(service: TaskService, store: any WatchStore, watched: [Watched], metrics: GatewayMetrics?, logger: Logger) {
        self.service = service
        self.store = store
        self.watched = watched
        self.metrics = metrics
        self.logger = logger
    }

    var clock: any GatewayClock { service.clock }

    /// Rounds until shutdown, one every shortest `watch_interval`.
    func run() async throws {
        guard let pause = watched.map(\.interval).min() else { return }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                for provider in self.watched { await self.round(provider) }
                try? await self.clock.sleep(for: pause)
            }
        }
    }

    /// One look at a provider's watched tasks: the ones past the horizon given up, the due ones
    /// claimed and asked about (through the vendor's list call where it has one).
    func round(_ watched: Watched) async {
        let name = watched.provider.name
        let now = clock.date
        let since = now.addingTimeInterval(-watched.horizon.seconds)
        do throws(GatewayError) {
            let expired = try await store.endWatch(provider: name, firstSeenBefore: since)
            if expired > 0 {
                metrics?.watchExpired(provider: name, count: expired)
                logger.notice("watch horizon passed before tasks were final", metadata: ["provider": "\(name)", "tasks": "\(expired)"])
            }
            let ids = try await store.claimWatched(
                provider: name,
                firstSeenSince: since,
                lookedBefore: now.addingTimeInterval(-watched.interval.seconds),
                now: now,
                limit: Self.batch
            )
            metrics?.watched(provider: name, count: try await store.watchedCount(provider: name))
            guard !ids.isEmpty else { return }
            var asks: [(id: String, fetch: VendorFetch?)] = ids.map { ($0, nil) }
            if let finished = try await watched.provider.finished(among: Set(ids), maxPages: Self.maxListPages, logger: logger) {
                // The list call took its share of the rate: the asks after it keep their distance.
                await pace(watched)
                // The ones not listed as finished are still running, unless the listing was cut.
                asks = ids.compactMap { id in finished.found[id].map { (id, $0) } ?? (finished.complete ? nil : (id, nil)) }
            }
            for (id, fetch) in asks where !Task.isCancelled {
                await pace(watched)
                await ask(watched, id: id, fetch: fetch)
            }
        } catch {
            logger.warning("watch round failed", metadata: ["provider": "\(name)", "problem": "\(error.kind.rawValue)"])
        }
    }

    private func ask(_ watched: Watched, id: String, fetch: VendorFetch?) async {
        let name = watched.provider.name
        do throws(GatewayError) {
            let served = try await service.task(provider: name, id: id, logger: logger, fetch: fetch)
            if served.answer.status.isFinal, served.cache != .hit { metrics?.watchCaptured(provider: name) }
        } catch  where error.kind == .taskNotFound {
            // The vendor forgot it: nothing more to wait for.
            try? await store.endWatch(provider: name, id: id)
            metrics?.watchExpired(provider: name, count: 1)
            logger.notice("watched task no longer known to the vendor", metadata: ["provider": "\(name)"])
        } catch {
            logger.debug("watched task not answered", metadata: ["provider": "\(name)", "problem": "\(error.kind.rawValue)"])
        }
    }

    /// Waits out the watch's share of the rate: callers keep the rest.
    private func pace(_ watched: Watched) async {
        let name = watched.provider.name
        let next = lastRequest.withLock { last -> ContinuousClock.Instant in
            let now = clock.now
            let next = last[name].map { max($0 + watched.spacing, now) } ?? now
            last[name] = next
            return next
        }
        if next > clock.now { try? await clock.sleep(until: next) }
    }

    private let lastRequest = Mutex<[String: ContinuousClock.Instant]>([:])
}
