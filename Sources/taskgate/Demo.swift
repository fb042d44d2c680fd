import ArgumentParser
import CAllocator
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import TaskGate
import TaskGateSimulators
import UnixSignals

/// Everything on loopback in one process: a CapMonster simulator with seeded tasks, and the
/// gateway in front of it on a fresh SQLite file.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the gateway with vendor simulators and seeded tasks, and print curl commands to try."
    )

    @Option(help: "Gateway port on 127.0.0.1.") var port: Int = 8080
    @Option(help: "CapMonster simulator port on 127.0.0.1 (its control API: this + 1000).") var simulatorPort: Int = 18085
    @Option(help: "Alibaba multimediaai simulator port on 127.0.0.1 (its control API: this + 1000).") var aliyunPort: Int = 18081
    @Option(help: "Tencent MPS simulator port on 127.0.0.1 (its control API: this + 1000).") var tencentPort: Int = 18084
    @Option(help: "SQLite file (default: a new file in a temporary directory).") var store: String?
    @Option(help: "trace, debug, info, notice, warning, error.") var logLevel: String = "warning"

    func run() async throws {
        taskgate_keep_large_allocations_mapped()
        let storePath =
            store
            ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("taskgate-demo-\(UUID().uuidString.prefix(8))").appendingPathExtension("sqlite").path
        let clientKey = "demo-client-key-0123456789abcdef"
        let (aliyunKeyID, aliyunSecret) = ("LTAI5tDEMODEMODEMODEMO", "demo-secret-demo-secret-demo-se")
        let (tencentID, tencentKey) = ("AKIDDEMODEMODEMODEMODEMODEMODEMO1234", "demo-secret-key-demo-secret-key0")
        guard let level = Logger.Level(rawValue: logLevel.lowercased()) else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error: \(logLevel)")
        }
        // Built in code, as a value: every provider against its simulator on loopback.
        func loopback(_ port: Int) -> URL { URL(string: "http://127.0.0.1:\(port)")! }
        let configuration = GatewayConfiguration(
            listen: ListenAddress(host: "127.0.0.1", port: port),
            store: .sqlite(path: storePath),
            logLevel: level,
            providers: [
                ProviderConfiguration(name: "capmonster", endpoint: loopback(simulatorPort), vendor: CapMonsterSettings(clientKey: clientKey)),
                {
                    var aliyun = ProviderConfiguration(
                        name: "aliyun",
                        endpoint: loopback(aliyunPort),
                        vendor: AliyunSettings(region: "cn-shanghai", accessKeyID: aliyunKeyID, accessKeySecret: aliyunSecret)
                    )
                    // The simulator's result links live two minutes: a refresh shows within the demo.
                    aliyun.linkRefreshMargin = .seconds(30)
                    // Its result files are kept; the simulator serves them on loopback, listed by itself.
                    aliyun.mirror = MirrorPolicy(enabled: true, hosts: ["127.0.0.1"])
                    return aliyun
                }(),
                ProviderConfiguration(
                    name: "tencent",
                    endpoint: loopback(tencentPort),
                    vendor: TencentSettings(secretID: tencentID, secretKey: tencentKey, region: "ap-guangzhou")
                ),
            ]
        )

        // One clock for the gateway and the simulators, as in the tests.
        let clock = SystemClock()
        var logger = Logger(label: "taskgate")
        logger.logLevel = configuration.logLevel
        let ready = ReadyCounter(expected: 7)
        // Each provider's own simulator (built from its settings, so it accepts its credentials)
        // on the provider's endpoint, seeded with tasks to try.
        let seeds: [String: (SimulatorState) -> Void] = ["capmonster": Self.seed, "aliyun": Self.seedAliyun, "tencent": Self.seedTencent]
        var services: [any Service] = []
        for provider in configuration.providers {
            let state = SimulatorState(clock: clock)
            seeds[provider.name]?(state)
            guard var simulator = Simulators.simulator(for: provider, state: state), let port = provider.endpoint.port else {
                throw ValidationError("no simulator for \(provider.name)")
            }
            if var aliyun = simulator as? AliyunSimulator {
                aliyun.resultLinkLifetime = Self.resultLinkLifetime
                simulator = aliyun
            }
            services.append(
                SimulatorHost(simulator: simulator, port: port, controlPort: port + 1000, logger: logger) { _, _ in await ready.arrive() }
            )
        }
        let gateway = try buildApplication(configuration, logger: logger, clock: clock, onServerRunning: { _ in await ready.arrive() })
        let banner = Self.banner(port: port, controlPort: simulatorPort + 1000, store: storePath)
        let group = ServiceGroup(
            services: services + [gateway, ReadyAnnouncer(ready: ready, text: banner)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        try await group.run()
    }

    /// How long the Alibaba simulator's signed result links live in the demo.
    static let resultLinkLifetime: Duration = .seconds(120)

    static func seed(_ state: SimulatorState) {
        let now = state.clock.date
        state.add(SimulatedTask(id: "1001", steps: [.state(.succeeded, result: #"{"text":"demo answer"}"#)], createdAt: now))
        state.add(
            SimulatedTask(
                id: "1002",
                steps: [.state(.running, seconds: 20), .state(.succeeded, result: #"{"gRecaptchaResponse":"03AGdBq25-demo"}"#)],
                createdAt: now
            )
        )
        state.add(
            SimulatedTask(
                id: "1003",
                steps: [.state(.running, seconds: 10), .failed(code: "ERROR_CAPTCHA_UNSOLVABLE", message: "Captcha could not be solved")],
                createdAt: now
            )
        )
        state.add(SimulatedTask(id: "1004", steps: [.state(.running)], createdAt: now))
    }

    static func seedAliyun(_ state: SimulatorState) {
        let now = state.clock.date
        let result =
            #"{"VideoName":"intro.mp4","AnalysisUseTime":30,"ApplicationId":"demo-app","ProcessResultUrl":"http://example.invalid/processResult/400099.txt"}"#
        // What ListTasks knows beyond GetTaskResult: kept in the answer's vendorFields.
        let listed: [String: JSONValue] = [
            "ApplicationName": JSONValue("demo-app")!, "ServiceType": JSONValue(1)!, "ProcessingDuration": JSONValue(30)!,
        ]
        state.add(
            SimulatedTask(id: "400099", steps: [.state(.succeeded, result: result)], createdAt: now.addingTimeInterval(-600), fields: listed)
        )
        state.add(
            SimulatedTask(
                id: "400100",
                steps: [.state(.queued, seconds: 5), .state(.running, seconds: 15), .state(.succeeded, result: result)],
                createdAt: now
            )
        )
        // Its result file's link is signed for two minutes by every GetTaskResult.
        state.add(SimulatedTask(id: "400102", steps: [.state(.succeeded)], createdAt: now.addingTimeInterval(-120)))
        state.add(
            SimulatedTask(
                id: "400101",
                steps: [.failed(code: "VideoDecodeFailed", message: "The video could not be decoded.")],
                createdAt: now.addingTimeInterval(-300)
            )
        )
    }

    static func seedTencent(_ state: SimulatorState) {
        let now = state.clock.date
        let transcode =
            #"{"MediaProcessResultSet":[{"Type":"Transcode","TranscodeTask":{"Status":"SUCCESS","ErrCode":0,"ErrCodeExt":"","Message":"SUCCESS","Input":{"Definition":100030},"Output":{"Path":"/output/demo.mp4","Definition":100030,"Bitrate":1200000,"Height":720,"Width":1280,"Size":1048576,"Duration":12.5,"Container":"mp4"}}}]}"#
        state.add(
            SimulatedTask(
                id: "2600010949-WorkflowTask-80108cc3380155d98b2e3573a48a",
                steps: [.state(.succeeded, result: transcode)],
                createdAt: now.addingTimeInterval(-900),
                fields: ["SessionContext": JSONValue("order-42")!]  // the caller's own pass-through data
            )
        )
        state.add(
            SimulatedTask(
                id: "2600010949-WorkflowTask-0000000000000000000000000001",
                steps: [.state(.running, seconds: 20), .state(.succeeded, result: transcode)],
                createdAt: now
            )
        )
        state.add(
            SimulatedTask(
                id: "2600010949-EditMediaTask-000000000000000000000000002",
                steps: [.failed(code: "30010", message: "Source file error.")],
                createdAt: now.addingTimeInterval(-300)
            )
        )
    }

    static func banner(port: Int, controlPort: Int, store: String) -> String {
        let base = "http://127.0.0.1:\(port)"
        return """

            taskgate demo: gateway at \(base), CapMonster simulator control API at http://127.0.0.1:\(controlPort)/_sim/
            store: \(store)

            Try:
              curl -s \(base)/tasks/capmonster/1001                          # succeeded (final, stored for ever)
              curl -s --compressed -i \(base)/tasks/capmonster/1001          # gzip, ETag, X-Cache
              curl -s \(base)/tasks/capmonster/1002                          # running; succeeds 20 s after start
              curl -s \(base)/tasks/capmonster/1003                          # running; fails (unsolvable) after 10 s
              curl -s \(base)/tasks/capmonster/1004                          # running for ever
              curl -s \(base)/tasks/aliyun/400099                            # Alibaba multimediaai: succeeded
              curl -s \(base)/tasks/aliyun/400100                            # Alibaba: queued, running, then succeeded after 20 s
              curl -s \(base)/tasks/aliyun/400101                            # Alibaba: failed, with the vendor's error
              curl -s -i \(base)/tasks/aliyun/400102                         # a result link signed for 2 min: cached until 30 s before it dies
              curl -s \(base)/tasks/aliyun/400102 | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["ProcessResultUrl"])' | xargs curl -s -i
                                                                             # the file behind it (OSS's 403 "Request has expired" after 2 min)
              sleep 91; curl -s -i \(base)/tasks/aliyun/400102               # X-Cache: REFRESH, a new ETag, a link good for 2 more minutes
              curl -s -i \(base)/tasks/aliyun/400102/artifacts/0             # the same file, kept by taskgate: served long after the link died
              curl -s -i -H 'Range: bytes=0-63' \(base)/tasks/aliyun/400102/artifacts/0   # one range of it (206)
              curl -s '\(base)/tasks?provider=aliyun&status=succeeded'      # Alibaba's ListTasks behind taskgate's cursor
              curl -s '\(base)/tasks?provider=aliyun&vendor.ApplicationName=demo-app'   # ListTasks' own filters, passed through
              curl -s \(base)/tasks/tencent/2600010949-WorkflowTask-80108cc3380155d98b2e3573a48a   # Tencent MPS: succeeded
              curl -s \(base)/tasks/tencent/2600010949-EditMediaTask-000000000000000000000000002  # Tencent: FINISH with ErrCode = failed
              curl -s '\(base)/tasks?provider=tencent'                       # Tencent's DescribeTasks, FINISH resolved to succeeded/failed
              curl -s \(base)/tasks/capmonster/999                           # 404 problem+json
              curl -s \(base)/tasks/capmonster/abc                           # 400 problem+json
              curl -s '\(base)/tasks?provider=capmonster&limit=10'          # what taskgate has seen
              curl -s '\(base)/events?limit=2'                             # the event feed: each task turned final, oldest first; poll with next
              curl -s -N -H 'Accept: text/event-stream' '\(base)/events?after=now'   # the same feed as it happens (server-sent events)
              curl -s -X POST http://127.0.0.1:\(controlPort)/_sim/tasks -d '{"id":"2001","timeline":[{"state":"running","polls":2},{"state":"succeeded","result":{"text":"hi"}}]}'
              curl -s http://127.0.0.1:\(controlPort)/_sim/calls                  # vendor calls taskgate made

            Ctrl-C stops everything.

            """
    }
}

/// Counts listeners coming up, so the banner prints only when every curl above works.
actor ReadyCounter {
    let expected: Int
    private var arrived = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(expected: Int) { self.expected = expected }

    func arrive() {
        arrived += 1
        if arrived >= expected {
            for waiter in waiters { waiter.resume() }
            waiters = []
        }
    }

    func wait() async {
        if arrived >= expected { return }
        await withCheckedContinuation { waiters.append($0) }
    }
}

struct ReadyAnnouncer: Service {
    let ready: ReadyCounter
    let text: String

    func run() async throws {
        await ready.wait()
        // Written at once, not buffered: whoever runs the demo reads it while it runs.
        FileHandle.standardOutput.write(Data(text.utf8))
        try? await gracefulShutdown()
    }
}
