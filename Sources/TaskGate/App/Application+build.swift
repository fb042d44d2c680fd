import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle

/// Builds the gateway: store, vendor client, providers, routes. `taskgate serve` and the tests
/// call this same function.
/// - Parameters:
///   - readiness: flipped when shutdown begins, so `/readyz` answers 503 (see `DrainingService`).
///   - clock: time for every decision made by it (tests pass a `ManualClock`).
///   - onServerRunning: called once the server listens (tests and the demo learn the port).
/// - Throws: `StoreOpenError` when the store cannot be opened or migrated.
public func buildApplication(
    _ configuration: GatewayConfiguration,
    logger: Logger? = nil,
    readiness: Readiness = Readiness(),
    clock: any GatewayClock = SystemClock(),
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) throws -> some ApplicationProtocol {
    try buildGateway(configuration, logger: logger, readiness: readiness, clock: clock, onServerRunning: onServerRunning).application
}

/// The built gateway and the parts tests look into.
struct Gateway {
    var application: Application<RouterResponder<GatewayRequestContext>>
    var service: TaskService
    /// The store, every role of it.
    var store: any TaskStore
    var metrics: GatewayMetrics
    /// The event-loop answers in front of the router (tests look at it directly).
    var hotPath: HotPath
}

func buildGateway(
    _ configuration: GatewayConfiguration,
    logger: Logger? = nil,
    readiness: Readiness = Readiness(),
    clock: any GatewayClock = SystemClock(),
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) throws -> Gateway {
    var logger = logger ?? Logger(label: "taskgate")
    logger.logLevel = configuration.logLevel
    let metrics = GatewayMetrics()
    let tracing = try GatewayTracer.make(configuration.tracing, environment: ProcessInfo.processInfo.environment, logger: logger)
    let tracer = tracing?.tracer
    let webhookRoutes = WebhookRoutes(configuration.webhooks, providers: configuration.providers.map(\.name))
    let store: any TaskStore
    let storeService: any Service
    var waitForStore: (@Sendable () async throws -> Void)?
    switch configuration.store {
    case .sqlite(let path):
        let sqlite = try SQLiteTaskStore(path: path, logger: logger, metrics: metrics)
        (store, storeService) = (sqlite, StoreService(store: sqlite, logger: logger))
    case .postgres(let url):
        let postgres = PostgresTaskStore(url: url, poolSize: configuration.storePool, logger: logger, metrics: metrics)
        // The pool runs as a service; it brings the schema up to date once the database answers.
        (store, storeService) = (postgres, postgres)
        waitForStore = { [logger] () async throws(StoreOpenError) in
            do throws(StoreOpenError) {
                try await postgres.waitUntilReady(timeout: .seconds(10))
            } catch  where !error.isRefusal {
                // Serve anyway: /readyz says 503 and store requests fail fast until it is back.
                logger.error("the PostgreSQL store is not reachable yet; serving without it until it is")
            }
        }
    }
    let built = configuration.providers.map { $0.makeProvider(store: store, metrics: metrics, tracer: tracer, logger: logger, clock: clock) }
    let background = BackgroundWork()
    let (mirrors, mirrorClient) = makeMirrors(configuration.providers, store: store, metrics: metrics, background: background)
    let served = zip(configuration.providers, built).map { configuration, built in
        ServedProvider(built.provider, policy: configuration.cachePolicy, callTimeout: configuration.timeout, mirror: mirrors[configuration.name])
    }
    let service = TaskService(
        providers: served,
        store: store,
        cacheBytes: configuration.cacheMemoryBytes,
        clock: clock,
        metrics: metrics,
        webhooks: webhookRoutes,
        background: background,
        tracer: tracer
    )
    let router = Router(context: GatewayRequestContext.self, options: .autoGenerateHeadEndpoints)
    router.add(middleware: RequestIDMiddleware())
    router.add(middleware: ObservabilityMiddleware(metrics: metrics, accessLog: AccessLog(logger: logger), tracer: tracer))
    router.add(middleware: ProblemMiddleware())
    // The router's middleware and the hot path check requests with this one policy, the target
    // first: nothing reads a path that is not canonical.
    let policy = RequestPolicy(auth: configuration.auth, maxURILength: configuration.limits.maxURILength, metrics: metrics)
    router.add(middleware: RequestTargetLimitMiddleware(policy: policy))
    router.add(middleware: MethodMiddleware())
    if configuration.auth.isEnabled {
        router.add(middleware: AuthMiddleware(policy: policy))
    }
    let cursorKeys = CursorKeyring(store: store, configuredSecret: configuration.cursorSecret)
    let providerNames = configuration.providers.map(\.name)
    let feed = EventFeed(
        log: store,
        providers: providerNames,
        cursorKeys: cursorKeys,
        clock: clock,
        heartbeat: configuration.eventsHeartbeat,
        maxStreams: configuration.limits.maxStreams,
        metrics: metrics,
        logger: logger
    )
    TaskController(
        service: service,
        lister: TaskLister(tasks: service),
        cursorKeys: cursorKeys,
        providerNames: configuration.providers.map(\.name),
        metrics: metrics,
        maxWait: configuration.limits.maxWait,
        cacheScope: CacheScope(configuration.auth)
    ).addRoutes(to: router)
    ArtifactController(
        service: service,
        artifacts: store,
        providerNames: configuration.providers.map(\.name),
        metrics: metrics,
        cacheScope: CacheScope(configuration.auth)
    ).addRoutes(to: router)
    EventController(feed: feed, providerNames: providerNames, cacheScope: CacheScope(configuration.auth)).addRoutes(to: router)
    WebhookController(outbox: store, feed: feed, webhooks: configuration.webhooks, providerNames: providerNames, clock: clock)
        .addRoutes(to: router)
    OperationsController(
        service: service,
        feed: feed,
        store: store,
        readiness: readiness,
        metrics: metrics,
        logSink: logger.anySink
    ).addRoutes(to: router)
    let limits = configuration.limits
    // The hot path keeps the idle timeout too: it sees the requests Hummingbird does not.
    let hotPath = HotPath(
        service: service,
        metrics: metrics,
        policy: policy,
        limits: limits,
        tracer: tracer,
        logger: logger,
        serverName: "taskgate"
    )
    let server = HTTPServerBuilder { responder in
        GatewayHTTP1Channel(responder: responder, hotPath: hotPath, maxHeaderSize: limits.maxHeaderSize)
    }
    var app = Application(
        router: router,
        server: server,
        configuration: .init(
            address: .hostname(configuration.listen.host, port: configuration.listen.port),
            serverName: "taskgate",
            availableConnectionsDelegate: MaximumAvailableConnections(limits.maxConnections, logger: logger)
        ),
        onServerRunning: onServerRunning,
        logger: logger
    )
    // Stopped in reverse order after the server has drained: the vendor client, then the store,
    // then the span exporter (its last batch holds the drained requests' spans).
    if let tracing { app.addServices(tracing.exporter) }
    app.addServices(storeService, HTTPClientService(clients: built.map(\.client) + (mirrorClient.map { [$0] } ?? [])))
    // Stopped before the clients and the store it calls through; after the server (requests
    // submit to it).
    app.addServices(background)
    app.addServices(EventTrimmer(log: store, retention: configuration.eventsRetention, clock: clock, metrics: metrics, logger: logger))
    // Stopped before the clients it calls through.
    let watched = configuration.providers.filter(\.watch).compactMap { configuration -> TaskWatcher.Watched? in
        service.providers[configuration.name].map { served in
            TaskWatcher.Watched(
                provider: served.provider,
                horizon: configuration.watchHorizon,
                interval: configuration.effectiveWatchInterval,
                spacing: .seconds(2.0 / Double(configuration.rateLimit))
            )
        }
    }
    if !watched.isEmpty { app.addServices(TaskWatcher(service: service, store: store, watched: watched, metrics: metrics, logger: logger)) }
    if !configuration.webhooks.isEmpty {
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.tracing.tracer = nil
        clientConfiguration.redirectConfiguration = .disallow
        clientConfiguration.timeout.connect = .nanoseconds(configuration.webhookTimeout.nanoseconds)
        clientConfiguration.connectionPool.retryConnectionEstablishment = false
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        // Its client is shut down after it (services stop in reverse order).
        app.addServices(
            HTTPClientService(clients: [client]),
            WebhookDispatcher(
                outbox: store,
                webhooks: configuration.webhooks,
                client: client,
                timeout: configuration.webhookTimeout,
                clock: clock,
                metrics: metrics,
                tracer: tracer,
                logger: logger
            )
        )
    }
    if let waitForStore { app.beforeServerStarts(perform: waitForStore) }
    return Gateway(application: app, service: service, store: store, metrics: metrics, hotPath: hotPath)
}

/// The mirror of every provider with `mirror: true`, sharing one HTTP client (nil when none
/// mirrors): redirects are followed by the mirror itself, each checked against its policy.
private func makeMirrors(
    _ providers: [ProviderConfiguration],
    store: any TaskStore,
    metrics: GatewayMetrics,
    background: BackgroundWork
) -> ([String: ArtifactMirror], HTTPClient?) {
    let mirroring = providers.filter(\.mirror.enabled)
    guard !mirroring.isEmpty else { return ([:], nil) }
    var configuration = HTTPClient.Configuration()
    configuration.tracing.tracer = nil
    configuration.redirectConfiguration = .disallow
    configuration.decompression = .disabled
    configuration.timeout.connect = .seconds(10)
    configuration.connectionPool.retryConnectionEstablishment = false
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    let mirrors = mirroring.map {
        ($0.name, ArtifactMirror(provider: $0.name, policy: $0.mirror, client: client, store: store, metrics: metrics, background: background))
    }
    return (Dictionary(uniqueKeysWithValues: mirrors), client)
}
