import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import TaskGate

/// A faithful Tencent Cloud MPS endpoint (API 3.0, version 2019-06-12): DescribeTaskDetail and
/// DescribeTasks.
///
/// It verifies TC3-HMAC-SHA256 as the vendor does, rejects a timestamp more than 5 minutes off
/// (AuthFailure.SignatureExpire), answers `requestsPerSecond` requests per action per second and
/// no more (RequestLimitExceeded), forgets task details after 3 days (ResourceNotFound.TaskNotFound),
/// and answers every error as HTTP 200 with `Response.Error`.
public struct TencentSimulator: ProviderSimulator {
    public let kind = "tencent-mps"
    public let state: SimulatorState
    let secretID: String
    let secretKey: String
    let requestsPerSecond: Int
    private let windows = RequestWindows()

    public static let timestampWindow: TimeInterval = 5 * 60
    public static let retention: TimeInterval = 3 * 24 * 3600

    /// Accepts the secret a configured provider signs with.
    public init(settings: TencentSettings, state: SimulatorState) {
        self.init(secretID: settings.secretID, secretKey: settings.secretKey, state: state)
    }

    public init(secretID: String, secretKey: String, requestsPerSecond: Int = 100, state: SimulatorState = SimulatorState()) {
        self.secretID = secretID
        self.secretKey = secretKey
        self.requestsPerSecond = requestsPerSecond
        self.state = state
    }

    public func validateID(_ id: String) -> Bool {
        (1...128).contains(id.utf8.count) && id.utf8.allSatisfy { $0.isASCIIAlphanumericOrDash }
    }

    public func vendorRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/") { request, _ in try await self.handle(request) }
        return router
    }

    private func handle(_ request: Request) async throws -> Response {
        let body = try await request.body.collect(upTo: 1 << 20)
        let requestID = UUID().uuidString.lowercased()
        let action = request.headers[HTTPField.Name("X-TC-Action")!] ?? ""
        if let rejection = authenticate(request, body: body) {
            state.reject(rejection.code)
            return Self.error(rejection.code, rejection.message, requestID: requestID)
        }
        guard windows.admit(action: action, limit: requestsPerSecond, now: state.clock.date) else {
            state.reject("RequestLimitExceeded")
            return Self.error("RequestLimitExceeded", "Your current request times exceeds the limit.", requestID: requestID)
        }
        guard request.headers[HTTPField.Name("X-TC-Version")!] == "2019-06-12" else {
            return Self.error("NoSuchVersion", "The requested version does not exist.", requestID: requestID)
        }
        guard let parameters = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] else {
            return Self.error("InvalidParameter.JsonParseError", "The request body is not JSON.", requestID: requestID)
        }
        switch action {
        case "DescribeTaskDetail": return await describeTaskDetail(parameters, requestID: requestID)
        case "DescribeTasks":
            state.count(call: "DescribeTasks")
            return describeTasks(parameters, requestID: requestID)
        default: return Self.error("InvalidAction", "The action \(action) does not exist.", requestID: requestID)
        }
    }

    private func describeTaskDetail(_ parameters: [String: Any], requestID: String) async -> Response {
        guard let id = parameters["TaskId"] as? String, validateID(id) else {
            return Self.error("InvalidParameterValue.TaskId", "The TaskId is invalid.", requestID: requestID)
        }
        guard let task = state.peek(id), state.clock.date.timeIntervalSince(task.createdAt) <= Self.retention,
            let (_, step, _) = state.poll(id, call: "DescribeTaskDetail")
        else {
            return Self.error("ResourceNotFound.TaskNotFound", "The task does not exist.", requestID: requestID)
        }
        await step.pause(on: state.clock)
        switch step.answer {
        case .fault(let fault): return fault.response(notFinal: #"{"Response":{"Status":"PROCESSING","RequestId":"\#(requestID)"}}"#)
        case .vendorError(let code): return Self.error(code, "The request failed: \(code).", requestID: requestID)
        case .gone: return Self.error("ResourceNotFound.TaskNotFound", "The task does not exist.", requestID: requestID)
        case .state(let taskState, let result, let errorCode, let errorMessage):
            return Self.json(
                Self.detail(task, taskState, result: result, errorCode: errorCode, errorMessage: errorMessage, now: state.clock.date),
                requestID: requestID
            )
        }
    }

    private func describeTasks(_ parameters: [String: Any], requestID: String) -> Response {
        guard let status = parameters["Status"] as? String else {
            return Self.error("MissingParameter", "The parameter Status is missing.", requestID: requestID)
        }
        guard ["WAITING", "PROCESSING", "FINISH"].contains(status) else {
            return Self.error("InvalidParameterValue.Status", "Status must be WAITING, PROCESSING or FINISH.", requestID: requestID)
        }
        let limit = parameters["Limit"] as? Int ?? 10
        guard (1...100).contains(limit) else {
            return Self.error("InvalidParameterValue.Limit", "Limit must be 1 to 100.", requestID: requestID)
        }
        let scroll = (parameters["ScrollToken"] as? String) ?? ""
        let offset = scroll.isEmpty ? 0 : Int(scroll) ?? -1
        guard offset >= 0 else { return Self.error("InvalidParameterValue.ScrollToken", "The ScrollToken is invalid.", requestID: requestID) }
        let now = state.clock.date
        let matching = state.allTasks.filter { task in
            guard now.timeIntervalSince(task.createdAt) <= Self.retention, let step = state.currentStep(task.id),
                case .state(let taskState, _, _, _) = step.answer
            else { return false }
            return Self.vendorStatus(taskState) == status
        }
        let page = matching.dropFirst(offset).prefix(limit)
        let set: [[String: Any]] = page.map { task in
            [
                "TaskId": task.id, "TaskType": Self.taskType(task.id), "CreateTime": TencentTimestamp.format(task.createdAt),
                "BeginProcessTime": TencentTimestamp.format(task.createdAt),
                "FinishTime": status == "FINISH" ? TencentTimestamp.format(task.createdAt) : TencentTimestamp.notYet,
            ]
        }
        let next = offset + page.count < matching.count ? String(offset + page.count) : ""
        return Self.json(["TaskSet": set, "ScrollToken": next], requestID: requestID)
    }

    // MARK: - Shapes

    static func vendorStatus(_ state: SimulatedTask.Step.State) -> String {
        switch state {
        case .queued: "WAITING"
        case .running: "PROCESSING"
        case .succeeded, .failed: "FINISH"
        }
    }

    /// The TaskType is the middle word of Tencent's task ids (`<appid>-<TaskType>-<hash>`).
    static let taskObjectKeys = ["WorkflowTask", "EditMediaTask", "LiveStreamProcessTask", "ScheduleTask"]

    static func taskType(_ id: String) -> String {
        let known = taskObjectKeys
        return id.split(separator: "-").map(String.init).first { known.contains($0) } ?? "WorkflowTask"
    }

    static func detail(
        _ task: SimulatedTask,
        _ taskState: SimulatedTask.Step.State,
        result: Data?,
        errorCode: String?,
        errorMessage: String?,
        now: Date
    ) -> [String: Any] {
        let status = vendorStatus(taskState)
        let type = taskType(task.id)
        var object: [String: Any] = [
            "TaskId": task.id, "Status": status, "ErrCode": 0, "ErrCodeExt": "", "Message": "",
            "InputInfo": ["Type": "URL", "UrlInputInfo": ["Url": "https://example.invalid/input.mp4"]],
        ]
        if type == "WorkflowTask" {
            object["MediaProcessResultSet"] = [[String: Any]]()
            object["AiAnalysisResultSet"] = [[String: Any]]()
        }
        if let result, let fields = try? JSONSerialization.jsonObject(with: result) as? [String: Any] {
            object.merge(fields) { _, new in new }
        }
        if taskState == .failed {
            let code = errorCode ?? "FailedOperation.Transcode"
            object["ErrCode"] = Int(code) ?? 30_000
            object["ErrCodeExt"] = Int(code) == nil ? code : ""
            object["Message"] = errorMessage ?? "The task failed."
        }
        let finished = taskState == .succeeded || taskState == .failed
        var detail: [String: Any] = [
            "TaskType": type, "Status": status, "CreateTime": TencentTimestamp.format(task.createdAt),
            "BeginProcessTime": taskState == .queued ? TencentTimestamp.notYet : TencentTimestamp.format(task.createdAt),
            "FinishTime": finished ? TencentTimestamp.format(now) : TencentTimestamp.notYet,
            "TasksPriority": 0, "SessionId": "", "SessionContext": "", "ExtInfo": "",
        ]
        for key in taskObjectKeys { detail[key] = NSNull() }
        detail[type] = object
        detail.merge(task.fieldObjects) { _, given in given }
        return detail
    }

    static func error(_ code: String, _ message: String, requestID: String) -> Response {
        json(["Error": ["Code": code, "Message": message]], requestID: requestID)
    }

    static func json(_ response: [String: Any], requestID: String) -> Response {
        var inner = response
        inner["RequestId"] = requestID
        let data = (try? JSONSerialization.data(withJSONObject: ["Response": inner], options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    // MARK: - TC3, as the vendor checks it

    struct Rejection {
        var code: String
        var message: String
    }

    private func authenticate(_ request: Request, body: ByteBuffer) -> Rejection? {
        guard let authorization = request.headers[.authorization], authorization.hasPrefix(TC3Signer.algorithm + " ") else {
            return Rejection(code: "AuthFailure.SignatureFailure", message: "The Authorization header is missing or not TC3-HMAC-SHA256.")
        }
        var fields: [String: String] = [:]
        for part in authorization.dropFirst(TC3Signer.algorithm.count + 1).split(separator: ",") {
            let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1).map(String.init)
            if pair.count == 2 { fields[pair[0]] = pair[1] }
        }
        let credential = (fields["Credential"] ?? "").split(separator: "/").map(String.init)
        guard credential.count == 4, credential[2] == "mps", credential[3] == "tc3_request", fields["SignedHeaders"] == "content-type;host",
            let signature = fields["Signature"]
        else {
            return Rejection(code: "AuthFailure.InvalidAuthorization", message: "The Authorization header is malformed.")
        }
        guard credential[0] == secretID else {
            return Rejection(code: "AuthFailure.SecretIdNotFound", message: "The SecretId is not found.")
        }
        guard let timestamp = request.headers[HTTPField.Name("X-TC-Timestamp")!].flatMap(Int.init) else {
            return Rejection(code: "AuthFailure.InvalidAuthorization", message: "X-TC-Timestamp is missing.")
        }
        guard abs(TimeInterval(timestamp) - state.clock.date.timeIntervalSince1970) <= Self.timestampWindow else {
            return Rejection(code: "AuthFailure.SignatureExpire", message: "The signature has expired.")
        }
        guard credential[1] == TC3Signer.utcDate(timestamp) else {
            return Rejection(code: "AuthFailure.InvalidAuthorization", message: "The credential date does not match X-TC-Timestamp.")
        }
        let signed = TC3Signer.sign(
            service: "mps",
            host: request.head.authority ?? "",
            contentType: request.headers[.contentType] ?? "",
            payload: Array(body.readableBytesView),
            timestamp: timestamp,
            secretID: secretID,
            secretKey: secretKey
        )
        guard signed.signature == signature else {
            return Rejection(code: "AuthFailure.SignatureFailure", message: "The provided credentials could not be validated.")
        }
        return nil
    }
}

/// Requests per action in the current one-second window, as the vendor counts them.
final class RequestWindows: Sendable {
    private let counts = Mutex<[String: (second: Int, count: Int)]>([:])

    func admit(action: String, limit: Int, now: Date) -> Bool {
        let second = Int(now.timeIntervalSince1970.rounded(.down))
        return counts.withLock { counts in
            var window = counts[action] ?? (second, 0)
            if window.second != second { window = (second, 0) }
            window.count += 1
            counts[action] = window
            return window.count <= limit
        }
    }
}

extension UInt8 {
    var isASCIIAlphanumericOrDash: Bool {
        (0x30...0x39).contains(self) || (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self) || self == 0x2D || self == 0x5F
    }
}
