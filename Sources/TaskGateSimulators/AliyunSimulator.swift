import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import TaskGate

/// A faithful Alibaba Cloud multimediaai endpoint (RPC style, version 2019-08-10): GetTaskStatus,
/// GetTaskResult, ListTasks.
///
/// It verifies signatures as the vendor does, RPC (HMAC-SHA1 over query and form parameters)
/// and V3 (ACS3-HMAC-SHA256), rejects a timestamp more than 15 minutes off and a reused nonce,
/// and answers in the vendor's JSON shapes with its HTTP statuses and error bodies.
///
/// A succeeded task's result file is in its object storage, as with the vendor: the default
/// result's `ProcessResultUrl` is an OSS V1 query-signed link (`Expires`, `OSSAccessKeyId`,
/// `Signature`), signed afresh by every GetTaskResult, and the simulator serves the file there —
/// until the link expires, then OSS's 403 `AccessDenied` "Request has expired.".
public struct AliyunSimulator: ProviderSimulator {
    public let kind = "aliyun-multimediaai"
    public let state: SimulatorState
    let accessKeyID: String
    let accessKeySecret: String
    let nonces = NonceLedger()
    /// The `Code` a success answer carries, as some of the vendor's answers do (the seed's
    /// GetTaskResult example: `"OK"`); nil sends none, as the official SDK's captures show.
    public var successCode: String?
    /// The `Success` flag a success answer carries, as other Alibaba APIs answer; nil sends none.
    public var successFlag: Bool?
    /// How long the result links it signs stay valid; nil gives the seed's unsigned placeholder
    /// (`http://example.invalid/processResult/x.txt`) instead.
    public var resultLinkLifetime: Duration? = .seconds(3600)
    /// The size of every result file it serves, in bytes.
    public var resultFileBytes = 2048
    /// Sends result files in chunks without a Content-Length (as a proxy in front of the storage
    /// may), made as they are sent: a large one never sits in memory.
    public var resultFileChunked = false

    /// The storage the result files are in, and the vendor's own key that signs their links
    /// (not the caller's: the caller only follows them).
    static let resultBucket = "multimediaai-output"
    static let storageKeyID = "LTAI5tSimulatorOSS"
    static let storageSecret = "simulator-oss-signing-secret"

    public static let timestampWindow: TimeInterval = 15 * 60

    /// Accepts the access key a configured provider signs with.
    public init(settings: AliyunSettings, state: SimulatorState) {
        self.init(accessKeyID: settings.accessKeyID, accessKeySecret: settings.accessKeySecret, state: state)
    }

    public init(accessKeyID: String, accessKeySecret: String, state: SimulatorState = SimulatorState()) {
        self.accessKeyID = accessKeyID
        self.accessKeySecret = accessKeySecret
        self.state = state
    }

    public func validateID(_ id: String) -> Bool {
        (1...19).contains(id.count) && id.allSatisfy(\.isASCII) && Int64(id) != nil
    }

    public func vendorRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/") { request, _ in try await self.handle(request) }
        router.get("/") { request, _ in try await self.handle(request) }
        router.get("/processResult/:task/result.json") { request, context in
            self.resultFile(request, task: context.parameters.get("task") ?? "", method: "GET")
        }
        router.head("/processResult/:task/result.json") { request, context in
            self.resultFile(request, task: context.parameters.get("task") ?? "", method: "HEAD")
        }
        return router
    }

    /// A request as the vendor sees it: every parameter (query, then form body) and the action.
    struct Call {
        var parameters: [(String, String)]
        var action: String
        func value(_ name: String) -> String? { parameters.last { $0.0 == name }?.1 }
    }

    func handle(_ request: Request) async throws -> Response {
        let body = try await request.body.collect(upTo: 1 << 20)
        let requestID = UUID().uuidString
        let call: Call
        do {
            call = try authenticate(request, body: body)
        } catch let rejection as Rejection {
            state.reject(rejection.code)
            return Self.error(rejection.code, rejection.message, status: rejection.status, requestID: requestID)
        }
        switch call.action {
        case "GetTaskStatus", "GetTaskResult":
            return await answerTask(call, host: request.head.authority ?? "127.0.0.1", requestID: requestID)
        case "ListTasks":
            state.count(call: "ListTasks")
            return listTasks(call, requestID: requestID)
        default:
            return Self.error(
                "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
                status: .notFound,
                requestID: requestID
            )
        }
    }

    /// - Parameter host: where the caller reached the simulator: its result links point there.
    func answerTask(_ call: Call, host: String, requestID: String) async -> Response {
        guard let id = call.value("TaskId"), !id.isEmpty else {
            return Self.error("MissingTaskId", "TaskId is mandatory for this action.", status: .badRequest, requestID: requestID)
        }
        guard let (_, step, _) = state.poll(id, call: call.action) else {
            return Self.error("ResourceNotFound", "The specified task does not exist.", status: .notFound, requestID: requestID)
        }
        await step.pause(on: state.clock)
        switch step.answer {
        case .fault(let fault): return fault.response(notFinal: #"{"RequestId":"\#(requestID)","Code":"OK","Status":1}"#)
        case .vendorError(let code): return Self.vendorError(code, requestID: requestID)
        case .gone: return Self.error("ResourceNotFound", "The specified task does not exist.", status: .notFound, requestID: requestID)
        case .state(let taskState, let result, let errorCode, let errorMessage):
            var object: [String: Any] = ["RequestId": requestID, "Status": Self.statusCode(taskState)]
            if let successCode { object["Code"] = successCode }
            if let successFlag { object["Success"] = successFlag }
            if call.action == "GetTaskResult" {
                if taskState == .succeeded {
                    object["Result"] = result.flatMap { try? JSONSerialization.jsonObject(with: $0) } ?? defaultResult(taskID: id, host: host)
                } else if taskState == .failed {
                    object["Result"] = Self.failure(code: errorCode, message: errorMessage)
                }
            }
            return Self.json(object)
        }
    }

    /// A failed task in the seed's shape: ErrorCode is an HTTP-like number, ErrorName the
    /// specific name, ErrorMessage and ErrorReason the words.
    static func failure(code: String?, message: String?) -> [String: Any] {
        let name = code ?? "ProcessFailed"
        let numeric = name.allSatisfy(\.isNumber)
        return [
            "ErrorCode": numeric ? name : "400", "ErrorName": numeric ? "" : name,
            "ErrorMessage": message ?? "The task failed.", "ErrorReason": message ?? "The task failed.",
        ]
    }

    /// ListTasks: paging, `Status`, and the seed's filters `TaskId`, `ApplicationName`,
    /// `ServiceType` (matched against the task's fields). TaskId is a number, as the seed types it.
    func listTasks(_ call: Call, requestID: String) -> Response {
        let pageNumber = Int(call.value("PageNumber") ?? "1") ?? 1
        let pageSize = Int(call.value("PageSize") ?? "10") ?? 10
        let wanted = call.value("Status").flatMap(Int.init)
        guard pageNumber >= 1, (1...100).contains(pageSize) else {
            return Self.error("InvalidParameter", "PageNumber or PageSize is invalid.", status: .badRequest, requestID: requestID)
        }
        var rows: [[String: Any]] = []
        for task in state.allTasks {
            guard let step = state.currentStep(task.id), case .state(let taskState, let result, let errorCode, let errorMessage) = step.answer
            else { continue }
            let code = Self.statusCode(taskState)
            if let wanted, wanted != code { continue }
            if let id = call.value("TaskId"), id != task.id { continue }
            let fields = task.fieldObjects
            let filtered = ["ApplicationName", "ServiceType"].contains { name in
                call.value(name).map { value in fields[name].map { "\($0)" } != value } ?? false
            }
            if filtered { continue }
            var row: [String: Any] = ["TaskId": Int64(task.id) ?? 0, "Status": code, "CreateTime": AliyunTimestamp.format(task.createdAt)]
            if taskState == .succeeded {
                let fields = (result.flatMap { try? JSONSerialization.jsonObject(with: $0) } as? [String: Any]) ?? Self.defaultResult
                if let video = fields["VideoUrl"] ?? fields["VideoName"] { row["VideoUrl"] = video }
            } else if taskState == .failed {
                row.merge(Self.failure(code: errorCode, message: errorMessage)) { current, _ in current }
            }
            row.merge(fields) { _, given in given }
            rows.append(row)
        }
        let page = Array(rows.dropFirst((pageNumber - 1) * pageSize).prefix(pageSize))
        var answer: [String: Any] = ["RequestId": requestID, "TotalCount": rows.count, "PageNumber": pageNumber, "PageSize": pageSize, "Tasks": page]
        if let successCode { answer["Code"] = successCode }
        if let successFlag { answer["Success"] = successFlag }
        return Self.json(answer)
    }

    // MARK: - Authentication, as the vendor checks it

    struct Rejection: Error {
        var code: String
        var message: String
        var status: HTTPResponse.Status = .badRequest
    }

    func authenticate(_ request: Request, body: ByteBuffer) throws -> Call {
        var parameters = try Self.decodeForm(Substring(request.uri.query ?? ""))
        if request.headers[.contentType]?.hasPrefix("application/x-www-form-urlencoded") == true {
            parameters += try Self.decodeForm(Substring(String(buffer: body)))
        }
        if let authorization = request.headers[.authorization], authorization.hasPrefix(AliyunV3Signer.algorithm) {
            return try authenticateV3(request, authorization: authorization, parameters: parameters, body: body)
        }
        let call = Call(parameters: parameters, action: parameters.last { $0.0 == "Action" }?.1 ?? "")
        for required in ["Signature", "SignatureNonce", "Timestamp", "AccessKeyId", "SignatureMethod", "Action", "Version"] {
            guard call.value(required) != nil else {
                throw Rejection(
                    code: required == "Signature" ? "IncompleteSignature" : "MissingParameter",
                    message: "\(required) is mandatory for this action."
                )
            }
        }
        guard call.value("SignatureMethod") == "HMAC-SHA1", call.value("SignatureVersion") ?? "1.0" == "1.0" else {
            throw Rejection(code: "InvalidSignatureMethod", message: "Specified signature method is not valid.")
        }
        try checkCommon(accessKeyID: call.value("AccessKeyId")!, timestamp: call.value("Timestamp")!, nonce: call.value("SignatureNonce")!)
        let signed = AliyunRPCSigner.sign(method: request.method.rawValue, parameters: parameters, secret: accessKeySecret)
        guard signed.signature == call.value("Signature") else {
            throw Rejection(
                code: "SignatureDoesNotMatch",
                message: "Specified signature is not matched with our calculation. server string to sign is:\(signed.stringToSign)"
            )
        }
        try nonces.use(call.value("SignatureNonce")!, now: state.clock.date)
        return call
    }

    func authenticateV3(_ request: Request, authorization: String, parameters: [(String, String)], body: ByteBuffer) throws -> Call {
        var fields: [String: String] = [:]
        for part in authorization.dropFirst(AliyunV3Signer.algorithm.count).split(separator: ",") {
            let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1).map(String.init)
            if pair.count == 2 { fields[pair[0]] = pair[1] }
        }
        guard let credential = fields["Credential"], let signedHeaderList = fields["SignedHeaders"], let signature = fields["Signature"],
            let action = request.headers[HTTPField.Name("x-acs-action")!], let date = request.headers[HTTPField.Name("x-acs-date")!],
            let nonce = request.headers[HTTPField.Name("x-acs-signature-nonce")!]
        else {
            throw Rejection(code: "IncompleteSignature", message: "The request signature does not conform to Aliyun standards.")
        }
        try checkCommon(accessKeyID: credential, timestamp: date, nonce: nonce)
        let names = signedHeaderList.split(separator: ";").map(String.init)
        guard names.contains("host"), names.contains("x-acs-date") else {
            throw Rejection(code: "IncompleteSignature", message: "The request signature does not conform to Aliyun standards.")
        }
        var headers: [(String, String)] = []
        for name in names {
            let value = name == "host" ? request.head.authority : HTTPField.Name(name).flatMap { request.headers[$0] }
            guard let value else { throw Rejection(code: "IncompleteSignature", message: "Signed header \(name) is missing.") }
            headers.append((name, value))
        }
        let payload = Array(body.readableBytesView)
        let signed = AliyunV3Signer.sign(
            method: request.method.rawValue,
            path: request.uri.path,
            query: try Self.decodeForm(Substring(request.uri.query ?? "")),
            headers: headers,
            payload: payload,
            accessKeyID: credential,
            secret: accessKeySecret
        )
        let declaredHash = request.headers[HTTPField.Name("x-acs-content-sha256")!]
        guard signed.signature == signature, declaredHash == nil || declaredHash == signed.hashedPayload else {
            throw Rejection(
                code: "SignatureDoesNotMatch",
                message: "The request signature does not conform to Aliyun standards. server string to sign is:\(signed.stringToSign)"
            )
        }
        try nonces.use(nonce, now: state.clock.date)
        return Call(parameters: parameters, action: action)
    }

    func checkCommon(accessKeyID: String, timestamp: String, nonce: String) throws {
        guard accessKeyID == self.accessKeyID else {
            throw Rejection(code: "InvalidAccessKeyId.NotFound", message: "Specified access key is not found.", status: .notFound)
        }
        guard let time = AliyunTimestamp.parse(timestamp) else {
            throw Rejection(code: "InvalidTimeStamp.Format", message: "Specified time stamp or date value is not well formatted.")
        }
        guard abs(time.timeIntervalSince(state.clock.date)) <= Self.timestampWindow else {
            throw Rejection(code: "InvalidTimeStamp.Expired", message: "Specified time stamp or date value is expired.")
        }
        if nonces.seen(nonce) {
            throw Rejection(code: "SignatureNonceUsed", message: "Specified signature nonce was used already.")
        }
    }

    /// `a=b&c=d` with `%XX` escapes (and `+` as space, as form bodies have it).
    static func decodeForm(_ text: Substring) throws -> [(String, String)] {
        guard !text.isEmpty else { return [] }
        return try text.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = AliyunRPCSigner.percentDecode(parts[0].replacing("+", with: " ")[...])
            let value = parts.count > 1 ? AliyunRPCSigner.percentDecode(parts[1].replacing("+", with: " ")[...]) : ""
            guard let name, let value else { throw Rejection(code: "InvalidParameter", message: "A parameter is not well encoded.") }
            return (name, value)
        }
    }

    // MARK: - Answers

    static func statusCode(_ state: SimulatedTask.Step.State) -> Int {
        switch state {
        case .queued: 0
        case .running: 1
        case .succeeded: 2
        case .failed: 3
        }
    }

    /// The vendor's HTTP status for its own error codes, as the seeds list them.
    static func vendorError(_ code: String, requestID: String) -> Response {
        let status: HTTPResponse.Status =
            switch code {
            case "InternalError", "ServiceUnavailable", "UnknownError": .internalServerError
            case "Unauthorized", "ServiceNotOpened", "BalanceNotEnough": .unauthorized
            case "InvalidApiNotFound", "InvalidApi.NotFound", "InvalidAction.NotFound": .notFound
            case "ServiceNotSelected": .notAcceptable
            case _ where code.hasPrefix("Forbidden") || code.hasPrefix("NoPermission"): .forbidden
            case _ where code.hasPrefix("InvalidAccessKeyId"), _ where code.hasPrefix("ResourceNotFound"): .notFound
            case _ where code.hasPrefix("ServiceUnavailable"): .serviceUnavailable
            default: .badRequest
            }
        return error(code, "The request failed: \(code).", status: status, requestID: requestID)
    }

    static func error(_ code: String, _ message: String, status: HTTPResponse.Status, requestID: String) -> Response {
        var response = json(
            [
                "RequestId": requestID, "HostId": "multimediaai.aliyuncs.com", "Code": code, "Message": message,
                "Recommend": "https://api.aliyun.com/troubleshoot?q=\(code)&product=multimediaai",
            ],
            status: status
        )
        if code.hasPrefix("Throttling") { response.headers[HTTPField.Name("x-acs-retry-after")!] = "1" }
        return response
    }

    static func json(_ object: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json;charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Nonces the vendor has accepted, remembered for the timestamp window.
final class NonceLedger: Sendable {
    let used = Mutex<[String: Date]>([:])

    func seen(_ nonce: String) -> Bool { used.withLock { $0[nonce] != nil } }

    func use(_ nonce: String, now: Date) throws {
        try used.withLock { used in
            if used.count > 10_000 { used = used.filter { now.timeIntervalSince($0.value) < AliyunSimulator.timestampWindow } }
            guard used[nonce] == nil else {
                throw AliyunSimulator.Rejection(code: "SignatureNonceUsed", message: "Specified signature nonce was used already.")
            }
            used[nonce] = now
        }
    }
}
