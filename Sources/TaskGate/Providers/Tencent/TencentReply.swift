import Foundation
import Logging
import NIOCore

/// A Tencent Cloud API 3.0 answer: `{"Response": {...}}`, with errors as HTTP 200 and
/// `Response.Error.Code`.
struct TencentReply {
    let body: [String: Any]
    let requestID: String?

    init(_ response: VendorHTTPClient.Response, provider: String, call: String, logger: Logger) throws(GatewayError) {
        try response.requireSuccess(provider: provider, call: call, logger: logger)
        guard let object = try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any],
            let inner = object["Response"] as? [String: Any]
        else {
            throw GatewayError(.vendorBadAnswer, "The vendor's answer is not the Tencent Cloud API 3.0 shape.", provider: provider)
        }
        let requestID = inner["RequestId"] as? String
        if let error = inner["Error"] as? [String: Any] {
            throw TencentErrors.table.error(
                code: (error["Code"] as? String) ?? "UnknownError",
                in: response,
                requestID: requestID,
                provider: provider,
                call: call,
                logger: logger
            )
        }
        self.body = inner
        self.requestID = requestID
    }

    /// The task object of each TaskType in DescribeTaskDetail.
    static let taskObjectKeys = [
        "WorkflowTask", "EditMediaTask", "LiveStreamProcessTask", "ScheduleTask", "ExtractBlindWatermarkTask", "LiveScheduleTask",
    ]

    /// Keys taskgate maps (or that describe the call); everything else of a task is kept in
    /// `vendorFields` (TaskType, SessionId, SessionContext, TasksPriority, ExtInfo, …).
    static let mappedKeys = Set(["RequestId", "TaskId", "Status", "CreateTime", "FinishTime"] + taskObjectKeys)

    /// DescribeTaskDetail → task. FINISH is failed when the task, or any sub-task, has a non-zero ErrCode.
    static func record(
        detail: [String: Any],
        provider: String,
        kind: String,
        id: String,
        fetchedAt: Date,
        requestID: String?
    ) throws(GatewayError) -> TaskRecord {
        guard let vendorStatus = detail["Status"] as? String else {
            throw GatewayError(.vendorBadAnswer, "The vendor's answer has no task Status.", provider: provider, vendorRequestID: requestID)
        }
        var record = TaskRecord(provider: provider, kind: kind, id: id, status: .running, vendorStatus: vendorStatus, fetchedAt: fetchedAt)
        record.createdAt = date(detail["CreateTime"])
        record.finishedAt = date(detail["FinishTime"])
        record.vendorRequestID = requestID
        record.vendorFields = JSONFragment.unmappedFields(of: detail, mapped: mappedKeys)
        let taskType = detail["TaskType"] as? String
        let task = taskType.flatMap { detail[$0] as? [String: Any] } ?? taskObjectKeys.lazy.compactMap { detail[$0] as? [String: Any] }.first
        record.result = task.flatMap(JSONFragment.init(jsonObject:))
        switch vendorStatus {
        case "WAITING": record.status = .queued
        case "PROCESSING": record.status = .running
        case "FINISH":
            if let failure = task.flatMap(firstFailure) {
                record.status = .failed
                record.error = failure
            } else {
                record.status = .succeeded
            }
        default:
            throw GatewayError(
                .vendorBadAnswer,
                "The vendor answered an unknown task Status.",
                provider: provider,
                vendorCode: vendorStatus,
                vendorRequestID: requestID
            )
        }
        return record
    }

    /// The first non-zero ErrCode in a task object or anywhere in its sub-tasks.
    static func firstFailure(in object: [String: Any]) -> TaskFailure? {
        if let code = object["ErrCode"] as? Int, code != 0 {
            let extended = (object["ErrCodeExt"] as? String).flatMap { $0.isEmpty ? nil : $0 }
            return TaskFailure(code: extended ?? String(code), message: object["Message"] as? String)
        }
        for (key, value) in object.sorted(by: { $0.key < $1.key }) where key != "InputInfo" && key != "MetaData" {
            if let child = value as? [String: Any], let failure = firstFailure(in: child) { return failure }
            if let children = value as? [[String: Any]] {
                for child in children {
                    if let failure = firstFailure(in: child) { return failure }
                }
            }
        }
        return nil
    }

    /// A time field's value; nil for "not yet" (`TencentTimestamp`).
    static func date(_ value: Any?) -> Date? {
        (value as? String).flatMap(TencentTimestamp.parse)
    }
}
