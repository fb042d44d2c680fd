/// The anti-captcha protocol's error codes (CapMonster Cloud, anti-captcha.com) in taskgate's
/// kinds. A code that ends one task (`taskFailureCodes`) is not an error but the task's answer:
/// it failed.
enum CapMonsterErrors {
    typealias Rule = VendorErrorTable.Rule

    static let table = VendorErrorTable([
        Rule(.codes(["ERROR_NO_SUCH_CAPCHA_ID", "WRONG_CAPTCHA_ID"]), .taskNotFound, "The vendor does not know this task."),
        // The account: key, balance, IP. Never echoed to callers.
        Rule(.codes(accountCodes), .vendorRejectedCredentials, "The vendor refused taskgate's account for this provider."),
        Rule(.prefix("ERROR_IP_"), .vendorRejectedCredentials, "The vendor refused taskgate's account for this provider."),
        // The vendor's 120 result requests for this task are spent: final. Asking again goes
        // further over a limit that can lock the account, so the task's budget is marked spent.
        Rule(
            .code("ERROR_TOO_MUCH_REQUESTS"),
            .taskBudgetExhausted,
            "The vendor says its request limit for this task is spent; taskgate will not ask about it again.",
            alert: true
        ),
        Rule(.code("ERROR_NO_SLOT_AVAILABLE"), .vendorThrottled, "The vendor has no free worker; try again later.", retryAfter: 5),
        // Anything else the vendor names (ERROR_CAPTCHA_NOT_READY, a new code) is its answer, not
        // garbage: it says nothing about the vendor's health.
        Rule(.any, .vendorError, "The vendor answered an error code taskgate does not map."),
    ])

    static let accountCodes: Set<String> = [
        "ERROR_KEY_DOES_NOT_EXIST", "ERROR_ZERO_BALANCE", "ERROR_ACCOUNT_SUSPENDED", "ERROR_ACCESS_DENIED", "ERROR_NO_SUCH_CAPCHA_KEY",
    ]

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
}
