import AsyncHTTPClient
import Foundation
import NIOCore
import TaskGateSimulators
import Testing

@testable import TaskGate

/// The shared tail: one store read for every stream of a process, frames made once, filtered per
/// stream; a stream behind its window is sent to the store.
@Suite(.timeLimit(.minutes(2))) struct FeedTailTests {
    static func save(_ id: String, provider: String, in store: any TaskStore) async throws {
        var answer = try TaskStoreContractTests.answer(id, .succeeded)
        answer.provider = provider
        #expect(try await store.save(answer, event: try TaskEvent.final(answer, receivers: [])))
    }

    @Test func theWindowHoldsWhatCameAfterItsFirstReadFilteredPerStream() async throws {
        try await withStore(at: temporaryStorePath()) { store in
            try await Self.save("1", provider: "p", in: store)
            let tail = FeedTail(log: store, cursorKeys: CursorKeyring(store: store, configuredSecret: nil), providers: ["p", "q"])
            #expect(tail.frames(after: 1, of: ["p"]) == nil)  // nothing read yet
            #expect(await tail.refresh())
            try await Self.save("2", provider: "q", in: store)
            try await Self.save("3", provider: "p", in: store)
            #expect(await tail.refresh())
            let taken = try #require(tail.frames(after: 1, of: ["p"]))
            #expect(taken.next == 3)
            #expect(taken.frames.map { String(buffer: $0) }.allSatisfy { $0.hasPrefix("id: ") && $0.hasSuffix("\n\n") })
            #expect(taken.frames.count == 1 && String(buffer: taken.frames[0]).contains(TaskEvent.id(provider: "p", taskID: "3")))
            #expect(tail.frames(after: 1, of: ["p", "q"])?.frames.count == 2)
            #expect(tail.frames(after: 3, of: ["p"])?.frames.isEmpty == true)
            // Before the window (event 1 came before the first read) or past it: the store's.
            #expect(tail.frames(after: 0, of: ["p"]) == nil)
            #expect(tail.frames(after: 4, of: ["p"]) == nil)
        }
    }

    /// Twenty streams woken by one event: the store is read for them about once, not twenty times.
    @Test func streamsWokenTogetherShareOneStoreRead() async throws {
        try await EventStreamTests.withLiveFeed { gateway, sim in
            var streams: [EventStreamClient] = []
            for _ in 0..<20 { streams.append(try await EventStreamClient.open(port: gateway.port, path: "/events?after=now")) }
            try await EventStreamTests.finish(["851"], port: gateway.port, sim)
            for index in streams.indices { #expect(try EventStreamTests.taskID(try await streams[index].nextEvent()) == "851") }
            let reads = { Self.readCount(gateway.parts.metrics) }
            let before = reads()
            try await EventStreamTests.finish(["852"], port: gateway.port, sim)
            for index in streams.indices { #expect(try EventStreamTests.taskID(try await streams[index].nextEvent()) == "852") }
            // The task's own answer reads the store once or twice; the streams, about once.
            #expect(reads() - before <= 5, "\(reads() - before) store reads")
        }
    }

    static func readCount(_ metrics: GatewayMetrics) -> Int {
        let text = String(decoding: metrics.render(), as: UTF8.self)
        let line = text.split(separator: "\n").first { $0.hasPrefix(#"taskgate_store_operation_duration_seconds_count{operation="read"}"#) }
        return line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
    }
}
