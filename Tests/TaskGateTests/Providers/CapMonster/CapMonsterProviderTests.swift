import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import TaskGate
import TaskGateSimulators
import Testing

@testable import TaskGate
@testable import TaskGateSimulators

/// `GET /tasks/capmonster/{id}` against the CapMonster simulator: status mapping and every
/// error class.
@Suite(.timeLimit(.minutes(2))) struct CapMonsterProviderTests {
    @Test func processingTaskIsRunningAndNotFinal() async throws {
        try await withCapMonsterGateway { client, sim in
            addTask(sim.state, id: "7654321", .state(.running))
            let response = try await client.get("/tasks/capmonster/7654321")
            #expect(response.status == .ok)
            let task = try response.json()
            #expect(task["provider"] as? String == "capmonster")
            #expect(task["kind"] as? String == "capmonster")
            #expect(task["id"] as? String == "7654321")
            #expect(task["status"] as? String == "running")
            #expect(task["final"] as? Bool == false)
            #expect(task["vendorStatus"] as? String == "processing")
            #expect(task["result"] is NSNull)
            #expect(task["error"] is NSNull)
            #expect(response.headers[.cacheControl] == "max-age=2")
            #expect(response.headers[HTTPField.Name("X-Cache")!] == "MISS")
        }
    }

    @Test func readyTaskSucceedsWithTheVendorSolution() async throws {
        try await withCapMonsterGateway { client, sim in
            addTask(sim.state, id: "42", .state(.succeeded, result: #"{"gRecaptchaResponse":"03AGdBq25","userAgent":"UA/1"}"#))
            let response = try await client.get("/tasks/capmonster/42")
            #expect(response.status == .ok)
            let task = try response.json()
            #expect(task["status"] as? String == "succeeded")
            #expect(task["final"] as? Bool == true)
            #expect(task["vendorStatus"] as? String == "ready")
            let result = try #require(task["result"] as? [String: Any])
            #expect(result["gRecaptchaResponse"] as? String == "03AGdBq25")
            #expect(result["userAgent"] as? String == "UA/1")
            #expect(task["createdAt"] is String)
            #expect(task["finishedAt"] is String)
            #expect(response.headers[.cacheControl] == "public, max-age=31536000, immutable")
        }
    }

    @Test(arguments: ["ERROR_CAPTCHA_UNSOLVABLE", "ERROR_PROXY_BANNED", "ERROR_TOKEN_EXPIRED"])
    func perTaskErrorCodesAreFinalFailures(code: String) async throws {
        try await withCapMonsterGateway { client, sim in
            addTask(sim.state, id: "43", .failed(code: code, message: "it went wrong"))
            let response = try await client.get("/tasks/capmonster/43")
            #expect(response.status == .ok)
            let task = try response.json()
            #expect(task["status"] as? String == "failed")
            #expect(task["final"] as? Bool == true)
            let error = try #require(task["error"] as? [String: Any])
            #expect(error["code"] as? String == code)
            #expect(error["message"] as? String == "it went wrong")
            // Final: asking again costs the vendor nothing.
            _ = try await client.get("/tasks/capmonster/43")
            #expect(sim.state.calls(for: "43")["getTaskResult"] == 1)
        }
    }

    @Test func unknownTaskIsNotFound() async throws {
        try await withCapMonsterGateway { client, _ in
            let response = try await client.get("/tasks/capmonster/999")
            #expect(response.status == .notFound)
            #expect(response.headers[.contentType] == "application/problem+json")
            let problem = try response.json()
            #expect(problem["type"] as? String == "urn:taskgate:problem:task-not-found")
            #expect(problem["vendorCode"] as? String == "ERROR_NO_SUCH_CAPCHA_ID")
            #expect(problem["provider"] as? String == "capmonster")
            #expect(problem["status"] as? Int == 404)
        }
    }

    @Test func wrongClientKeyIsABadGatewayThatNeverShowsTheKey() async throws {
        let wrongKey = "ffffeeeeddddccccbbbbaaaa99998888"
        try await withCapMonsterGateway(clientKey: wrongKey) { client, sim in
            addTask(sim.state, id: "44", .state(.running))
            let response = try await client.get("/tasks/capmonster/44")
            #expect(response.status == .badGateway)
            let problem = try response.json()
            #expect(problem["type"] as? String == "urn:taskgate:problem:vendor-rejected-credentials")
            #expect(problem["vendorCode"] as? String == "ERROR_KEY_DOES_NOT_EXIST")
            #expect(!response.text.contains(wrongKey))
            #expect(!response.text.contains("authorization key"))  // the vendor's words stay out
            #expect(sim.state.rejections["ERROR_KEY_DOES_NOT_EXIST"] == 1)
        }
    }

    @Test(arguments: ["ERROR_ZERO_BALANCE", "ERROR_IP_NOT_ALLOWED", "ERROR_IP_BANNED"])
    func accountErrorsAreBadGateway(code: String) async throws {
        try await withCapMonsterGateway { client, sim in
            addTask(sim.state, id: "45", SimulatedTask.Step(answer: .vendorError(code: code)))
            let response = try await client.get("/tasks/capmonster/45")
            #expect(response.status == .badGateway)
            let problem = try response.json()
            #expect(problem["type"] as? String == "urn:taskgate:problem:vendor-rejected-credentials")
            #expect(problem["vendorCode"] as? String == code)
            #expect(response.headers[.retryAfter] == nil)
        }
    }

    @Test(arguments: [
        (SimulatedTask.Step.Fault.http429, HTTPResponse.Status.serviceUnavailable, "urn:taskgate:problem:vendor-throttled", "3"),
        (.http500, .badGateway, "urn:taskgate:problem:vendor-unavailable", "2"),
        (.http502, .badGateway, "urn:taskgate:problem:vendor-unavailable", "2"),
        (.http503, .badGateway, "urn:taskgate:problem:vendor-unavailable", "2"),
    ])
    func vendorHTTPFailuresKeepTheirClassAndRetryAfter(
        fault: SimulatedTask.Step.Fault,
        status: HTTPResponse.Status,
        type: String,
        retryAfter: String
    ) async throws {
        try await withCapMonsterGateway { client, sim in
            addTask(sim.state, id: "47", SimulatedTask.Step(answer: .fault(fault)))
            let response = try await client.get("/tasks/capmonster/47")
            #expect(response.status == status)
            #expect(response.headers[.retryAfter] == retryAfter)
            #expect(try response.json()["type"] as? String == type)
        }
    }

    @Test(arguments: [SimulatedTask.Step.Fault.garbage, .truncated])
    func vendorGarbageIsBadGateway(fault: SimulatedTask.Step.Fault) async throws {
        try await withCapMonsterGateway { client, sim in
            addTask(sim.state, id: "48", SimulatedTask.Step(answer: .fault(fault)))
            let response = try await client.get("/tasks/capmonster/48")
            #expect(response.status == .badGateway)
            #expect(try response.json()["type"] as? String == "urn:taskgate:problem:vendor-bad-answer")
        }
    }

    @Test func aFailedVendorCallIsNotCachedAndLosesNothing() async throws {
        let clock = ManualClock()
        try await withCapMonsterGateway(clock: clock) { client, sim in
            addTask(sim.state, id: "49", SimulatedTask.Step(answer: .fault(.http503), polls: 1), .state(.succeeded, result: #"{"text":"ok"}"#))
            #expect(try await client.get("/tasks/capmonster/49").status == .badGateway)
            clock.advance(by: .seconds(2))
            let second = try await client.get("/tasks/capmonster/49")
            #expect(second.status == .ok)
            #expect(try second.json()["status"] as? String == "succeeded")
        }
    }

    @Test func unreachableVendorIsBadGateway() async throws {
        // Nothing listens on the discard port of a test machine: the connection is refused.
        let store = temporaryStorePath()
        let configuration = capMonsterConfiguration(endpoint: "http://127.0.0.1:9", store: store)
        let app = try buildApplication(configuration, logger: quietLogger)
        try await app.test(.router) { client in
            let response = try await client.get("/tasks/capmonster/50")
            #expect(response.status == .badGateway)
            #expect(try response.json()["type"] as? String == "urn:taskgate:problem:vendor-unreachable")
        }
    }

    @Test func slowVendorIsAGatewayTimeout() async throws {
        // The vendor holds its answer until the clock moves; the 2 s on the wire run out first.
        let clock = ManualClock()
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))) { sim in
            addTask(
                sim.state,
                id: "51",
                SimulatedTask.Step(answer: .state(.running, result: nil, errorCode: nil, errorMessage: nil), delayMilliseconds: 2000)
            )
            let configuration = capMonsterConfiguration(endpoint: sim.endpoint, store: temporaryStorePath()) { $0.timeout = .seconds(2) }
            let app = try buildApplication(configuration, logger: quietLogger, clock: clock)
            try await app.test(.router) { client in
                let response = try await client.get("/tasks/capmonster/51")
                #expect(response.status == .gatewayTimeout)
                #expect(try response.json()["type"] as? String == "urn:taskgate:problem:vendor-timeout")
                // The vendor holds the request (asleep on the clock) until the clock moves: let it
                // go, or the simulator could not shut down.
                #expect(await clock.sleepers(1))
                #expect(sim.state.calls(for: "51")["getTaskResult"] == 1)
                clock.advance(by: .seconds(2))
            }
        }
    }

    @Test(arguments: ["abc", "0", "-5", "007", "1.5", "12345678901234567890", "%20"])
    func malformedIdsAreRejectedBeforeAnyVendorCall(id: String) async throws {
        try await withCapMonsterGateway { client, sim in
            let response = try await client.get("/tasks/capmonster/\(id)")
            #expect(response.status == .badRequest)
            // Percent-encoding is refused before the route: no path of the API needs it.
            let kind = id.contains("%") ? "invalid-path" : "malformed-id"
            #expect(try response.json()["type"] as? String == "urn:taskgate:problem:\(kind)")
            #expect(sim.state.totalCalls == 0)
        }
    }

    @Test func unknownProviderIsNotFound() async throws {
        try await withCapMonsterGateway { client, sim in
            let response = try await client.get("/tasks/nosuch/1")
            #expect(response.status == .notFound)
            #expect(try response.json()["type"] as? String == "urn:taskgate:problem:unknown-provider")
            #expect(sim.state.totalCalls == 0)
        }
    }

    @Test func theGatewaySendsWhatTheVendorExpects() async throws {
        try await withCapMonsterGateway { client, sim in
            addTask(sim.state, id: "7654321", .state(.running))
            _ = try await client.get("/tasks/capmonster/7654321")
            // The simulator rejects a wrong key, a string taskId or a malformed body.
            #expect(sim.state.rejections.isEmpty)
            #expect(sim.state.calls(for: "7654321") == ["getTaskResult": 1])
        }
    }

    @Test func nothingCapMonsterSaidIsLost() async throws {
        try await withCapMonsterGateway { client, sim in
            let steps: [SimulatedTask.Step] = [.state(.succeeded)]
            sim.state.add(SimulatedTask(id: "48", steps: steps, createdAt: sim.state.clock.date, fields: ["cost": JSONValue("0.0012")!]))
            let task = try await client.get("/tasks/capmonster/48").json()
            let vendorFields = try #require(task["vendorFields"] as? [String: Any])
            #expect(vendorFields["cost"] as? String == "0.0012")
            #expect(vendorFields["ip"] as? String == "127.0.0.1")
            #expect(vendorFields["solveCount"] as? Int == 0)
            #expect(vendorFields["createTime"] != nil && vendorFields["endTime"] != nil)
            #expect(task["vendorRequestId"] is NSNull)
        }
    }
}
