import Foundation
import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Answers the most common request — a final task, from memory or the store — on the
/// connection's event loop, the way nginx serves a cached file: no task hop, no router, no
/// middleware chain. (A store read here is one indexed lookup in a local SQLite file, as nginx
/// reads its cache files on its event loop.)
///
/// Anything else (a miss, a not-final task, an unusual header, a request behind another on the
/// same connection) is passed on untouched to Hummingbird, which answers it as before; the
/// answer bytes and headers are the same either way. Because it sees every request and answer of
/// the connection, it also keeps the connection's idle timeout (Hummingbird's own timer would
/// not see the requests answered here).
final class HotPathHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let hotPath: HotPath
    /// Requests handed to Hummingbird whose answer has not been written yet.
    private var inFlight = 0
    /// The answer to the request being read, when it is answered here.
    private var pending: HotPath.Answer?
    /// Whether a request head has arrived and its end not yet.
    private var readingRequest = false
    private var lastActive = NIODeadline.now()
    private var idleCheck: Scheduled<Void>?

    init(hotPath: HotPath) {
        self.hotPath = hotPath
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { scheduleIdleCheck(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        scheduleIdleCheck(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        idleCheck?.cancel()
        idleCheck = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            lastActive = .now()
            readingRequest = true
            if inFlight == 0, let answer = hotPath.answer(head, remote: context.channel.remoteAddress) {
                pending = answer
                return
            }
            inFlight += 1
            context.fireChannelRead(data)
        case .body:
            // A GET answered here has no body worth reading.
            if pending == nil { context.fireChannelRead(data) }
        case .end:
            lastActive = .now()
            readingRequest = false
            guard let answer = pending else {
                context.fireChannelRead(data)
                return
            }
            pending = nil
            context.write(wrapOutboundOut(.head(answer.head)), promise: nil)
            if let body = answer.body {
                context.write(wrapOutboundOut(.body(body)), promise: nil)
            }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            inFlight -= 1
            lastActive = .now()
        }
        context.write(data, promise: promise)
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
    let metrics: GatewayMetrics
    let auth: AuthConfiguration
    let maxURILength: Int
    let idleTimeout: TimeAmount
    let logger: Logger
    let serverName: String
    private let date = HTTPDate()

    static let route = "/tasks/{provider}/{id}"

    init(service: TaskService, metrics: GatewayMetrics, auth: AuthConfiguration, limits: LimitsConfiguration, logger: Logger, serverName: String) {
        self.service = service
        self.metrics = metrics
        self.auth = auth
        self.maxURILength = limits.maxURILength
        self.idleTimeout = .nanoseconds(limits.idleTimeout.nanoseconds)
        self.logger = logger
        self.serverName = serverName
    }

    struct Answer {
        var head: HTTPResponse
        var body: ByteBuffer?
    }

    /// The whole answer when `head` asks for a final task held in memory; nil to let
    /// Hummingbird answer.
    func answer(_ head: HTTPRequest, remote: SocketAddress?) -> Answer? {
        let started = ContinuousClock.now
        guard head.method == .get || head.method == .head, let path = head.path, path.utf8.count <= maxURILength,
            let (provider, rawID) = Self.taskPath(path), head.headerFields[.connection] == nil,
            let coding = AcceptEncoding.choose(head.headerFields[.acceptEncoding]),
            let providerInstance = service.providers[provider],
            let id = try? providerInstance.validateID(rawID)
        else { return nil }
        if auth.isEnabled {
            guard let key = auth.key(forAuthorization: head.headerFields[.authorization]), key.covers(provider) else { return nil }
        }
        let key = AnswerCache.Key(provider: provider, id: id)
        let answer: EncodedAnswer
        if let (held, expires) = service.cache.fresh(key) {
            guard expires == nil else { return nil }
            answer = held
        } else if coding == .gzip, let stored = service.store.finalAnswerNow(provider: provider, id: id) {
            // A final answer in the store is as good as one in memory, and goes there now.
            service.cache.keep(stored, for: key)
            answer = stored
        } else {
            return nil
        }
        let body: ByteBuffer
        switch coding {
        case .gzip: body = answer.gzipBody
        case .identity:
            guard let identity = answer.identityBody else { return nil }
            body = identity
        }
        let requestID = head.headerFields[.xRequestID].flatMap(RequestIDMiddleware.acceptable) ?? RequestIDMiddleware.make()
        let etag = answer.etag(for: coding)
        var fields = TaskController.validatorFields(etag: etag, maxAge: nil, cache: .hit, age: nil)
        let status: HTTPResponse.Status
        var sentBody: ByteBuffer? = body
        if let condition = head.headerFields[.ifNoneMatch], EntityTag.ifNoneMatch(condition, matches: etag) {
            status = .notModified
            sentBody = nil
        } else {
            status = .ok
            TaskController.addContentFields(to: &fields, coding: coding)
            fields[.contentLength] = String(body.readableBytes)
            if head.method == .head { sentBody = nil }
        }
        fields[.xRequestID] = requestID
        fields[.date] = date.now
        fields[.server] = serverName
        metrics.answer(provider: provider, cache: .hit)
        AccessLog.record(
            logger: logger,
            requestID: requestID,
            metrics: metrics,
            route: Self.route,
            method: head.method,
            path: path,
            status: status,
            bytes: sentBody?.readableBytes ?? 0,
            elapsed: ContinuousClock.now - started,
            cache: fields[.xCache],
            client: remote,
            forwardedFor: head.headerFields[.xForwardedFor]
        )
        return Answer(head: HTTPResponse(status: status, headerFields: fields), body: sentBody)
    }

    /// `provider` and `id` of `/tasks/{provider}/{id}`; nil for any other path, a query, or
    /// percent-encoding (the router decodes those).
    static func taskPath(_ path: String) -> (String, String)? {
        guard path.hasPrefix("/tasks/"), !path.utf8.contains(UInt8(ascii: "?")), !path.utf8.contains(UInt8(ascii: "%")) else { return nil }
        let rest = path.dropFirst(7)
        guard let slash = rest.firstIndex(of: "/") else { return nil }
        let provider = rest[..<slash]
        let id = rest[rest.index(after: slash)...]
        guard !provider.isEmpty, !id.isEmpty, !id.contains("/") else { return nil }
        return (String(provider), String(id))
    }
}

/// The `Date` header value, formatted once a second rather than per request.
final class HTTPDate: Sendable {
    private let cache = Mutex<(second: Int, text: String)>((-1, ""))

    var now: String {
        let seconds = Int(Date().timeIntervalSince1970)
        return cache.withLock { cache in
            if cache.second != seconds {
                cache = (seconds, Self.format(Date(timeIntervalSince1970: TimeInterval(seconds))))
            }
            return cache.text
        }
    }

    /// RFC 9110 IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
    static func format(_ date: Date) -> String {
        date.formatted(
            Date.VerbatimFormatStyle(
                format:
                    "\(weekday: .abbreviated), \(day: .twoDigits) \(month: .abbreviated) \(year: .defaultDigits) \(hour: .twoDigits(clock: .twentyFourHour, hourCycle: .zeroBased)):\(minute: .twoDigits):\(second: .twoDigits) GMT",
                locale: Locale(identifier: "en_US_POSIX"),
                timeZone: TimeZone(identifier: "GMT")!,
                calendar: Calendar(identifier: .gregorian)
            )
        )
    }
}
