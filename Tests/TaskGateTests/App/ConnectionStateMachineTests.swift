import NIOCore
import Testing

@testable import TaskGate

/// The hot path's connection, alone: every decision of `HotPathHandler` from events and times.
struct ConnectionStateMachineTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
    let timeout = TimeAmount.seconds(30)

    func machine() -> ConnectionStateMachine { ConnectionStateMachine(idleTimeout: timeout, now: start) }

    @Test func anIdleConnectionClosesAfterTheTimeout() {
        let state = machine()
        #expect(state.firstDeadline == start + timeout)
        #expect(state.idleTimerFired(now: start + .seconds(29)) == .schedule(start + timeout))
        #expect(state.idleTimerFired(now: start + timeout) == .close)
    }

    @Test func aRequestAnsweredHereKeepsTheConnectionAliveFromItsEnd() {
        var state = machine()
        #expect(state.headRead(refused: false, keepAlive: true, now: start + .seconds(10)) == .answerHereOrRoute)
        state.answeredHere()
        #expect(!state.forwardsBody)
        #expect(state.endRead(now: start + .seconds(12)) == .writeAnswerHere)
        #expect(state.phase == .open)
        #expect(state.idleTimerFired(now: start + timeout) == .schedule(start + .seconds(42)))
        #expect(state.idleTimerFired(now: start + .seconds(42)) == .close)
    }

    /// An answer end with nothing routed (it cannot happen today) leaves the count at zero, so
    /// the next routed answer is still the one that closes a `Connection: close` exchange.
    @Test func anUnmatchedAnswerEndDoesNotUnbalanceTheCount() {
        var state = machine()
        #expect(state.answerEndWritten(now: start) == .write)
        #expect(state.inFlight == 0)
        #expect(state.headRead(refused: false, keepAlive: false, now: start) == .answerHereOrRoute)
        state.routed()
        #expect(state.answerHeadCloses)
        #expect(state.answerEndWritten(now: start) == .writeThenClose)
    }

    @Test func aSlowHeadIsClosedAtTheTimeout() {
        var state = machine()
        #expect(state.headRead(refused: false, keepAlive: true, now: start + .seconds(2)) == .answerHereOrRoute)
        state.routed()
        // The request is still being read: its head's time counts, not the answer under way.
        #expect(state.idleTimerFired(now: start + .seconds(32)) == .close)
    }

    @Test func aRequestHummingbirdIsAnsweringIsNotIdle() {
        var state = machine()
        _ = state.headRead(refused: false, keepAlive: true, now: start)
        state.routed()
        #expect(state.endRead(now: start) == .forward)
        #expect(state.idleTimerFired(now: start + .seconds(100)) == .schedule(start + .seconds(130)))
        #expect(state.answerEndWritten(now: start + .seconds(101)) == .write)
        #expect(state.idleTimerFired(now: start + .seconds(130)) == .schedule(start + .seconds(131)))
        #expect(state.idleTimerFired(now: start + .seconds(131)) == .close)
    }

    @Test func requestsBehindAnAnswerUnderWayGoToTheRouterInOrder() {
        var state = machine()
        #expect(state.headRead(refused: false, keepAlive: true, now: start) == .answerHereOrRoute)
        state.routed()
        _ = state.endRead(now: start)
        #expect(state.headRead(refused: false, keepAlive: true, now: start) == .route)
        #expect(state.forwardsBody)
        #expect(state.endRead(now: start) == .forward)
        #expect(state.inFlight == 2)
        #expect(state.answerEndWritten(now: start) == .write)
        #expect(state.answerEndWritten(now: start) == .write)
        #expect(state.inFlight == 0)
    }

    @Test func aRequestThatDoesNotKeepTheConnectionClosesItAfterItsAnswer() {
        var state = machine()
        #expect(state.headRead(refused: false, keepAlive: false, now: start) == .answerHereOrRoute)
        state.routed()
        #expect(state.answerHeadCloses)
        #expect(state.endRead(now: start) == .forward)
        #expect(state.phase == .closing)
        // Nothing after it is read.
        #expect(state.headRead(refused: false, keepAlive: true, now: start) == .ignore)
        #expect(!state.forwardsBody)
        #expect(state.unreadableRequest() == .ignore)
        #expect(state.answerEndWritten(now: start) == .writeThenClose)
    }

    @Test func aRefusalIsWrittenAtOnceOrBehindTheAnswersInFlight() {
        var alone = machine()
        #expect(alone.headRead(refused: true, keepAlive: true, now: start) == .refuseAndClose)
        #expect(alone.headRead(refused: false, keepAlive: true, now: start) == .ignore)

        var behind = machine()
        _ = behind.headRead(refused: false, keepAlive: true, now: start)
        behind.routed()
        _ = behind.endRead(now: start)
        #expect(behind.headRead(refused: true, keepAlive: true, now: start) == .refuseAfterAnswers)
        // The answer before it does not say close: the refusal after it does.
        #expect(!behind.answerHeadCloses)
        #expect(behind.answerEndWritten(now: start) == .writeThenRefuseAndClose)
    }

    @Test func anUnreadableRequestIsAnsweredHereUnlessOneIsInFlight() {
        var alone = machine()
        #expect(alone.unreadableRequest() == .answerAndClose)
        #expect(alone.unreadableRequest() == .ignore)

        var behind = machine()
        _ = behind.headRead(refused: false, keepAlive: true, now: start)
        behind.routed()
        #expect(behind.unreadableRequest() == .forward)
    }
}
