import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The task store in a PostgreSQL database that several replicas share (`store: postgres://…`).
///
/// The same contract as `SQLiteTaskStore`, decided in the database so it holds across replicas:
/// a final row is never replaced (the upsert's `WHERE NOT is_final`), a vendor call is counted
/// with a row lock (`FOR UPDATE`), every write commits before it returns. The connection pool
/// (`PostgresClient`) runs as a service of the application and reconnects by itself.
///
/// A database that is down never stops the process: `run` keeps trying to reach it and bring
/// its schema up to date, and every operation is bounded (`operationTimeout`, 5 s; `/readyz`'s
/// 1.5 s), so requests that need the store get 503 `store-unavailable` and `/readyz` 503, until
/// it is back.
public final class PostgresTaskStore: TransferableStore, RateSlotStore, Service {
    let client: PostgresClient
    let logger: Logger
    let metrics: GatewayMetrics?
    /// Longest a store operation may take, waiting for a connection included.
    let operationTimeout: Duration
    let state = Mutex(Phase.starting)
    /// Waiters on other replicas' work, woken by `NOTIFY taskgate_task`.
    let changes = TaskChangeWatches()
    /// The channel a save or a lease release is announced on, naming the task.
    static let changeChannel = "taskgate_task"
    /// Whether this replica hears the others' announcements now.
    let listening = Mutex(false)

    enum Phase: Sendable {
        /// The schema has not been checked yet (the database may be unreachable).
        case starting
        case ready
        /// The database cannot be used by this taskgate (written by a newer one).
        case refused(StoreOpenError)
    }

    public init(
        url: PostgresStoreURL,
        poolSize: Int,
        logger: Logger,
        metrics: GatewayMetrics? = nil,
        operationTimeout: Duration = .seconds(5)
    ) {
        let tls: PostgresClient.Configuration.TLS = url.requiresTLS ? .require(.makeClientConfiguration()) : .disable
        var configuration = PostgresClient.Configuration(
            host: url.host,
            port: url.port,
            username: url.user,
            password: url.password,
            database: url.database,
            tls: tls
        )
        configuration.options.maximumConnections = poolSize
        configuration.options.connectTimeout = .seconds(2)
        configuration.options.additionalStartupParameters = [("application_name", "taskgate")]
        var background = logger
        background[metadataKey: "component"] = "store"
        self.client = PostgresClient(configuration: configuration, backgroundLogger: background)
        self.logger = logger
        self.metrics = metrics
        self.operationTimeout = operationTimeout
    }

    /// Runs the connection pool until the application shuts down, and brings the schema up to
    /// date as soon as the database answers (retrying while it does not).
    /// - Throws: `StoreOpenError` when the database was written by a newer taskgate: the process
    ///   must stop rather than touch it.
    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await withThrowingTaskGroup(of: Void.self) { group in
                // The pool is running before the first query (else postgres-nio warns that it is not).
                let (running, announce) = AsyncStream<Never>.makeStream()
                group.addTask {
                    announce.finish()
                    await self.client.run()
                }
                for await _ in running {}
                try await self.prepareSchema()
                group.addTask { await self.listenForChanges() }
                try await group.next()
            }
        }
    }

    /// Waits until the schema is checked: before the server listens, and for tools and tests.
    /// - Throws: the refusal, or `StoreOpenError` when the database did not answer within `timeout`.
    public func waitUntilReady(timeout: Duration = .seconds(30)) async throws(StoreOpenError) {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            switch state.withLock({ $0 }) {
            case .ready: return
            case .refused(let error): throw error
            case .starting: try? await Task.sleep(for: .milliseconds(10))
            }
        }
        throw StoreOpenError(path: locationDescription, reason: "the database did not answer within \(timeout)")
    }

    // MARK: - Schema

    var locationDescription: String { "the PostgreSQL store" }

    // MARK: - TaskStore

    /// Runs a database operation within `operationTimeout` and turns any failure into one logged
    /// `store-unavailable` error.
    @discardableResult
    func perform<T: Sendable>(
        _ operation: String,
        within timeout: Duration? = nil,
        _ body: @escaping @Sendable () async throws -> T
    ) async throws(GatewayError) -> T {
        guard case .ready = state.withLock({ $0 }) else {
            throw GatewayError(.storeUnavailable, "The task store is not reachable yet.")
        }
        let started = ContinuousClock.now
        defer { metrics?.storeOperation(operation, duration: ContinuousClock.now - started) }
        do {
            return try await withTimeout(timeout ?? operationTimeout, body)
        } catch {
            logger.error("store \(operation) failed", metadata: ["error": "\(Self.describe(error))"])
            metrics?.storeFailure(operation: operation)
            throw GatewayError(.storeUnavailable, "The task store could not \(operation).")
        }
    }

    /// What went wrong, without the query's bound values (a task body) or the password.
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return "\(error.code): \(message)" }
            return "\(error.code)"
        }
        return "\(type(of: error))"
    }
}
