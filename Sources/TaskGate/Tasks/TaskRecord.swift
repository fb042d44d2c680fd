import Foundation

/// One vendor task in the normalized shape every caller sees.
///
/// Providers build it from the vendor's answer; `TaskDocument` turns it into the JSON body.
public struct TaskRecord: Sendable, Equatable {
    /// The configured provider instance name (`aliyun-bj`), not the vendor kind.
    public var provider: String
    public var kind: String
    public var id: String
    public var status: TaskStatus
    /// The vendor's own status word or number, as text.
    public var vendorStatus: String?
    /// The vendor's result object as the vendor gave it.
    public var result: JSONFragment?
    public var error: TaskFailure?
    public var createdAt: Date?
    public var finishedAt: Date?
    public var fetchedAt: Date
    /// The vendor's id for the request that gave this answer: what its support asks for.
    public var vendorRequestID: String?
    /// The vendor's task-level fields that are neither the result nor mapped above
    /// (Tencent `SessionContext`, CapMonster `cost`, …), as the vendor gave them.
    public var vendorFields: JSONFragment?
    /// The linked files taskgate keeps (`mirror`), in the order of their links.
    public var artifacts: [Artifact] = []

    public init(
        provider: String,
        kind: String,
        id: String,
        status: TaskStatus,
        vendorStatus: String? = nil,
        result: JSONFragment? = nil,
        error: TaskFailure? = nil,
        createdAt: Date? = nil,
        finishedAt: Date? = nil,
        fetchedAt: Date,
        vendorRequestID: String? = nil,
        vendorFields: JSONFragment? = nil
    ) {
        self.provider = provider
        self.kind = kind
        self.id = id
        self.status = status
        self.vendorStatus = vendorStatus
        self.result = result
        self.error = error
        self.createdAt = createdAt
        self.finishedAt = finishedAt
        self.fetchedAt = fetchedAt
        self.vendorRequestID = vendorRequestID
        self.vendorFields = vendorFields
    }

    public var isFinal: Bool { status.isFinal }

    /// When the earliest signed link in the result stops working; nil when it holds none.
    public var linksExpireAt: Date? { LinkExpiry.earliest(in: result) }
}

/// Why a task failed, in the vendor's own code and message.
public struct TaskFailure: Sendable, Equatable {
    public var code: String
    public var message: String?

    public init(code: String, message: String?) {
        self.code = code
        self.message = message
    }
}
