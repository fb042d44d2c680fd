import Foundation

/// When the signed links in a task's result stop working.
///
/// Vendors hand results over as links into their object storage, signed for hours or days
/// (Alibaba's `ProcessResultUrl` is an OSS URL with `Expires=`; OSS allows at most 7 days). A
/// stored answer outlives them, so taskgate must know when they die: to keep caches from holding
/// a dead link, and to ask the vendor for fresh ones. The forms known, by query parameters:
/// - OSS V1: `Expires=<unix seconds>` with `OSSAccessKeyId` and `Signature`;
/// - OSS V4: `x-oss-date=<yyyyMMddTHHmmssZ>` + `x-oss-expires=<seconds>`;
/// - S3 and COS SigV4: `X-Amz-Date=<yyyyMMddTHHmmssZ>` + `X-Amz-Expires=<seconds>`;
/// - COS: `q-sign-time=<start>;<end>`, directly or inside a `sign` parameter.
enum LinkExpiry {
    /// The earliest expiry of the signed links among `result`'s strings, however deeply nested;
    /// nil when there is none.
    static func earliest(in result: JSONFragment?) -> Date? {
        guard let result, let value = try? JSONSerialization.jsonObject(with: Data(result.bytes), options: [.fragmentsAllowed]) else {
            return nil
        }
        return earliest(in: value)
    }

    private static func earliest(in value: Any) -> Date? {
        switch value {
        case let text as String: expiry(of: text)
        case let array as [Any]: array.compactMap(earliest(in:)).min()
        case let object as [String: Any]: object.values.compactMap(earliest(in:)).min()
        default: nil
        }
    }

    /// The expiry of one link when it is signed in a form taskgate knows; nil otherwise.
    static func expiry(of link: String) -> Date? {
        guard link.hasPrefix("https://") || link.hasPrefix("http://"), let query = link.split(separator: "?", maxSplits: 1).dropFirst().first
        else { return nil }
        let parameters = Self.parameters(of: query.split(separator: "#", maxSplits: 1).first ?? "")
        if let expires = parameters["expires"], parameters["ossaccesskeyid"] != nil, parameters["signature"] != nil {
            return Int(expires).map { Date(timeIntervalSince1970: Double($0)) }
        }
        for (date, lifetime) in [("x-oss-date", "x-oss-expires"), ("x-amz-date", "x-amz-expires")] {
            if let signed = parameters[date], let seconds = parameters[lifetime] {
                guard let start = basicISODate(signed), let seconds = Int(seconds), seconds >= 0 else { return nil }
                return start.addingTimeInterval(Double(seconds))
            }
        }
        let cos = parameters["q-sign-time"] ?? parameters["sign"].flatMap { Self.parameters(of: Substring($0))["q-sign-time"] }
        if let window = cos {
            let bounds = window.split(separator: ";")
            guard bounds.count == 2, let end = Int(bounds[1]) else { return nil }
            return Date(timeIntervalSince1970: Double(end))
        }
        return nil
    }

    /// A query's parameters, names lowercased (S3 and OSS treat them case-blind), values
    /// percent-decoded.
    private static func parameters(of query: Substring) -> [String: String] {
        var parameters: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0]).removingPercentEncoding?.lowercased() ?? String(parts[0]).lowercased()
            let value = parts.count > 1 ? String(parts[1]) : ""
            parameters[name] = value.removingPercentEncoding ?? value
        }
        return parameters
    }

    /// `20240101T000000Z` (ISO 8601 basic, UTC), as SigV4 and OSS V4 sign it.
    static func basicISODate(_ text: String) -> Date? {
        let digits = Array(text.utf8)
        guard digits.count == 16, digits[8] == UInt8(ascii: "T"), digits[15] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in digits[range] {
                guard (0x30...0x39).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8), let hour = number(9..<11),
            let minute = number(11..<13), let second = number(13..<15)
        else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let components = DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        guard components.isValidDate(in: calendar) else { return nil }
        return calendar.date(from: components)
    }
}
