import HTTPTypes
import Hummingbird

/// The request context of every gateway route: Hummingbird's core storage plus the request id.
public struct GatewayRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// `X-Request-Id`: the caller's when valid, otherwise made here.
    public var requestID: String = ""
    /// The peer's IP address (the proxy's, behind nginx; see X-Forwarded-For).
    public let clientAddress: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        clientAddress = source.channel.remoteAddress?.ipAddress
    }
}

extension HTTPField.Name {
    static let xRequestID = Self("X-Request-Id")!
    static let xCache = Self("X-Cache")!
}
