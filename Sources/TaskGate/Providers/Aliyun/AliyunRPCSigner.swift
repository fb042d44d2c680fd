import Crypto
import Foundation

/// Alibaba Cloud's RPC signature (SignatureMethod HMAC-SHA1, SignatureVersion 1.0).
///
/// A pure function of (method, parameters, secret): every parameter but `Signature`, sorted by
/// name and percent-encoded, makes the canonical query; the string to sign is
/// `METHOD&%2F&` + its encoding; the key is `secret&`; the signature is Base64.
public enum AliyunRPCSigner {
    public struct Signed: Sendable, Equatable {
        public var canonicalQuery: String
        public var stringToSign: String
        public var signature: String
        /// `/?` + the parameters in the order given, then `Signature`, as the SDK sends them.
        public var requestTarget: String
    }

    /// Signs `parameters` (in the order they will be sent).
    public static func sign(method: String, parameters: [(String, String)], secret: String) -> Signed {
        let unsigned = parameters.filter { $0.0 != "Signature" }
        let canonical = canonicalQuery(unsigned)
        let stringToSign = method.uppercased() + "&" + percentEncode("/") + "&" + percentEncode(canonical)
        let signature = self.signature(stringToSign: stringToSign, secret: secret)
        let target =
            "/?" + (unsigned + [("Signature", signature)]).map { percentEncode($0.0) + "=" + percentEncode($0.1) }.joined(separator: "&")
        return Signed(canonicalQuery: canonical, stringToSign: stringToSign, signature: signature, requestTarget: target)
    }

    /// Sorted by name (byte order), `name=value` percent-encoded, joined by `&`.
    public static func canonicalQuery(_ parameters: [(String, String)]) -> String {
        parameters
            .sorted { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) }
            .map { percentEncode($0.0) + "=" + percentEncode($0.1) }
            .joined(separator: "&")
    }

    public static func signature(stringToSign: String, secret: String) -> String {
        let key = SymmetricKey(data: Array((secret + "&").utf8))
        return Data(HMAC<Insecure.SHA1>.authenticationCode(for: Array(stringToSign.utf8), using: key)).base64EncodedString()
    }

    /// RFC 3986 encoding: only `A-Z a-z 0-9 - _ . ~` stay bare; everything else is `%XX` of its
    /// UTF-8 bytes (space is `%20`, `*` is `%2A`).
    public static func percentEncode(_ text: String) -> String {
        var encoded = ""
        encoded.reserveCapacity(text.utf8.count)
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                encoded += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]], as: UTF8.self)
            }
        }
        return encoded
    }

    /// Decodes `%XX` sequences (and nothing else: `+` stays `+`); nil when malformed.
    public static func percentDecode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next(), let low = iterator.next(),
                let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            else { return nil }
            bytes.append(value)
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
