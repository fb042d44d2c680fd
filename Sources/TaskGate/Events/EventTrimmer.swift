import Foundation
import Logging
import ServiceLifecycle

/// Keeps the feed within `events_retention`: every `interval`, deletes the events older than
/// that (with their deliveries) in rounds of at most `batch`, oldest first, so no one write
/// holds the store for long; and reports the oldest event's age. Replicas sharing a store may
/// trim at once: each round deletes what is there, and the feed's start only moves forward.
/// What is old is decided on the gateway's clock; how often to look is real time (a test calls
/// `trim()` itself, and a clock that skips waits would make this loop spin).
struct EventTrimmer: Service {
    let log: any EventLog
    let retention: Duration
    let clock: any GatewayClock
    let metrics: GatewayMetrics?
    let logger: Logger

    static let interval: Duration = .seconds(60)
    static let batch = 1_000

    func run() async throws {
        await cancelWhenGracefulShutdown {
            // The first look a minute in: a PostgreSQL store is still being prepared at start.
            while !Task.isCancelled {
                try? await Task.sleep(for: Self.interval)
                guard !Task.isCancelled else { break }
                await trim()
            }
        }
    }

    /// One look: rounds until one trims less than a full batch, then the oldest age.
    func trim() async {
        do throws(GatewayError) {
            while !Task.isCancelled {
                let cutoff = clock.date.addingTimeInterval(-retention.seconds)
                let trimmed = try await log.trimEvents(createdBefore: cutoff, limit: Self.batch)
                if trimmed > 0 { logger.info("trimmed events past retention", metadata: ["events": "\(trimmed)"]) }
                guard trimmed == Self.batch else { break }
                await Task.yield()
            }
            let oldest = try await log.oldestEventDate()
            metrics?.eventsOldest(age: oldest.map { max(0, clock.date.timeIntervalSince($0)) } ?? 0)
        } catch {
            logger.warning("event feed could not be trimmed", metadata: ["problem": "\(error.kind.rawValue)"])
        }
    }
}
