import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import TaskGateSimulators
import Testing

@testable import TaskGate

/// The access log as deployed: lines rendered by hand into a `LogSink` batch, the same lines the
/// JSON log handler writes, in batches, bounded, and all written by `flush`.
@Suite(.timeLimit(.minutes(2))) struct AccessLogTests {
    /// A file the test reads back, and a sink writing to it that only writes a batch at 64 KiB
    /// or when flushed (its interval is an hour).
    final class SinkFile: Sendable {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("taskgate-log-\(UUID().uuidString)")
        let descriptor: Int32
        let sink: LogSink

        init(flushBytes: Int = 64 << 10, capacity: Int = 1 << 20) {
            descriptor = open(url.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            sink = LogSink(fileDescriptor: descriptor, flushBytes: flushBytes, flushInterval: .seconds(3600), capacity: capacity)
        }

        deinit {
            sink.close()
            close(descriptor)
            try? FileManager.default.removeItem(at: url)
        }

        var lines: [String] { ((try? String(contentsOf: url, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
        var size: Int { ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? Int) ?? 0 }
    }

    static func object(_ line: some Collection<UInt8>) throws -> [String: String] {
        try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: String])
    }

    @Test(arguments: [
        AccessLog.Line(
            requestID: .generated(RequestID(high: 0x0123_4567_89ab_cdef, low: 42)),
            method: .get,
            path: "/tasks/capmonster/91",
            status: .ok,
            bytes: 1234,
            elapsed: .microseconds(1520),
            cache: "HIT",
            client: "127.0.0.1",
            forwardedFor: nil
        ),
        AccessLog.Line(
            requestID: .text("caller \"quoted\""),
            method: HTTPRequest.Method("-")!,
            path: "/tasks/x/\u{1}\\\n",
            status: .notFound,
            bytes: 0,
            elapsed: .zero,
            cache: nil,
            client: "::1",
            forwardedFor: "203.0.113.7, 10.0.0.1"
        ),
    ])
    func handRenderedLinesAreTheLinesTheHandlerWrites(line: AccessLog.Line) throws {
        var rendered: [UInt8] = []
        var time = LogTime()
        line.render(label: "taskgate", into: &rendered, time: &time)
        let expected = JSONLogHandler(label: "taskgate").render(level: .info, message: "request", metadata: line.metadata)
        #expect(rendered.last == UInt8(ascii: "\n") && rendered.filter { $0 == UInt8(ascii: "\n") }.count == 1)
        var mine = try Self.object(rendered)
        var theirs = try Self.object(expected)
        #expect(mine.removeValue(forKey: "time") != nil && theirs.removeValue(forKey: "time") != nil)
        #expect(mine == theirs)
        #expect(mine["message"] == "request" && mine["level"] == "info")
        // Same keys in the same order: the handler sorts them.
        let keys = { (text: [UInt8]) in String(decoding: text, as: UTF8.self).split(separator: "\",\"").map { $0.prefix { $0 != "\"" } } }
        #expect(keys(rendered) == keys(expected))
    }

    /// The line's `duration_ms` is written by hand as `Double`'s description writes it (the
    /// handler's metadata path).
    @Test func durationsAreWrittenAsTheirDoubleDescription() {
        var samples: [Int64] = Array(0...2_000) + [9_999, 10_000, 10_001, 123_456, 1_000_000, 86_400_000_000, (1 << 50) - 1, 1 << 50]
        var generator = SystemRandomNumberGenerator()
        samples += (0..<2_000).map { _ in Int64.random(in: 0...(1 << 40), using: &generator) }
        for microseconds in samples {
            var line: [UInt8] = []
            AccessLog.Line.appendMilliseconds(microseconds: microseconds, to: &line)
            #expect(String(decoding: line, as: UTF8.self) == "\(Double(microseconds) / 1000)", "\(microseconds)")
        }
    }

    @Test func logTimeIsUTCWithMilliseconds() {
        var time = LogTime()
        let format = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)
        // Within one second (the prefix made once), across seconds, days and a year.
        for offset in [0.0, 0.001, 0.5, 0.999, 1.0, 59.25, 86_399.999, 86_400.0, 31_536_000.123] {
            let date = Date(timeIntervalSince1970: 1_795_910_400 + offset)
            var rendered: [UInt8] = []
            time.write(into: &rendered, now: date)
            #expect(String(decoding: rendered, as: UTF8.self) == date.formatted(format), "\(offset)")
        }
    }

    @Test func linesWaitForAFullBatchOrAFlush() throws {
        let file = SinkFile()
        for number in 0..<10 { file.sink.append { line, _ in line.append(contentsOf: "line \(number)\n".utf8) } }
        #expect(file.size == 0)
        file.sink.flush()
        #expect(file.lines == (0..<10).map { "line \($0)" })
    }

    @Test func aFullBatchIsWrittenWithoutAFlush() async throws {
        let file = SinkFile(flushBytes: 4096)
        let line = [UInt8](repeating: UInt8(ascii: "a"), count: 99) + [UInt8(ascii: "\n")]
        for _ in 0..<50 { file.sink.append { batch, _ in batch.append(contentsOf: line) } }
        #expect(await eventually { file.size >= 4096 })
        #expect(file.size % 100 == 0, "whole lines only")
    }

    @Test func aNoticeIsWrittenAtOnceAfterTheLinesBeforeIt() throws {
        let file = SinkFile()
        var logger = Logger(label: "taskgate") { JSONLogHandler(label: $0, sink: file.sink) }
        logger.logLevel = .info
        logger.info("first")
        logger.notice("second")
        #expect(try file.lines.map { try Self.object(Array($0.utf8))["message"] } == ["first", "second"])
    }

    /// Nobody reads the pipe: the writer blocks, the batch fills to its capacity, and later lines
    /// are dropped and counted. Every line is either written whole or counted.
    @Test func aBlockedOutputDropsAndCountsLinesInsteadOfGrowing() async throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        // Close-on-exec at once: a process another test starts meanwhile (the PostgreSQL cluster)
        // must not inherit the write end, or the read below never sees its end.
        for end in ends { #expect(fcntl(end, F_SETFD, FD_CLOEXEC) == 0) }
        let sink = LogSink(fileDescriptor: ends[1], flushBytes: 4096, flushInterval: .seconds(3600), capacity: 16 << 10)
        let line = [UInt8](repeating: UInt8(ascii: "b"), count: 99) + [UInt8(ascii: "\n")]
        let count = 20_000
        for _ in 0..<count { sink.append { batch, _ in batch.append(contentsOf: line) } }
        #expect(sink.droppedLines > 0)
        // Now read it all: what was held is written, and nothing else.
        let readEnd = ends[0]
        async let read = withCheckedContinuation { (done: CheckedContinuation<Data, Never>) in
            Thread { done.resume(returning: FileHandle(fileDescriptor: readEnd, closeOnDealloc: true).readDataToEndOfFile()) }.start()
        }
        sink.close()
        close(ends[1])
        let received = await read
        #expect(received.count % 100 == 0, "whole lines only")
        #expect(received.count / 100 + sink.droppedLines == count)
        #expect(received.count < 2 << 20, "at most the pipe, one batch being written and the capacity")
    }

    /// A deployed gateway's access lines — the router's (a miss) and the hot path's (a hit) —
    /// reach the log's sink.
    @Test func routerAndHotPathLinesReachTheSink() async throws {
        let file = SinkFile()
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey)) { sim in
            addTask(sim.state, id: "93", .state(.succeeded))
            let configuration = capMonsterConfiguration(endpoint: sim.endpoint, store: temporaryStorePath(), logLevel: .info)
            var logger = Logger(label: "taskgate") { JSONLogHandler(label: $0, sink: file.sink) }
            logger.logLevel = .info
            try await buildApplication(configuration, logger: logger).test(.live) { client in
                for _ in 0..<2 {
                    let response = try await client.get("/tasks/capmonster/93", [HTTPField.Name("X-Forwarded-For")!: "203.0.113.9"])
                    #expect(response.status == .ok)
                }
                let metrics = try await client.get("/metrics")
                #expect(metrics.text.contains("taskgate_log_lines_dropped_total 0"))
            }
        }
        file.sink.flush()
        let access = try file.lines.map { try Self.object(Array($0.utf8)) }.filter { $0["message"] == "request" }
        #expect(access.map { $0["cache"] } == ["MISS", "HIT", "-"])
        #expect(access.allSatisfy { $0["client"] == "127.0.0.1" && $0["method"] == "GET" && $0["status"] == "200" })
        #expect(access.prefix(2).allSatisfy { $0["path"] == "/tasks/capmonster/93" && $0["forwarded_for"] == "203.0.113.9" })
        #expect(Set(access.compactMap { $0["request_id"] }).count == 3)
    }
}
