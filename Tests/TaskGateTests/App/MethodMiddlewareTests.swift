import CompressNIO
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import TaskGate
import TaskGateSimulators
import Testing

/// Methods: GET and HEAD only, 405 with Allow for the rest.
@Suite(.timeLimit(.minutes(2))) struct MethodMiddlewareTests {
    @Test func otherMethodsAre405WithAllowAndHeadIsGetWithoutABody() async throws {
        try await withCapMonsterGateway { client, sim in
            addTask(sim.state, id: "68", .state(.succeeded))
            for (method, path) in [(HTTPRequest.Method.post, "/tasks/capmonster/68"), (.delete, "/tasks"), (.put, "/healthz")] {
                let response = try await client.execute(uri: path, method: method) { $0 }
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "GET, HEAD")
                #expect(try response.json()["type"] as? String == "urn:taskgate:problem:method-not-allowed")
            }
            #expect(sim.state.totalCalls == 0)
            let head = try await client.execute(uri: "/tasks/capmonster/68", method: .head) { $0 }
            #expect(head.status == .ok)
            #expect(head.body.readableBytes == 0)
            #expect(head.headers[.eTag] != nil)
            #expect(try await client.execute(uri: "/elsewhere", method: .post) { $0 }.status == .notFound)
        }
    }
}
