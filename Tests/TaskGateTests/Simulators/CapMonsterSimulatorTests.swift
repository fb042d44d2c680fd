import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TaskGate
import TaskGateSimulators
import Testing

/// The CapMonster simulator is product: it must take exactly what the official SDKs send and
/// answer as the vendor does.
@Suite(.timeLimit(.minutes(2))) struct CapMonsterSimulatorTests {
    /// One request as an official SDK put it on the wire.
    struct CapturedRequest {
        var method: String
        var target: String
        var headers: [(String, String)]
        var body: String?
    }

    /// The requests of the named sections of official-sdk-wire-captures.txt.
    static func captures(_ sections: Set<String>) throws -> [CapturedRequest] {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/official-sdk-wire-captures", withExtension: "txt"))
        var requests: [CapturedRequest] = []
        var inSection = false
        for line in try String(contentsOf: url, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("=== ") {
                inSection = sections.contains(String(line.dropFirst(4).split(separator: " ")[0]))
            } else if inSection, line.hasPrefix("  POST ") || line.hasPrefix("  GET ") {
                let parts = line.trimmingCharacters(in: .whitespaces).split(separator: " ", maxSplits: 1)
                requests.append(CapturedRequest(method: String(parts[0]), target: String(parts[1]), headers: [], body: nil))
            } else if inSection, line.hasPrefix("    <body> ") {
                requests[requests.count - 1].body = String(line.dropFirst("    <body> ".count))
            } else if inSection, line.hasPrefix("    "), let colon = line.firstIndex(of: ":") {
                let name = line[..<colon].trimmingCharacters(in: .whitespaces)
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                requests[requests.count - 1].headers.append((name, value))
            }
        }
        return requests
    }

    /// Sends a captured request byte for byte (Host and Content-Length are the client's own).
    static func replay(_ request: CapturedRequest, to endpoint: String) async throws -> (status: UInt, json: [String: Any]) {
        var outgoing = HTTPClientRequest(url: endpoint + request.target)
        outgoing.method = HTTPMethod(rawValue: request.method)
        for (name, value) in request.headers where !["host", "content-length"].contains(name.lowercased()) {
            outgoing.headers.add(name: name, value: value)
        }
        if let body = request.body { outgoing.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(outgoing, timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 1 << 20)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any])
        return (response.status.code, json)
    }

    @Test func acceptsExactlyWhatTheOfficialSDKsSend() async throws {
        let requests = try Self.captures(["capmonstercloudclient", "anticaptchaofficial"])
        #expect(requests.count == 5)
        let simulator = CapMonsterSimulator(clientKey: testClientKey)
        try await withSimulator(simulator) { sim in
            addTask(sim.state, id: "7654321", .state(.running, polls: 1), .state(.succeeded, result: #"{"text":"answer"}"#))
            var answers: [[String: Any]] = []
            for request in requests {
                let (status, json) = try await Self.replay(request, to: sim.endpoint)
                #expect(status == 200)
                #expect(json["errorId"] as? Int == 0, "\(request.target): \(json)")
                answers.append(json)
            }
            #expect(answers[0]["status"] as? String == "processing")
            #expect(answers[1]["taskId"] is Int)  // createTask
            #expect(answers[2]["status"] as? String == "ready")
            #expect((answers[2]["solution"] as? [String: String]) == ["text": "answer"])
            #expect(sim.state.rejections.isEmpty)
            #expect(sim.state.calls(for: "7654321")["getTaskResult"] == 4)
        }
    }

    @Test func aWrongClientKeyIsRejectedAndCounted() async throws {
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey)) { sim in
            addTask(sim.state, id: "7654321", .state(.running))
            var request = try #require(try Self.captures(["capmonstercloudclient"]).first)
            request.body = #"{"clientKey": "not-the-key", "taskId": 7654321}"#
            let (status, json) = try await Self.replay(request, to: sim.endpoint)
            #expect(status == 200)
            #expect(json["errorId"] as? Int == 1)
            #expect(json["errorCode"] as? String == "ERROR_KEY_DOES_NOT_EXIST")
            #expect(sim.state.rejections == ["ERROR_KEY_DOES_NOT_EXIST": 1])
            #expect(sim.state.calls(for: "7654321").isEmpty)
        }
    }

    @Test func pastOneHundredTwentyResultRequestsTheVendorRefuses() async throws {
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey)) { sim in
            addTask(sim.state, id: "7654321", .state(.running))
            let request = try #require(try Self.captures(["capmonstercloudclient"]).first)
            for _ in 0..<120 {
                #expect(try await Self.replay(request, to: sim.endpoint).json["errorId"] as? Int == 0)
            }
            let refused = try await Self.replay(request, to: sim.endpoint).json
            #expect(refused["errorCode"] as? String == "ERROR_TOO_MUCH_REQUESTS")
            #expect(sim.state.calls(for: "7654321")["getTaskResult"] == 121)
        }
    }

    @Test func controlAPICreatesTimelinesAndReportsCalls() async throws {
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey)) { sim in
            let control = "http://127.0.0.1:\(sim.controlPort)"
            var create = HTTPClientRequest(url: control + "/_sim/tasks")
            create.method = .POST
            create.body = .bytes(
                ByteBuffer(
                    string:
                        #"{"id":"555","timeline":[{"state":"running","polls":2},{"state":"failed","error":{"code":"ERROR_CAPTCHA_UNSOLVABLE","message":"no"}}]}"#
                )
            )
            #expect(try await HTTPClient.shared.execute(create, timeout: .seconds(5)).status == .created)

            var bad = create
            bad.body = .bytes(ByteBuffer(string: #"{"id":"abc","timeline":[{"state":"running"}]}"#))
            #expect(try await HTTPClient.shared.execute(bad, timeout: .seconds(5)).status == .badRequest)

            var poll = try #require(try Self.captures(["capmonstercloudclient"]).first)
            poll.body = #"{"clientKey": "\#(testClientKey)", "taskId": 555}"#
            #expect(try await Self.replay(poll, to: sim.endpoint).json["status"] as? String == "processing")
            #expect(try await Self.replay(poll, to: sim.endpoint).json["status"] as? String == "processing")
            let failed = try await Self.replay(poll, to: sim.endpoint).json
            #expect(failed["errorCode"] as? String == "ERROR_CAPTCHA_UNSOLVABLE")
            #expect(failed["errorDescription"] as? String == "no")

            let calls = try await HTTPClient.shared.execute(HTTPClientRequest(url: control + "/_sim/calls"), timeout: .seconds(5))
            let report = try #require(
                try JSONSerialization.jsonObject(with: Data(try await calls.body.collect(upTo: 1 << 20).readableBytesView)) as? [String: Any]
            )
            #expect((report["tasks"] as? [String: [String: Int]])?["555"] == ["getTaskResult": 3])
            #expect(report["rejected"] as? Int == 0)
        }
    }

    /// The control API's measures: the most requests within any one second, and per task the
    /// shortest time between two requests about it.
    @Test func theLedgerMeasuresPeakRateAndSpacing() throws {
        let clock = ManualClock()
        let state = SimulatorState(clock: clock)
        addTask(state, id: "557", .state(.running))
        _ = state.poll("557", call: "getTaskResult")
        clock.advance(by: .milliseconds(500))
        _ = state.poll("557", call: "getTaskResult")
        clock.advance(by: .milliseconds(700))
        _ = state.poll("557", call: "getTaskResult")
        clock.advance(by: .milliseconds(50))
        state.count(call: "getBalance")
        let report = try #require(try JSONSerialization.jsonObject(with: state.callsReport()) as? [String: Any])
        // Requests at 0, 0.5, 1.2 and 1.25 s: three within the second ending at 1.25 s.
        #expect(report["peakPerSecond"] as? Int == 3)
        let gap = try #require((report["shortestGapSeconds"] as? [String: Double])?["557"])
        #expect(abs(gap - 0.5) < 1e-6)
    }

    @Test func timedStepsFollowTheClock() async throws {
        let clock = ManualClock()
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))) { sim in
            addTask(sim.state, id: "556", .state(.running, seconds: 1.5), .failed(code: "ERROR_CAPTCHA_UNSOLVABLE"))
            var poll = try #require(try Self.captures(["capmonstercloudclient"]).first)
            poll.body = #"{"clientKey": "\#(testClientKey)", "taskId": 556}"#
            #expect(try await Self.replay(poll, to: sim.endpoint).json["status"] as? String == "processing")
            clock.advance(by: .milliseconds(1499))
            #expect(try await Self.replay(poll, to: sim.endpoint).json["status"] as? String == "processing")
            clock.advance(by: .milliseconds(1))
            #expect(try await Self.replay(poll, to: sim.endpoint).json["errorCode"] as? String == "ERROR_CAPTCHA_UNSOLVABLE")
        }
    }
}
