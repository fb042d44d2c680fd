import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// An Alibaba RPC answer: the JSON body of a success, or the vendor's error classified.
struct AliyunReply {
    let body: [String: Any]
    let requestID: String?

    /// Reads a response; any error the vendor states becomes a classified `GatewayError` carrying
    /// its code and RequestId (never its message, which can quote the string it signed).
    init(_ response: VendorHTTPClient.Response, provider: String, call: String, logger: Logger) throws(GatewayError) {
        let object = try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
        let requestID = object?["RequestId"] as? String
        if let code = object?["Code"] as? String, !(200...299).contains(response.status) || object?["Status"] == nil {
            throw Self.classify(
                code: code,
                httpStatus: response.status,
                requestID: requestID,
                retryAfter: response.retryAfter,
                provider: provider,
                call: call,
                logger: logger
            )
        }
        try response.requireSuccess(provider: provider)
        guard let object else {
            throw GatewayError(.vendorBadAnswer, "The vendor's answer is not JSON.", provider: provider)
        }
        self.body = object
        self.requestID = requestID
    }

    /// The vendor's error codes in DESIGN.md's classes.
    static func classify(
        code: String,
        httpStatus: Int,
        requestID: String?,
        retryAfter: Int?,
        provider: String,
        call: String,
        logger: Logger
    ) -> GatewayError {
        let metadata: Logger.Metadata = [
            "provider": "\(provider)", "call": "\(call)", "vendor_code": "\(code)", "vendor_request_id": "\(requestID ?? "-")",
        ]
        func error(_ kind: GatewayError.Kind, _ detail: String, retryAfter: Int? = nil) -> GatewayError {
            GatewayError(kind, detail, provider: provider, vendorCode: code, vendorRequestID: requestID, retryAfter: retryAfter)
        }
        if code == "InvalidTimeStamp.Expired" {
            logger.error("the vendor rejected the request time: this host's clock is off", metadata: metadata)
            return error(.vendorRejectedCredentials, "The vendor rejected taskgate's request time (clock skew).")
        }
        if code.hasPrefix("Throttling") || code == "ServiceUnavailable.Throttling" {
            return error(.vendorThrottled, "The vendor is throttling requests.", retryAfter: retryAfter)
        }
        if code == "ServiceUnavailable" {
            return error(.vendorUnavailable, "The vendor is temporarily unavailable.", retryAfter: retryAfter)
        }
        if code == "InternalError" || code == "UnknownError" || code.hasPrefix("InternalError.") {
            return error(.vendorError, "The vendor failed internally.")
        }
        let credentialMarkers = [
            "Signature", "InvalidAccessKeyId", "Forbidden", "NoPermission", "Unauthorized", "NotOpen", "NotActivated",
            "Arrear", "Balance", "InvalidSecurityToken", "AccessKey", "NotApplied",
        ]
        if credentialMarkers.contains(where: { code.contains($0) }) {
            logger.error("the vendor refused taskgate's credentials", metadata: metadata)
            return error(.vendorRejectedCredentials, "The vendor refused taskgate's credentials or permissions for this provider.")
        }
        if code.hasPrefix("ResourceNotFound") || code.hasSuffix(".NotFound") || code.hasPrefix("InvalidTaskId") || httpStatus == 404 {
            return error(.taskNotFound, "The vendor does not know this task.")
        }
        logger.warning("the vendor refused the request", metadata: metadata)
        return error(.vendorError, "The vendor refused the request.")
    }

    /// `Status` of a GetTaskStatus or GetTaskResult answer.
    static func statusCode(_ body: [String: Any], provider: String) throws(GatewayError) -> Int {
        guard let status = body["Status"] as? Int, (0...3).contains(status) else {
            throw GatewayError(.vendorBadAnswer, "The vendor's answer has no task Status taskgate knows.", provider: provider)
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

    /// A task from GetTaskStatus / GetTaskResult (`Status`, `Result`) or one ListTasks item.
    static func record(_ object: [String: Any], provider: String, kind: String, id: String, fetchedAt: Date) throws(GatewayError) -> TaskRecord {
        let code = try statusCode(object, provider: provider)
        var record = TaskRecord(provider: provider, kind: kind, id: id, status: taskStatus(code), vendorStatus: String(code), fetchedAt: fetchedAt)
        let result = object["Result"] as? [String: Any]
        record.createdAt = date(object["CreateTime"])
        record.finishedAt = date(object["CompleteTime"] ?? object["FinishTime"])
        let errorSource = result ?? object
        if record.status == .failed {
            let failureCode = (errorSource["ErrorCode"] as? String) ?? (errorSource["ErrorName"] as? String) ?? "Status 3"
            let message = (errorSource["ErrorMessage"] as? String) ?? (errorSource["ErrorReason"] as? String) ?? (errorSource["ErrorName"] as? String)
            record.error = TaskFailure(code: failureCode, message: message)
        }
        if let result { record.result = JSONFragment(jsonObject: result) }
        return record
    }

    /// Alibaba times: `yyyy-MM-ddTHH:mm:ssZ`, or epoch milliseconds.
    static func date(_ value: Any?) -> Date? {
        if let text = value as? String { return AliyunTimestamp.parse(text) }
        if let millis = value as? Double, millis > 0 { return Date(timeIntervalSince1970: millis / 1000) }
        return nil
    }
}
