import Foundation
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A plain TCP connection to 127.0.0.1 that sends bytes exactly as written — what an attacker's
/// socket does, and what an HTTP client library would tidy up (`//`, `%2F`, two Host fields,
/// CONNECT, HTTP/1.0). Blocking reads bounded by a receive timeout, so a hung server fails the
/// test instead of hanging it; the bound is a safety net, never what a test asserts. Every blocking
/// call runs on NIO's thread pool, never on the (two-thread) cooperative pool the gateway's own
/// handlers need.
final class RawHTTPConnection: @unchecked Sendable {  // used by one task at a time
    private let socket: Int32
    private var pending: [UInt8] = []

    struct Answer {
        var status: Int
        var head: String
        var body: [UInt8]

        func header(_ name: String) -> String? {
            for line in head.split(separator: "\r\n").dropFirst() {
                let parts = line.split(separator: ":", maxSplits: 1)
                if parts.count == 2, parts[0].lowercased() == name.lowercased() {
                    return parts[1].trimmingCharacters(in: .whitespaces)
                }
            }
            return nil
        }

        var text: String { String(decoding: body, as: UTF8.self) }
    }

    static func open(port: Int) async throws -> RawHTTPConnection {
        try await Self.blockingReads.runIfActive { try RawHTTPConnection(port: port) }
    }

    private init(port: Int) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw POSIXError(.EBADF) }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(socket)
            throw POSIXError(.ECONNREFUSED)
        }
    }

    deinit { close(socket) }

    /// Threads of its own for the blocking reads (each may wait out its receive timeout): on
    /// NIO's shared pool they would hold up the gateway's own blocking work (the mirror's name
    /// lookups) in tests running beside them.
    static let blockingReads: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 16)
        pool.start()
        return pool
    }()

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { return }
            sent += count
        }
    }

    private enum Read { case bytes, endOfStream, failed }

    /// More bytes from the socket: the end of stream (the server closed), or a failure (the
    /// safety timeout among them) are told apart.
    private func read() -> Read {
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        let count = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
        if count == 0 { return .endOfStream }
        guard count > 0 else { return .failed }
        pending += chunk[..<count]
        return .bytes
    }

    private func fill() -> Bool { read() == .bytes }

    /// Reads one answer: its head, then a `Content-Length` body (none for HEAD, 1xx, 204, 304).
    func readAnswer(bodyExpected: Bool = true) async throws -> Answer? {
        try await Self.blockingReads.runIfActive { self.readAnswerNow(bodyExpected: bodyExpected) }
    }

    private func readAnswerNow(bodyExpected: Bool) -> Answer? {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        var end: Int?
        while end == nil {
            if pending.count >= 4 {
                end = (0...(pending.count - 4)).first { pending[$0..<($0 + 4)].elementsEqual(separator) }
            }
            if end == nil, !fill() { return nil }
        }
        let head = String(decoding: pending[..<end!], as: UTF8.self)
        pending.removeFirst(end! + 4)
        let statusLine = head.split(separator: "\r\n").first ?? ""
        let status = statusLine.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        var answer = Answer(status: status, head: head, body: [])
        let length = bodyExpected && status != 304 && status != 204 ? answer.header("Content-Length").flatMap(Int.init) ?? 0 : 0
        while pending.count < length {
            guard fill() else { return nil }
        }
        answer.body = Array(pending[..<length])
        pending.removeFirst(length)
        return answer
    }

    /// Whether the server closes the connection (end of stream) with nothing more to read.
    func isClosedByServer() async throws -> Bool {
        try await Self.blockingReads.runIfActive { self.pending.isEmpty && self.read() == .endOfStream }
    }

    /// Sends one request and reads its answer on a new connection.
    static func exchange(port: Int, _ request: String) async throws -> Answer? {
        let connection = try await open(port: port)
        connection.send(request)
        return try await connection.readAnswer(bodyExpected: !request.hasPrefix("HEAD "))
    }
}
