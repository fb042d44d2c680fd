import NIOCore

/// A fresh answer as memory holds it: a final one packed into a slab, or a not-final one in
/// buffers of its own. The hot path reads its bytes in place; the router copies them out.
enum HeldAnswer: Sendable {
    case packed(PackedAnswers.Held)
    case buffers(AnswerBytes)

    var validator: Validator {
        switch self {
        case .packed(let held): held.validator
        case .buffers(let answer): answer.validator
        }
    }

    /// Calls `body` with the answer's bytes in `coding`, read in place; nil when memory does not
    /// hold that coding (identity is held only once a caller asked for it).
    func withBytes<Result>(_ coding: ContentCoding, _ body: (UnsafeRawBufferPointer) -> Result) -> Result? {
        switch self {
        case .packed(let held):
            return held.withBytes { held in held.bytes(for: coding).map(body) }
        case .buffers(let answer):
            guard let buffer = coding == .gzip ? answer.gzip : answer.identity else { return nil }
            return buffer.withUnsafeReadableBytes(body)
        }
    }

    /// The answer in buffers of its own (a packed one copied out of its slab).
    var answerBytes: AnswerBytes {
        switch self {
        case .buffers(let answer):
            return answer
        case .packed(let held):
            return held.withBytes { held in
                AnswerBytes(
                    gzip: ByteBuffer(bytes: held.gzip),
                    identity: held.identity.map { ByteBuffer(bytes: $0) },
                    validator: held.validator,
                    status: held.status,
                    linksExpireAt: held.linksExpireAt
                )
            }
        }
    }
}
