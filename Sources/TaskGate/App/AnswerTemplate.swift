import Foundation
import HTTPTypes
import NIOCore

/// The bytes of a hot answer's status line and headers, made once from the router's own header
/// functions (``TaskController/validatorFields(etag:freshness:cache:age:scope:)``), so both paths send
/// the same headers in the same order. Per answer only the ETag, the max-age or Age (but for an
/// immutable answer), Content-Length, X-Request-Id and Date are written.
struct AnswerTemplate {
    /// A ``Freshness`` without its number: one template each. `updating`: a not-final answer
    /// served while the vendor is asked again (`X-Cache: UPDATING`, `max-age=0`); its number is
    /// the `Age`.
    enum FreshnessKind: CaseIterable {
        case immutable, linked, transient, updating

        /// The kind and the max-age to write into its template.
        static func of(_ freshness: Freshness) -> (FreshnessKind, Int) {
            switch freshness {
            case .immutable: (.immutable, 0)
            case .linked(let maxAge): (.linked, maxAge)
            case .transient(let maxAge): (.transient, maxAge)
            }
        }
    }

    /// Fixed bytes, and the places between them where an answer's own values go.
    private enum Piece {
        case bytes([UInt8])
        case etag
        /// The max-age, or an `UPDATING` answer's `Age`.
        case number
    }

    let status: HTTPResponse.Status
    private let coding: ContentCoding
    private let pieces: [Piece]
    private let serverLine: [UInt8]

    init(status: HTTPResponse.Status, coding: ContentCoding, freshness: FreshnessKind, scope: CacheScope, serverName: String) {
        // Values no answer has, replaced by pieces once the router's headers are written out.
        let etagMarker = "taskgate-etag-goes-here"
        let numberMarker = 9_876_543_210
        let marked: Freshness =
            switch freshness {
            case .immutable: .immutable
            case .linked: .linked(maxAge: numberMarker)
            case .transient: .transient(maxAge: numberMarker)
            case .updating: .transient(maxAge: 0)
            }
        var fields =
            freshness == .updating
            ? TaskController.validatorFields(etag: etagMarker, freshness: marked, cache: .updating, age: numberMarker, scope: scope)
            : TaskController.validatorFields(etag: etagMarker, freshness: marked, cache: .hit, age: nil, scope: scope)
        if status == .ok { TaskController.addContentFields(to: &fields, coding: coding) }
        var text = "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\n"
        for field in fields { text += "\(field.name.rawName): \(field.value)\r\n" }
        var pieces: [Piece] = []
        for (index, part) in text.components(separatedBy: etagMarker).enumerated() {
            if index > 0 { pieces.append(.etag) }
            for (index, part) in part.components(separatedBy: String(numberMarker)).enumerated() {
                if index > 0 { pieces.append(.number) }
                pieces.append(.bytes(Array(part.utf8)))
            }
        }
        precondition(pieces.count(where: { if case .etag = $0 { true } else { false } }) == 1, "the answer headers carry one ETag")
        self.status = status
        self.coding = coding
        self.pieces = pieces
        self.serverLine = Array("Server: \(serverName)\r\n\r\n".utf8)
    }

    func write(
        validator: Validator,
        number: Int,
        contentLength: Int?,
        requestID: (inout ByteBuffer) -> Void,
        date: String,
        into buffer: inout ByteBuffer
    ) {
        for piece in pieces {
            switch piece {
            case .bytes(let bytes): buffer.writeBytes(bytes)
            case .etag: validator.writeETag(for: coding, into: &buffer)
            case .number: buffer.writeString(String(number))
            }
        }
        if let contentLength {
            buffer.writeStaticString("Content-Length: ")
            buffer.writeString(String(contentLength))
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString("X-Request-Id: ")
        requestID(&buffer)
        buffer.writeStaticString("\r\nDate: ")
        buffer.writeString(date)
        buffer.writeStaticString("\r\n")
        buffer.writeBytes(serverLine)
    }
}
