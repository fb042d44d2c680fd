import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import Tracing

/// What the hot path needs, shared by every connection.
final class HotPath: Sendable {
    let service: TaskService
    let policy: RequestPolicy
    let idleTimeout: TimeAmount
    let logger: Logger
    let accessLog: AccessLog
    let serverName: String
    /// nil when tracing is off: an answer then pays one nil check.
    let tracer: GatewayTracer?
    private let date = HTTPDate()
    /// The access log's method for a request that could not be read.
    static let unreadMethod = HTTPRequest.Method("-")!
    /// The fixed parts of every answer, per coding and status.
    private let templates: [Templates.Key: Templates]
    /// Each configured provider with its answer metrics, found with one lookup per request.
    private let providers: [String: HotProvider]
    /// The task route's metrics by caller (every configured key, and `anonymous`).
    private let routeMetrics: [String: GatewayMetrics.RouteMetrics]
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
    static let getSpanName = ServerSpan.name(method: .get, route: route)
    static let headSpanName = ServerSpan.name(method: .head, route: route)

    init(
        service: TaskService,
        metrics: GatewayMetrics,
        policy: RequestPolicy,
        limits: LimitsConfiguration,
        tracer: GatewayTracer? = nil,
        logger: Logger,
        serverName: String
    ) {
        self.service = service
        self.tracer = tracer
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
        let callers = policy.auth.keys.map(\.name) + [Caller.anonymous]
        routeMetrics = Dictionary(callers.map { ($0, metrics.route(Self.route, caller: $0)) }, uniquingKeysWith: { first, _ in first })
        unmatchedMetrics = metrics.route("unmatched", caller: Caller.anonymous)
    }

    /// Writes the whole answer into `buffer` when `head` asks for a task whose answer is at hand
    /// (`TaskService.lookup`), or when the request policy or the task's name refuses it
    /// (401, 403, 404, 400, 414: the router's problem answers, from the same functions); false
    /// (and nothing written) to let Hummingbird answer.
    func answer(_ head: HTTPRequestHead, client: String?, requestIDs: inout RequestIDGenerator, into buffer: inout ByteBuffer) -> Bool {
        let started = ContinuousClock.now
        // The span is made once the hot path knows it answers, dated from here.
        let spanStart = tracer.map { _ in DefaultTracerClock.now }
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
        var caller = Caller.anonymous
        do throws(GatewayError) {
            try policy.checkTarget(head.uri, path: Substring(head.uri).utf8)
            let key = try policy.authenticate(path: head.uri, authorization: headers.first(name: "authorization"))
            if let key { caller = key.name }
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
            let status = HTTPResponse.Status(code: error.kind.httpStatus)
            let trace = traceAnswer(
                head,
                method: method,
                status: status,
                startedAt: spanStart,
                client: client,
                provider: nil,
                cache: nil,
                caller: caller
            )
            logAccess(.text(requestID), method, head, status, bytes: bytes, since: started, client: client, caller: caller, trace: trace)
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
        let trace = traceAnswer(
            head,
            method: method,
            status: status,
            startedAt: spanStart,
            client: client,
            provider: providerName,
            cache: outcome.rawValue,
            caller: caller
        )
        logAccess(
            callerID.map { .text($0) } ?? .generated(requestID!),
            method,
            head,
            status,
            bytes: bytes,
            since: started,
            cache: outcome,
            client: client,
            caller: caller,
            trace: trace
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
        return closingAnswer(problem, status: status, method: Self.unreadMethod, client: client, requestID: requestID)
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
        return closingAnswer(problem, status: status, method: method, client: client, requestID: requestIDs.next())
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
        client: String?,
        requestID: RequestID
    ) -> ByteBuffer {
        let id = requestID.text
        var answer = ByteBuffer()
        let bytes = writeProblem(problem, status: status, instance: nil, requestID: id, body: true, closing: true, into: &answer)
        logAccess(.text(id), method, nil, status, bytes: bytes, client: client)
        return answer
    }

    /// The access line and route metrics of a request the hot path answered; `head` nil for one
    /// it could not read or refused for its framing (logged under `unmatched`, path `-`).
    private func logAccess(
        _ requestID: AccessLog.Line.RequestIDValue,
        _ method: HTTPRequest.Method,
        _ head: HTTPRequestHead?,
        _ status: HTTPResponse.Status,
        bytes: Int,
        since started: ContinuousClock.Instant? = nil,
        cache: TaskService.CacheOutcome? = nil,
        client: String?,
        caller: String = Caller.anonymous,
        trace: TraceIDs? = nil
    ) {
        accessLog.record(
            AccessLog.Line(
                requestID: requestID,
                method: method,
                path: head?.uri ?? "-",
                status: status,
                bytes: bytes,
                elapsed: started.map { ContinuousClock.now - $0 } ?? .zero,
                cache: cache?.rawValue,
                client: client,
                forwardedFor: head?.headers.first(name: "x-forwarded-for"),
                trace: trace
            ),
            route: head == nil ? unmatchedMetrics : routeMetrics[caller] ?? unmatchedMetrics,
            logger: logger
        )
    }

    /// The SERVER span of an answer the hot path gave, as the router's middleware describes its
    /// own; the ids for the access line when it is sampled.
    private func traceAnswer(
        _ head: HTTPRequestHead,
        method: HTTPRequest.Method,
        status: HTTPResponse.Status,
        startedAt start: DefaultTracerClock.Instant?,
        client: String?,
        provider: String?,
        cache: String?,
        caller: String
    ) -> TraceIDs? {
        guard let tracer, let start else { return nil }
        guard
            let span = tracer.startSpan(
                method == .get ? Self.getSpanName : Self.headSpanName,
                kind: .server,
                parentIn: head.headers,
                using: HTTPHeadersExtractor(),
                at: start
            )
        else { return nil }
        guard span.isRecording else {
            span.end()
            return nil
        }
        ServerSpan.describe(
            span,
            method: method,
            path: head.uri,
            route: Self.route,
            status: status,
            server: head.headers.first(name: "host"),
            client: client,
            provider: provider,
            cache: cache,
            caller: caller
        )
        let ids = tracer.ids(of: span)
        span.end()
        return ids
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
