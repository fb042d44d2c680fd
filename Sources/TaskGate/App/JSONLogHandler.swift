import Foundation
import Logging

/// swift-log output as one JSON object per line on stdout:
/// `{"time":"…","level":"info","message":"request","request_id":"…",…}`. Lines go through a
/// `LogSink`: `info` and below in its batches, `notice` and above written at once.
public struct JSONLogHandler: SinkLogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    let label: String
    public let sink: LogSink

    public init(label: String, sink: LogSink = .standardOutput) {
        self.label = label
        self.sink = sink
    }

    /// The line for one event, newline included.
    public func render(level: Logger.Level, message: Logger.Message, metadata extra: Logger.Metadata?) -> [UInt8] {
        var writer = JSONWriter(capacity: 256)
        writer.beginObject()
        writer.key("time")
        var time: [UInt8] = [UInt8(ascii: "\"")]
        var clock = LogTime()
        clock.write(into: &time)
        time.append(UInt8(ascii: "\""))
        writer.raw(time)
        writer.key("level")
        writer.string(level.rawValue)
        writer.key("logger")
        writer.string(label)
        writer.key("message")
        writer.string("\(message)")
        var merged = metadata
        if let extra { merged.merge(extra) { $1 } }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) where !["time", "level", "logger", "message"].contains(key) {
            writer.key(key)
            writer.string("\(value)")
        }
        writer.endObject()
        var line = writer.bytes
        line.append(UInt8(ascii: "\n"))
        return line
    }
}

/// A handler that renders each event as one line into a `LogSink`: `info` and below in its
/// batches, `notice` and above written at once, after the lines before them. JSON and text
/// differ only in `render`.
public protocol SinkLogHandler: LogHandler {
    var sink: LogSink { get }
    /// The line for one event, newline included.
    func render(level: Logger.Level, message: Logger.Message, metadata extra: Logger.Metadata?) -> [UInt8]
}

extension SinkLogHandler {
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let line = render(level: event.level, message: event.message, metadata: event.metadata)
        if event.level >= .notice {
            sink.flush(then: line)
        } else {
            sink.append(line: line)
        }
    }
}

extension Logger {
    /// Where this logger's lines are buffered: its `LogSink` when it writes taskgate's JSON lines
    /// (the access log renders straight into it), nil for any other handler.
    var logSink: LogSink? { (handler as? JSONLogHandler)?.sink }

    /// The sink of taskgate's own handlers (JSON or text).
    var anySink: LogSink? { (handler as? any SinkLogHandler)?.sink }

    /// taskgate's logger in the configured format and level.
    public static func taskgate(format: GatewayConfiguration.LogFormat, level: Logger.Level) -> Logger {
        var logger =
            switch format {
            case .json: Logger(label: "taskgate") { JSONLogHandler(label: $0) }
            case .text: Logger(label: "taskgate") { TextLogHandler(label: $0) }
            }
        logger.logLevel = level
        return logger
    }
}
