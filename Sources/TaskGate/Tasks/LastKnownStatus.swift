import Foundation

/// What taskgate last knew of a task: what a provider may use to ask the vendor more cheaply, and
/// what a caller is told when the vendor cannot be asked again.
public struct LastKnownStatus: Sendable, Equatable {
    public var status: TaskStatus
    public var vendorStatus: String?
    public var fetchedAt: Date
}
