import Logging

/// One vendor's errors in taskgate's problem kinds: rules read top to bottom, the first that
/// matches wins, the last matches anything. Each vendor folder has one (`AliyunErrors.table`,
/// `TencentErrors.table`, `CapMonsterErrors.table`) written to be read beside the vendor's
/// published error list, with the vendor's own Retry-After header when it has one; what a kind
/// means for retries, the circuit breaker and logging is said once, in
/// `GatewayError.Kind.handling`.
struct VendorErrorTable: Sendable {
    /// What a rule matches: the vendor's error code, or the HTTP status it came with.
    enum Match: Sendable {
        case code(String)
        case codes(Set<String>)
        case prefix(String)
        case httpStatus(ClosedRange<Int>)
        case any

        func matches(code: String, httpStatus: Int) -> Bool {
            switch self {
            case .code(let name): code == name
            case .codes(let names): names.contains(code)
            case .prefix(let start): code.hasPrefix(start)
            case .httpStatus(let range): range.contains(httpStatus)
            case .any: true
            }
        }
    }

    struct Rule: Sendable {
        var match: Match
        var kind: GatewayError.Kind
        /// What the caller is told; never the vendor's own words (they can quote keys).
        var detail: String
        /// Seconds to wait when the vendor sends no Retry-After.
        var retryAfter: Int? = nil
        /// Logged at error level the moment the vendor says it: an operator must act (the host's
        /// clock, a vendor limit overrun, a misconfigured endpoint).
        var alert: Bool = false
        /// The vendor refused the request's one-time parts (a nonce seen twice): the call is
        /// signed anew and sent once more at once, whatever the kind says of retries.
        var signAgain: Bool = false

        init(_ match: Match, _ kind: GatewayError.Kind, _ detail: String, retryAfter: Int? = nil, alert: Bool = false, signAgain: Bool = false) {
            self.match = match
            self.kind = kind
            self.detail = detail
            self.retryAfter = retryAfter
            self.alert = alert
            self.signAgain = signAgain
        }
    }

    let rules: [Rule]
    /// The vendor's own header for seconds to wait, read after the standard `Retry-After`.
    let retryAfterHeader: String?

    init(retryAfterHeader: String? = nil, _ rules: [Rule]) {
        precondition(rules.last.map { if case .any = $0.match { true } else { false } } ?? false, "a vendor error table ends with .any")
        self.rules = rules
        self.retryAfterHeader = retryAfterHeader
    }

    func rule(code: String, httpStatus: Int) -> Rule {
        rules.first { $0.match.matches(code: code, httpStatus: httpStatus) }!
    }

    /// The classified error for `response`, whose body names the vendor's error `code`.
    func error(
        code: String,
        in response: VendorHTTPClient.Response,
        requestID: String?,
        provider: String,
        call: String,
        logger: Logger
    ) -> GatewayError {
        error(
            code: code,
            httpStatus: response.status,
            requestID: requestID,
            retryAfter: response.retryAfter(vendorHeader: retryAfterHeader),
            provider: provider,
            call: call,
            logger: logger
        )
    }

    /// The classified error for a vendor's answer that carries an error code.
    func error(
        code: String,
        httpStatus: Int,
        requestID: String?,
        retryAfter: Int?,
        provider: String,
        call: String,
        logger: Logger
    ) -> GatewayError {
        let rule = rule(code: code, httpStatus: httpStatus)
        if rule.alert {
            logger.error(
                "\(rule.detail)",
                metadata: [
                    "provider": "\(provider)", "call": "\(call)", "vendor_code": "\(code)", "vendor_request_id": "\(requestID ?? "-")",
                ]
            )
        }
        var error = GatewayError(
            rule.kind,
            rule.detail,
            provider: provider,
            vendorCode: code,
            vendorRequestID: requestID,
            retryAfter: retryAfter ?? rule.retryAfter
        )
        error.signAgain = rule.signAgain
        return error
    }

    /// An HTTP answer that is not a success and carries no vendor error code (a proxy's page, a
    /// bare status), the same for every vendor: the vendor's gateway is throttling or failing.
    /// Both official SDKs retry these as network failures.
    static let http = VendorErrorTable([
        Rule(.httpStatus(429...429), .vendorThrottled, "The vendor is throttling requests.", retryAfter: 1),
        Rule(.httpStatus(500...599), .vendorUnavailable, "The vendor answered a server error."),
        Rule(.any, .vendorBadAnswer, "The vendor answered an HTTP status taskgate does not expect."),
    ])
}

extension VendorHTTPClient.Response {
    /// Throws the `VendorErrorTable.http` error for a status that is not success. Vendors that
    /// put their own error codes in 4xx/5xx bodies read those first.
    /// - Parameter vendorRetryAfterHeader: the vendor's own Retry-After header, if it has one.
    func requireSuccess(provider: String, call: String, vendorRetryAfterHeader: String? = nil, logger: Logger) throws(GatewayError) {
        guard !(200...299).contains(status) else { return }
        throw VendorErrorTable.http.error(
            code: "HTTP \(status)",
            httpStatus: status,
            requestID: nil,
            retryAfter: retryAfter(vendorHeader: vendorRetryAfterHeader),
            provider: provider,
            call: call,
            logger: logger
        )
    }
}
