/// The store could not be opened or migrated: startup stops with this message.
public struct StoreOpenError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    /// The store is there but must not be touched (written by a newer taskgate): retrying
    /// cannot help.
    public var isRefusal = false

    public init(path: String, reason: String, isRefusal: Bool = false) {
        self.path = path
        self.reason = reason
        self.isRefusal = isRefusal
    }

    public var description: String { "cannot open the task store at \(path): \(reason)" }
}
