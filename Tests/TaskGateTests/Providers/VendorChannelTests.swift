import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import TaskGate
import TaskGateSimulators
import Testing

/// Retries, deadlines, the circuit breaker, the rate limit and the CapMonster budget, each
/// against a simulator, counting the vendor calls it really received.
@Suite(.timeLimit(.minutes(2))) struct VendorChannelTests {
    static let capmonsterKey = "SECRETcapmonsterKEY0123456789abcd"
    static let aliyunSecret = "SECRETaliyunSECRET0123456789abcd"
    static let tencentKey = "SECRETtencentKEY0123456789abcdef"
    static let succeeded = #"{"VideoName":"v.mp4"}"#

    @Test func transientFailuresAreRetriedEachAttemptSignedAfresh() async throws {
        let clock = ManualClock()
        let configure: @Sendable (inout ProviderConfiguration) -> Void = { $0.retryBackoff = .milliseconds(10) }
        try await withAliyunGateway(configure: configure, clock: clock) { client, sim in
            addTask(
                sim.state,
                id: "501",
                SimulatedTask.Step(answer: .fault(.http503), polls: 1),
                SimulatedTask.Step(answer: .fault(.reset), polls: 1),
                .state(.succeeded, result: Self.succeeded)
            )
            let response = try await advancingThroughWaits(clock) { try await client.get("/tasks/aliyun/501") }
            #expect(response.status == .ok)
            #expect(try response.json()["status"] as? String == "succeeded")
            #expect(sim.state.calls(for: "501")["GetTaskResult"] == 3)
            // A reused nonce would have been refused: every attempt carried its own signature.
            #expect(sim.state.rejections.isEmpty)
        }
    }

    @Test(arguments: ["InvalidParameter", "InvalidAccessKeyId.NotFound", "ResourceNotFound"])
    func permanentErrorsAreNeverRetried(code: String) async throws {
        let configure: @Sendable (inout ProviderConfiguration) -> Void = { $0.retryBackoff = .milliseconds(10) }
        try await withAliyunGateway(configure: configure) { client, sim in
            addTask(sim.state, id: "502", SimulatedTask.Step(answer: .vendorError(code: code)))
            _ = try await client.get("/tasks/aliyun/502")
            #expect(sim.state.calls(for: "502")["GetTaskResult"] == 1)
        }
    }

    @Test func retriesStopAtTheRetryCount() async throws {
        let clock = ManualClock()
        let configure: @Sendable (inout ProviderConfiguration) -> Void = {
            $0.retryBackoff = .milliseconds(10)
            $0.retries = 3
        }
        try await withAliyunGateway(configure: configure, clock: clock) { client, sim in
            addTask(sim.state, id: "503", SimulatedTask.Step(answer: .fault(.http500)))
            let response = try await advancingThroughWaits(clock) { try await client.get("/tasks/aliyun/503") }
            #expect(response.status == .badGateway)
            #expect(try response.json()["type"] as? String == "urn:taskgate:problem:vendor-unavailable")
            #expect(sim.state.calls(for: "503")["GetTaskResult"] == 4)
        }
    }

    @Test func aRetryAfterLongerThanTheDeadlineIsNotWaitedFor() async throws {
        // The simulator's 429 says Retry-After: 3; the whole call may take 2 s.
        // Had taskgate waited for it, the vendor would have been asked twice.
        let configure: @Sendable (inout ProviderConfiguration) -> Void = { $0.timeout = .seconds(2) }
        try await withAliyunGateway(configure: configure) { client, sim in
            addTask(sim.state, id: "504", SimulatedTask.Step(answer: .fault(.http429)))
            let response = try await client.get("/tasks/aliyun/504")
            #expect(response.status == .serviceUnavailable)
            #expect(response.headers[.retryAfter] == "3")
            #expect(sim.state.calls(for: "504")["GetTaskResult"] == 1)
        }
    }

    @Test func aRetryWaitsForTheVendorsRetryAfter() async throws {
        // Alibaba's throttling answer says x-acs-retry-after: 1; the backoff alone would be ~10 ms.
        let clock = ManualClock()
        let configure: @Sendable (inout ProviderConfiguration) -> Void = {
            $0.retries = 1
            $0.retryBackoff = .milliseconds(10)
            $0.timeout = .seconds(3)
        }
        try await withAliyunGateway(configure: configure, clock: clock) { client, sim in
            addTask(sim.state, id: "506", SimulatedTask.Step(answer: .vendorError(code: "Throttling.User")))
            let started = clock.now
            let response = try await advancingThroughWaits(clock) { try await client.get("/tasks/aliyun/506") }
            #expect(clock.now - started == .seconds(1))
            #expect(response.status == .serviceUnavailable)
            #expect(sim.state.calls(for: "506")["GetTaskResult"] == 2)
        }
    }

    @Test func aSlowVendorIsA504WithinTheTimeout() async throws {
        // The vendor holds its answer until the clock moves; the 2 s on the wire run out first.
        let clock = ManualClock()
        let configure: @Sendable (inout ProviderConfiguration) -> Void = { $0.timeout = .seconds(2) }
        try await withAliyunGateway(configure: configure, clock: clock) { client, sim in
            addTask(
                sim.state,
                id: "505",
                SimulatedTask.Step(answer: .state(.running, result: nil, errorCode: nil, errorMessage: nil), delayMilliseconds: 3000)
            )
            let response = try await client.get("/tasks/aliyun/505")
            #expect(response.status == .gatewayTimeout)
            #expect(try response.json()["type"] as? String == "urn:taskgate:problem:vendor-timeout")
            // The vendor holds the request until the clock moves: let it go, or the simulator
            // could not shut down.
            #expect(await clock.sleepers(1))
            #expect(sim.state.calls(for: "505")["GetTaskResult"] == 1)
            clock.advance(by: .seconds(3))
        }
    }

    @Test func theCircuitOpensRefusesAtOnceThenProbesAndCloses() async throws {
        // A bucket deep enough that no call waits for the rate limit: only the breaker keeps time.
        let settings: @Sendable (inout ProviderConfiguration) -> Void = {
            $0.retries = 0
            $0.circuitFailures = 3
            $0.circuitOpen = .seconds(1)
            $0.staleMax = .zero
            $0.rateLimit = 100
            $0.rateBurst = 100
        }
        let clock = ManualClock()
        try await withAliyunGateway(configure: settings, clock: clock) { client, sim in
            for id in ["511", "512", "513"] {
                addTask(sim.state, id: id, SimulatedTask.Step(answer: .fault(.http502)))
                #expect(try await client.get("/tasks/aliyun/\(id)").status == .badGateway)
            }
            addTask(sim.state, id: "514", .state(.succeeded, result: Self.succeeded))
            let refused = try await client.get("/tasks/aliyun/514")
            #expect(refused.status == .serviceUnavailable)
            #expect(try refused.json()["type"] as? String == "urn:taskgate:problem:vendor-circuit-open")
            #expect(Int(refused.headers[.retryAfter] ?? "") == 1)
            #expect(sim.state.calls(for: "514")["GetTaskResult"] == nil)

            clock.advance(by: .milliseconds(999))
            #expect(try await client.get("/tasks/aliyun/514").status == .serviceUnavailable)
            clock.advance(by: .milliseconds(1))
            // Half-open: one probe goes out; while it is out, everyone else is refused.
            addTask(
                sim.state,
                id: "515",
                SimulatedTask.Step(
                    answer: .state(.succeeded, result: Data(Self.succeeded.utf8), errorCode: nil, errorMessage: nil),
                    delayMilliseconds: 300
                )
            )
            async let probe = client.get("/tasks/aliyun/515")
            #expect(await clock.sleepers(1))  // the probe is at the vendor
            #expect(try await client.get("/tasks/aliyun/514").status == .serviceUnavailable)
            clock.advance(by: .milliseconds(300))
            let probeStatus = try await probe.status
            #expect(probeStatus == .ok)
            // The probe succeeded: the circuit is closed again.
            #expect(try await client.get("/tasks/aliyun/514").status == .ok)
            let metrics = try await client.get("/metrics").text
            #expect(metrics.contains(#"taskgate_vendor_circuit_state{provider="aliyun"} 0"#))
            #expect(metrics.contains(#"taskgate_vendor_calls_refused_total{provider="aliyun",reason="circuit_open",caller="anonymous"} 3"#))
        }
    }

    @Test func theRateLimitRefusesBeyondTheBucketWithoutCallingTheVendor() async throws {
        // One token a second (1.1 s with the margin), two saved up: of six requests at once, two
        // reach the vendor.
        let configure: @Sendable (inout ProviderConfiguration) -> Void = {
            $0.rateLimit = 1
            $0.rateBurst = 2
            $0.rateLimitWait = .zero
        }
        try await withAliyunGateway(configure: configure) { client, sim in
            let ids = (521...526).map(String.init)
            for id in ids { addTask(sim.state, id: id, .state(.running)) }
            let answers = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for id in ids { group.addTask { try await client.get("/tasks/aliyun/\(id)") } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.filter { $0.status == .ok }.count == 2)
            let refused = answers.filter { $0.status == .serviceUnavailable }
            #expect(refused.count == 4)
            #expect(try refused.allSatisfy { try $0.json()["vendorCode"] as? String == "local rate limit" })
            #expect(ids.compactMap { sim.state.calls(for: $0)["GetTaskResult"] }.reduce(0, +) == 2)
        }
    }

    @Test func theCapMonsterBudgetSurvivesARestartAndEndsIn429WithTheLastStatus() async throws {
        let store = temporaryStorePath()
        let clock = ManualClock()
        let simulator = CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))
        addTask(simulator.state, id: "531", .state(.running))
        try await withSimulator(simulator) { sim in
            var settings = CapMonsterSettings(clientKey: testClientKey)
            settings.resultBudget = 3
            let configuration = capMonsterConfiguration(endpoint: sim.endpoint, store: store) { $0.vendor = settings }
            try await buildApplication(configuration, logger: quietLogger, clock: clock).test(.router) { client async throws in
                for _ in 0..<2 {
                    #expect(try await client.get("/tasks/capmonster/531").status == .ok)
                    clock.advance(by: .seconds(2))
                }
            }
            // A restart: the count is in the store.
            try await buildApplication(configuration, logger: quietLogger, clock: clock).test(.router) { client async throws in
                #expect(try await client.get("/tasks/capmonster/531").status == .ok)
                clock.advance(by: .seconds(2))
                let refused = try await client.get("/tasks/capmonster/531")
                #expect(refused.status == .tooManyRequests)
                let problem = try refused.json()
                #expect(problem["type"] as? String == "urn:taskgate:problem:task-budget-exhausted")
                let lastKnown = try #require(problem["lastKnown"] as? [String: Any])
                #expect(lastKnown["status"] as? String == "running")
                #expect(lastKnown["vendorStatus"] as? String == "processing")
            }
            #expect(sim.state.calls(for: "531")["getTaskResult"] == 3)
        }
    }

    @Test func capMonsterIsNeverAskedTwiceWithinTwoSecondsForOneTask() async throws {
        // A failure is not cached, so the caller may ask again at once; the vendor is not.
        let clock = ManualClock()
        try await withCapMonsterGateway(clock: clock) { client, sim async throws in
            addTask(sim.state, id: "532", SimulatedTask.Step(answer: .fault(.http503), polls: 1), .state(.running))
            let before = clock.date
            #expect(try await client.get("/tasks/capmonster/532").status == .badGateway)
            clock.advance(by: .seconds(1))
            #expect(try await advancingThroughWaits(clock) { try await client.get("/tasks/capmonster/532").status } == .ok)
            // The second vendor request waited out the rest of the spacing: on taskgate's clock it
            // came 2 s after the first.
            #expect(clock.date.timeIntervalSince(before) == 2)
            #expect(sim.state.calls(for: "532")["getTaskResult"] == 2)
        }
    }

    @Test func aVendorThatRefusesConnectionsFailsEachAttemptAtOnce() async throws {
        // Nothing listens on port 1: each attempt is refused, retried by taskgate's own policy,
        // and the caller hears long before the 5 s deadline.
        let settings: (inout ProviderConfiguration) -> Void = {
            $0.retries = 2
            $0.retryBackoff = .milliseconds(10)
            $0.timeout = .seconds(5)
            $0.staleMax = .zero
        }
        let clock = ManualClock()
        try await withAliyunGateway(endpoint: "http://127.0.0.1:1", configure: settings, clock: clock) { client in
            let response = try await advancingThroughWaits(clock) { try await client.get("/tasks/aliyun/541") }
            #expect(response.status == .badGateway)
            #expect(try response.json()["type"] as? String == "urn:taskgate:problem:vendor-unreachable")
            let metrics = try await client.get("/metrics").text
            #expect(
                metrics.contains(#"taskgate_vendor_calls_total{provider="aliyun",call="GetTaskResult",outcome="unavailable",caller="anonymous"} 3"#)
            )
            #expect(metrics.contains(#"taskgate_vendor_retries_total{provider="aliyun",call="GetTaskResult"} 2"#))
        }
    }

    @Test func aConnectionNeverAcceptedEndsAtTheConnectTimeoutAndIsRetried() async throws {
        let vendor = try UnacceptingListener()
        let settings: (inout ProviderConfiguration) -> Void = {
            $0.connectTimeout = .milliseconds(300)
            $0.retries = 1
            $0.retryBackoff = .milliseconds(10)
            $0.timeout = .seconds(5)
            $0.staleMax = .zero
        }
        let clock = ManualClock()
        try await withAliyunGateway(endpoint: "http://127.0.0.1:\(vendor.port)", configure: settings, clock: clock) { client in
            // Each attempt ends at its connect timeout (real time on the wire), not at the deadline.
            let response = try await advancingThroughWaits(clock) { try await client.get("/tasks/aliyun/542") }
            #expect(response.status == .badGateway)
            let problem = try response.json()
            #expect(problem["type"] as? String == "urn:taskgate:problem:vendor-unreachable")
            #expect((problem["detail"] as? String)?.contains("connect_timeout") == true)
            let metrics = try await client.get("/metrics").text
            #expect(
                metrics.contains(#"taskgate_vendor_calls_total{provider="aliyun",call="GetTaskResult",outcome="unavailable",caller="anonymous"} 2"#)
            )
        }
        withExtendedLifetime(vendor) {}
    }

    @Test func noSecretAppearsAnywhereOnAnyPath() async throws {
        let logs = LogRecorder()
        // The vendors know other secrets: every signed call is refused, and the refusals are logged.
        let capmonster = CapMonsterSimulator(clientKey: "the-vendor-knows-another-key")
        let aliyun = AliyunSimulator(accessKeyID: aliyunKeyID, accessKeySecret: "another-secret")
        let tencent = TencentSimulator(secretID: tencentSecretID, secretKey: "another-key")
        var seen: [String] = []
        try await withSimulator(capmonster) { capmonsterSim in
            try await withSimulator(aliyun) { aliyunSim in
                try await withSimulator(tencent) { tencentSim in
                    var capmonster = provider("capmonster", endpoint: capmonsterSim.endpoint, CapMonsterSettings(clientKey: Self.capmonsterKey))
                    capmonster.timeout = .seconds(5)
                    let configuration = gatewayConfiguration(
                        store: temporaryStorePath(),
                        logLevel: .trace,
                        capmonster,
                        provider(
                            "aliyun",
                            endpoint: aliyunSim.endpoint,
                            AliyunSettings(region: "cn-shanghai", accessKeyID: aliyunKeyID, accessKeySecret: Self.aliyunSecret)
                        ),
                        provider("tencent", endpoint: tencentSim.endpoint, TencentSettings(secretID: tencentSecretID, secretKey: Self.tencentKey))
                    )
                    let app = try buildApplication(configuration, logger: logs.logger)
                    seen = try await app.test(.router) { client in
                        var texts: [String] = []
                        let paths = [
                            "/tasks/capmonster/1", "/tasks/capmonster/abc", "/tasks/aliyun/1", "/tasks/aliyun/x", "/tasks/tencent/t-1",
                            "/tasks/tencent/bad!", "/tasks/nosuch/1", "/tasks", "/tasks?status=bogus", "/tasks?provider=aliyun,tencent",
                            "/readyz", "/healthz", "/nowhere",
                        ]
                        for path in paths {
                            let response = try await client.get(path, [.acceptEncoding: "identity"])
                            texts.append(response.text)
                            texts.append(response.headers.map { "\($0.name): \($0.value)" }.joined(separator: "\n"))
                        }
                        texts.append(try await client.get("/metrics").text)
                        return texts
                    }
                    #expect(capmonsterSim.state.rejections["ERROR_KEY_DOES_NOT_EXIST", default: 0] >= 1)
                    #expect(aliyunSim.state.rejections["SignatureDoesNotMatch", default: 0] >= 1)
                    #expect(tencentSim.state.rejections["AuthFailure.SignatureFailure", default: 0] >= 1)
                }
            }
        }
        #expect(logs.lines.count > 20)
        let everything = seen + logs.lines.map(\.rendered)
        for secret in [Self.capmonsterKey, Self.aliyunSecret, Self.tencentKey] {
            #expect(!everything.contains { $0.contains(secret) }, "secret leaked: \(secret.prefix(12))…")
            // Nor a recognizable part of it.
            #expect(!everything.contains { $0.contains(secret.suffix(16)) })
        }
    }
}

/// A vendor host that never accepts: a listening socket whose accept queue (length one) is
/// already full, so the kernel drops every further SYN and a connection attempt hangs until the
/// connector gives up, as behind a firewall that drops packets.
private final class UnacceptingListener: Sendable {
    let port: Int
    private let listener: Int32
    private let queued: Int32

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let queued = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        self.queued = queued
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                bind(listener, address, length) == 0 && listen(listener, 0) == 0 && getsockname(listener, address, &length) == 0
            }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        // The one connection the queue holds; it is never accepted.
        let connected =
            listening
            && withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(queued, $0, length) == 0 }
            }
        guard connected else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }

    deinit {
        close(queued)
        close(listener)
    }
}
