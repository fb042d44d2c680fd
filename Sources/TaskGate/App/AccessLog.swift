import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The access log line and HTTP metrics of one request, the same for the router and the hot path.
///
/// Behind taskgate's own JSON log handler, the line is rendered by hand straight into the
/// handler's `LogSink` batch — the same line the handler would write, without the per-line
/// metadata dictionary, sorting and date formatting. Behind any other handler (text format, a
/// test's recorder) it goes through the logger as a `request` event.
struct AccessLog: Sendable {
    /// The fields of one line.
    struct Line {
        enum RequestIDValue {
            case text(String)
            case generated(RequestID)
        }

        var requestID: RequestIDValue
        var method: HTTPRequest.Method
        var path: String
        var status: HTTPResponse.Status
        var bytes: Int
        var elapsed: Duration
        var cache: String?
        /// The caller's address (`ipAddress`).
        var client: String?
        var forwardedFor: String?
        /// The request's span, when it is traced (sampled).
        var trace: TraceIDs? = nil
    }

    private let enabled: Bool
    private let sink: LogSink?
    private let label: String

    init(logger: Logger) {
        enabled = logger.logLevel <= .info
        sink = logger.logSink
        label = logger.label
    }

    func record(_ line: Line, route: GatewayMetrics.RouteMetrics, logger: Logger) {
        route.record(status: Int(line.status.code), duration: line.elapsed)
        guard enabled else { return }
        guard let sink else {
            logger.info("request", metadata: line.metadata)
            return
        }
        sink.append { batch, time in line.render(label: label, into: &batch, time: &time) }
    }
}

extension AccessLog.Line {
    /// The line as `JSONLogHandler` renders it: time, level, logger, message, then the fields in
    /// key order, every value a string.
    func render(label: String, into line: inout [UInt8], time: inout LogTime, now: Date = Date()) {
        line.append(contentsOf: #"{"time":""#.utf8)
        time.write(into: &line, now: now)
        line.append(contentsOf: #"","level":"info","logger":"#.utf8)
        JSONWriter.appendQuoted(label, to: &line)
        line.append(contentsOf: #","message":"request","bytes":""#.utf8)
        Self.appendDecimal(bytes, to: &line)
        line.append(contentsOf: #"","cache":"#.utf8)
        JSONWriter.appendQuoted(cache ?? "-", to: &line)
        line.append(contentsOf: #","client":"#.utf8)
        JSONWriter.appendQuoted(client ?? "-", to: &line)
        line.append(contentsOf: #","duration_ms":""#.utf8)
        Self.appendMilliseconds(microseconds: elapsed.nanoseconds / 1000, to: &line)
        line.append(contentsOf: #"","forwarded_for":"#.utf8)
        JSONWriter.appendQuoted(forwardedFor ?? "-", to: &line)
        line.append(contentsOf: #","method":"#.utf8)
        JSONWriter.appendQuoted(method.rawValue, to: &line)
        line.append(contentsOf: #","path":"#.utf8)
        JSONWriter.appendQuoted(path, to: &line)
        line.append(contentsOf: #","request_id":"#.utf8)
        switch requestID {
        case .text(let text): JSONWriter.appendQuoted(text, to: &line)
        case .generated(let id):
            line.append(UInt8(ascii: "\""))
            id.write(into: &line)
            line.append(UInt8(ascii: "\""))
        }
        if let trace {
            line.append(contentsOf: #","span_id":"#.utf8)
            JSONWriter.appendQuoted(trace.spanID, to: &line)
        }
        line.append(contentsOf: #","status":""#.utf8)
        Self.appendDecimal(Int(status.code), to: &line)
        if let trace {
            line.append(contentsOf: #"","trace_id":"#.utf8)
            JSONWriter.appendQuoted(trace.traceID, to: &line)
            line.append(contentsOf: "}\n".utf8)
        } else {
            line.append(contentsOf: "\"}\n".utf8)
        }
    }

    /// The fields as logger metadata, for log handlers other than taskgate's JSON one.
    var metadata: Logger.Metadata {
        let requestID: String =
            switch self.requestID {
            case .text(let text): text
            case .generated(let id): id.text
            }
        var metadata: Logger.Metadata = [
            "request_id": .string(requestID),
            "method": .string(method.rawValue),
            "path": .string(path),
            "status": .stringConvertible(status.code),
            "bytes": .stringConvertible(bytes),
            "duration_ms": .stringConvertible(durationMilliseconds),
            "cache": .string(cache ?? "-"),
            "client": .string(client ?? "-"),
            "forwarded_for": .string(forwardedFor ?? "-"),
        ]
        if let trace {
            metadata["trace_id"] = .string(trace.traceID)
            metadata["span_id"] = .string(trace.spanID)
        }
        return metadata
    }

    /// Milliseconds to the microsecond.
    private var durationMilliseconds: Double { Double(elapsed.nanoseconds / 1000) / 1000 }

    /// `microseconds` as milliseconds, written as `Double`'s description writes them (`1.52`,
    /// `0.0`, `12.0`) without making a `Double` and a `String` per line.
    static func appendMilliseconds(microseconds: Int64, to line: inout [UInt8]) {
        guard microseconds >= 0, microseconds < 1 << 50 else {
            line.append(contentsOf: "\(Double(microseconds) / 1000)".utf8)
            return
        }
        appendDecimal(Int(microseconds / 1000), to: &line)
        line.append(UInt8(ascii: "."))
        var fraction = Int(microseconds % 1000)
        guard fraction > 0 else {
            line.append(UInt8(ascii: "0"))
            return
        }
        var divisor = 100
        while fraction > 0 {
            line.append(UInt8(ascii: "0") + UInt8(fraction / divisor))
            fraction %= divisor
            divisor /= 10
        }
    }

    private static func appendDecimal(_ value: Int, to line: inout [UInt8]) {
        guard value >= 10 || value < 0 else {
            line.append(UInt8(ascii: "0") + UInt8(value))
            return
        }
        guard value > 0 else {
            line.append(contentsOf: "\(value)".utf8)
            return
        }
        var divisor = 1
        while divisor <= value / 10 { divisor *= 10 }
        while divisor > 0 {
            line.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
            divisor /= 10
        }
    }
}
