/// What a vendor's list call says about watched tasks (`Provider.finished(among:maxPages:logger:)`):
/// which of them are finished, each with the call that completes its answer (nil: the provider's
/// usual one). `complete` is false when the listing was cut before its end: the others are then
/// not known to be running.
public struct FinishedTasks: Sendable {
    public var found: [String: VendorFetch?] = [:]
    public var complete = true
}
