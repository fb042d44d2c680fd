import Foundation

/// A URL as messages and logs show it: where it points, never what opens it — userinfo becomes
/// `***@`, a query or fragment `?***`. Works on any text, parseable as a URL or not (a bad
/// `endpoint` is printed in its error).
enum RedactedURL {
    static func text(_ url: String) -> String {
        var text = Substring(url)
        var redacted = ""
        if let scheme = text.range(of: "://") {
            redacted += text[..<scheme.upperBound]
            text = text[scheme.upperBound...]
        }
        let authorityEnd = text.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? text.endIndex
        if let at = text[..<authorityEnd].lastIndex(of: "@") {
            redacted += "***@"
            text = text[text.index(after: at)...]
        }
        if let query = text.firstIndex(where: { $0 == "?" || $0 == "#" }) {
            return redacted + text[..<query] + "?***"
        }
        return redacted + text
    }
}
