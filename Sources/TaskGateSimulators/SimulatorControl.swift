import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import TaskGate

/// The control API every simulator serves on its own port:
/// - `POST /_sim/tasks` `{"id": "7654321", "timeline": [{"state": "running", "polls": 3},
///   {"state": "succeeded", "result": {"text": "answer"}}], "fields": {"SessionContext": "x"}}`
///   → 201 `{"id": …}`; `fields` are the vendor's own task-level fields, as its answers carry them
/// - `GET /_sim/tasks` → the tasks and their timelines' lengths
/// - `GET /_sim/calls` → requests per task and call, and rejected requests by reason
/// - `POST /_sim/reset` → forget every task and count
public enum SimulatorControl {
    public static func router(state: SimulatorState, validateID: @escaping @Sendable (String) -> Bool) -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/_sim/tasks") { request, context -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            do {
                guard let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] else {
                    throw SimulatorError("the body must be a JSON object")
                }
                guard let timeline = object["timeline"] as? [[String: Any]], !timeline.isEmpty else {
                    throw SimulatorError("timeline must be a non-empty array of steps")
                }
                var steps: [SimulatedTask.Step] = []
                for step in timeline { steps.append(try SimulatedTask.Step(json: step)) }
                var fields: [String: JSONValue] = [:]
                if let given = object["fields"] {
                    guard let given = given as? [String: Any] else { throw SimulatorError("fields must be a JSON object") }
                    fields = given.compactMapValues(JSONValue.init)
                }
                let id: String
                if let given = object["id"] {
                    id = (given as? String) ?? (given as? Int).map(String.init) ?? ""
                    guard validateID(id) else { throw SimulatorError("id \(given) is not a valid task id for this vendor") }
                    state.add(SimulatedTask(id: id, steps: steps, createdAt: state.clock.date, fields: fields))
                } else {
                    id = state.create(steps: steps, fields: fields)
                }
                return json(.created, ["id": id])
            } catch let error as SimulatorError {
                return json(.badRequest, ["error": error.description])
            }
        }
        router.get("/_sim/tasks") { _, _ -> Response in
            let tasks = state.allTasks.map { task -> [String: Any] in
                ["id": task.id, "steps": task.steps.count, "createdAt": task.createdAt.timeIntervalSince1970]
            }
            return json(.ok, ["tasks": tasks])
        }
        router.get("/_sim/calls") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: state.callsReport())))
        }
        router.post("/_sim/reset") { _, _ -> Response in
            state.reset()
            return json(.ok, ["reset": true])
        }
        return router
    }

    static func json(_ status: HTTPResponse.Status, _ object: [String: Any]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
