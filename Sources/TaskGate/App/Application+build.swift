import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Builds the gateway: store, vendor client, providers, routes. `taskgate serve` and the tests
/// call this same function.
/// - Parameters:
///   - now: the wall clock (tests pass their own).
///   - onServerRunning: called once the server listens (tests and the demo learn the port).
/// - Throws: `StoreOpenError` when the store cannot be opened or migrated.
public func buildApplication(
    _ configuration: GatewayConfiguration,
    logger: Logger? = nil,
    now: @escaping @Sendable () -> Date = Date.init,
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) throws -> some ApplicationProtocol {
    var logger = logger ?? Logger(label: "taskgate")
    logger.logLevel = configuration.logLevel
    let store = try SQLiteTaskStore(path: configuration.storePath, logger: logger)
    var clientConfiguration = HTTPClient.Configuration()
    clientConfiguration.decompression = .disabled
    clientConfiguration.redirectConfiguration = .disallow
    let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
    let environment = ProviderEnvironment(http: VendorHTTPClient(client: httpClient), now: now)
    let providers = configuration.providers.map { $0.makeProvider(environment: environment) }
    let service = TaskService(providers: providers, store: store, now: now)
    let router = buildRouter(
        service: service,
        lister: TaskLister(tasks: service),
        providerNames: configuration.providers.map(\.name),
        store: store
    )
    var app = Application(
        router: router,
        configuration: .init(
            address: .hostname(configuration.listen.host, port: configuration.listen.port),
            serverName: "taskgate"
        ),
        onServerRunning: onServerRunning,
        logger: logger
    )
    app.addServices(HTTPClientService(client: httpClient))
    return app
}

/// The routes and middleware, in the order a request meets them.
func buildRouter(service: TaskService, lister: TaskLister, providerNames: [String], store: any TaskStore) -> Router<GatewayRequestContext> {
    let router = Router(context: GatewayRequestContext.self)
    router.add(middleware: RequestIDMiddleware())
    router.add(middleware: AccessLogMiddleware())
    router.add(middleware: ProblemMiddleware())
    TaskController(service: service, lister: lister, providerNames: providerNames).addRoutes(to: router)
    OperationsController(store: store).addRoutes(to: router)
    return router
}

/// Shuts the vendor HTTP client down after the server has stopped taking requests.
struct HTTPClientService: Service {
    let client: HTTPClient

    func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}
