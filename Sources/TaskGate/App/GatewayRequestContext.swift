import HTTPTypes
import Hummingbird
import NIOCore

/// The request context of every gateway route: Hummingbird's core storage plus the request id.
public struct GatewayRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// `X-Request-Id`: the caller's when valid, otherwise made here.
    public var requestID: String = ""
    /// The caller's key name, when authentication is on (for logs; never the key).
    public var keyName: String?
    /// The providers the caller's key covers; nil: all.
    public var allowedProviders: Set<String>?
    /// The caller's key may administer webhooks (`admin: true`).
    public var isAdmin = false
    /// The peer (the proxy, behind nginx; see X-Forwarded-For). Formatted only when logged.
    let remoteAddress: SocketAddress?
    /// The connection, for a long poll to learn when its caller goes.
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        channel = source.channel
    }
}

extension HTTPField.Name {
    static let xRequestID = Self("X-Request-Id")!
    static let xCache = Self("X-Cache")!
}
