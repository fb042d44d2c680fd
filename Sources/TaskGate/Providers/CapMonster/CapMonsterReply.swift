import Foundation
import NIOCore
import NIOHTTP1

/// Reads a getTaskResult answer of the anti-captcha protocol into a `TaskRecord` or a `GatewayError`.
enum CapMonsterReply {
    /// Codes that end one task for good: the task failed, and asking again changes nothing.
    static let taskFailureCodes: Set<String> = [
        "ERROR_CAPTCHA_UNSOLVABLE", "ERROR_TOKEN_EXPIRED", "ERROR_DOMAIN_NOT_ALLOWED",
        "ERROR_ZERO_CAPTCHA_FILESIZE", "ERROR_TOO_BIG_CAPTCHA_FILESIZE", "ERROR_IMAGE_TYPE_NOT_SUPPORTED",
        "ERROR_NO_SUCH_METHOD", "ERROR_TASK_NOT_SUPPORTED", "ERROR_TASK_ABSENT", "ERROR_TASK_CANCELED",
        "ERROR_MAXIMUM_TIME_EXCEED", "ERROR_RECAPTCHA_TIMEOUT", "ERROR_RECAPTCHA_INVALID_SITEKEY",
        "ERROR_RECAPTCHA_INVALID_DOMAIN", "ERROR_RECAPTCHA_OLD_BROWSER", "ERROR_PROXY_CONNECT_REFUSED",
        "ERROR_PROXY_CONNECT_TIMEOUT", "ERROR_PROXY_READ_TIMEOUT", "ERROR_PROXY_BANNED",
        "ERROR_PROXY_TRANSPARENT", "ERROR_PROXY_HAS_NO_IMAGE_SUPPORT", "ERROR_PROXY_INCOMPATIBLE_HTTP_VERSION",
        "ERROR_PROXY_NOT_AUTHORISED", "ERROR_FAILED_LOADING_WIDGET", "ERROR_VISIBLE_RECAPTCHA",
        "ERROR_ALL_WORKERS_FILTERED", "ERROR_BAD_PROXY", "ERROR_TEMPLATE_NOT_FOUND", "ERROR_FUNCAPTCHA_NOT_ALLOWED",
    ]
    /// The task id is unknown, expired or was never ours.
    static let notFoundCodes: Set<String> = ["ERROR_NO_SUCH_CAPCHA_ID", "WRONG_CAPTCHA_ID"]
    /// The vendor refuses the account: key, balance, IP. Never echoed to callers.
    static let accountCodes: Set<String> = [
        "ERROR_KEY_DOES_NOT_EXIST", "ERROR_ZERO_BALANCE", "ERROR_IP_NOT_ALLOWED", "ERROR_IP_BANNED",
        "ERROR_IP_BLOCKED", "ERROR_ACCOUNT_SUSPENDED", "ERROR_ACCESS_DENIED", "ERROR_NO_SUCH_CAPCHA_KEY",
    ]
    /// Try again later: (code, seconds to wait).
    static let throttleCodes: [String: Int] = ["ERROR_NO_SLOT_AVAILABLE": 5, "ERROR_TOO_MUCH_REQUESTS": 2]

    static func record(
        from response: VendorHTTPClient.Response,
        provider: String,
        kind: String,
        id: String,
        fetchedAt: Date
    ) throws(GatewayError) -> TaskRecord {
        try response.requireSuccess(provider: provider)
        guard let object = try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any],
            let errorId = object["errorId"] as? Int
        else {
            throw GatewayError(.vendorBadAnswer, "The vendor's answer is not the anti-captcha JSON shape.", provider: provider)
        }
        var record = TaskRecord(provider: provider, kind: kind, id: id, status: .running, fetchedAt: fetchedAt)
        record.createdAt = date(object["createTime"])
        guard errorId == 0 else {
            let code = (object["errorCode"] as? String) ?? "errorId \(errorId)"
            if notFoundCodes.contains(code) {
                throw GatewayError(.taskNotFound, "The vendor does not know task \(id).", provider: provider, vendorCode: code)
            }
            if accountCodes.contains(code) || code.hasPrefix("ERROR_IP_") {
                throw GatewayError(
                    .vendorRejectedCredentials,
                    "The vendor refused taskgate's account for this provider.",
                    provider: provider,
                    vendorCode: code
                )
            }
            if let wait = throttleCodes[code] {
                throw GatewayError(.vendorThrottled, "The vendor asks to retry later.", provider: provider, vendorCode: code, retryAfter: wait)
            }
            guard taskFailureCodes.contains(code) else {
                throw GatewayError(.vendorBadAnswer, "The vendor answered an error taskgate does not know.", provider: provider, vendorCode: code)
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
