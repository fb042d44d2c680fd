import Logging
import NIOCore

/// A vendor's own list call, for `GET /tasks`: pages of task items, behind taskgate's cursor.
/// It speaks only vendor; the lister resolves what an item does not say itself.
public protocol VendorTaskList: Sendable {
    /// Up to `limit` items after `token` (nil: from the start), and the token of the next page
    /// (nil: no more).
    /// - Parameter filters: the vendor's own list filters (`vendor.<Name>=value`), each one of
    ///   `vendorFilterNames`.
    func page(status: TaskStatus?, filters: [VendorFilter], limit: Int, token: String?, logger: Logger) async throws(GatewayError) -> VendorListPage

    /// The list call's own filters that `GET /tasks?vendor.<Name>=` passes through.
    var vendorFilterNames: [String] { get }

    /// Throws `invalid-query` unless `token` is one `page` reads (the same parse): checked before
    /// a listing asks any vendor.
    func checkToken(_ token: String, status: TaskStatus?) throws(GatewayError)
}

extension VendorTaskList {
    public var vendorFilterNames: [String] { [] }
}

/// One page of a vendor's list call.
public struct VendorListPage: Sendable {
    public var items: [ListedTask]
    public var nextToken: String?
}

/// A task as a vendor's list call names it.
public enum ListedTask: Sendable {
    /// The task's answer, complete: the JSON `GET /tasks/{provider}/{id}` would answer now.
    case complete(ByteBuffer)
    /// A task whose item does not say all (a final one: its result): answered as the single task
    /// is (the store, else the vendor), with `fetch` in place of `fetchTask` when given.
    case resolve(id: String, fetch: VendorFetch?)
}

/// One of the vendor's own list filters, passed through as given.
public struct VendorFilter: Sendable, Equatable {
    public var name: String
    public var value: String
}

/// A vendor call that stands in for `Provider.fetchTask` for one task (a list call already holds
/// part of the answer, or knows the task is finished).
public typealias VendorFetch = @Sendable (_ known: LastKnownStatus?) async throws(GatewayError) -> TaskRecord
