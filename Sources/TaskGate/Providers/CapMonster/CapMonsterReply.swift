import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Reads a getTaskResult answer of the anti-captcha protocol into a `TaskRecord` or a `GatewayError`.
enum CapMonsterReply {
    /// Keys taskgate maps; the rest of an answer (`cost`, `ip`, `solveCount`, `createTime`,
    /// `endTime`) is kept in `vendorFields`.
    static let mappedKeys: Set<String> = ["errorId", "errorCode", "errorDescription", "status", "solution", "taskId"]

    static func record(
        from response: VendorHTTPClient.Response,
        provider: String,
        kind: String,
        id: String,
        fetchedAt: Date,
        logger: Logger
    ) throws(GatewayError) -> TaskRecord {
        try response.requireSuccess(provider: provider, call: "getTaskResult", logger: logger)
        guard let object = try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any],
            let errorId = object["errorId"] as? Int
        else {
            throw GatewayError(.vendorBadAnswer, "The vendor's answer is not the anti-captcha JSON shape.", provider: provider)
        }
        var record = TaskRecord(provider: provider, kind: kind, id: id, status: .running, fetchedAt: fetchedAt)
        record.createdAt = date(object["createTime"])
        record.vendorFields = JSONFragment.unmappedFields(of: object, mapped: mappedKeys)
        guard errorId == 0 else {
            let code = (object["errorCode"] as? String) ?? "errorId \(errorId)"
            guard CapMonsterErrors.taskFailureCodes.contains(code) else {
                throw CapMonsterErrors.table.error(
                    code: code,
                    in: response,
                    requestID: nil,
                    provider: provider,
                    call: "getTaskResult",
                    logger: logger
                )
            }
            record.status = .failed
            record.vendorStatus = code
            record.error = TaskFailure(code: code, message: object["errorDescription"] as? String)
            record.finishedAt = date(object["endTime"]) ?? fetchedAt
            return record
        }
        let status = object["status"] as? String
        record.vendorStatus = status
        switch status {
        case "idle":
            record.status = .queued
        case "processing":
            record.status = .running
        case "ready":
            record.status = .succeeded
            record.result = object["solution"].flatMap(JSONFragment.init(jsonObject:))
            record.finishedAt = date(object["endTime"]) ?? fetchedAt
        default:
            throw GatewayError(.vendorBadAnswer, "The vendor answered an unknown task status.", provider: provider, vendorCode: status)
        }
        return record
    }

    private static func date(_ value: Any?) -> Date? {
        guard let seconds = value as? Double, seconds > 0 else { return nil }
        return Date(timeIntervalSince1970: seconds)
    }
}
