import NIOCore

/// The life of one HTTP/1 connection as the hot path sees it: requests read, answered here or
/// handed to Hummingbird (in flight), the idle timeout, and closing — after the last request of
/// a connection that does not stay open, or after a refused one. Every decision is made here, from
/// the events and the time it is given; ``HotPathHandler`` only carries out the actions it returns
/// (Hummingbird's `HTTPConnectionStateHandler.StateMachine` is the model).
struct ConnectionStateMachine {
    enum Phase: Equatable {
        /// Requests are read.
        case open
        /// No more requests are read: the last one did not keep the connection open, or one was
        /// refused. The answers under way are written, then the connection closes.
        case closing
    }

    /// What to do with a request head.
    enum HeadAction: Equatable {
        /// Bytes after the connection's last request: not a request of it.
        case ignore
        /// Write the refusal now and close.
        case refuseAndClose
        /// Keep the refusal until the answers in flight are written (``AnswerEndAction``).
        case refuseAfterAnswers
        /// No answer is under way: the hot path may answer; say which (``answeredHere()``,
        /// ``routed()``).
        case answerHereOrRoute
        /// Answers are under way: the request goes to Hummingbird, behind them.
        case route
    }

    /// What to do with the end of a request.
    enum EndAction: Equatable {
        case writeAnswerHere
        case forward
    }

    /// What to do with a request that could not be read (an HTTP parser error).
    enum UnreadableAction: Equatable {
        /// The connection was refused already: its later bytes are no request.
        case ignore
        /// Answer it here with a problem document and close.
        case answerAndClose
        /// Behind a request Hummingbird is answering: its own 400 keeps the answers in order.
        case forward
    }

    /// What to do once an answer from Hummingbird has been written to its end.
    enum AnswerEndAction: Equatable {
        case write
        case writeThenClose
        case writeThenRefuseAndClose
    }

    /// What to do when the idle timer fires.
    enum TimerAction: Equatable {
        case close
        case schedule(NIODeadline)
    }

    let idleTimeout: TimeAmount
    private(set) var phase = Phase.open
    /// Requests handed to Hummingbird whose answer has not been written yet.
    private(set) var inFlight = 0
    /// Whether a request head has arrived and its end not yet.
    private var reading = false
    /// Whether the request being read is answered here, once its end arrives.
    private var answeringHere = false
    /// Whether the connection closes once the answers under way are written.
    private var closesAfterAnswers = false
    /// A refusal waits behind the answers in flight.
    private var refusalPending = false
    private var lastActive: NIODeadline

    init(idleTimeout: TimeAmount, now: NIODeadline) {
        self.idleTimeout = idleTimeout
        self.lastActive = now
    }

    /// When the idle timer first fires.
    var firstDeadline: NIODeadline { lastActive + idleTimeout }

    /// A request head arrived; `refused` when its framing is refused (CONNECT, Host fields).
    mutating func headRead(refused: Bool, keepAlive: Bool, now: NIODeadline) -> HeadAction {
        guard phase == .open else { return .ignore }
        lastActive = now
        reading = true
        if refused {
            phase = .closing
            reading = false
            guard inFlight == 0 else {
                refusalPending = true
                return .refuseAfterAnswers
            }
            return .refuseAndClose
        }
        closesAfterAnswers = !keepAlive
        guard inFlight == 0 else {
            inFlight += 1
            return .route
        }
        return .answerHereOrRoute
    }

    /// The hot path wrote the answer to the request being read.
    mutating func answeredHere() { answeringHere = true }

    /// The request being read goes to Hummingbird.
    mutating func routed() { inFlight += 1 }

    /// Whether body bytes go on to Hummingbird (a request answered here has none worth reading).
    var forwardsBody: Bool { phase == .open && !answeringHere }

    /// The request's end arrived.
    mutating func endRead(now: NIODeadline) -> EndAction {
        lastActive = now
        reading = false
        // Nothing after a request that closes the connection is read.
        if closesAfterAnswers { phase = .closing }
        guard answeringHere else { return .forward }
        answeringHere = false
        return .writeAnswerHere
    }

    mutating func unreadableRequest() -> UnreadableAction {
        guard phase == .open else { return .ignore }
        guard inFlight == 0 else { return .forward }
        phase = .closing
        return .answerAndClose
    }

    /// Whether the answer head being written is the connection's last and says `Connection: close`.
    var answerHeadCloses: Bool { closesAfterAnswers && inFlight == 1 && !refusalPending }

    /// An answer from Hummingbird was written to its end.
    /// Floored at zero: an end the machine never saw routed must not make a later answer look
    /// like the connection's last.
    mutating func answerEndWritten(now: NIODeadline) -> AnswerEndAction {
        inFlight = max(0, inFlight - 1)
        lastActive = now
        guard inFlight == 0 else { return .write }
        if refusalPending {
            refusalPending = false
            return .writeThenRefuseAndClose
        }
        return closesAfterAnswers ? .writeThenClose : .write
    }

    /// The idle timer fired: close when no request has been completed for `idleTimeout` (an idle
    /// keep-alive connection, or a head sent too slowly), unless Hummingbird is still answering
    /// one read whole.
    func idleTimerFired(now: NIODeadline) -> TimerAction {
        if inFlight > 0, !reading { return .schedule(now + idleTimeout) }
        if now >= lastActive + idleTimeout { return .close }
        return .schedule(lastActive + idleTimeout)
    }
}
