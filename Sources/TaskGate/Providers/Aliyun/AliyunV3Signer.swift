import Crypto
import Foundation

/// Alibaba Cloud's ACS3-HMAC-SHA256 signature (the V3 scheme): canonical request over method,
/// path, sorted query, the signed headers and the payload hash; `Authorization` header.
public enum AliyunV3Signer {
    public static let algorithm = "ACS3-HMAC-SHA256"

    public struct Signed: Sendable, Equatable {
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String
        public var authorization: String
        public var hashedPayload: String
    }

    /// - Parameters:
    ///   - headers: every header to sign (host, x-acs-*, content-type), names in any case.
    public static func sign(
        method: String,
        path: String,
        query: [(String, String)],
        headers: [(String, String)],
        payload: [UInt8],
        accessKeyID: String,
        secret: String
    ) -> Signed {
        let hashedPayload = Hex.encode(SHA256.hash(data: payload))
        let canonicalHeaders = headers.map { ($0.0.lowercased(), $0.1.trimmingCharacters(in: .whitespaces)) }
            .sorted { $0.0 < $1.0 }
        let signedHeaders = canonicalHeaders.map(\.0).joined(separator: ";")
        let canonicalRequest = [
            method.uppercased(),
            canonicalPath(path),
            AliyunRPCSigner.canonicalQuery(query),
            canonicalHeaders.map { "\($0.0):\($0.1)\n" }.joined(),
            signedHeaders,
            hashedPayload,
        ].joined(separator: "\n")
        let stringToSign = algorithm + "\n" + Hex.encode(SHA256.hash(data: Array(canonicalRequest.utf8)))
        let signature = Hex.encode(
            HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: SymmetricKey(data: Array(secret.utf8)))
        )
        let authorization = "\(algorithm) Credential=\(accessKeyID),SignedHeaders=\(signedHeaders),Signature=\(signature)"
        return Signed(
            canonicalRequest: canonicalRequest,
            stringToSign: stringToSign,
            signature: signature,
            authorization: authorization,
            hashedPayload: hashedPayload
        )
    }

    /// Each path segment percent-encoded, `/` kept.
    static func canonicalPath(_ path: String) -> String {
        let trimmed = path.isEmpty ? "/" : path
        return trimmed.split(separator: "/", omittingEmptySubsequences: false)
            .map { AliyunRPCSigner.percentEncode(String($0)) }.joined(separator: "/")
    }
}
