import CompressNIO
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import TaskGate
import TaskGateSimulators
import Testing

/// A simulator listening on loopback port 0, for the length of one test.
struct RunningSimulator: Sendable {
    let simulator: any VendorSimulator
    let vendorPort: Int
    let controlPort: Int

    var endpoint: String { "http://127.0.0.1:\(vendorPort)" }
    var state: SimulatorState { simulator.state }
}

/// Runs `simulator` on ephemeral ports while `body` runs, then shuts it down.
func withSimulator<T: Sendable>(_ simulator: any VendorSimulator, _ body: (RunningSimulator) async throws -> T) async throws -> T {
    let (ports, continuation) = AsyncStream.makeStream(of: (SimulatorHost.Role, Int).self)
    let host = SimulatorHost(simulator: simulator, port: 0, controlPort: 0, logger: quietLogger) { role, port in
        continuation.yield((role, port))
    }
    let group = ServiceGroup(services: [host], logger: quietLogger)
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        var bound: [SimulatorHost.Role: Int] = [:]
        for await (role, port) in ports {
            bound[role] = port
            if bound.count == 2 { break }
        }
        let running = RunningSimulator(simulator: simulator, vendorPort: bound[.vendor]!, controlPort: bound[.control]!)
        do {
            let result = try await body(running)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            throw error
        }
    }
}

let quietLogger: Logger = {
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    return logger
}()

let testClientKey = "0123456789abcdef0123456789abcdef"

/// A fresh SQLite path in a temporary directory of its own.
func temporaryStorePath() -> String {
    let directory = FileManager.default.temporaryDirectory.appending(path: "taskgate-test-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory.appending(path: "taskgate.sqlite").path
}

/// A gateway on loopback (port 0) with `providers`, as a value: what `serve` builds from a file.
func gatewayConfiguration(store: String, logLevel: Logger.Level = .critical, _ providers: ProviderConfiguration...) -> GatewayConfiguration {
    // A test's store is a file path or a test database's URL; both parse.
    GatewayConfiguration(
        listen: ListenAddress(host: "127.0.0.1", port: 0),
        store: try! StoreLocation(parsing: store),
        logLevel: logLevel,
        providers: providers
    )
}

/// A provider named `name` in front of `endpoint`, every common setting at its default but the
/// background watch, off: tests count vendor calls and move the clock, and only the watch's own
/// tests want it (`TaskWatcherTests`).
func provider(_ name: String, endpoint: String, _ vendor: any VendorSettings) -> ProviderConfiguration {
    var configuration = ProviderConfiguration(name: name, endpoint: URL(string: endpoint)!, vendor: vendor)
    configuration.watch = false
    return configuration
}

/// Writes YAML to a temporary file and loads it the way `taskgate serve` does (for the tests of
/// the file reader itself).
func loadConfiguration(_ yaml: String, environment: [String: String] = [:]) async throws -> GatewayConfiguration {
    let file = FileManager.default.temporaryDirectory.appending(path: "taskgate-test-\(UUID().uuidString).yaml")
    try yaml.write(to: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: file) }
    return try await GatewayConfiguration.load(filePath: file.path, environment: environment)
}

/// Waits until `condition` holds — something another task does, such as a request reaching the
/// simulator or going to sleep on the test clock — polling, for at most 60 s of real time.
/// Never a way to let time pass: tests move a `ManualClock` for that.
/// - Returns: whether the condition came true.
func eventually(_ condition: () -> Bool) async -> Bool {
    let giveUp = ContinuousClock.now + .seconds(60)
    while !condition() {
        // A test cancelled (its time limit) stops waiting rather than spin on a sleep that throws.
        guard ContinuousClock.now < giveUp, !Task.isCancelled else { return false }
        try? await Task.sleep(for: .milliseconds(1))
    }
    return true
}

/// `eventually` for a condition that asks something over the network (a server reconnecting):
/// polled every 50 ms, for at most 60 s.
func eventuallyAnswers(_ condition: () async throws -> Bool) async throws -> Bool {
    let giveUp = ContinuousClock.now + .seconds(60)
    while try await !condition() {
        guard ContinuousClock.now < giveUp, !Task.isCancelled else { return false }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return true
}

/// Runs `operation` while moving `clock` to each sleeper's deadline as soon as one sleeps, so
/// backoffs, spacing and rate waits pass at once and in deadline order.
func advancingThroughWaits<T: Sendable>(_ clock: ManualClock, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            while !Task.isCancelled {
                if !clock.advanceToNextDeadline() { try? await Task.sleep(for: .milliseconds(1)) }
            }
            return nil
        }
        defer { group.cancelAll() }
        while let next = try await group.next() {
            if let value = next { return value }
        }
        preconditionFailure("the operation's task always returns a value")
    }
}

extension ManualClock {
    /// Waits until `count` tasks sleep on this clock (see `eventually`).
    func sleepers(_ count: Int) async -> Bool {
        await eventually { sleepers >= count }
    }
}

/// The configuration of a gateway with one CapMonster provider in front of `endpoint`.
/// Retries are off (`retries` 0) unless a test asks: most tests count vendor calls exactly.
func capMonsterConfiguration(
    endpoint: String,
    store: String,
    clientKey: String = testClientKey,
    statusTTL: Duration = .seconds(2),
    retries: Int = 0,
    logLevel: Logger.Level = .critical,
    configure: (inout ProviderConfiguration) -> Void = { _ in }
) -> GatewayConfiguration {
    var capmonster = provider("capmonster", endpoint: endpoint, CapMonsterSettings(clientKey: clientKey))
    capmonster.statusTTL = statusTTL
    capmonster.retries = retries
    capmonster.timeout = .seconds(5)
    configure(&capmonster)
    return gatewayConfiguration(store: store, logLevel: logLevel, capmonster)
}

/// Runs a gateway (router test client: no socket) in front of a running CapMonster simulator.
func withCapMonsterGateway<T: Sendable>(
    simulator: CapMonsterSimulator? = nil,
    store: String = temporaryStorePath(),
    clientKey: String = testClientKey,
    statusTTL: Duration = .seconds(2),
    retries: Int = 0,
    clock: ManualClock = ManualClock(skipsWaits: true),
    logs: LogRecorder? = nil,
    configure: @Sendable (inout ProviderConfiguration) -> Void = { _ in },
    _ body: @Sendable (any TestClientProtocol, RunningSimulator) async throws -> T
) async throws -> T {
    let simulator = simulator ?? CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))
    return try await withSimulator(simulator) { running in
        let configuration = capMonsterConfiguration(
            endpoint: running.endpoint,
            store: store,
            clientKey: clientKey,
            statusTTL: statusTTL,
            retries: retries,
            logLevel: logs == nil ? .critical : .trace,
            configure: configure
        )
        let app = try buildApplication(configuration, logger: logs?.logger ?? quietLogger, clock: clock)
        return try await app.test(.router) { client in try await body(client, running) }
    }
}

extension TestClientProtocol {
    /// `GET path` with optional headers.
    func get(_ path: String, _ headers: HTTPFields = [:]) async throws -> TestResponse {
        try await execute(uri: path, method: .get, headers: headers) { $0 }
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }

    /// The body as a JSON object (inflated first when gzip).
    func json() throws -> [String: Any] {
        var buffer = body
        if headers[.contentEncoding] == "gzip" {
            buffer = try buffer.decompress(with: .gzip())
        }
        return try #require(try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any])
    }
}

/// Adds a task to a simulator: `timeline` in the control API's JSON form.
func addTask(_ state: SimulatorState, id: String, _ steps: SimulatedTask.Step...) {
    state.add(SimulatedTask(id: id, steps: steps, createdAt: state.clock.date))
}

/// Collects every log line (message and metadata) so tests can read what taskgate logged.
final class LogRecorder: Sendable {
    struct Line: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]

        var rendered: String { "\(level) \(message) \(metadata.sorted { $0.key < $1.key })" }
    }

    private let storage = Mutex<[Line]>([])

    var lines: [Line] { storage.withLock { $0 } }

    var logger: Logger {
        var logger = Logger(label: "taskgate.test") { _ in Handler(recorder: self) }
        logger.logLevel = .trace
        return logger
    }

    struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var merged = metadata
            merged.merge(event.metadata ?? [:]) { $1 }
            let line = Line(level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" })
            recorder.storage.withLock { $0.append(line) }
        }
    }
}

/// Runs a small HTTP server of the test's own (an origin, a webhook receiver) on 127.0.0.1 while
/// `body` runs; `body` gets its base URL.
func withLocalServer<T: Sendable>(_ router: Router<BasicRequestContext>, _ body: @Sendable (String) async throws -> T) async throws -> T {
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    let app = Application(
        router: router,
        configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
        logger: quietLogger
    )
    let group = ServiceGroup(services: [app], logger: quietLogger)
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        var port = 0
        for await bound in ports {
            port = bound
            break
        }
        let result = try await body("http://127.0.0.1:\(port)")
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
        return result
    }
}

extension ManualClock {
    /// Moves the clock from one sleeper's deadline to the next until `done`, never past `limit`
    /// of test time, and only while at least `sleepers` tasks sleep on it: the loops the test
    /// waits on are all asleep (a real network call under way is not a sleeper, so time does not
    /// run ahead of it). Returns when `done`, or when everyone sleeps past `limit`.
    func drive(
        for limit: Duration = .seconds(86_400),
        sleepers: Int = 1,
        until done: @Sendable () async throws -> Bool
    ) async rethrows {
        let end = now + limit
        // Cancellation (the test's time limit) ends it too.
        while !Task.isCancelled, try await !done() {
            guard self.sleepers >= sleepers, let next = nextDeadline else {
                try? await Task.sleep(for: .milliseconds(1))
                continue
            }
            guard next <= end else { return }
            advanceToNextDeadline()
        }
    }

    /// `drive` until everyone sleeps past `limit`.
    func drive(for limit: Duration, sleepers: Int = 1) async {
        await drive(for: limit, sleepers: sleepers) { false }
    }
}

/// A value tasks of a test share.
final class Shared<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>

    init(_ value: Value) { storage = Mutex(value) }

    var value: Value {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }

    func update(_ change: (inout Value) -> Void) { storage.withLock { change(&$0) } }
}

/// The same RFC 3339 text taskgate writes, for expectations.
enum RFC3339Text {
    static func format(_ date: Date) -> String {
        Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down)).formatted(Date.ISO8601FormatStyle(timeZone: .gmt))
    }
}

/// Runs Prometheus's `promtool` (Debian's `prometheus` package; `.ci/run` installs it) with
/// `input` on its standard input: its exit status and everything it printed.
func runPromtool(_ arguments: [String], input: String) throws -> (status: Int32, output: String) {
    let path = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first { FileManager.default.isExecutableFile(atPath: $0) }
    let promtool = try #require(path, "promtool is missing: apt-get install prometheus")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: promtool)
    process.arguments = arguments
    let stdin = Pipe()
    let stdout = Pipe()
    process.standardInput = stdin
    process.standardOutput = stdout
    process.standardError = stdout
    try process.run()
    stdin.fileHandleForWriting.write(Data(input.utf8))
    try stdin.fileHandleForWriting.close()
    let output = stdout.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: output, as: UTF8.self))
}
