import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Hummingbird's HTTP/1.1 channel (the same pipeline as `HTTP1Channel`), with taskgate's
/// ``HotPathHandler`` placed right after NIO's HTTP/1 decoder: there it sees each request before
/// it is converted to HTTP types and can write a cached answer as finished bytes.
struct GatewayHTTP1Channel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    let responder: Responder
    let hotPath: HotPath
    /// Request heads larger than this are refused by the decoder (400, connection closed).
    let maxHeaderSize: Int

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderFieldSize = maxHeaderSize
            limits.maxHeaderListSize = maxHeaderSize
            limits.maxHeaderFieldCount = 100
            let pipeline = channel.pipeline.syncOperations
            try pipeline.configureHTTPServerPipeline(
                withPipeliningAssistance: false,  // Hummingbird answers one request at a time
                withErrorHandling: false,  // Hummingbird answers parser errors
                withOutboundHeaderValidation: false,  // HTTP types validate Hummingbird's headers
                withEncoderConfiguration: .init(),
                withDecoderLimitConfiguration: limits
            )
            try pipeline.addHandler(HotPathHandler(hotPath: hotPath))
            try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            // Idle connections are closed by the hot path, which sees every request.
            try pipeline.addHandler(HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
            return try NIOAsyncChannel(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        }
    }

    func handle(value: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: value, logger: logger)
    }
}
