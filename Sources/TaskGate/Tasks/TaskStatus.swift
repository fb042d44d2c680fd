/// Where a vendor task stands, in taskgate's words (never the vendor's).
public enum TaskStatus: String, Sendable, CaseIterable, Codable {
    case queued
    case running
    case succeeded
    case failed

    /// A final task never changes again: it is stored for ever and never asked of the vendor again.
    public var isFinal: Bool { self == .succeeded || self == .failed }
}
