import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Testing

@testable import TaskGate

/// One server-sent event or comment as a WHATWG `EventSource` would see it.
struct ServerSentMessage: Equatable {
    var id: String?
    var event: String?
    var data: String?
    var comment: String?

    /// The event's JSON (`data:`), decoded.
    func json() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data((data ?? "").utf8)) as? [String: Any])
    }
}

/// Reads `GET /events` as server-sent events over a real connection, message by message,
/// parsing the stream the way the WHATWG specification says (lines, `field: value`, a blank line
/// ends a message, `:` starts a comment). Bounded: a stream that stops sending fails the read.
struct EventStreamClient {
    let status: Int
    let headers: [(String, String)]
    private var iterator: HTTPClientResponse.Body.AsyncIterator
    private var buffer: [UInt8] = []

    /// Each stream holds a connection: more than the shared client's eight per host.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 256
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// Opens a stream; `status` tells whether it was refused (then there is no stream to read).
    static func open(port: Int, path: String = "/events", headers: [(String, String)] = []) async throws -> EventStreamClient {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.headers.add(name: "accept", value: "text/event-stream")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await Self.client.execute(request, timeout: .seconds(60))
        return EventStreamClient(
            status: Int(response.status.code),
            headers: response.headers.map { ($0.name.lowercased(), $0.value) },
            iterator: response.body.makeAsyncIterator()
        )
    }

    func header(_ name: String) -> String? { headers.first { $0.0 == name.lowercased() }?.1 }

    /// The next message (event or comment); nil when the server ended the stream.
    mutating func next() async throws -> ServerSentMessage? {
        while true {
            if let end = Self.messageEnd(in: buffer) {
                let block = String(decoding: buffer[..<end.start], as: UTF8.self)
                buffer.removeFirst(end.next)
                return Self.parse(block)
            }
            guard let chunk = try await iterator.next() else { return nil }
            buffer.append(contentsOf: chunk.readableBytesView)
        }
    }

    /// The next event, skipping comments (heartbeats).
    mutating func nextEvent() async throws -> ServerSentMessage? {
        while let message = try await next() {
            if message.comment == nil { return message }
        }
        return nil
    }

    private static func messageEnd(in bytes: [UInt8]) -> (start: Int, next: Int)? {
        guard bytes.count >= 2 else { return nil }
        for index in 0..<(bytes.count - 1) where bytes[index] == 0x0A && bytes[index + 1] == 0x0A { return (index, index + 2) }
        return nil
    }

    private static func parse(_ block: String) -> ServerSentMessage {
        var message = ServerSentMessage()
        var data: [String] = []
        for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix(":") {
                message.comment = String(line.dropFirst()).trimmingCharacters(in: .whitespaces)
                continue
            }
            let parts = line.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            let field = String(parts[0])
            var value = parts.count > 1 ? String(parts[1]) : ""
            if value.hasPrefix(" ") { value.removeFirst() }
            switch field {
            case "id": message.id = value
            case "event": message.event = value
            case "data": data.append(value)
            default: break
            }
        }
        if !data.isEmpty { message.data = data.joined(separator: "\n") }
        return message
    }
}

/// A gateway served on a real socket and run by the test's own service group, so a test can
/// stop it gracefully (SIGTERM's path) while a stream is open.
struct LiveGateway: Sendable {
    let port: Int
    let parts: Gateway
    let group: ServiceGroup

    static func run<T: Sendable>(
        _ configuration: GatewayConfiguration,
        clock: any GatewayClock,
        _ body: @escaping @Sendable (LiveGateway) async throws -> T
    ) async throws -> T {
        let port = Shared<Int?>(nil)
        let parts = try buildGateway(configuration, logger: quietLogger, clock: clock) { channel in
            port.value = channel.localAddress?.port
        }
        let group = ServiceGroup(configuration: .init(services: [parts.application], logger: quietLogger))
        return try await withThrowingTaskGroup(of: T?.self) { tasks in
            tasks.addTask {
                try await group.run()
                return nil
            }
            tasks.addTask {
                guard await eventually({ port.value != nil }), let bound = port.value else { throw CancellationError() }
                do {
                    let result = try await body(LiveGateway(port: bound, parts: parts, group: group))
                    await group.triggerGracefulShutdown()
                    return result
                } catch {
                    await group.triggerGracefulShutdown()
                    throw error
                }
            }
            var result: T?
            for try await value in tasks { if let value { result = value } }
            return try #require(result)
        }
    }
}
