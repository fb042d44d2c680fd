import Foundation
import Logging

/// swift-log output as logfmt text lines on stdout (`log_format: text`):
/// `time=… level=info logger=taskgate msg=request path=/tasks status=200`. Every value that is
/// empty or holds a space, `=`, a quote, a backslash, a control character or a byte outside
/// ASCII is quoted with those escaped, so no value — a vendor's error code, an
/// `X-Forwarded-For` — can add a field or a line. Lines go through a `LogSink` as JSON lines do.
public struct TextLogHandler: SinkLogHandler {
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
        var line: [UInt8] = Array("time=".utf8)
        var clock = LogTime()
        clock.write(into: &line)
        Self.append(field: "level", level.rawValue, to: &line)
        Self.append(field: "logger", label, to: &line)
        Self.append(field: "msg", "\(message)", to: &line)
        var merged = metadata
        if let extra { merged.merge(extra) { $1 } }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) where !["time", "level", "logger", "msg"].contains(key) {
            Self.append(field: key, "\(value)", to: &line)
        }
        line.append(UInt8(ascii: "\n"))
        return line
    }

    static func append(field key: String, _ value: String, to line: inout [UInt8]) {
        line.append(UInt8(ascii: " "))
        appendValue(key, to: &line)
        line.append(UInt8(ascii: "="))
        appendValue(value, to: &line)
    }

    /// `value` bare when it is plain, else quoted with `"`, `\`, and control and non-ASCII bytes
    /// escaped (`\n`, `\u00XX`, `\xXX`).
    static func appendValue(_ value: String, to line: inout [UInt8]) {
        let plain =
            !value.isEmpty
            && value.utf8.allSatisfy { (0x21...0x7E).contains($0) && $0 != UInt8(ascii: "=") && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
        guard !plain else {
            line.append(contentsOf: value.utf8)
            return
        }
        let hex = Array("0123456789abcdef".utf8)
        line.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): line += [UInt8(ascii: "\\"), byte]
            case UInt8(ascii: "\n"): line += Array("\\n".utf8)
            case UInt8(ascii: "\r"): line += Array("\\r".utf8)
            case UInt8(ascii: "\t"): line += Array("\\t".utf8)
            case 0x20...0x7E: line.append(byte)
            default: line += [UInt8(ascii: "\\"), UInt8(ascii: "x"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            }
        }
        line.append(UInt8(ascii: "\""))
    }
}
