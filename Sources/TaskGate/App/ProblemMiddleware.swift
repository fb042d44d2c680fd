import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The one place errors become HTTP: every failure leaves as `application/problem+json`
/// (RFC 9457) with a stable `type`.
struct ProblemMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as GatewayError {
            error.log(to: context.logger)
            return error.problemResponse(instance: request.uri.path, requestID: context.requestID)
        } catch let refusal as MethodNotAllowed {
            var problem = GatewayError(.methodNotAllowed, "\(request.method) is not allowed here; this route answers \(refusal.allow).")
            problem.allow = refusal.allow
            return problem.problemResponse(instance: request.uri.path, requestID: context.requestID)
        } catch let error as HTTPError {
            let problem: GatewayError =
                switch error.status {
                case .notFound: GatewayError(.routeNotFound, "No route matches \(request.method) \(request.uri.path).")
                case .methodNotAllowed: GatewayError(.methodNotAllowed, "\(request.method) is not allowed here.")
                case .badRequest, .contentTooLarge, .uriTooLong:
                    GatewayError(.invalidQuery, "The request could not be read.")
                default: GatewayError(.internal, "The request failed.")
                }
            return problem.problemResponse(instance: request.uri.path, requestID: context.requestID, status: error.status)
        } catch {
            context.logger.error("unexpected error", metadata: ["error": "\(String(reflecting: type(of: error)))"])
            return GatewayError(.internal, "taskgate failed to answer.").problemResponse(
                instance: request.uri.path,
                requestID: context.requestID
            )
        }
    }
}

extension GatewayError {
    static let problemContentType = "application/problem+json"

    /// The one log line of a failed request (the router's and the hot path's), as loud as its kind.
    func log(to logger: Logger) {
        var metadata: Logger.Metadata = ["problem": .string(kind.rawValue)]
        if let provider { metadata["provider"] = .string(provider) }
        if let vendorCode { metadata["vendor_code"] = .string(vendorCode) }
        if let vendorRequestID { metadata["vendor_request_id"] = .string(vendorRequestID) }
        metadata["detail"] = .string(detail)
        let level = kind.handling.logLevel
        logger.log(level: level, level > .info ? "request failed" : "request refused", metadata: metadata)
    }

    /// A problem answer's status and headers; the body is `problemBody`. The router sends them as
    /// a `Response`, the hot path as bytes.
    func problemHead(status: HTTPResponse.Status? = nil) -> (status: HTTPResponse.Status, fields: HTTPFields) {
        let status = status ?? HTTPResponse.Status(code: kind.httpStatus)
        var fields: HTTPFields = [.contentType: Self.problemContentType, .cacheControl: "no-store"]
        if let retryAfter = retryAfter ?? kind.defaultRetryAfter { fields[.retryAfter] = String(retryAfter) }
        if kind == .unauthorized { fields[.wwwAuthenticate] = #"Bearer realm="taskgate""# }
        if kind == .methodNotAllowed { fields[.allow] = allow ?? MethodMiddleware.allow }
        if let completeLength { fields[.contentRange] = "bytes */\(completeLength)" }
        return (status, fields)
    }

    func problemResponse(instance: String, requestID: String, status: HTTPResponse.Status? = nil) -> Response {
        let (status, fields) = problemHead(status: status)
        let body = problemBody(instance: instance, requestID: requestID, status: status)
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// `{"type","title","status","detail","instance","provider","vendorCode","vendorRequestId","lastKnown","requestId"}`;
    /// `instance` is left out for a request whose target was never read.
    func problemBody(instance: String?, requestID: String, status: HTTPResponse.Status) -> [UInt8] {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("type")
        writer.string(kind.typeURI)
        writer.key("title")
        writer.string(kind.title)
        writer.key("status")
        writer.raw(String(status.code).utf8)
        writer.key("detail")
        writer.string(detail)
        if let instance {
            writer.key("instance")
            writer.string(instance)
        }
        if let provider {
            writer.key("provider")
            writer.string(provider)
        }
        if let vendorCode {
            writer.key("vendorCode")
            writer.string(vendorCode)
        }
        if let vendorRequestID {
            writer.key("vendorRequestId")
            writer.string(vendorRequestID)
        }
        if let lastKnown {
            writer.key("lastKnown")
            writer.beginObject()
            writer.key("status")
            writer.string(lastKnown.status.rawValue)
            writer.key("final")
            writer.bool(lastKnown.status.isFinal)
            writer.key("vendorStatus")
            writer.string(lastKnown.vendorStatus)
            writer.key("fetchedAt")
            writer.string(RFC3339.format(lastKnown.fetchedAt))
            writer.endObject()
        }
        writer.key("requestId")
        writer.string(requestID)
        writer.endObject()
        return writer.bytes
    }
}
