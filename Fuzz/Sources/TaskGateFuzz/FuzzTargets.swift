import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1

@testable import TaskGate

/// One libFuzzer binary for every parser of untrusted bytes; `TASKGATE_FUZZ_TARGET` names the
/// one a run exercises (`Fuzz/run` sets it; one build and one link serve them all). Besides not
/// trapping, each target checks what its parser promises.
enum FuzzTargets {
    static let all: [String: @Sendable (Data) -> Void] = [
        "request-target": requestTarget,
        "cursor": cursor,
        "event-query": eventQuery,
        "accept-encoding": { acceptEncoding(text($0)) },
        "range": range,
        "if-none-match": ifNoneMatch,
        "request-id": { requestID(text($0)) },
        "wait-duration": { waitDuration(text($0)) },
        "config": config,
        "aliyun-reply": aliyunReply,
        "tencent-reply": tencentReply,
        "capmonster-reply": capMonsterReply,
        "gzip": gzip,
        "link-expiry": linkExpiry,
        "json-writer": jsonWriter,
    ]

    static let selected: @Sendable (Data) -> Void = {
        let name = ProcessInfo.processInfo.environment["TASKGATE_FUZZ_TARGET"] ?? ""
        guard let target = all[name] else {
            FileHandle.standardError.write(Data("TASKGATE_FUZZ_TARGET must be one of: \(all.keys.sorted().joined(separator: ", "))\n".utf8))
            exit(2)
        }
        return target
    }()

    static func text(_ data: Data) -> String { String(decoding: data, as: UTF8.self) }

    static func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition {
            FileHandle.standardError.write(Data("fuzz check failed: \(message())\n".utf8))
            abort()
        }
    }

    static let logger: Logger = {
        var logger = Logger(label: "fuzz") { _ in SwiftLogNoOpLogHandler() }
        logger.logLevel = .critical
        return logger
    }()

    // MARK: - Callers' bytes

    /// A request target: the canonical-path rule, the hot path's split, and `/tasks`'s query.
    static func requestTarget(_ data: Data) {
        let target = text(data)
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        if RequestPath.isCanonical(path.utf8) {
            check(!path.contains("//") && !path.contains("%") && (path == "/" || !path.hasSuffix("/")), "canonical \(target)")
        }
        if let (provider, id) = HotPath.taskPath(target) {
            check(!provider.isEmpty && !id.isEmpty && !provider.contains("/") && !id.contains("/"), "task path \(target)")
        }
        let query = target.split(separator: "?", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
        let parameters = query.split(separator: "&").map { pair -> (String, String) in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }
        if let parsed = try? TaskQuery(
            parameters: parameters,
            configured: ["aliyun", "capmonster", "tencent"],
            cursorKey: cursorKey,
            vendorFilterNames: { _ in ["ApplicationName", "TaskId"] }
        ) {
            check(TaskQuery.limits.contains(parsed.limit) && !parsed.providers.isEmpty, "query \(target)")
        }
        _ = try? TaskQuery.checkNames(of: parameters, known: ["wait"])
    }

    static let cursorKey = CursorKey(bytes: Array(repeating: 7, count: 32))

    /// A cursor: forged ones are refused; a cursor sealed for any contents opens to them.
    static func cursor(_ data: Data) {
        let binding = "1:*9:aliyun,tencent"
        if let opened = try? cursorKey.open(text(data), binding: binding) {
            check(opened.providerIndex >= 0, "cursor index")
        }
        let token = data.isEmpty ? nil : text(data.dropFirst())
        let cursor = TaskCursor(providerIndex: Int(data.first ?? 0), token: token)
        let sealed = cursorKey.seal(cursor, binding: binding)
        check((try? cursorKey.open(sealed, binding: binding)) == cursor, "round trip")
        check((try? cursorKey.open(sealed, binding: binding + "x")) == nil, "bound to its query")
        if let token {
            _ = AliyunTaskList.Position(token: token)?.itemsThrough
        }
    }

    /// `GET /events`: the first line is `Last-Event-ID` (none when empty), the rest the query. A
    /// query that parses reads only configured providers the key covers, a position never
    /// negative; an event cursor opens to what was sealed and only as an event cursor.
    static func eventQuery(_ data: Data) {
        let input = text(data)
        let lines = input.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        let lastEventID = lines.first.flatMap { $0.isEmpty ? nil : String($0) }
        let parameters = (lines.count > 1 ? lines[1] : "").split(separator: "&").map { pair -> (String, String) in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }
        let configured = ["aliyun", "capmonster", "tencent"]
        let allowed: Set<String> = ["capmonster", "tencent"]
        if let query = try? EventController.query(
            parameters,
            lastEventID: lastEventID,
            keyName: "k",
            allowedProviders: allowed,
            configured: configured,
            cursorKey: cursorKey
        ) {
            check(EventFeed.limits.contains(query.limit), "event limit \(input)")
            check(query.providers.allSatisfy(allowed.contains), "event scope \(input)")
            if case .after(let position) = query.position { check(position >= 0, "event position \(input)") }
        }
        _ = EventController.wantsStream(input)
        let sequence = data.prefix(8).reduce(Int64(0)) { ($0 << 8) | Int64($1) } & Int64.max
        let sealed = EventCursor(sequence: sequence).sealed(with: cursorKey)
        check((try? EventCursor.open(sealed, with: cursorKey)) == EventCursor(sequence: sequence), "event cursor round trip")
        check((try? cursorKey.open(sealed, binding: "1:*9:aliyun,tencent")) == nil, "an event cursor is no list cursor")
        if let opened = try? EventCursor.open(input, with: cursorKey) { check(opened.sequence >= 0, "opened event cursor") }
    }

    static func acceptEncoding(_ header: String) {
        _ = AcceptEncoding.choose(header)
    }

    /// A `Range` header against a file size taken from the first bytes.
    static func range(_ data: Data) {
        let size = Int(data.prefix(2).reduce(0) { $0 << 8 | Int($1) })
        let header = text(data.dropFirst(2))
        if let range = try? ArtifactController.range(header, size: size) {
            check(range.lowerBound >= 0 && range.upperBound <= size && !range.isEmpty, "range \(header) of \(size)")
        }
    }

    static func ifNoneMatch(_ data: Data) {
        let header = text(data)
        let validator = Validator(of: Array("{}".utf8))
        _ = validator.isMatched(by: header, coding: .gzip)
        _ = EntityTag.ifNoneMatch(header, matches: validator.etag(for: .identity))
    }

    static func requestID(_ header: String) {
        if let kept = RequestPolicy.acceptableRequestID(header) {
            check(kept.utf8.allSatisfy { (0x21...0x7E).contains($0) } && kept.utf8.count <= 200, "request id")
        }
    }

    static func waitDuration(_ text: String) {
        if let wait = try? TaskController.wait(text, max: .seconds(60)) {
            check(wait >= .zero && wait <= .seconds(60), "wait \(text)")
        }
    }

    // MARK: - Configuration

    /// A configuration file's shape check, and sizes and durations as keys and the environment give them.
    static func config(_ data: Data) {
        let text = text(data)
        if let layout = try? ConfigLayout(yaml: text, file: "fuzz.yaml") {
            _ = try? layout.checkEnvironment(["PROVIDERS_A_TIMEOUT_X": "1", "AUTH_KEYS_K_PROVIDERS": text])
        }
        if let size = ConfigValues.size(text, range: 0...(64 << 30)) { check((0...(64 << 30)).contains(size), "size \(text)") }
        if let duration = ConfigValues.duration(text, range: 0...86_400) { check(duration <= .seconds(86_400), "duration \(text)") }
        _ = RedactedURL.text(text)
        _ = MirrorPolicy.isHostEntry(text)
    }

    // MARK: - Vendors' bytes

    static func response(_ data: Data) -> VendorHTTPClient.Response {
        // The first byte picks the HTTP status, so error paths are reached too.
        let statuses = [200, 200, 200, 400, 403, 404, 429, 500, 503]
        var headers = HTTPHeaders()
        headers.add(name: "Retry-After", value: String(data.count % 7))
        let status = statuses[Int(data.first ?? 0) % statuses.count]
        return VendorHTTPClient.Response(status: status, headers: headers, body: ByteBuffer(bytes: data.dropFirst()))
    }

    static func encode(_ record: TaskRecord) {
        guard let answer = try? EncodedAnswer(record: record), let identity = answer.bytes.identity else {
            check(false, "a record always encodes")
            return
        }
        check((try? JSONSerialization.jsonObject(with: Data(identity.readableBytesView))) != nil, "an answer is JSON")
        // The webhook body carries the answer as it is: one JSON document around it.
        guard answer.isFinal, let payload = try? TaskEvent.payload(for: answer) else { return }
        let event = try? JSONSerialization.jsonObject(with: Data(payload.readableBytesView)) as? [String: Any]
        check(event?["type"] as? String == "task.final" && event?["data"] is [String: Any], "a webhook payload is JSON around the answer")
    }

    static func aliyunReply(_ data: Data) {
        guard let reply = try? AliyunReply(response(data), provider: "aliyun", call: "GetTaskResult", logger: logger) else { return }
        if let record = try? AliyunReply.record(
            reply.body,
            provider: "aliyun",
            kind: "aliyun-multimediaai",
            id: "1",
            fetchedAt: Date(),
            requestID: nil
        ) {
            encode(record)
        }
        _ = AliyunReply.taskID(reply.body)
    }

    static func tencentReply(_ data: Data) {
        guard let reply = try? TencentReply(response(data), provider: "tencent", call: "DescribeTaskDetail", logger: logger) else { return }
        if let record = try? TencentReply.record(
            detail: reply.body,
            provider: "tencent",
            kind: "tencent-mps",
            id: "1",
            fetchedAt: Date(),
            requestID: reply.requestID
        ) {
            encode(record)
        }
    }

    static func capMonsterReply(_ data: Data) {
        if let record = try? CapMonsterReply.record(
            from: response(data),
            provider: "capmonster",
            kind: "capmonster",
            id: "1",
            fetchedAt: Date(),
            logger: logger
        ) {
            encode(record)
        }
    }

    /// A stored or vendor body that claims to be gzip: inflated within its bound or refused.
    static func gzip(_ data: Data) {
        if let inflated = try? Gzip.inflate(ByteBuffer(bytes: data), maxBytes: 1 << 20) {
            check(inflated.readableBytes <= 1 << 20, "inflate bound")
        }
    }

    static func linkExpiry(_ data: Data) {
        _ = LinkExpiry.expiry(of: text(data))
        _ = LinkExpiry.earliest(in: JSONFragment(parsing: data))
        _ = ArtifactMirror.links(in: JSONFragment(parsing: data))
    }

    // MARK: - Writers

    /// Any string through the JSON writer (answers, problems, webhook payloads) and the text log
    /// reads back as itself, and stays one line.
    static func jsonWriter(_ data: Data) {
        let value = text(data)
        var writer = JSONWriter()
        writer.beginObject()
        writer.key(value)
        writer.string(value)
        writer.endObject()
        let parsed = try? JSONSerialization.jsonObject(with: Data(writer.bytes)) as? [String: String]
        check(parsed == [value: value], "JSON round trip of \(value.debugDescription)")
        var line: [UInt8] = []
        TextLogHandler.appendValue(value, to: &line)
        check(!line.contains(UInt8(ascii: "\n")) && !line.contains(UInt8(ascii: "\r")), "one log line")
        let error = GatewayError(.vendorError, value, provider: "p", vendorCode: value)
        let body = error.problemBody(instance: value, requestID: "r", status: .badGateway)
        check((try? JSONSerialization.jsonObject(with: Data(body))) != nil, "problem body is JSON")
    }
}

/// One input, as libFuzzer calls it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    FuzzTargets.selected(start.map { Data(bytes: $0, count: count) } ?? Data())
    return 0
}

/// libFuzzer's driver: SwiftPM names an executable's entry `TaskGateFuzz_main` (and points `main`
/// at it, over libFuzzer's own), so the entry hands the command line to libFuzzer.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@_cdecl("TaskGateFuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments) { start, size in fuzzOne(start, size) }
}
