import Foundation
import Logging

/// A vendor's limit on requests about one task (CapMonster: 120 result requests, at most one
/// every 2 s; more can lock the account). Every request is counted in the store before it is
/// sent, so a restart neither forgets the count nor lets a crash undercount it.
struct TaskCallBudget: Sendable {
    let provider: String
    /// Whose budget this is: the vendor account (`ProviderConfiguration.accountKey`).
    let account: String
    /// Requests taskgate allows itself per task (below the vendor's own limit).
    let limit: Int
    /// Shortest time between two requests about one task.
    let spacing: Duration
    let store: any VendorBudgetStore
    let clock: any GatewayClock
    let metrics: GatewayMetrics?

    /// Counts one request about `task`, waiting for the spacing when it ends before `deadline`.
    /// - Throws: `task-budget-exhausted` (429) once the budget is spent; `vendor-throttled` (503)
    ///   when the spacing ends after the deadline; `store-unavailable` when the count cannot be written.
    func spend(task: String, deadline: ContinuousClock.Instant, logger: Logger) async throws(GatewayError) {
        while true {
            switch try await store.reserveVendorCall(account: account, id: task, limit: limit, spacing: spacing.seconds, now: clock.date) {
            case .granted:
                return
            case .exhausted(let calls):
                metrics?.vendorCallRefused(provider: provider, reason: "task_budget")
                logger.notice("task budget spent; the vendor is not asked again", metadata: ["provider": "\(provider)", "calls": "\(calls)"])
                throw GatewayError(
                    .taskBudgetExhausted,
                    "taskgate has asked the vendor about this task \(calls) times, its budget; it will not ask again.",
                    provider: provider
                )
            case .spentByVendor(let calls):
                metrics?.vendorCallRefused(provider: provider, reason: "task_budget")
                throw GatewayError(
                    .taskBudgetExhausted,
                    "The vendor said its request limit for this task was spent (taskgate had asked \(calls) times); it will not ask again.",
                    provider: provider,
                    vendorCode: "ERROR_TOO_MUCH_REQUESTS"
                )
            case .notBefore(let date):
                let wait = Duration.milliseconds(Seconds.whole(date.timeIntervalSince(clock.date) * 1000, rounding: .up))
                guard clock.now + wait < deadline else {
                    metrics?.vendorCallRefused(provider: provider, reason: "task_spacing")
                    throw GatewayError(
                        .vendorThrottled,
                        "The vendor allows one request about a task every \(spacing); try again shortly.",
                        provider: provider,
                        vendorCode: "local task spacing",
                        retryAfter: max(1, Int(wait.seconds.rounded(.up)))
                    )
                }
                do {
                    try await clock.sleep(for: max(wait, .milliseconds(1)))
                } catch {
                    throw GatewayError(.vendorTimeout, "The vendor call was cancelled.", provider: provider)
                }
            }
        }
    }
}

extension TaskCallBudget {
    /// The vendor said the task's limit is spent: no request about it is sent again, on any
    /// replica, after any restart.
    func markSpentByVendor(task: String, logger: Logger) async {
        do throws(GatewayError) {
            try await store.markVendorBudgetSpent(account: account, id: task, now: clock.date)
        } catch {
            logger.error("could not record that the vendor spent a task's budget", metadata: ["provider": "\(provider)"])
        }
    }
}

/// What the store says about one more vendor request for a task.
public enum VendorCallReservation: Sendable, Equatable {
    /// Counted; send it.
    case granted(calls: Int)
    /// The budget is spent (`calls` made).
    case exhausted(calls: Int)
    /// The vendor said the task's limit is spent (`calls` made by taskgate).
    case spentByVendor(calls: Int)
    /// Too soon after the previous request; ask again at this time.
    case notBefore(Date)
}
