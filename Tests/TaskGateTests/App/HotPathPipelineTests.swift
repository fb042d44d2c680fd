import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import NIOHTTP1
import TaskGate
import TaskGateSimulators
import Testing

@testable import TaskGate

/// The hot path in the real pipeline: answers from it and from the router, interleaved on one
/// keep-alive connection, each whole and in order.
@Suite(.timeLimit(.minutes(2))) struct HotPathPipelineTests {
    @Test func hotAndRoutedAnswersShareAConnection() async throws {
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey)) { sim in
            addTask(sim.state, id: "702", .state(.succeeded, result: #"{"text":"live"}"#))
            let configuration = capMonsterConfiguration(endpoint: sim.endpoint, store: temporaryStorePath())
            try await buildApplication(configuration, logger: quietLogger).test(.live) { client in
                let path = "/tasks/capmonster/702"
                let gzip: HTTPFields = [.acceptEncoding: "gzip"]
                let missed = try await client.get(path, gzip)
                #expect(missed.headers[.xCache] == "MISS")
                let hit = try await client.get(path, gzip)
                #expect(hit.status == .ok)
                #expect(hit.headers[.xCache] == "HIT")
                #expect(hit.body == missed.body)
                #expect(hit.headers[.eTag] == missed.headers[.eTag])
                // identity: the router inflates once, then the hot path has the JSON too.
                for _ in 0..<2 {
                    let identity = try await client.get(path)
                    #expect(identity.headers[.contentEncoding] == nil)
                    #expect(try identity.json()["result"] as? [String: String] == ["text": "live"])
                }
                let etag = try #require(hit.headers[.eTag])
                let notModified = try await client.get(path, gzip + [HTTPField(name: .ifNoneMatch, value: etag)])
                #expect(notModified.status == .notModified)
                #expect(notModified.body.readableBytes == 0)
                let head = try await client.execute(uri: path, method: .head, headers: gzip) { $0 }
                #expect(head.status == .ok)
                #expect(head.body.readableBytes == 0)
                #expect(head.headers[.contentLength] == String(hit.body.readableBytes))
                let listing = try await client.get("/tasks")
                #expect(listing.status == .ok)
                let again = try await client.get(path, gzip + [HTTPField(name: .xRequestID, value: "after-listing")])
                #expect(again.body == missed.body)
                #expect(again.headers[.xRequestID] == "after-listing")
            }
            #expect(sim.state.calls(for: "702")["getTaskResult"] == 1)
        }
    }
}
