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
            log(error, context: context)
            return error.problemResponse(instance: request.uri.path, requestID: context.requestID)
        } catch is MethodNotAllowed {
            var response = GatewayError(.methodNotAllowed, "\(request.method) is not allowed here; this API answers \(MethodMiddleware.allow).")
                .problemResponse(instance: request.uri.path, requestID: context.requestID)
            response.headers[.allow] = MethodMiddleware.allow
            return response
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

    private func log(_ error: GatewayError, context: Context) {
        var metadata: Logger.Metadata = ["problem": .string(error.kind.rawValue)]
        if let provider = error.provider { metadata["provider"] = .string(provider) }
        if let code = error.vendorCode { metadata["vendor_code"] = .string(code) }
        if let id = error.vendorRequestID { metadata["vendor_request_id"] = .string(id) }
        switch error.kind {
        case .internal, .storeUnavailable, .vendorRejectedCredentials, .vendorBadAnswer, .vendorError, .vendorUnreachable:
            context.logger.warning("request failed", metadata: metadata)
        case .vendorTimeout, .vendorThrottled, .vendorUnavailable, .circuitOpen, .taskBudgetExhausted:
            context.logger.notice("request failed", metadata: metadata)
        default:
            context.logger.debug("request refused", metadata: metadata)
        }
    }
}

extension GatewayError {
    static let problemContentType = "application/problem+json"

    /// `{"type","title","status","detail","instance","provider","vendorCode","lastKnown","requestId"}`.
    func problemResponse(instance: String, requestID: String, status: HTTPResponse.Status? = nil) -> Response {
        let status = status ?? HTTPResponse.Status(code: kind.httpStatus)
        var headers: HTTPFields = [.contentType: Self.problemContentType, .cacheControl: "no-store"]
        if let retryAfter = retryAfter ?? kind.defaultRetryAfter { headers[.retryAfter] = String(retryAfter) }
        if kind == .unauthorized { headers[.wwwAuthenticate] = #"Bearer realm="taskgate""# }
        let body = problemBody(instance: instance, requestID: requestID, status: status)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The problem document. `instance` is left out for a request whose target was never read.
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
