import Crypto
import Foundation

/// Tencent Cloud's TC3-HMAC-SHA256 signature, for JSON POST requests to `/`.
///
/// A pure function of (service, host, content type, payload, timestamp, credentials): canonical
/// request over `content-type` and `host`, credential scope `<UTC date>/<service>/tc3_request`,
/// key chain `TC3`+SecretKey → date → service → `tc3_request`.
public enum TC3Signer {
    public static let algorithm = "TC3-HMAC-SHA256"

    public struct Signed: Sendable, Equatable {
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String
        public var authorization: String
    }

    /// - Parameters:
    ///   - host: the Host header exactly as sent, with the port when the endpoint has one.
    ///   - contentType: the Content-Type header exactly as sent.
    public static func sign(
        service: String,
        host: String,
        contentType: String,
        payload: [UInt8],
        timestamp: Int,
        secretID: String,
        secretKey: String
    ) -> Signed {
        let canonicalRequest = [
            "POST", "/", "", "content-type:\(contentType)\nhost:\(host)\n", "content-type;host", Hex.encode(SHA256.hash(data: payload)),
        ].joined(separator: "\n")
        let date = utcDate(timestamp)
        let scope = "\(date)/\(service)/tc3_request"
        let stringToSign = [algorithm, String(timestamp), scope, Hex.encode(SHA256.hash(data: Array(canonicalRequest.utf8)))]
            .joined(separator: "\n")
        let secretDate = hmac(key: Array(("TC3" + secretKey).utf8), date)
        let secretService = hmac(key: secretDate, service)
        let secretSigning = hmac(key: secretService, "tc3_request")
        let signature = Hex.encode(hmac(key: secretSigning, stringToSign))
        let authorization = "\(algorithm) Credential=\(secretID)/\(scope), SignedHeaders=content-type;host, Signature=\(signature)"
        return Signed(canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature, authorization: authorization)
    }

    /// `yyyy-MM-dd` of a Unix time, in UTC.
    public static func utcDate(_ timestamp: Int) -> String {
        String(RFC3339.format(Date(timeIntervalSince1970: TimeInterval(timestamp))).prefix(10))
    }

    private static func hmac(key: [UInt8], _ message: String) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: SymmetricKey(data: key)))
    }
}
