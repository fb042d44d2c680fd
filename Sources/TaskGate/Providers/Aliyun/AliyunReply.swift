import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// An Alibaba RPC answer: the JSON body of a success, or the vendor's error classified by
/// `AliyunErrors.table`.
struct AliyunReply {
    let body: [String: Any]
    let requestID: String?

    /// `Code` values that mean success: the seed's GetTaskResult example sends `"Code": "OK"`,
    /// other Alibaba APIs `"200"` or `"Success"`.
    static let successCodes: Set<String> = ["OK", "Ok", "ok", "200", "Success", "SUCCESS", "0"]

    /// Reads a response; any error the vendor states becomes a classified `GatewayError` carrying
    /// its code and RequestId (never its message, which can quote the string it signed).
    init(_ response: VendorHTTPClient.Response, provider: String, call: String, logger: Logger) throws(GatewayError) {
        let object = try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
        let requestID = object?["RequestId"] as? String
        let code = (object?["Code"] as? String) ?? (object?["Code"] as? Int).map(String.init)
        let saysFailure = (code.map { !Self.successCodes.contains($0) } ?? false) && object?["Success"] as? Bool != true
        if let code, saysFailure || !(200...299).contains(response.status) {
            throw AliyunErrors.table.error(
                code: code,
                in: response,
                requestID: requestID,
                provider: provider,
                call: call,
                logger: logger
            )
        }
        try response.requireSuccess(provider: provider, call: call, vendorRetryAfterHeader: AliyunErrors.table.retryAfterHeader, logger: logger)
        guard let object else {
            throw GatewayError(.vendorBadAnswer, "The vendor's answer is not JSON.", provider: provider)
        }
        if object["Success"] as? Bool == false {
            throw AliyunErrors.table.error(
                code: "Success=false",
                in: response,
                requestID: requestID,
                provider: provider,
                call: call,
                logger: logger
            )
        }
        self.body = object
        self.requestID = requestID
    }

    /// `Status` of a GetTaskStatus or GetTaskResult answer.
    static func statusCode(_ body: [String: Any], provider: String) throws(GatewayError) -> Int {
        guard let status = body["Status"] as? Int, (0...3).contains(status) else {
            throw GatewayError(
                .vendorBadAnswer,
                "The vendor's answer has no task Status taskgate knows.",
                provider: provider,
                vendorRequestID: body["RequestId"] as? String
            )
        }
        return status
    }

    static func taskStatus(_ code: Int) -> TaskStatus {
        switch code {
        case 0: .queued
        case 1: .running
        case 2: .succeeded
        default: .failed
        }
    }

    /// Keys taskgate maps (or that describe the call, not the task); everything else a task
    /// object holds is kept in `vendorFields`.
    static let mappedKeys: Set<String> = [
        "RequestId", "Code", "Message", "Success", "HttpStatusCode", "HostId", "Recommend", "TaskId", "Status", "Result",
        "CreateTime", "CompleteTime", "FinishTime", "ErrorCode", "ErrorName", "ErrorMessage", "ErrorReason",
    ]

    /// A task from GetTaskStatus / GetTaskResult (`Status`, `Result`) or one ListTasks item.
    static func record(
        _ object: [String: Any],
        provider: String,
        kind: String,
        id: String,
        fetchedAt: Date,
        requestID: String?
    ) throws(GatewayError) -> TaskRecord {
        let code = try statusCode(object, provider: provider)
        var record = TaskRecord(provider: provider, kind: kind, id: id, status: taskStatus(code), vendorStatus: String(code), fetchedAt: fetchedAt)
        record.vendorRequestID = requestID
        let result = object["Result"] as? [String: Any]
        record.createdAt = date(object["CreateTime"])
        record.finishedAt = date(object["CompleteTime"] ?? object["FinishTime"])
        if record.status == .failed {
            record.error = failure(in: result ?? object) ?? failure(in: object) ?? TaskFailure(code: "Status 3", message: nil)
        }
        if let result { record.result = JSONFragment(jsonObject: result) }
        record.vendorFields = JSONFragment.unmappedFields(of: object, mapped: mappedKeys)
        return record
    }

    /// A failed task's error in the seed's fields: the most specific name the vendor gives
    /// (`ErrorName` when `ErrorCode` is a bare HTTP-like number such as `"400"`), and its words.
    static func failure(in object: [String: Any]) -> TaskFailure? {
        let errorCode = (object["ErrorCode"] as? String) ?? (object["ErrorCode"] as? Int).map(String.init)
        let errorName = (object["ErrorName"] as? String).flatMap { $0.isEmpty ? nil : $0 }
        let bare = errorCode.map { !$0.isEmpty && $0.allSatisfy(\.isNumber) } ?? true
        guard let code = bare ? (errorName ?? errorCode) : errorCode else { return nil }
        let message = [object["ErrorMessage"], object["ErrorReason"]].lazy.compactMap { $0 as? String }.first { !$0.isEmpty }
        return TaskFailure(code: code, message: message)
    }

    /// Adds what a ListTasks item knows and GetTaskResult does not (CreateTime and the item's
    /// own fields), so a task's one stored answer is the richer one whichever call found it.
    static func enrich(_ record: inout TaskRecord, with item: [String: Any]) {
        record.createdAt = record.createdAt ?? date(item["CreateTime"])
        record.finishedAt = record.finishedAt ?? date(item["CompleteTime"] ?? item["FinishTime"])
        var fields = record.vendorFields.flatMap { try? JSONSerialization.jsonObject(with: Data($0.bytes)) as? [String: Any] } ?? [:]
        for (key, value) in item where !mappedKeys.contains(key) && !(value is NSNull) && fields[key] == nil {
            fields[key] = value
        }
        record.vendorFields = fields.isEmpty ? nil : JSONFragment(jsonObject: fields)
        if record.status == .failed, record.error == nil { record.error = failure(in: item) }
    }

    /// The TaskId of a ListTasks item: a Long (the seed's type), or its text.
    static func taskID(_ item: [String: Any]) -> String? {
        if let number = item["TaskId"] as? Int64 { return String(number) }
        if let number = item["TaskId"] as? Int { return String(number) }
        return item["TaskId"] as? String
    }

    /// Alibaba times: `yyyy-MM-ddTHH:mm:ssZ`, or epoch milliseconds.
    static func date(_ value: Any?) -> Date? {
        if let text = value as? String { return AliyunTimestamp.parse(text) }
        if let millis = value as? Double, millis > 0 { return Date(timeIntervalSince1970: millis / 1000) }
        return nil
    }
}
