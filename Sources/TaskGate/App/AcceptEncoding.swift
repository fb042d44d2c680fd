/// Picks the content coding of an answer from `Accept-Encoding` (RFC 9110 §12.5.3).
import Foundation

enum AcceptEncoding {
    /// - Returns: the coding to send, or nil when the caller accepts neither gzip nor identity.
    static func choose(_ header: String?) -> ContentCoding? {
        // No header: nothing was asked for; send identity as nginx and most servers do.
        guard let header else { return .identity }
        // What browsers, curl --compressed, SDKs and wrk send, decided without parsing.
        switch header {
        case "gzip", "gzip, deflate", "gzip, deflate, br", "gzip, deflate, br, zstd", "deflate, gzip", "br, gzip, deflate": return .gzip
        case "identity": return .identity
        default: break
        }
        var gzip: Double?
        var identity: Double?
        var star: Double?
        for element in header.split(separator: ",") {
            let parts = element.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let coding = parts.first?.lowercased(), !coding.isEmpty else { continue }
            var quality = 1.0
            for parameter in parts.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if pair.count == 2, pair[0].lowercased() == "q" {
                    // A malformed weight is read as "not acceptable", never as a wish.
                    quality = Double(pair[1]).flatMap { (0...1).contains($0) ? $0 : nil } ?? 0
                }
            }
            switch coding {
            case "gzip", "x-gzip": gzip = max(gzip ?? 0, quality)
            case "identity": identity = quality
            case "*": star = quality
            default: continue
            }
        }
        // gzip whenever it is acceptable, as nginx does, unless the caller explicitly weights
        // identity higher. identity is acceptable unless refused by `identity;q=0` or `*;q=0`.
        let gzipWeight = gzip ?? star ?? 0
        if gzipWeight > 0, gzipWeight >= (identity ?? 0) { return .gzip }
        if (identity ?? star ?? 1) > 0 { return .identity }
        return gzipWeight > 0 ? .gzip : nil
    }
}
