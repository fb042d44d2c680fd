import Synchronization

/// Stops calling a vendor that keeps failing: after `threshold` failures in a row the circuit
/// opens and every call is refused at once (503 + Retry-After) for `openFor`; then one probe is
/// let through (half-open) and its outcome closes or reopens the circuit.
///
/// Failures are the vendor's own: timeouts, connection errors, 5xx, throttling, garbage. An
/// answer — even "not found" or "credentials refused" — shows the vendor is up and closes it.
final class CircuitBreaker: Sendable {
    enum State: Equatable, Sendable {
        case closed(failures: Int)
        case open(until: ContinuousClock.Instant)
        /// One probe is out; everyone else is refused until it returns.
        case halfOpen
    }

    /// What the breaker says about a call about to be made.
    enum Admission: Equatable {
        case admitted
        case probe
    }

    let provider: String
    let threshold: Int
    let openFor: Duration
    let clock: any GatewayClock
    private let state = Mutex(State.closed(failures: 0))
    /// Told of every state change (metrics, logs).
    private let onChange: @Sendable (State) -> Void

    /// - Parameter threshold: failures in a row that open the circuit; 0 turns the breaker off.
    init(provider: String, threshold: Int, openFor: Duration, clock: any GatewayClock, onChange: @escaping @Sendable (State) -> Void = { _ in }) {
        self.provider = provider
        self.threshold = threshold
        self.openFor = openFor
        self.clock = clock
        self.onChange = onChange
    }

    var current: State { state.withLock { $0 } }

    /// Lets a call through or refuses it.
    /// - Throws: `vendor-circuit-open` (503) with Retry-After while the circuit is open or a probe is out.
    func admit() throws(GatewayError) -> Admission {
        guard threshold > 0 else { return .admitted }
        let now = clock.now
        let (admission, changed, wait): (Admission?, Bool, Duration) = state.withLock { state in
            switch state {
            case .closed:
                return (.admitted, false, .zero)
            case .open(let until) where until <= now:
                state = .halfOpen
                return (.probe, true, .zero)
            case .open(let until):
                return (nil, false, until - now)
            case .halfOpen:
                return (nil, false, openFor)
            }
        }
        if changed { onChange(.halfOpen) }
        guard let admission else {
            throw GatewayError(
                .circuitOpen,
                "taskgate stopped calling this vendor after repeated failures; it will try again shortly.",
                provider: provider,
                retryAfter: max(1, Int((wait.seconds).rounded(.up)))
            )
        }
        return admission
    }

    /// The vendor answered (anything but a vendor-side failure).
    func recordSuccess() {
        guard threshold > 0 else { return }
        let changed = state.withLock { state -> Bool in
            let wasClosed = if case .closed = state { true } else { false }
            state = .closed(failures: 0)
            return !wasClosed
        }
        if changed { onChange(.closed(failures: 0)) }
    }

    /// The vendor failed (timeout, unreachable, 5xx, throttled, garbage).
    func recordFailure() {
        guard threshold > 0 else { return }
        let now = clock.now
        let opened: State? = state.withLock { state in
            switch state {
            case .closed(let failures) where failures + 1 < threshold:
                state = .closed(failures: failures + 1)
                return nil
            case .closed, .halfOpen:
                state = .open(until: now + openFor)
                return state
            case .open:
                return nil
            }
        }
        if let opened { onChange(opened) }
    }
}
