import Foundation
import Logging

/// Every way a request can fail, each with a stable problem type and HTTP status.
///
/// Providers, the store and the API throw only this; `ProblemMiddleware` is the one place it
/// becomes `application/problem+json`.
public struct GatewayError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure; its raw value is the stable tail of the problem `type`.
    public enum Kind: String, Sendable, CaseIterable {
        case routeNotFound = "route-not-found"
        case methodNotAllowed = "method-not-allowed"
        case unknownProvider = "unknown-provider"
        case malformedID = "malformed-id"
        case invalidQuery = "invalid-query"
        case notAcceptable = "not-acceptable"
        case taskNotFound = "task-not-found"
        case artifactNotFound = "artifact-not-found"
        case webhookNotFound = "webhook-not-found"
        case deliveryNotFound = "delivery-not-found"
        case eventsExpired = "events-expired"
        case tooManyStreams = "too-many-streams"
        case rangeNotSatisfiable = "range-not-satisfiable"
        case vendorRejectedCredentials = "vendor-rejected-credentials"
        case vendorThrottled = "vendor-throttled"
        case vendorTimeout = "vendor-timeout"
        case vendorUnavailable = "vendor-unavailable"
        case vendorUnreachable = "vendor-unreachable"
        case vendorBadAnswer = "vendor-bad-answer"
        case vendorError = "vendor-error"
        case circuitOpen = "vendor-circuit-open"
        case taskBudgetExhausted = "task-budget-exhausted"
        case unauthorized = "unauthorized"
        case forbidden = "forbidden"
        case uriTooLong = "uri-too-long"
        case headersTooLarge = "request-headers-too-large"
        case malformedRequest = "malformed-request"
        case invalidPath = "invalid-path"
        case storeUnavailable = "store-unavailable"
        case shuttingDown = "shutting-down"
        case `internal` = "internal"

        public var httpStatus: Int {
            switch self {
            case .routeNotFound, .unknownProvider, .taskNotFound, .artifactNotFound, .webhookNotFound, .deliveryNotFound: 404
            case .eventsExpired: 410
            case .rangeNotSatisfiable: 416
            case .methodNotAllowed: 405
            case .malformedID, .invalidQuery, .malformedRequest, .invalidPath: 400
            case .unauthorized: 401
            case .forbidden: 403
            case .notAcceptable: 406
            case .uriTooLong: 414
            case .headersTooLarge: 431
            case .taskBudgetExhausted: 429
            case .vendorRejectedCredentials, .vendorUnreachable, .vendorBadAnswer, .vendorError, .vendorUnavailable: 502
            case .vendorThrottled, .circuitOpen, .storeUnavailable, .shuttingDown, .tooManyStreams: 503
            case .vendorTimeout: 504
            case .internal: 500
            }
        }

        /// A short human title, the same for every problem of this kind (RFC 9457 `title`).
        public var title: String {
            switch self {
            case .routeNotFound: "No such route"
            case .methodNotAllowed: "Method not allowed"
            case .unknownProvider: "Unknown provider"
            case .malformedID: "Malformed task id"
            case .invalidQuery: "Invalid query"
            case .notAcceptable: "No acceptable content coding"
            case .taskNotFound: "Task not found"
            case .artifactNotFound: "Artifact not found"
            case .webhookNotFound: "Webhook not found"
            case .deliveryNotFound: "Delivery not found"
            case .eventsExpired: "Events no longer kept"
            case .tooManyStreams: "Too many event streams open"
            case .rangeNotSatisfiable: "Range not satisfiable"
            case .vendorRejectedCredentials: "Vendor rejected taskgate's credentials"
            case .vendorThrottled: "Vendor is throttling"
            case .vendorTimeout: "Vendor timed out"
            case .vendorUnavailable: "Vendor temporarily unavailable"
            case .vendorUnreachable: "Vendor unreachable"
            case .vendorBadAnswer: "Vendor answer not understood"
            case .vendorError: "Vendor failed the request"
            case .circuitOpen: "Vendor calls suspended after repeated failures"
            case .taskBudgetExhausted: "Vendor request budget for this task spent"
            case .unauthorized: "Missing or unknown API key"
            case .forbidden: "API key not allowed here"
            case .uriTooLong: "Request target too long"
            case .headersTooLarge: "Request header fields too large"
            case .malformedRequest: "Malformed HTTP request"
            case .invalidPath: "Request path not in canonical form"
            case .storeUnavailable: "Store unavailable"
            case .shuttingDown: "Shutting down"
            case .internal: "Internal error"
            }
        }

        /// How taskgate treats a failure of this kind: whether the vendor call is tried again,
        /// whether it counts against the vendor in the circuit breaker, whether a recent
        /// not-final answer may be served instead, and how loud the request's log line is.
        ///
        /// The one table for every kind; each vendor's error table (Providers/<Vendor>/…Errors)
        /// only says which kind a vendor code is.
        public var handling: Handling {
            switch self {
            //                          retried  breaker  stale  log
            case .vendorUnreachable: Handling(true, true, true, .warning)
            case .vendorUnavailable: Handling(true, true, true, .notice)
            case .vendorThrottled: Handling(true, true, true, .notice)
            case .vendorTimeout: Handling(false, true, true, .notice)
            case .vendorBadAnswer: Handling(false, true, true, .warning)
            case .vendorError: Handling(false, false, true, .warning)
            case .circuitOpen: Handling(false, false, true, .notice)
            case .vendorRejectedCredentials: Handling(false, false, false, .error)
            case .taskBudgetExhausted: Handling(false, false, false, .notice)
            case .internal, .storeUnavailable: Handling(false, false, false, .warning)
            case .routeNotFound, .methodNotAllowed, .unknownProvider, .malformedID, .invalidQuery, .notAcceptable, .taskNotFound,
                .artifactNotFound, .webhookNotFound, .deliveryNotFound, .eventsExpired, .tooManyStreams, .rangeNotSatisfiable, .unauthorized,
                .forbidden, .uriTooLong, .headersTooLarge, .malformedRequest, .invalidPath,
                .shuttingDown:
                Handling(false, false, false, .debug)
            }
        }

        /// Seconds a caller is told to wait when nobody said better (the vendor's Retry-After wins).
        public var defaultRetryAfter: Int? {
            switch self {
            case .vendorThrottled: 1
            case .vendorUnavailable: 2
            case .tooManyStreams: 5
            default: nil
            }
        }

        /// The problem `type` URI; stable, so callers can switch on it.
        public var typeURI: String { "urn:taskgate:problem:\(rawValue)" }
    }

    /// One row of `Kind.handling`.
    public struct Handling: Sendable, Equatable {
        /// Tried again (with backoff, within the call's deadline): the failure may pass and
        /// nothing the vendor did is repeated by asking again.
        public var retried: Bool
        /// Counts as the vendor failing in its circuit breaker (it did not answer, or not sensibly);
        /// an answer, even a refusal, shows the vendor is up.
        public var countsAgainstVendor: Bool
        /// The vendor may recover: a recent not-final answer beats the error (X-Cache: STALE).
        public var servesStale: Bool
        /// The level of the one log line of a request that failed this way.
        public var logLevel: Logger.Level

        init(_ retried: Bool, _ countsAgainstVendor: Bool, _ servesStale: Bool, _ logLevel: Logger.Level) {
            self.retried = retried
            self.countsAgainstVendor = countsAgainstVendor
            self.servesStale = servesStale
            self.logLevel = logLevel
        }
    }

    public var kind: Kind
    /// Safe to show a caller: never a credential, never the vendor's words about keys.
    public var detail: String
    public var provider: String?
    /// The vendor's error code, as printable ASCII of at most 64 bytes (anything else replaced by
    /// `?`, the rest cut): it is echoed to callers and logged, and comes from a vendor's bytes.
    public var vendorCode: String? {
        didSet { vendorCode = vendorCode.map(Self.printableCode) }
    }
    public var vendorRequestID: String?
    /// Seconds the caller should wait (the vendor's Retry-After, the circuit's time left, …).
    public var retryAfter: Int?
    /// For `task-budget-exhausted`: the task's last known status.
    public var lastKnown: LastKnownStatus?
    /// For `method-not-allowed`: the route's methods (`Allow`); nil: GET, HEAD.
    public var allow: String?
    /// For `range-not-satisfiable`: the whole representation's length (`Content-Range: bytes */n`).
    public var completeLength: Int?
    /// The vendor refused the request's one-time parts (a nonce it saw before): the same call,
    /// signed anew, is sent once more at once (`VendorErrorTable.Rule.signAgain`).
    var signAgain = false

    public init(
        _ kind: Kind,
        _ detail: String,
        provider: String? = nil,
        vendorCode: String? = nil,
        vendorRequestID: String? = nil,
        retryAfter: Int? = nil
    ) {
        self.kind = kind
        self.detail = detail
        self.provider = provider
        self.vendorCode = vendorCode.map(Self.printableCode)
        self.vendorRequestID = vendorRequestID
        self.retryAfter = retryAfter
    }

    static func printableCode(_ code: String) -> String {
        guard code.utf8.count > 64 || !code.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else { return code }
        return String(decoding: code.utf8.prefix(64).map { (0x20...0x7E).contains($0) ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
    }

    public var description: String {
        var text = "\(kind.rawValue): \(detail)"
        if let provider { text += " [provider=\(provider)" + (vendorCode.map { " vendorCode=\($0)" } ?? "") + "]" }
        return text
    }
}
