import NIOCore
import NIOHTTP1

/// Answers the most common requests — a final task from memory or the store, a not-final one
/// within its TTL — on the connection's event loop, the way nginx serves a cached file: no task
/// hop, no HTTP-types conversion, no router or middleware chain, and the answer written as one
/// buffer of bytes. (A store read here is one indexed lookup in a local SQLite file, as nginx
/// reads its cache files on its event loop.)
///
/// It sits right after NIO's HTTP/1 decoder (see ``GatewayHTTP1Channel``). Anything else (a
/// miss, an expired not-final answer, an unusual header, HTTP/1.0, a request behind another on
/// the same connection) is passed on untouched to Hummingbird, which answers it as before; the answer
/// bytes and headers are the same either way. Because it sees every request and answer of the
/// connection, it also keeps the connection's idle timeout (Hummingbird's own timer would not
/// see the requests answered here). What happens when is decided by ``ConnectionStateMachine``;
/// this handler carries it out.
final class HotPathHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    let hotPath: HotPath
    /// The HTTP encoder's context: writing through it sends finished bytes to the socket. Only
    /// used while no answer from Hummingbird is under way, so bytes never interleave.
    private var socket: ChannelHandlerContext?
    /// Reused for every answer: once the previous answer has been written out, filling it again
    /// allocates nothing.
    private var answer = ByteBuffer()
    private var requestIDs = RequestIDGenerator()
    /// The caller's address for the access log, made once for the connection.
    private var client: String?
    private var state: ConnectionStateMachine
    /// A refused request's answer, waiting behind the answers in flight.
    private var pendingRefusal: ByteBuffer?
    private var idleCheck: Scheduled<Void>?
    /// Set once the answers are written and the sending side closed: what still arrives is
    /// read and dropped until the caller closes its side or this ends (`lingerTime`).
    private var lingering: Scheduled<Void>?
    /// Tells the connection's long polls when the caller goes.
    let closure = ConnectionClosure()

    /// A buffer grown past this by a large answer is replaced rather than kept for the connection.
    static let keptBufferCapacity = 16 << 10
    /// The longest a closing connection is read and dropped from (nginx's `lingering_time` is
    /// 30 s, its `lingering_timeout` between reads 5 s).
    static let lingerTime = TimeAmount.seconds(5)

    init(hotPath: HotPath) {
        self.hotPath = hotPath
        self.state = ConnectionStateMachine(idleTimeout: hotPath.idleTimeout, now: .now())
    }

    func handlerAdded(context: ChannelHandlerContext) {
        socket = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self)
        answer = context.channel.allocator.buffer(capacity: 1024)
        client = context.channel.remoteAddress?.ipAddress
        if context.channel.isActive { scheduleIdleCheck(context, at: state.firstDeadline) }
    }

    func channelActive(context: ChannelHandlerContext) {
        if client == nil { client = context.channel.remoteAddress?.ipAddress }
        scheduleIdleCheck(context, at: state.firstDeadline)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        idleCheck?.cancel()
        idleCheck = nil
        lingering?.cancel()
        lingering = nil
        socket = nil
        closure.close()
    }

    func channelInactive(context: ChannelHandlerContext) {
        closure.close()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed = event as? ChannelEvent {
            // The caller closed its side: nobody will read a long poll's answer; a lingering
            // close is over.
            closure.close()
            if lingering != nil {
                context.close(promise: nil)
                return
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // Lingering: keep reading (and dropping) whether or not anyone downstream asks.
        if lingering != nil { context.read() }
        context.fireChannelReadComplete()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            let refusal = state.phase == .open ? hotPath.framingRefusal(head, client: client, requestIDs: &requestIDs) : nil
            switch state.headRead(refused: refusal != nil, keepAlive: head.isKeepAlive, now: .now()) {
            case .ignore:
                return
            case .refuseAndClose:
                writeAndClose(refusal!, context: context)
            case .refuseAfterAnswers:
                pendingRefusal = refusal
            case .answerHereOrRoute:
                answer.clear()
                if socket != nil, hotPath.answer(head, client: client, requestIDs: &requestIDs, into: &answer) {
                    state.answeredHere()
                    return
                }
                state.routed()
                context.fireChannelRead(data)
            case .route:
                context.fireChannelRead(data)
            }
        case .body:
            if state.forwardsBody { context.fireChannelRead(data) }
        case .end:
            guard state.phase == .open else { return }
            switch state.endRead(now: .now()) {
            case .forward:
                context.fireChannelRead(data)
            case .writeAnswerHere:
                socket?.writeAndFlush(NIOAny(IOData.byteBuffer(answer)), promise: nil)
                // A large answer's buffer is not kept for the rest of the connection.
                if answer.capacity > Self.keptBufferCapacity { answer = context.channel.allocator.buffer(capacity: 1024) }
            }
        }
    }

    /// A request NIO's decoder could not read (headers past `limits.max_header_size`, bytes that
    /// are not HTTP) is answered here with a problem document and the connection closed; there is
    /// no request for Hummingbird to route.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError, socket != nil else {
            context.fireErrorCaught(error)
            return
        }
        switch state.unreadableRequest() {
        case .ignore:
            return
        case .forward:
            context.fireErrorCaught(error)
        case .answerAndClose:
            writeAndClose(hotPath.unreadableRequest(parserError, client: client, requestID: requestIDs.next()), context: context)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where state.answerHeadCloses:
            // The last answer of a connection that closes says so.
            head.headers.replaceOrAdd(name: "connection", value: "close")
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end:
            switch state.answerEndWritten(now: .now()) {
            case .write:
                context.write(data, promise: promise)
            case .writeThenClose:
                context.writeAndFlush(data).whenComplete { result in
                    promise?.completeWith(result)
                    self.closeLingering(context)
                }
            case .writeThenRefuseAndClose:
                context.write(data, promise: promise)
                if let refusal = pendingRefusal {
                    pendingRefusal = nil
                    writeAndClose(refusal, context: context)
                }
            }
        default:
            context.write(data, promise: promise)
        }
    }

    /// Writes an answer of the hot path's own (a refusal, an unreadable request) and closes.
    private func writeAndClose(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        guard let socket else {
            context.close(promise: nil)
            return
        }
        socket.writeAndFlush(NIOAny(IOData.byteBuffer(bytes))).whenComplete { _ in self.closeLingering(context) }
    }

    /// Closes after the last answer as RFC 9112 §9.6 and nginx's `lingering_close` do: the sending
    /// side first (the caller reads the answer, then the end), then whatever the caller still
    /// sends (requests pipelined behind the last) is read and dropped until it closes its side or
    /// `lingerTime` passes. Closing at once with unread bytes would reset the connection, and a
    /// reset can destroy the answer before the caller has read it.
    private func closeLingering(_ context: ChannelHandlerContext) {
        guard lingering == nil, context.channel.isActive else { return }
        lingering = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: Self.lingerTime) {
            context.close(promise: nil)
        }
        let halfClosed = context.eventLoop.makePromise(of: Void.self)
        halfClosed.futureResult.whenFailure { _ in context.close(promise: nil) }
        context.close(mode: .output, promise: halfClosed)
        context.read()
    }

    private func scheduleIdleCheck(_ context: ChannelHandlerContext, at deadline: NIODeadline) {
        guard idleCheck == nil else { return }
        idleCheck = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: deadline) {
            self.idleCheck = nil
            switch self.state.idleTimerFired(now: .now()) {
            case .close: context.close(promise: nil)
            case .schedule(let next): self.scheduleIdleCheck(context, at: next)
            }
        }
    }
}
