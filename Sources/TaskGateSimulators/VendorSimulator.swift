import Hummingbird
import TaskGate

/// A fake of one vendor's API: its routes, its state, and which task ids it takes.
public protocol VendorSimulator: Sendable {
    /// The taskgate provider kind this simulates.
    var kind: String { get }
    var state: SimulatorState { get }
    /// The vendor's own API.
    func vendorRouter() -> Router<BasicRequestContext>
    /// Whether an id is one this vendor could have issued (checked by the control API).
    func validateID(_ id: String) -> Bool
}

/// A simulator that stands in for a configured provider of its kind, accepting its credentials.
public protocol ProviderSimulator: VendorSimulator {
    associatedtype Settings: VendorSettings
    init(settings: Settings, state: SimulatorState)
}

extension ProviderSimulator {
    /// This simulator for `vendor`, when those are its kind's settings.
    static func simulating(_ vendor: any VendorSettings, state: SimulatorState) -> (any VendorSimulator)? {
        (vendor as? Settings).map { Self(settings: $0, state: state) }
    }
}

/// Every simulator, one line each: what `taskgate simulate` and the demo can start.
public enum Simulators {
    static let all: [any ProviderSimulator.Type] = [CapMonsterSimulator.self, AliyunSimulator.self, TencentSimulator.self]

    /// The simulator of a configured provider, accepting that provider's credentials; nil for a
    /// kind without one.
    public static func simulator(for provider: ProviderConfiguration, state: SimulatorState = SimulatorState()) -> (any VendorSimulator)? {
        all.lazy.compactMap { $0.simulating(provider.vendor, state: state) }.first
    }
}
