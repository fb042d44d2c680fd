import Testing

@testable import TaskGate

/// A `traceparent` read back from a task's row or an injected header: the W3C form or nothing.
struct TraceIDsTests {
    @Test func theW3CFormGivesItsIDs() throws {
        let ids = try #require(TraceIDs(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
        #expect(ids.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(ids.spanID == "00f067aa0ba902b7")
    }

    @Test(arguments: [
        "", "-", "---", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
        "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e473é-00f067aa0ba902b7-01",
    ])
    func anythingElseIsNothing(text: String) {
        #expect(TraceIDs(traceparent: text) == nil)
    }
}
