import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import TaskGate

/// A faithful CapMonster Cloud (anti-captcha protocol) vendor: `createTask`, `getTaskResult`,
/// `getBalance`, JSON in and out, HTTP 200 with `errorId` for every vendor-level error.
///
/// It accepts exactly what the official SDKs send (capmonstercloudclient, anticaptchaofficial),
/// rejects a wrong `clientKey` with ERROR_KEY_DOES_NOT_EXIST, and past 120 result requests for
/// one task answers ERROR_TOO_MUCH_REQUESTS, as the vendor does.
public struct CapMonsterSimulator: ProviderSimulator {
    public let kind = "capmonster"
    public let state: SimulatorState
    let clientKey: String

    /// The vendor's limit of getTaskResult requests per task.
    public static let resultRequestLimit = 120
    /// getTaskResult for a task not solved yet.
    static let processing = #"{"errorId":0,"errorCode":null,"errorDescription":null,"status":"processing"}"#

    /// Accepts the client key a configured provider sends.
    public init(settings: CapMonsterSettings, state: SimulatorState) {
        self.init(clientKey: settings.clientKey, state: state)
    }

    public init(clientKey: String, state: SimulatorState = SimulatorState()) {
        self.clientKey = clientKey
        self.state = state
    }

    public func validateID(_ id: String) -> Bool {
        guard let number = Int(id), number > 0 else { return false }
        return String(number) == id
    }

    public func vendorRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/getTaskResult") { request, _ in try await self.getTaskResult(request) }
        router.post("/createTask") { request, _ in try await self.createTask(request) }
        router.post("/getBalance") { request, _ in
            guard try await self.authorizedBody(request) != nil else { return Self.keyError }
            return Self.answer(#"{"errorId":0,"balance":10.0}"#)
        }
        return router
    }

    /// The body as a JSON object when its clientKey is ours; nil after answering a rejection.
    private func authorizedBody(_ request: Request) async throws -> [String: Any]? {
        let body = try await request.body.collect(upTo: 1 << 20)
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] else {
            state.reject("malformed JSON body")
            return nil
        }
        guard let key = object["clientKey"] as? String, key == clientKey else {
            state.reject("ERROR_KEY_DOES_NOT_EXIST")
            return nil
        }
        return object
    }

    private func getTaskResult(_ request: Request) async throws -> Response {
        guard let object = try await authorizedBody(request) else { return Self.keyError }
        guard let number = object["taskId"] as? Int, !(object["taskId"] is Bool) else {
            state.reject("taskId is not an integer")
            return Self.error("ERROR_NO_SUCH_CAPCHA_ID")
        }
        let id = String(number)
        guard let (task, step, count) = state.poll(id, call: "getTaskResult") else {
            return Self.error("ERROR_NO_SUCH_CAPCHA_ID")
        }
        if count > Self.resultRequestLimit {
            return Self.error("ERROR_TOO_MUCH_REQUESTS")
        }
        await step.pause(on: state.clock)
        switch step.answer {
        case .fault(let fault):
            return fault.response(notFinal: Self.processing)
        case .vendorError(let code):
            return Self.error(code)
        case .state(.queued, _, _, _), .state(.running, _, _, _):
            return Self.answer(Self.processing)
        case .state(.succeeded, let result, _, _):
            let solution = result.map { String(decoding: $0, as: UTF8.self) } ?? #"{"text":"answer"}"#
            let created = Int(task.createdAt.timeIntervalSince1970)
            let ended = Int(state.clock.date.timeIntervalSince1970)
            var object: [String: Any] = [
                "errorId": 0, "errorCode": NSNull(), "errorDescription": NSNull(), "status": "ready",
                "solution": (try? JSONSerialization.jsonObject(with: Data(solution.utf8))) ?? [:],
                "cost": "0.000700", "ip": "127.0.0.1", "createTime": created, "endTime": ended, "solveCount": 0,
            ]
            object.merge(task.fieldObjects) { _, given in given }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            return Self.answer(String(decoding: data, as: UTF8.self))
        case .state(.failed, _, let code, let message):
            return Self.error(code ?? "ERROR_CAPTCHA_UNSOLVABLE", description: message)
        case .gone:
            return Self.error("ERROR_NO_SUCH_CAPCHA_ID")
        }
    }

    private func createTask(_ request: Request) async throws -> Response {
        guard let object = try await authorizedBody(request) else { return Self.keyError }
        guard let task = object["task"] as? [String: Any], task["type"] is String else {
            return Self.error("ERROR_NO_SUCH_METHOD")
        }
        let id = state.create(steps: [.state(.running, polls: 2), .state(.succeeded, result: #"{"text":"answer"}"#)])
        return Self.answer(#"{"errorId":0,"taskId":\#(id)}"#)
    }

    /// The vendor's own descriptions of its error codes.
    static let descriptions: [String: String] = [
        "ERROR_KEY_DOES_NOT_EXIST": "Account authorization key not found in the system or has incorrect format",
        "ERROR_ZERO_BALANCE": "Account has zero balance",
        "ERROR_IP_NOT_ALLOWED": "Request with current account key is not allowed from your IP",
        "ERROR_IP_BANNED": "You have exceeded the limit of requests with the wrong api key",
        "ERROR_CAPTCHA_UNSOLVABLE": "Captcha could not be solved",
        "ERROR_NO_SUCH_CAPCHA_ID":
            "The captcha that you are requesting was not found. Make sure you are requesting a status update only within 5 minutes of uploading",
        "ERROR_TOO_MUCH_REQUESTS": "You have exceeded the limit of requests to receive an answer for one task",
        "ERROR_NO_SLOT_AVAILABLE": "No idle workers are available at the moment",
        "ERROR_NO_SUCH_METHOD": "Incorrect captcha type",
    ]

    static var keyError: Response { error("ERROR_KEY_DOES_NOT_EXIST") }

    static func error(_ code: String, description: String? = nil) -> Response {
        let text = description ?? descriptions[code] ?? code
        let escaped =
            (try? JSONSerialization.data(withJSONObject: [text], options: [.fragmentsAllowed]))
            .map { String(decoding: $0.dropFirst().dropLast(), as: UTF8.self) } ?? "\"\""
        return answer(#"{"errorId":1,"errorCode":"\#(code)","errorDescription":\#(escaped)}"#)
    }

    static func answer(_ json: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: json)))
    }
}
