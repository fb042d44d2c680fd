import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import TaskGate
@testable import TaskGateSimulators

/// Each vendor's error table, row by row, through its simulator: the vendor's code (sent with
/// the HTTP status the vendor documents) → what the caller gets, and how many times the vendor
/// was asked with `retries: 2` (3: retried, as the vendor's official SDK retries it; 1: not).
@Suite(.timeLimit(.minutes(2))) struct VendorErrorTableTests {
    typealias Row = (code: String, status: Int, type: String, attempts: Int)

    static let retryTwice: @Sendable (inout ProviderConfiguration) -> Void = { provider in
        provider.retries = 2
        provider.timeout = .seconds(30)
        provider.staleMax = .zero
    }

    /// The caller's problem for one row: its status, type, the vendor's code and RequestId.
    static func expect(_ response: TestResponse, _ row: Row, hasRequestID: Bool) throws {
        let problem = try response.json()
        #expect(Int(response.status.code) == row.status, "\(row.code)")
        #expect(problem["type"] as? String == "urn:taskgate:problem:\(row.type)", "\(row.code)")
        #expect(problem["vendorCode"] as? String == row.code)
        #expect(((problem["vendorRequestId"] as? String)?.isEmpty == false) == hasRequestID)
    }

    @Test(
        arguments: [
            // Alibaba — the SDK retries HTTP 500/502/503/504 and throttling.
            ("Throttling.User", 503, "vendor-throttled", 3),
            ("ServiceUnavailable", 502, "vendor-unavailable", 3),  // HTTP 500
            ("InternalError", 502, "vendor-unavailable", 3),  // HTTP 500
            ("UnknownError", 502, "vendor-unavailable", 3),  // HTTP 500
            ("Unauthorized", 502, "vendor-rejected-credentials", 1),  // HTTP 401
            ("ServiceNotOpened", 502, "vendor-rejected-credentials", 1),  // HTTP 401
            ("BalanceNotEnough", 502, "vendor-rejected-credentials", 1),  // HTTP 401
            ("ServiceNotSelected", 502, "vendor-rejected-credentials", 1),  // HTTP 406
            ("Forbidden.RAM", 502, "vendor-rejected-credentials", 1),  // HTTP 403
            ("InvalidTimeStamp.Format", 502, "vendor-rejected-credentials", 1),
            ("InvalidApiNotFound", 502, "vendor-error", 1),  // HTTP 404: a wrong endpoint, not a missing task
            ("InvalidApi.NotFound", 502, "vendor-error", 1),
            ("InvalidAction.NotFound", 502, "vendor-error", 1),
            ("ResourceNotFound", 404, "task-not-found", 1),  // HTTP 404
            ("InvalidParameter", 502, "vendor-error", 1),
            ("Some.NewCode", 502, "vendor-error", 1),
        ] as [Row]
    )
    func aliyun(_ row: Row) async throws {
        try await withAliyunGateway(configure: Self.retryTwice) { client, sim in
            addTask(sim.state, id: "81", SimulatedTask.Step(answer: .vendorError(code: row.code)))
            try Self.expect(try await client.get("/tasks/aliyun/81"), row, hasRequestID: true)
            #expect(sim.state.calls(for: "81")["GetTaskResult"] == row.attempts)
        }
    }

    @Test(
        arguments: [
            // Tencent — errors come as HTTP 200; the SDK retries RequestLimitExceeded* only.
            ("RequestLimitExceeded", 503, "vendor-throttled", 3),
            ("RequestLimitExceeded.UinLimitExceeded", 503, "vendor-throttled", 3),
            ("InternalError", 502, "vendor-error", 1),
            ("ServiceUnavailable", 502, "vendor-error", 1),
            ("AuthFailure.SignatureFailure", 502, "vendor-rejected-credentials", 1),
            ("AuthFailure.SignatureExpire", 502, "vendor-rejected-credentials", 1),
            ("UnauthorizedOperation", 502, "vendor-rejected-credentials", 1),
            ("FailedOperation.InvalidMpsUser", 502, "vendor-rejected-credentials", 1),
            ("ResourceNotFound.TaskNotFound", 404, "task-not-found", 1),
            ("FailedOperation.TaskNotFound", 404, "task-not-found", 1),
            ("InvalidParameterValue.TaskId", 400, "malformed-id", 1),
            ("InvalidAction", 502, "vendor-error", 1),
            ("Some.NewCode", 502, "vendor-error", 1),
        ] as [Row]
    )
    func tencent(_ row: Row) async throws {
        let id = TencentMPSProviderTests.workflow
        try await withTencentGateway(configure: Self.retryTwice) { client, sim in
            addTask(sim.state, id: id, SimulatedTask.Step(answer: .vendorError(code: row.code)))
            try Self.expect(try await client.get("/tasks/tencent/\(id)"), row, hasRequestID: true)
            #expect(sim.state.calls(for: id)["DescribeTaskDetail"] == row.attempts)
        }
    }

    @Test(
        arguments: [
            // CapMonster — HTTP 200 with errorId 1 and errorCode.
            ("ERROR_NO_SLOT_AVAILABLE", 503, "vendor-throttled", 3),
            ("ERROR_TOO_MUCH_REQUESTS", 429, "task-budget-exhausted", 1),  // final: see CapMonsterBudgetTests
            ("ERROR_NO_SUCH_CAPCHA_ID", 404, "task-not-found", 1),
            ("ERROR_KEY_DOES_NOT_EXIST", 502, "vendor-rejected-credentials", 1),
            ("ERROR_ZERO_BALANCE", 502, "vendor-rejected-credentials", 1),
            ("ERROR_IP_BANNED", 502, "vendor-rejected-credentials", 1),
            ("ERROR_CAPTCHA_NOT_READY", 502, "vendor-error", 1),
            ("ERROR_SOMETHING_NEW", 502, "vendor-error", 1),
        ] as [Row]
    )
    func capMonster(_ row: Row) async throws {
        try await withCapMonsterGateway(configure: Self.retryTwice) { client, sim in
            addTask(sim.state, id: "46", SimulatedTask.Step(answer: .vendorError(code: row.code)))
            try Self.expect(try await client.get("/tasks/capmonster/46"), row, hasRequestID: false)
            #expect(sim.state.calls(for: "46")["getTaskResult"] == row.attempts)
        }
    }

    /// A vendor that names its error has answered: unknown codes say nothing about its health and
    /// must not suspend calls for every other task of the provider.
    @Test func unknownVendorCodesDoNotOpenTheCircuit() async throws {
        let configure: @Sendable (inout ProviderConfiguration) -> Void = { $0.circuitFailures = 2 }
        try await withCapMonsterGateway(configure: configure) { client, sim in
            for (index, id) in ["61", "62", "63", "64"].enumerated() {
                let code = index.isMultiple(of: 2) ? "ERROR_CAPTCHA_NOT_READY" : "ERROR_SOMETHING_NEW"
                addTask(sim.state, id: id, SimulatedTask.Step(answer: .vendorError(code: code)))
                let response = try await client.get("/tasks/capmonster/\(id)")
                #expect(try response.json()["type"] as? String == "urn:taskgate:problem:vendor-error")
            }
            #expect(sim.state.totalCalls == 4)
        }
    }

    /// The one table of what each kind means: the rules the vendor tables above rely on.
    @Test func retriedKindsAreTheOnesThatMayPass() {
        let retried = GatewayError.Kind.allCases.filter(\.handling.retried)
        #expect(Set(retried) == [.vendorUnreachable, .vendorUnavailable, .vendorThrottled])
        let counted = GatewayError.Kind.allCases.filter(\.handling.countsAgainstVendor)
        #expect(!counted.contains(.vendorError) && !counted.contains(.vendorRejectedCredentials) && !counted.contains(.taskNotFound))
        #expect(GatewayError.Kind.vendorRejectedCredentials.handling.logLevel == .error)
    }
}
