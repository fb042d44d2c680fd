/// Alibaba Cloud's error codes (the common RPC errors and multimediaai's own) in taskgate's
/// kinds. Retries follow the official SDK: it retries HTTP 500/502/503/504 and throttling for
/// read-only calls, so every code that comes with a server error status is `vendor-unavailable`
/// (retried), whatever its name (`InternalError`, `ServiceUnavailable`, `UnknownError`).
enum AliyunErrors {
    typealias Rule = VendorErrorTable.Rule

    static let table = VendorErrorTable(
        retryAfterHeader: "x-acs-retry-after",
        [
            // Throttling: the SDK retries it; so does taskgate, no sooner than x-acs-retry-after.
            Rule(.prefix("Throttling"), .vendorThrottled, "The vendor is throttling requests.", retryAfter: 1),
            Rule(.code("ServiceUnavailable.Throttling"), .vendorThrottled, "The vendor is throttling requests.", retryAfter: 1),
            // The request's time: this host's clock is off; every signed call fails until it is fixed.
            Rule(
                .prefix("InvalidTimeStamp"),
                .vendorRejectedCredentials,
                "The vendor rejected taskgate's request time: this host's clock is off (clock skew).",
                alert: true
            ),
            // The account: keys, signature, permissions, the service not opened or not paid for.
            Rule(.codes(credentialCodes), .vendorRejectedCredentials, credentialDetail),
            Rule(.prefix("InvalidAccessKeyId"), .vendorRejectedCredentials, credentialDetail),
            Rule(.prefix("InvalidSecurityToken"), .vendorRejectedCredentials, credentialDetail),
            Rule(.prefix("Forbidden"), .vendorRejectedCredentials, credentialDetail),
            Rule(.prefix("NoPermission"), .vendorRejectedCredentials, credentialDetail),
            // A wrong endpoint, version or action: taskgate's configuration, not a missing task.
            Rule(
                .codes(["InvalidApiNotFound", "InvalidApi.NotFound", "InvalidAction.NotFound", "InvalidVersion"]),
                .vendorError,
                "The vendor does not know the call taskgate made: check the provider's endpoint.",
                alert: true
            ),
            // A nonce seen twice: signed once more with a new one.
            Rule(.code("SignatureNonceUsed"), .vendorError, "The vendor saw a request nonce twice.", signAgain: true),
            // The task.
            Rule(.prefix("ResourceNotFound"), .taskNotFound, "The vendor does not know this task."),
            Rule(.prefix("InvalidTaskId"), .taskNotFound, "The vendor does not know this task."),
            // Server errors, whatever the code: the SDK retries HTTP 500, 502, 503 and 504.
            Rule(.httpStatus(500...599), .vendorUnavailable, "The vendor failed internally; it may pass."),
            Rule(.any, .vendorError, "The vendor refused the request."),
        ]
    )

    static let credentialDetail = "The vendor refused taskgate's credentials or permissions for this provider."

    /// Codes about the account rather than the request (the seeds answer most with HTTP 401/403/406).
    static let credentialCodes: Set<String> = [
        "SignatureDoesNotMatch", "IncompleteSignature", "InvalidSignatureMethod", "Unauthorized", "ServiceNotOpened",
        "ServiceNotSelected", "BalanceNotEnough", "InsufficientBalance", "AccountArrears", "InvalidAccountStatus", "NotApplied", "UserDisabled",
    ]
}
