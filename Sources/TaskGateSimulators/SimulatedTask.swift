import Foundation
import TaskGate

/// A task as a simulator holds it: a timeline of steps, walked one vendor poll at a time.
///
/// Timelines are written in taskgate's words (`running`, `succeeded`, …); each simulator says
/// them in its vendor's words.
public struct SimulatedTask: Sendable {
    public var id: String
    public var steps: [Step]
    public var createdAt: Date
    /// The vendor's own task-level fields, as its answers carry them (Tencent `SessionContext`,
    /// Alibaba ListTasks `ApplicationName`, CapMonster `cost`, …): merged into the task's answers.
    public var fields: [String: JSONValue]

    /// One stretch of the task's life.
    public struct Step: Sendable {
        public enum State: String, Sendable {
            case queued, running, succeeded, failed
        }

        /// How the vendor answers during this step.
        public enum Answer: Sendable {
            /// The task is in this state; `result` is the vendor's result object (JSON text).
            case state(State, result: Data?, errorCode: String?, errorMessage: String?)
            /// The vendor answers one of its own error codes (throttling, account, …).
            case vendorError(code: String)
            /// The vendor misbehaves at the HTTP level.
            case fault(Fault)
            /// The vendor no longer has the task (its retention has passed): it answers as for an
            /// id it never knew, and its list calls leave it out.
            case gone
        }

        public enum Fault: String, Sendable, CaseIterable {
            case http429 = "http-429"
            case http500 = "http-500"
            case http502 = "http-502"
            case http503 = "http-503"
            /// HTTP 200 with a body that is not the vendor's JSON.
            case garbage
            /// HTTP 200 with JSON cut in the middle.
            case truncated
            /// The connection drops after the status line, before the body.
            case reset
            /// HTTP 200 with a 9 MiB body (over taskgate's default 8 MiB bound).
            case oversized
            /// HTTP 200, `Content-Encoding: gzip`, a small body that inflates to 64 MiB.
            case gzipBomb = "gzip-bomb"
        }

        public var answer: Answer
        /// The step answers this many polls, then the next step begins.
        public var polls: Int?
        /// The step lasts this long (from its first poll), then the next step begins.
        public var seconds: Double?
        /// Every answer during the step is delayed this long.
        public var delayMilliseconds: Int?

        public init(answer: Answer, polls: Int? = nil, seconds: Double? = nil, delayMilliseconds: Int? = nil) {
            self.answer = answer
            self.polls = polls
            self.seconds = seconds
            self.delayMilliseconds = delayMilliseconds
        }

        /// Waits `delay_ms` before the step answers (a slow vendor); ends early if the caller goes.
        func pause(on clock: any GatewayClock) async {
            guard let delayMilliseconds else { return }
            try? await clock.sleep(for: .milliseconds(delayMilliseconds))
        }

        public static func state(_ state: State, polls: Int? = nil, seconds: Double? = nil, result: String? = nil) -> Step {
            Step(answer: .state(state, result: result.map { Data($0.utf8) }, errorCode: nil, errorMessage: nil), polls: polls, seconds: seconds)
        }

        public static func failed(code: String, message: String? = nil) -> Step {
            Step(answer: .state(.failed, result: nil, errorCode: code, errorMessage: message))
        }

        public static let gone = Step(answer: .gone)
    }

    public init(id: String, steps: [Step], createdAt: Date, fields: [String: JSONValue] = [:]) {
        self.id = id
        self.steps = steps
        self.createdAt = createdAt
        self.fields = fields
    }

    /// `fields` as `JSONSerialization` objects, to merge into an answer.
    var fieldObjects: [String: Any] { fields.mapValues(\.object) }
}

/// A JSON value a simulator holds (Sendable, unlike `JSONSerialization`'s objects).
public struct JSONValue: Sendable {
    let data: Data

    /// Wraps a `JSONSerialization` value; nil when it is not one.
    public init?(_ object: Any) {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.fragmentsAllowed, .sortedKeys]) else { return nil }
        self.data = data
    }

    var object: Any { (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) ?? NSNull() }
}

extension SimulatedTask.Step {
    /// Parses one step of the control API: `{"state": "running", "polls": 3}`,
    /// `{"state": "succeeded", "result": {...}}`, `{"state": "failed", "error": {"code", "message"}}`,
    /// `{"vendor_error": "ERROR_ZERO_BALANCE"}`, `{"fault": "http-503"}`, `{"gone": true}` (retention
    /// passed), with `seconds` / `delay_ms`.
    init(json: [String: Any]) throws(SimulatorError) {
        let known: Set<String> = ["state", "result", "error", "vendor_error", "fault", "gone", "polls", "seconds", "delay_ms"]
        if let unknown = json.keys.first(where: { !known.contains($0) }) {
            throw SimulatorError("unknown step key \(unknown)")
        }
        if json["gone"] as? Bool == true {
            answer = .gone
        } else if let code = json["vendor_error"] as? String {
            answer = .vendorError(code: code)
        } else if let faultName = json["fault"] as? String {
            guard let fault = Fault(rawValue: faultName) else {
                throw SimulatorError("fault must be one of \(Fault.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            answer = .fault(fault)
        } else if let stateName = json["state"] as? String, let state = State(rawValue: stateName) {
            var result: Data?
            if let value = json["result"] {
                result = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed])
            }
            let error = json["error"] as? [String: Any]
            answer = .state(state, result: result, errorCode: error?["code"] as? String, errorMessage: error?["message"] as? String)
        } else {
            throw SimulatorError("a step needs state (queued, running, succeeded, failed), vendor_error, fault or gone")
        }
        polls = json["polls"] as? Int
        seconds = (json["seconds"] as? NSNumber)?.doubleValue
        delayMilliseconds = json["delay_ms"] as? Int
        if let polls, polls < 1 { throw SimulatorError("polls must be at least 1") }
        if let seconds, seconds < 0 { throw SimulatorError("seconds must not be negative") }
    }
}

/// A request to a simulator's control API that it cannot follow.
public struct SimulatorError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
