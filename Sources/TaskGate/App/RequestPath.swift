/// The one rule for request paths, applied before the policy and the router on both doors
/// (`RequestPolicy.checkTarget`): a path is taken only in its canonical form, so the path the
/// policy decides on is byte for byte the path the router matches.
///
/// Hummingbird's router skips empty segments (`//tasks` and `/metrics/` reach `/tasks` and
/// `/metrics`) and never decodes; no path of this API has an empty segment, a dot segment or
/// needs percent-encoding (provider names and task ids are plain ASCII), so anything else is
/// refused rather than normalized: one form, nothing for a proxy in front to read differently.
enum RequestPath {
    /// Whether `path` (the target up to `?`) is `/`, or `/`-separated non-empty segments of
    /// RFC 3986 `pchar` without percent-encoding, none of them `.` or `..`, with no trailing `/`.
    static func isCanonical(_ path: Substring.UTF8View) -> Bool {
        guard path.first == UInt8(ascii: "/") else { return false }
        if path.count == 1 { return true }
        var segmentLength = 0
        var dots = 0
        for byte in path.dropFirst() {
            if byte == UInt8(ascii: "/") {
                guard segmentLength > 0, dots != segmentLength || dots > 2 else { return false }
                segmentLength = 0
                dots = 0
                continue
            }
            guard allowed[Int(byte)] else { return false }
            segmentLength += 1
            if byte == UInt8(ascii: ".") { dots += 1 }
        }
        return segmentLength > 0 && (dots != segmentLength || dots > 2)
    }

    static func isCanonical(_ path: String) -> Bool { isCanonical(Substring(path).utf8) }

    /// RFC 3986 `pchar` without `%`: unreserved, sub-delims, `:` and `@`.
    private static let allowed: [Bool] = (0..<256).map { byte in
        switch UInt8(byte) {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        default: "-._~!$&'()*+,;=:@".utf8.contains(UInt8(byte))
        }
    }
}
