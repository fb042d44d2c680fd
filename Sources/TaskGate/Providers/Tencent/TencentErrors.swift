/// Tencent Cloud API 3.0's common error codes and MPS's own in taskgate's kinds. Errors come as
/// HTTP 200 with `Response.Error.Code`. Retries follow the official SDK: it retries network
/// errors and `RequestLimitExceeded*` only, so `InternalError` and `ServiceUnavailable` — which
/// the Alibaba SDK retries, as HTTP 5xx — are answered at once here (`vendor-error`).
enum TencentErrors {
    typealias Rule = VendorErrorTable.Rule

    static let table = VendorErrorTable([
        // The SDK's one retried code family.
        Rule(.prefix("RequestLimitExceeded"), .vendorThrottled, "The vendor is throttling requests.", retryAfter: 1),
        // The request's time: this host's clock is off; every signed call fails until it is fixed.
        Rule(
            .code("AuthFailure.SignatureExpire"),
            .vendorRejectedCredentials,
            "The vendor rejected taskgate's request time: this host's clock is off (clock skew).",
            alert: true
        ),
        // The account: keys, signature, permissions, MPS not activated or in arrears.
        Rule(.prefix("AuthFailure"), .vendorRejectedCredentials, credentialDetail),
        Rule(.prefix("UnauthorizedOperation"), .vendorRejectedCredentials, credentialDetail),
        Rule(
            .codes(["FailedOperation.InvalidMpsUser", "FailedOperation.InvalidUser", "ResourceUnavailable.InArrears"]),
            .vendorRejectedCredentials,
            credentialDetail
        ),
        // A wrong endpoint, version or action: taskgate's configuration, not a missing task.
        Rule(
            .codes(["InvalidAction", "NoSuchVersion", "UnsupportedRegion", "InvalidRegion"]),
            .vendorError,
            "The vendor does not know the call taskgate made: check the provider's endpoint and region.",
            alert: true
        ),
        // The task.
        Rule(.prefix("ResourceNotFound"), .taskNotFound, "The vendor does not know this task (Tencent keeps task details 3 days)."),
        Rule(.code("FailedOperation.TaskNotFound"), .taskNotFound, "The vendor does not know this task (Tencent keeps task details 3 days)."),
        Rule(.code("InvalidParameterValue.TaskId"), .malformedID, "The vendor does not accept this TaskId."),
        // The vendor failed: not retried, as the SDK does not (see above).
        Rule(.prefix("InternalError"), .vendorError, "The vendor failed internally."),
        Rule(.code("ServiceUnavailable"), .vendorError, "The vendor is temporarily unavailable."),
        Rule(.any, .vendorError, "The vendor refused the request."),
    ])

    static let credentialDetail = "The vendor refused taskgate's credentials or permissions for this provider."
}
