import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
/// see the requests answered here).
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
    /// Requests handed to Hummingbird whose answer has not been written yet.
    private var inFlight = 0
    /// Whether the request being read is answered here, once its end arrives.
    private var answering = false
    /// Whether a request head has arrived and its end not yet.
    private var readingRequest = false
    /// Whether the connection closes once the answers under way are written: the last request
    /// did not keep it alive (HTTP/1.0 without keep-alive, `Connection: close`).
    private var closeAfterAnswers = false
    /// A request refused for its framing (CONNECT, no or several Host fields) behind answers still
    /// under way: written once they are, then the connection closes. Nothing after it is read.
    private var pendingRefusal: ByteBuffer?
    /// Set once the connection is to close: later bytes are not requests of it.
    private var refusing = false
    private var lastActive = NIODeadline.now()
    private var idleCheck: Scheduled<Void>?
    /// Tells the connection's long polls when the caller goes.
    let closure = ConnectionClosure()

    /// A buffer grown past this by a large answer is replaced rather than kept for the connection.
    static let keptBufferCapacity = 16 << 10

    init(hotPath: HotPath) {
        self.hotPath = hotPath
    }

    func handlerAdded(context: ChannelHandlerContext) {
        socket = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self)
        answer = context.channel.allocator.buffer(capacity: 1024)
        client = context.channel.remoteAddress?.ipAddress
        if context.channel.isActive { scheduleIdleCheck(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        if client == nil { client = context.channel.remoteAddress?.ipAddress }
        scheduleIdleCheck(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        idleCheck?.cancel()
        idleCheck = nil
        socket = nil
        closure.close()
    }

    func channelInactive(context: ChannelHandlerContext) {
        closure.close()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The caller closed its side: nobody will read a long poll's answer.
        if case .inputClosed = event as? ChannelEvent { closure.close() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refusing else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            lastActive = .now()
            readingRequest = true
            if let refusal = hotPath.framingRefusal(head, client: client, requestIDs: &requestIDs) {
                refuse(refusal, context: context)
                return
            }
            closeAfterAnswers = !head.isKeepAlive
            if inFlight == 0, socket != nil {
                answer.clear()
                if hotPath.answer(head, client: client, requestIDs: &requestIDs, into: &answer) {
                    answering = true
                    return
                }
            }
            inFlight += 1
            context.fireChannelRead(data)
        case .body:
            // A GET answered here has no body worth reading.
            if !answering { context.fireChannelRead(data) }
        case .end:
            lastActive = .now()
            readingRequest = false
            // Nothing after a request that closes the connection is read.
            if closeAfterAnswers { refusing = true }
            guard answering, let socket else {
                context.fireChannelRead(data)
                return
            }
            answering = false
            socket.writeAndFlush(NIOAny(IOData.byteBuffer(answer)), promise: nil)
            // A large answer's buffer is not kept for the rest of the connection.
            if answer.capacity > Self.keptBufferCapacity { answer = context.channel.allocator.buffer(capacity: 1024) }
        }
    }

    /// Answers a request refused for its framing and closes the connection (RFC 9112 §3.2, as
    /// nginx does): at once, or after the answers under way so they stay in order.
    private func refuse(_ answer: ByteBuffer, context: ChannelHandlerContext) {
        refusing = true
        readingRequest = false
        guard inFlight == 0, let socket else {
            pendingRefusal = answer
            return
        }
        let channel = context.channel
        socket.writeAndFlush(NIOAny(IOData.byteBuffer(answer))).whenComplete { _ in channel.close(promise: nil) }
    }

    /// A request NIO's decoder could not read (headers past `limits.max_header_size`, bytes that
    /// are not HTTP) is answered here with a problem document and the connection closed; there is
    /// no request for Hummingbird to route. Behind a request Hummingbird is still answering, the
    /// error goes on to it (its bare 400 keeps the answers in order).
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A connection already refused has had its answer: bytes after it are no request.
        if refusing, error is HTTPParserError { return }
        guard let parserError = error as? HTTPParserError, inFlight == 0, let socket else {
            context.fireErrorCaught(error)
            return
        }
        let answer = hotPath.unreadableRequest(parserError, client: client, requestID: requestIDs.next())
        let channel = context.channel
        socket.writeAndFlush(NIOAny(IOData.byteBuffer(answer))).whenComplete { _ in channel.close(promise: nil) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where closeAfterAnswers && inFlight == 1 && pendingRefusal == nil:
            // The last answer of a connection that closes says so.
            head.headers.replaceOrAdd(name: "connection", value: "close")
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end:
            inFlight -= 1
            lastActive = .now()
            guard inFlight == 0, closeAfterAnswers || pendingRefusal != nil else {
                context.write(data, promise: promise)
                return
            }
            let channel = context.channel
            if let refusal = pendingRefusal, let socket {
                pendingRefusal = nil
                context.write(data, promise: promise)
                socket.writeAndFlush(NIOAny(IOData.byteBuffer(refusal))).whenComplete { _ in channel.close(promise: nil) }
            } else {
                context.writeAndFlush(data).whenComplete { result in
                    promise?.completeWith(result)
                    channel.close(promise: nil)
                }
            }
        default:
            context.write(data, promise: promise)
        }
    }

    /// Closes the connection when no request has been completed for `idleTimeout`: an idle
    /// keep-alive connection, or a client sending its request head too slowly (slow loris).
    private func scheduleIdleCheck(_ context: ChannelHandlerContext, at deadline: NIODeadline? = nil) {
        guard idleCheck == nil else { return }
        let timeout = hotPath.idleTimeout
        idleCheck = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: deadline ?? lastActive + timeout) {
            self.idleCheck = nil
            let now = NIODeadline.now()
            if self.inFlight > 0, !self.readingRequest {
                // Hummingbird is still answering a request that was read whole: not idle.
                self.scheduleIdleCheck(context, at: now + timeout)
            } else if now >= self.lastActive + timeout {
                context.close(promise: nil)
            } else {
                self.scheduleIdleCheck(context, at: self.lastActive + timeout)
            }
        }
    }
}

/// What the hot path needs, shared by every connection.
final class HotPath: Sendable {
    let service: TaskService
    let policy: RequestPolicy
    let idleTimeout: TimeAmount
    let logger: Logger
    let accessLog: AccessLog
    let serverName: String
    private let date = HTTPDate()
    /// The access log's method for a request that could not be read.
    static let unreadMethod = HTTPRequest.Method("-")!
    /// The fixed parts of every answer, per coding and status.
    private let templates: [Templates.Key: Templates]
    /// Each configured provider with its answer metrics, found with one lookup per request.
    private let providers: [String: HotProvider]
    private let routeMetrics: GatewayMetrics.RouteMetrics
    private let unmatchedMetrics: GatewayMetrics.RouteMetrics

    final class HotProvider: Sendable {
        let served: ServedProvider
        let answers: GatewayMetrics.AnswerMetrics

        init(_ served: ServedProvider, answers: GatewayMetrics.AnswerMetrics) {
            self.served = served
            self.answers = answers
        }
    }

    /// The templates of one kind of answer: gzip or identity, and its kind of freshness.
    struct Templates {
        struct Key: Hashable {
            var coding: ContentCoding
            var freshness: AnswerTemplate.FreshnessKind
        }

        let ok: AnswerTemplate
        let notModified: AnswerTemplate
    }

    static let route = "/tasks/{provider}/{id}"

    init(service: TaskService, metrics: GatewayMetrics, policy: RequestPolicy, limits: LimitsConfiguration, logger: Logger, serverName: String) {
        self.service = service
        self.policy = policy
        self.idleTimeout = .nanoseconds(limits.idleTimeout.nanoseconds)
        self.logger = logger
        self.accessLog = AccessLog(logger: logger)
        self.serverName = serverName
        var templates: [Templates.Key: Templates] = [:]
        for coding in [ContentCoding.gzip, .identity] {
            for freshness in AnswerTemplate.FreshnessKind.allCases {
                templates[Templates.Key(coding: coding, freshness: freshness)] = Templates(
                    ok: AnswerTemplate(status: .ok, coding: coding, freshness: freshness, scope: CacheScope(policy.auth), serverName: serverName),
                    notModified: AnswerTemplate(
                        status: .notModified,
                        coding: coding,
                        freshness: freshness,
                        scope: CacheScope(policy.auth),
                        serverName: serverName
                    )
                )
            }
        }
        self.templates = templates
        providers = service.providers.mapValues { HotProvider($0, answers: metrics.answers(provider: $0.name)) }
        routeMetrics = metrics.route(Self.route)
        unmatchedMetrics = metrics.route("unmatched")
    }

    /// Writes the whole answer into `buffer` when `head` asks for a task whose answer is at hand
    /// (`TaskService.lookup`), or when the request policy or the task's name refuses it
    /// (401, 403, 404, 400, 414: the router's problem answers, from the same functions); false
    /// (and nothing written) to let Hummingbird answer.
    func answer(_ head: HTTPRequestHead, client: String?, requestIDs: inout RequestIDGenerator, into buffer: inout ByteBuffer) -> Bool {
        let started = ContinuousClock.now
        let headers = head.headers
        guard head.method == .GET || head.method == .HEAD, head.version == .http1_1,
            let (providerName, rawID) = Self.taskPath(head.uri), Self.keepsAlive(headers.first(name: "connection")),
            let coding = AcceptEncoding.choose(headers.first(name: "accept-encoding"))
        else { return false }
        let callerID = headers.first(name: "x-request-id").flatMap(RequestPolicy.acceptableRequestID)
        let requestID = callerID == nil ? requestIDs.next() : nil
        let method: HTTPRequest.Method = head.method == .GET ? .get : .head
        // The router's order: target length and caller key before routing, then the key's
        // providers, the provider, the id.
        let hot: HotProvider
        let id: String
        do throws(GatewayError) {
            try policy.checkTarget(head.uri, path: Substring(head.uri).utf8)
            let key = try policy.authenticate(path: head.uri, authorization: headers.first(name: "authorization"))
            let found = providers[providerName]
            if let key, found != nil {
                try RequestPolicy.requireAccess(keyName: key.name, allowedProviders: key.providers, to: providerName)
            }
            id = try TaskService.resolve(found?.served, named: providerName, id: rawID).id
            hot = found!
        } catch {
            let requestID = callerID ?? requestID!.text
            var logger = logger
            logger[metadataKey: "request_id"] = .string(requestID)
            error.log(to: logger)
            let bytes = writeProblem(error, instance: head.uri, requestID: requestID, body: method == .get, into: &buffer)
            accessLog.record(
                AccessLog.Line(
                    requestID: .text(requestID),
                    method: method,
                    path: head.uri,
                    status: HTTPResponse.Status(code: error.kind.httpStatus),
                    bytes: bytes,
                    elapsed: ContinuousClock.now - started,
                    cache: nil,
                    client: client,
                    forwardedFor: headers.first(name: "x-forwarded-for")
                ),
                route: routeMetrics,
                logger: logger
            )
            return true
        }
        let key = AnswerCache.Key(provider: providerName, id: id)
        let held: HeldAnswer
        let (kind, number): (AnswerTemplate.FreshnessKind, Int)
        let outcome: TaskService.CacheOutcome
        var startedVendorCall = false
        switch service.lookup(key, in: hot.served, servesUpdating: true, readsStoreNow: coding == .gzip, logger: logger) {
        case .fresh(let answer, let freshness)?, .storedFinal(let answer, let freshness)?:
            (held, outcome) = (answer, .hit)
            (kind, number) = AnswerTemplate.FreshnessKind.of(freshness)
        case .updating(let answer, let age, let started)?:
            (held, outcome, startedVendorCall) = (answer, .updating, started)
            (kind, number) = (.updating, age)
        case .needsVendor?, nil:
            return false
        }
        let ifNoneMatch = headers.first(name: "if-none-match")
        let date = date.now
        let validator = held.validator
        let written = held.withBytes(coding) { body -> (HTTPResponse.Status, Int) in
            let notModified = ifNoneMatch.map { validator.isMatched(by: $0, coding: coding) } ?? false
            let templates = templates[Templates.Key(coding: coding, freshness: kind)]!
            let template = notModified ? templates.notModified : templates.ok
            template.write(
                validator: validator,
                number: number,
                contentLength: notModified ? nil : body.count,
                requestID: { buffer in
                    if let callerID { buffer.writeString(callerID) } else { requestID!.write(into: &buffer) }
                },
                date: date,
                into: &buffer
            )
            guard !notModified, head.method == .GET else { return (template.status, 0) }
            buffer.writeBytes(body)
            return (template.status, body.count)
        }
        guard let (status, bytes) = written else { return false }
        hot.answers.record(outcome, startedVendorCall: startedVendorCall)
        accessLog.record(
            AccessLog.Line(
                requestID: callerID.map { .text($0) } ?? .generated(requestID!),
                method: method,
                path: head.uri,
                status: status,
                bytes: bytes,
                elapsed: ContinuousClock.now - started,
                cache: outcome.rawValue,
                client: client,
                forwardedFor: headers.first(name: "x-forwarded-for")
            ),
            route: routeMetrics,
            logger: logger
        )
        return true
    }

    /// Writes a problem answer as the router sends it (`GatewayError.problemHead` and
    /// `problemBody`), with the body only when `body` is true (not for HEAD).
    /// - Returns: the body's length.
    @discardableResult
    private func writeProblem(
        _ error: GatewayError,
        status: HTTPResponse.Status? = nil,
        instance: String?,
        requestID: String,
        body: Bool,
        closing: Bool = false,
        into buffer: inout ByteBuffer
    ) -> Int {
        let (status, fields) = error.problemHead(status: status)
        let document = error.problemBody(instance: instance, requestID: requestID, status: status)
        buffer.writeString("HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\n")
        for field in fields { buffer.writeString("\(field.name.rawName): \(field.value)\r\n") }
        buffer.writeString("Content-Length: \(document.count)\r\n")
        if closing { buffer.writeStaticString("Connection: close\r\n") }
        buffer.writeString("X-Request-Id: \(requestID)\r\nDate: \(date.now)\r\nServer: \(serverName)\r\n\r\n")
        if body { buffer.writeBytes(document) }
        return document.count
    }

    /// The answer to a request that could not be read: its problem document, then the connection
    /// closes.
    func unreadableRequest(_ error: HTTPParserError, client: String?, requestID: RequestID) -> ByteBuffer {
        let (problem, status): (GatewayError, HTTPResponse.Status) =
            error == .headerOverflow
            ? (GatewayError(.headersTooLarge, "The request's header fields are larger than this server reads."), .requestHeaderFieldsTooLarge)
            : (GatewayError(.malformedRequest, "The request could not be read as HTTP/1.1."), .badRequest)
        return closingAnswer(problem, status: status, method: Self.unreadMethod, path: "-", client: client, requestID: requestID)
    }

    /// The answer to a request whose framing taskgate does not take, checked on every request
    /// before anything else (RFC 9112 §3.2 and §3.2.3; what nginx answers): CONNECT (405: nothing
    /// here is a tunnel, and its bytes after the head are not HTTP), and a request without exactly
    /// one Host field (400; HTTP/1.0 may leave it out). nil for any other request. The answer
    /// closes the connection.
    func framingRefusal(_ head: HTTPRequestHead, client: String?, requestIDs: inout RequestIDGenerator) -> ByteBuffer? {
        let hosts = Self.hostFieldCount(head.headers)
        let problem: GatewayError
        let status: HTTPResponse.Status
        if head.method == .CONNECT {
            (problem, status) = (GatewayError(.methodNotAllowed, "CONNECT is not allowed here; this API answers GET, HEAD."), .methodNotAllowed)
        } else if hosts > 1 || (hosts == 0 && head.version != .http1_0) {
            (problem, status) = (GatewayError(.malformedRequest, "An HTTP/1.1 request carries exactly one Host field."), .badRequest)
        } else {
            return nil
        }
        let method = HTTPRequest.Method(head.method.rawValue) ?? Self.unreadMethod
        return closingAnswer(problem, status: status, method: method, path: "-", client: client, requestID: requestIDs.next())
    }

    /// How many `Host` fields a head has, read without allocating (every request pays it).
    static func hostFieldCount(_ headers: HTTPHeaders) -> Int {
        var count = 0
        for (name, _) in headers where name.utf8.count == 4 {
            if name.utf8.elementsEqual("host".utf8, by: { $0 | 0x20 == $1 }) { count += 1 }
        }
        return count
    }

    /// A problem answer that closes the connection, logged as the router logs its answers.
    private func closingAnswer(
        _ problem: GatewayError,
        status: HTTPResponse.Status,
        method: HTTPRequest.Method,
        path: String,
        client: String?,
        requestID: RequestID
    ) -> ByteBuffer {
        let id = requestID.text
        var answer = ByteBuffer()
        let bytes = writeProblem(problem, status: status, instance: nil, requestID: id, body: true, closing: true, into: &answer)
        accessLog.record(
            AccessLog.Line(
                requestID: .text(id),
                method: method,
                path: path,
                status: status,
                bytes: bytes,
                elapsed: .zero,
                cache: nil,
                client: client,
                forwardedFor: nil
            ),
            route: unmatchedMetrics,
            logger: logger
        )
        return answer
    }

    /// Whether a `Connection` header leaves the connection as HTTP/1.1 has it: none, or the
    /// `keep-alive` many clients send anyway. `close` and anything else go to the router.
    static func keepsAlive(_ connection: String?) -> Bool {
        guard let connection else { return true }
        return connection.utf8.count == 10 && connection.lowercased() == "keep-alive"
    }

    /// `provider` and `id` of `/tasks/{provider}/{id}`; nil for any other path, a query, or
    /// percent-encoding (the router decodes those). One pass over the bytes: it runs for every
    /// request.
    static func taskPath(_ path: String) -> (String, String)? {
        let bytes = path.utf8
        guard path.hasPrefix("/tasks/") else { return nil }
        let start = bytes.index(bytes.startIndex, offsetBy: 7)
        var slash: String.Index?
        var index = start
        while index != bytes.endIndex {
            switch bytes[index] {
            case UInt8(ascii: "?"), UInt8(ascii: "%"): return nil
            case UInt8(ascii: "/"):
                guard slash == nil else { return nil }
                slash = index
            default: break
            }
            bytes.formIndex(after: &index)
        }
        guard let slash, slash != start, bytes.index(after: slash) != bytes.endIndex else { return nil }
        return (String(path[start..<slash]), String(path[bytes.index(after: slash)...]))
    }
}

/// The bytes of a hot answer's status line and headers, made once from the router's own header
/// functions (``TaskController/validatorFields(etag:freshness:cache:age:scope:)``), so both paths send
/// the same headers in the same order. Per answer only the ETag, the max-age or Age (but for an
/// immutable answer), Content-Length, X-Request-Id and Date are written.
struct AnswerTemplate {
    /// A ``Freshness`` without its number: one template each. `updating`: a not-final answer
    /// served while the vendor is asked again (`X-Cache: UPDATING`, `max-age=0`); its number is
    /// the `Age`.
    enum FreshnessKind: CaseIterable {
        case immutable, linked, transient, updating

        /// The kind and the max-age to write into its template.
        static func of(_ freshness: Freshness) -> (FreshnessKind, Int) {
            switch freshness {
            case .immutable: (.immutable, 0)
            case .linked(let maxAge): (.linked, maxAge)
            case .transient(let maxAge): (.transient, maxAge)
            }
        }
    }

    /// Fixed bytes, and the places between them where an answer's own values go.
    private enum Piece {
        case bytes([UInt8])
        case etag
        /// The max-age, or an `UPDATING` answer's `Age`.
        case number
    }

    let status: HTTPResponse.Status
    private let coding: ContentCoding
    private let pieces: [Piece]
    private let serverLine: [UInt8]

    init(status: HTTPResponse.Status, coding: ContentCoding, freshness: FreshnessKind, scope: CacheScope, serverName: String) {
        // Values no answer has, replaced by pieces once the router's headers are written out.
        let etagMarker = "taskgate-etag-goes-here"
        let numberMarker = 9_876_543_210
        let marked: Freshness =
            switch freshness {
            case .immutable: .immutable
            case .linked: .linked(maxAge: numberMarker)
            case .transient: .transient(maxAge: numberMarker)
            case .updating: .transient(maxAge: 0)
            }
        var fields =
            freshness == .updating
            ? TaskController.validatorFields(etag: etagMarker, freshness: marked, cache: .updating, age: numberMarker, scope: scope)
            : TaskController.validatorFields(etag: etagMarker, freshness: marked, cache: .hit, age: nil, scope: scope)
        if status == .ok { TaskController.addContentFields(to: &fields, coding: coding) }
        var text = "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\n"
        for field in fields { text += "\(field.name.rawName): \(field.value)\r\n" }
        var pieces: [Piece] = []
        for (index, part) in text.components(separatedBy: etagMarker).enumerated() {
            if index > 0 { pieces.append(.etag) }
            for (index, part) in part.components(separatedBy: String(numberMarker)).enumerated() {
                if index > 0 { pieces.append(.number) }
                pieces.append(.bytes(Array(part.utf8)))
            }
        }
        precondition(pieces.count(where: { if case .etag = $0 { true } else { false } }) == 1, "the answer headers carry one ETag")
        self.status = status
        self.coding = coding
        self.pieces = pieces
        self.serverLine = Array("Server: \(serverName)\r\n\r\n".utf8)
    }

    func write(
        validator: Validator,
        number: Int,
        contentLength: Int?,
        requestID: (inout ByteBuffer) -> Void,
        date: String,
        into buffer: inout ByteBuffer
    ) {
        for piece in pieces {
            switch piece {
            case .bytes(let bytes): buffer.writeBytes(bytes)
            case .etag: validator.writeETag(for: coding, into: &buffer)
            case .number: buffer.writeString(String(number))
            }
        }
        if let contentLength {
            buffer.writeStaticString("Content-Length: ")
            buffer.writeString(String(contentLength))
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString("X-Request-Id: ")
        requestID(&buffer)
        buffer.writeStaticString("\r\nDate: ")
        buffer.writeString(date)
        buffer.writeStaticString("\r\n")
        buffer.writeBytes(serverLine)
    }
}

/// The `Date` header value, formatted once a second per thread rather than per request (and
/// without a lock the event loops would take turns at).
final class HTTPDate: Sendable {
    private final class Cache: @unchecked Sendable {  // only its own thread touches it
        var second = -1
        var text = ""
    }

    private let cache = ThreadSpecificVariable<Cache>()

    var now: String {
        let seconds = Int(Date().timeIntervalSince1970)
        let mine = cache.current(orMake: Cache.init)
        if mine.second != seconds {
            mine.second = seconds
            mine.text = Self.format(Date(timeIntervalSince1970: TimeInterval(seconds)))
        }
        return mine.text
    }

    /// RFC 9110 IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`. The calendar is libc's `gmtime_r`
    /// and the names are fixed English, as Hummingbird's own date cache does: a locale-aware
    /// formatter would load ICU's data into every process for one fixed format.
    static func format(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func twoDigits(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let time = [parts.tm_hour, parts.tm_min, parts.tm_sec].map(twoDigits).joined(separator: ":")
        return "\(weekdays[Int(parts.tm_wday)]), \(twoDigits(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(1900 + parts.tm_year) \(time) GMT"
    }
}
