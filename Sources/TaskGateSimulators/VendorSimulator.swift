import Hummingbird

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
