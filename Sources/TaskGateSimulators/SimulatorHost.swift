import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Runs one simulator: the vendor API on one address, the control API on another.
/// Either port may be 0; `onListening` reports the ports actually bound.
public struct SimulatorHost: Service {
    public let simulator: any VendorSimulator
    let vendorApp: Application<RouterResponder<BasicRequestContext>>
    let controlApp: Application<RouterResponder<BasicRequestContext>>

    public init(
        simulator: any VendorSimulator,
        host: String = "127.0.0.1",
        port: Int,
        controlPort: Int,
        logger: Logger = Logger(label: "taskgate.simulator"),
        onListening: @escaping @Sendable (_ role: Role, _ port: Int) async -> Void = { _, _ in }
    ) {
        self.simulator = simulator
        var vendorLogger = logger
        vendorLogger[metadataKey: "simulator"] = .string(simulator.kind)
        vendorApp = Application(
            router: simulator.vendorRouter(),
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in await onListening(.vendor, channel.localAddress?.port ?? port) },
            logger: vendorLogger
        )
        let validate = { @Sendable (id: String) in simulator.validateID(id) }
        controlApp = Application(
            router: SimulatorControl.router(state: simulator.state, validateID: validate),
            configuration: .init(address: .hostname(host, port: controlPort), serverName: nil),
            onServerRunning: { channel in await onListening(.control, channel.localAddress?.port ?? controlPort) },
            logger: vendorLogger
        )
    }

    public enum Role: Sendable {
        case vendor
        case control
    }

    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await vendorApp.run() }
            group.addTask { try await controlApp.run() }
        }
    }
}
