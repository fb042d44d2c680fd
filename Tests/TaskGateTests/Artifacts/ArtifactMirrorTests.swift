import AsyncHTTPClient
import CompressNIO
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import ServiceLifecycle
import TaskGateSimulators
import Testing

@testable import TaskGate

/// `mirror: true`: the files a final answer links to are kept in the store and served by taskgate,
/// long after the vendor's signed links have died. Through the Alibaba simulator (its result file
/// behind an OSS V1 link) and, for what a vendor's storage does not do (redirects, the same file at
/// two addresses), a small origin server of the test's own.
@Suite(.timeLimit(.minutes(2))) struct ArtifactMirrorTests {
    /// Mirroring from the simulator, which listens on 127.0.0.1: that host listed by itself.
    static func mirroring(maxBytes: Int = 16 << 20, hosts: [String] = ["127.0.0.1"]) -> @Sendable (inout ProviderConfiguration) -> Void {
        { $0.mirror = MirrorPolicy(enabled: true, maxBytes: maxBytes, hosts: hosts) }
    }

    static func artifacts(_ response: TestResponse) throws -> [[String: Any]] {
        try #require(try response.json()["artifacts"] as? [[String: Any]])
    }

    static func sha256(_ bytes: [UInt8]) -> String { SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined() }

    @Test func aLinkedFileIsKeptByteForByteAndServedAfterItsLinkDied() async throws {
        let clock = ManualClock(skipsWaits: true)
        try await withAliyunGateway(configure: Self.mirroring(), clock: clock) { client, sim in
            addTask(sim.state, id: "600001", .state(.succeeded, seconds: 4000), .gone)
            let file = AliyunSimulator.resultFileBody(taskID: "600001", bytes: 2048)
            let answer = try await client.get("/tasks/aliyun/600001")
            let listed = try Self.artifacts(answer)
            #expect(listed.count == 1)
            let artifact = try #require(listed.first)
            #expect(artifact["href"] as? String == "/tasks/aliyun/600001/artifacts/0")
            #expect(artifact["source"] as? String == "\(sim.endpoint)/processResult/600001/result.json")
            #expect(artifact["bytes"] as? Int == file.count)
            #expect(artifact["sha256"] as? String == Self.sha256(file))
            #expect(artifact["contentType"] as? String == "application/json")
            #expect(sim.state.calls(for: "600001")["GetObject"] == 1)

            // The vendor forgot the task and its link expired: the file is still here.
            clock.advance(by: .seconds(5000))
            let served = try await client.get("/tasks/aliyun/600001/artifacts/0")
            #expect(served.status == .ok)
            #expect(Array(served.body.readableBytesView) == file)
            #expect(served.headers[.contentType] == "application/json")
            #expect(served.headers[.eTag] == "\"\(Self.sha256(file))\"")
            #expect(served.headers[.cacheControl] == "public, max-age=31536000, immutable")
            #expect(served.headers[.acceptRanges] == "bytes")
            let gzipped = try await client.get("/tasks/aliyun/600001/artifacts/0", [.acceptEncoding: "gzip"])
            #expect(gzipped.headers[.contentEncoding] == "gzip")
            #expect(gzipped.headers[.eTag] == "\"\(Self.sha256(file))-gzip\"")
            #expect(gzipped.body.readableBytes < file.count)
            var inflated = gzipped.body
            #expect(Array(try inflated.decompress(with: .gzip()).readableBytesView) == file)
            let head = try await client.execute(uri: "/tasks/aliyun/600001/artifacts/0", method: .head) { $0 }
            #expect(head.status == .ok && head.body.readableBytes == 0)
            #expect(head.headers[.contentLength] == String(file.count))
            let revalidated = try await client.get("/tasks/aliyun/600001/artifacts/0", [.ifNoneMatch: "\"\(Self.sha256(file))\""])
            #expect(revalidated.status == .notModified)
            #expect(try await client.get("/tasks/aliyun/600001/artifacts/1").status == .notFound)
            #expect(try await client.get("/tasks/aliyun/600001/artifacts/x").status == .notFound)
            #expect(try await client.get("/tasks/aliyun/999/artifacts/0").status == .notFound)
            let metrics = try await client.get("/metrics").text
            #expect(metrics.contains("taskgate_artifacts 1"))
            #expect(metrics.contains("taskgate_artifact_bytes \(file.count)"))
            #expect(metrics.contains(#"taskgate_mirror_downloads_total{provider="aliyun",outcome="kept"} 1"#))
        }
    }

    @Test(
        arguments: [
            ("bytes=0-99", 206, "bytes 0-99/2048", 0..<100),
            ("bytes=2000-", 206, "bytes 2000-2047/2048", 2000..<2048),
            ("bytes=-48", 206, "bytes 2000-2047/2048", 2000..<2048),
            ("bytes=100-99999", 206, "bytes 100-2047/2048", 100..<2048),
            ("bytes=0-1,5-6", 200, nil, 0..<2048),  // several ranges: the whole file
            ("bytes=2048-", 416, "bytes */2048", nil),
        ] as [(String, Int, String?, Range<Int>?)]
    )
    func oneRange(header: String, status: Int, contentRange: String?, slice: Range<Int>?) async throws {
        try await withAliyunGateway(configure: Self.mirroring()) { client, sim in
            sim.state.add(SimulatedTask(id: "600002", steps: [.state(.succeeded)], createdAt: sim.state.clock.date))
            let file = AliyunSimulator.resultFileBody(taskID: "600002", bytes: 2048)
            #expect(file.count == 2048)
            _ = try await client.get("/tasks/aliyun/600002")
            let response = try await client.get("/tasks/aliyun/600002/artifacts/0", [.range: header, .acceptEncoding: "gzip"])
            #expect(Int(response.status.code) == status)
            #expect(response.headers[.contentRange] == contentRange)
            if let slice {
                #expect(response.headers[.contentEncoding] == (status == 206 ? nil : "gzip"))
                if status == 206 { #expect(Array(response.body.readableBytesView) == Array(file[slice])) }
            } else {
                #expect(try response.json()["type"] as? String == "urn:taskgate:problem:range-not-satisfiable")
            }
        }
    }

    /// The default `mirror_hosts` are the vendor's storage: the simulator on 127.0.0.1 is not
    /// under them, nor is a cloud metadata address; a domain entry does not let its names be
    /// internal addresses.
    @Test(
        arguments: [
            ([".aliyuncs.com"], "", "host not under mirror_hosts"),
            ([".aliyuncs.com", "169.254.169.254"], "http://169.254.169.254/latest/meta-data/iam/security-credentials/", "HTTP"),
            ([".aliyuncs.com"], "http://169.254.169.254/latest/meta-data/iam/security-credentials/", "host not under mirror_hosts"),
            ([".0.0.1"], "", "an internal address"),
            (["127.0.0.1"], "file:///etc/passwd", nil),
        ] as [([String], String, String?)]
    )
    func linksOutsideTheRulesAreRefusedAndLogged(hosts: [String], link: String, reason: String?) async throws {
        let logs = LogRecorder()
        try await withAliyunGateway(configure: Self.mirroring(hosts: hosts), logs: logs) { client, sim in
            // The simulator's own signed link, or the one given.
            let step: SimulatedTask.Step = link.isEmpty ? .state(.succeeded) : .state(.succeeded, result: #"{"ProcessResultUrl":"\#(link)"}"#)
            addTask(sim.state, id: "600003", step)
            let answer = try await client.get("/tasks/aliyun/600003")
            #expect(answer.status == .ok)
            #expect(try Self.artifacts(answer).isEmpty)
            #expect(sim.state.calls(for: "600003")["GetObject"] == nil)
        }
        let lines = logs.lines.filter { $0.message.contains("mirror refused") || $0.message.contains("could not be kept") }
        if let reason {
            // 169.254.169.254 listed by itself is allowed and only fails to answer here; it is refused otherwise.
            #expect(lines.count == 1, "\(logs.lines.map(\.rendered))")
            #expect(lines.first?.metadata["reason"]?.contains(reason) == true, "\(lines.map(\.rendered))")
            #expect(lines.first?.metadata["source"]?.contains("Signature") == false)
        } else {
            #expect(lines.isEmpty, "a link that is not http(s) is not a file link at all")
        }
    }

    /// Redirects are followed (at most three), each checked like the first link.
    @Test func redirectsAreCheckedLikeTheFirstLink() async throws {
        let logs = LogRecorder()
        try await withOrigin { origin in
            try await withAliyunGateway(configure: Self.mirroring(), logs: logs) { client, sim in
                let cases = [
                    ("600010", "\(origin)/redirect/1/file", 1),  // one hop to a file: kept
                    ("600011", "\(origin)/redirect/4/file", 0),  // four hops: refused
                    ("600012", "\(origin)/to-metadata", 0),  // to 169.254.169.254: refused
                ]
                for (id, link, kept) in cases {
                    addTask(sim.state, id: id, .state(.succeeded, result: #"{"ProcessResultUrl":"\#(link)"}"#))
                    let answer = try await client.get("/tasks/aliyun/\(id)")
                    #expect(try Self.artifacts(answer).count == kept, "\(link)")
                }
                let kept = try await client.get("/tasks/aliyun/600010/artifacts/0")
                #expect(String(buffer: kept.body) == Origin.file)
                #expect(kept.headers[.contentType] == "text/plain; charset=utf-8")
            }
        }
        let refusals = logs.lines.filter { $0.message.contains("mirror refused") }.compactMap { $0.metadata["reason"] }
        #expect(refusals.count == 2)
        #expect(refusals.contains { $0.contains("more than 3 redirects") })
        #expect(refusals.contains { $0.contains("host not under mirror_hosts") })
    }

    /// Two tasks linking to the same bytes: kept once.
    @Test func identicalFilesAreKeptOnce() async throws {
        try await withOrigin { origin in
            try await withAliyunGateway(configure: Self.mirroring()) { client, sim in
                addTask(sim.state, id: "600020", .state(.succeeded, result: #"{"ProcessResultUrl":"\#(origin)/same/a.txt"}"#))
                addTask(sim.state, id: "600021", .state(.succeeded, result: #"{"Outputs":["\#(origin)/same/b.txt","\#(origin)/file"]}"#))
                let a = try Self.artifacts(try await client.get("/tasks/aliyun/600020"))
                let b = try Self.artifacts(try await client.get("/tasks/aliyun/600021"))
                #expect(a.count == 1 && b.count == 2)
                #expect(a.first?["sha256"] as? String == b.first?["sha256"] as? String)
                let metrics = try await client.get("/metrics").text
                #expect(metrics.contains("taskgate_artifacts 2"))
            }
        }
    }

    /// A file over `mirror_max_bytes` is refused: by its Content-Length before its body is read,
    /// and — sent without one — as soon as the bytes read pass the bound.
    @Test(arguments: [false, true])
    func aFileOverTheBoundIsRefusedWithoutReadingIt(chunked: Bool) async throws {
        var vendor = AliyunSimulator(accessKeyID: aliyunKeyID, accessKeySecret: aliyunSecret, state: SimulatorState(clock: ManualClock()))
        vendor.resultFileBytes = 64 << 20
        vendor.resultFileChunked = chunked
        let logs = LogRecorder()
        try await withAliyunGateway(simulator: vendor, configure: Self.mirroring(maxBytes: 1 << 20), logs: logs) { client, sim in
            addTask(sim.state, id: "600030", .state(.succeeded))
            let answer = try await client.get("/tasks/aliyun/600030")
            #expect(answer.status == .ok)
            #expect(try Self.artifacts(answer).isEmpty)
            let metrics = try await client.get("/metrics").text
            #expect(metrics.contains(#"taskgate_mirror_downloads_total{provider="aliyun",outcome="too_large"} 1"#))
            #expect(metrics.contains("taskgate_artifacts 0"))
        }
        let reason = try #require(logs.lines.first { $0.message.contains("could not be kept") }?.metadata["reason"])
        if chunked {
            // What was read before stopping: the bound and at most one more chunk of the body.
            let read = try #require(reason.split(separator: " ").compactMap { Int($0) }.last)
            #expect(read > 1 << 20 && read <= (1 << 20) + (256 << 10), "\(reason)")
        } else {
            #expect(reason.contains("Content-Length \(64 << 20)"))
        }
    }

    @Test func keysScopedToOtherProvidersCannotReadTheArtifacts() async throws {
        try await withSimulator(AliyunSimulator(accessKeyID: aliyunKeyID, accessKeySecret: aliyunSecret)) { sim in
            addTask(sim.state, id: "600040", .state(.succeeded))
            var aliyun = provider(
                "aliyun",
                endpoint: sim.endpoint,
                AliyunSettings(region: "cn-shanghai", accessKeyID: aliyunKeyID, accessKeySecret: aliyunSecret)
            )
            Self.mirroring()(&aliyun)
            var configuration = gatewayConfiguration(store: temporaryStorePath(), aliyun)
            configuration.auth = RequestPolicyTests.twoKeys  // billing: capmonster only; ops: every provider
            let app = try buildApplication(configuration, logger: quietLogger)
            try await app.test(.router) { client in
                let ops = RequestPolicyTests.bearer("token-ops")
                #expect(try await client.get("/tasks/aliyun/600040", ops).status == .ok)
                #expect(try await client.get("/tasks/aliyun/600040/artifacts/0", ops).status == .ok)
                let billing = try await client.get("/tasks/aliyun/600040/artifacts/0", RequestPolicyTests.bearer("token-billing"))
                #expect(billing.status == .forbidden)
                #expect(try await client.get("/tasks/aliyun/600040/artifacts/0").status == .unauthorized)
            }
        }
    }
}

/// An origin server for links a vendor's storage would not give: redirects, the same bytes at two
/// addresses.
enum Origin {
    static let file = "a file kept by taskgate\n"
}

/// Runs the test origin on 127.0.0.1 while `body` runs; `body` gets its base URL.
func withOrigin<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
    let router = Router()
    router.get("/file") { _, _ in
        Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: Origin.file)))
    }
    router.get("/same/:name") { _, _ in
        Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "the same bytes\n")))
    }
    router.get("/redirect/:hops/file") { _, context in
        let hops = Int(context.parameters.get("hops") ?? "0") ?? 0
        let next = hops <= 1 ? "/file" : "/redirect/\(hops - 1)/file"
        return Response(status: .found, headers: [.location: next])
    }
    router.get("/to-metadata") { _, _ in
        Response(status: .movedPermanently, headers: [.location: "http://169.254.169.254/latest/meta-data/"])
    }
    return try await withLocalServer(router, body)
}

extension ArtifactMirrorTests {
    /// One answer's files are fetched side by side (four at a time), at most `mirror_max_files`
    /// of them, and the caller waits for them together at most `mirror_timeout`: here the origin
    /// holds every download until the answer has gone. The files come in later in the background,
    /// and the answer — reusable only briefly until then — lists them.
    @Test func mirroringNeverHoldsTheCallerPastItsBound() async throws {
        let gate = Shared(false)
        let counts = Shared((inFlight: 0, most: 0, total: 0))
        let router = Router()
        router.get("/slow/:n") { _, context in
            counts.update {
                $0.inFlight += 1
                $0.most = max($0.most, $0.inFlight)
                $0.total += 1
            }
            // Held until the test opens the gate: a test-controlled event, not time passing.
            while !gate.value { try await Task.sleep(for: .milliseconds(5)) }
            counts.update { $0.inFlight -= 1 }
            let n = context.parameters.get("n") ?? "?"
            return Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "file \(n)\n")))
        }
        try await withLocalServer(router) { origin in
            let mirroring: @Sendable (inout ProviderConfiguration) -> Void = {
                // The caller waits this long in real time; a download it left has as long again
                // (the test opens the gate at once): ample on a loaded machine.
                $0.mirror = MirrorPolicy(enabled: true, timeout: .seconds(5), hosts: ["127.0.0.1"])
            }
            try await withAliyunGateway(configure: mirroring) { client, sim in
                let links = (0..<20).map { "\"\(origin)/slow/\($0)\"" }.joined(separator: ",")
                addTask(sim.state, id: "600060", .state(.succeeded, result: #"{"Outputs":[\#(links)]}"#))
                let first = try await client.get("/tasks/aliyun/600060")
                #expect(first.status == .ok)
                #expect(try #require(first.json()["artifacts"] as? [[String: Any]]).isEmpty)
                #expect(first.headers[.cacheControl]?.contains("immutable") == false, "reused only until the files are in")
                #expect(counts.value.total == 4 && counts.value.most == 4, "\(counts.value)")
                gate.value = true
                var listed: [[String: Any]] = []
                let complete = try await eventuallyAnswers {
                    listed = try #require(try await client.get("/tasks/aliyun/600060").json()["artifacts"] as? [[String: Any]])
                    return listed.count == 16
                }
                #expect(complete, "the files came in: \(listed.count)")
                #expect(listed.map { $0["source"] as? String } == (0..<16).map { "\(origin)/slow/\($0)" })
                #expect(counts.value.total == 16 && counts.value.most <= 4, "\(counts.value)")
                let served = try await client.get("/tasks/aliyun/600060/artifacts/15")
                #expect(String(buffer: served.body) == "file 15\n")
                #expect(try await client.get("/tasks/aliyun/600060").headers[.cacheControl] == "public, max-age=31536000, immutable")
                #expect(sim.state.calls(for: "600060")["GetTaskResult"] == 1)
            }
        }
    }
}
