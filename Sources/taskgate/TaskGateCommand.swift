import ArgumentParser
import CAllocator
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import TaskGate
import TaskGateSimulators
import UnixSignals

@main
struct TaskGateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "taskgate",
        abstract: "One HTTP gateway in front of vendors' asynchronous-task APIs.",
        subcommands: [Serve.self, Demo.self, Simulate.self, CheckConfig.self, Backup.self, MigrateStore.self],
        defaultSubcommand: Serve.self
    )
}

struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: "The YAML configuration file; every key can be overridden by environment.")
    var config: String = "taskgate.yaml"

    /// Loads the configuration or exits 78 (EX_CONFIG) naming the bad key.
    func load() async throws -> GatewayConfiguration {
        do {
            return try await GatewayConfiguration.load(filePath: config)
        } catch {
            FileHandle.standardError.write(Data("taskgate: configuration error: \(error)\n".utf8))
            throw ExitCode(78)
        }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway.")
    @OptionGroup var options: ConfigOption

    func run() async throws {
        let configuration = try await options.load()
        let logger = Logger.taskgate(format: configuration.logFormat, level: configuration.logLevel)
        let readiness = Readiness()
        // Buffered log lines are written before the process ends, however it ends here.
        defer { LogSink.standardOutput.flush() }
        // A file-size limit reached is a failed write (logged, answered 503), not a dead process.
        signal(SIGXFSZ, SIG_IGN)
        taskgate_keep_large_allocations_mapped()
        do {
            // The application's one clock: every time-based decision reads it.
            let clock = SystemClock()
            let app = try buildApplication(configuration, logger: logger, readiness: readiness, clock: clock)
            try await serve(app, configuration: configuration, readiness: readiness, logger: logger, clock: clock)
        } catch let error as StoreOpenError {
            FileHandle.standardError.write(Data("taskgate: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// Runs until SIGTERM/SIGINT, then drains within the grace period.
    func serve(
        _ app: some ApplicationProtocol,
        configuration: GatewayConfiguration,
        readiness: Readiness,
        logger: Logger,
        clock: any GatewayClock
    ) async throws {
        let runner = GatewayRunner(
            app: app,
            readiness: readiness,
            drainDelay: configuration.shutdownDrainDelay,
            gracePeriod: configuration.shutdownGracePeriod,
            logger: logger,
            clock: clock
        )
        logger.notice(
            "taskgate serving",
            metadata: [
                "listen": "\(configuration.listen)", "store": "\(configuration.store)",
                "providers": "\(configuration.providers.map(\.name))",
            ]
        )
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        try await runner.run {
            for await signal in signals {
                logger.notice("received \(signal)")
                return
            }
        }
    }
}

struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration file and exit (non-zero naming the bad key)."
    )
    @OptionGroup var options: ConfigOption

    func run() async throws {
        let configuration = try await options.load()
        let names = configuration.providers.map { "\($0.name) (\($0.kind.name) at \($0.endpoint.absoluteString))" }
        print(
            "configuration ok: listen \(configuration.listen), store \(configuration.store), providers: \(names.isEmpty ? "none" : names.joined(separator: ", "))"
        )
    }
}

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy the configured store to a new file, consistently, while taskgate may be serving from it."
    )
    @OptionGroup var options: ConfigOption
    @Option(help: ArgumentHelp("The file to write; it must not exist yet.", valueName: "file"))
    var to: String

    func run() async throws {
        let configuration = try await options.load()
        do {
            guard case .sqlite(let path) = configuration.store else {
                throw ValidationError("backup copies an SQLite store; back up a PostgreSQL store with pg_dump (see the README)")
            }
            let summary = try StoreBackup.copy(store: path, to: to)
            print("backed up \(summary.tasks) tasks (\(summary.bytes) bytes) from \(path) to \(to)")
        } catch {
            FileHandle.standardError.write(Data("taskgate: backup failed: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct MigrateStore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate-store",
        abstract: "Copy every row of one store into another, empty one (SQLite to PostgreSQL or back), and check the counts.",
        discussion: "Stop taskgate first: rows written to the source during the copy make the counts differ, and the copy fails."
    )
    @Option(help: ArgumentHelp("The store to copy: an SQLite file or a postgres:// URL.", valueName: "store"))
    var from: String
    @Option(help: ArgumentHelp("The store to copy into, created or migrated if needed; it must hold no rows.", valueName: "store"))
    var to: String

    func run() async throws {
        let logger = {
            var logger = Logger(label: "taskgate")
            logger.logLevel = .warning
            return logger
        }()
        do {
            let (source, destination) = (try StoreLocation(parsing: from), try StoreLocation(parsing: to))
            guard source.description != destination.description else { throw StoreTransferError("--from and --to name the same store") }
            let summary = try await source.withStore(logger: logger, mustExist: true) { source in
                try await destination.withStore(logger: logger) { destination in
                    try await StoreTransfer.copy(from: source, to: destination)
                }
            }
            print(
                "copied \(summary.tasks) tasks, \(summary.budgets) budgets, \(summary.artifacts) kept files, \(summary.events) events and \(summary.deliveries) webhook deliveries from \(source) to \(destination); counts checked"
            )
        } catch {
            FileHandle.standardError.write(Data("taskgate: migrate-store failed: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a vendor simulator for every configured provider, on the host:port of its endpoint."
    )
    @OptionGroup var options: ConfigOption
    @Option(help: "Each simulator's control API listens on its vendor port plus this offset.")
    var controlPortOffset: Int = 1000
    @Option(help: "Seconds the Alibaba simulator's signed result links (ProcessResultUrl) stay valid.")
    var resultLinkLifetime: Int = 3600

    func run() async throws {
        let configuration = try await options.load()
        var hosts: [any Service] = []
        var simulated: [String: String] = [:]
        for provider in configuration.providers {
            let endpoint = try SimulatorAddress(endpoint: provider.endpoint)
            // Two providers in front of one endpoint (say, with different settings) share its simulator.
            if let first = simulated["\(endpoint.host):\(endpoint.port)"] {
                print("\(provider.name) shares \(first)'s simulator at \(provider.endpoint.absoluteString)")
                continue
            }
            simulated["\(endpoint.host):\(endpoint.port)"] = provider.name
            guard var simulator = Simulators.simulator(for: provider) else {
                throw ValidationError("no simulator for kind \(provider.kind.name)")
            }
            if var aliyun = simulator as? AliyunSimulator {
                aliyun.resultLinkLifetime = .seconds(resultLinkLifetime)
                simulator = aliyun
            }
            let controlPort = endpoint.port + controlPortOffset
            print(
                "simulating \(provider.name) (\(provider.kind.name)) at \(provider.endpoint.absoluteString), control API at http://\(endpoint.host):\(controlPort)/_sim/"
            )
            hosts.append(SimulatorHost(simulator: simulator, host: endpoint.host, port: endpoint.port, controlPort: controlPort))
        }
        let group = ServiceGroup(services: hosts, gracefulShutdownSignals: [.sigterm, .sigint], logger: Logger(label: "taskgate.simulate"))
        try await group.run()
    }
}
