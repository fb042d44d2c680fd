import Crypto
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import TaskGate
import TaskGateSimulators
import Testing

@testable import TaskGate

/// What an attacker tries (issue 25), each finding kept as a test: odd paths, forged cursors,
/// odd configuration, raw HTTP/1 framing. Requests go over a real socket, byte for byte as
/// written, so both doors (the hot path and the router) see them.
@Suite(.timeLimit(.minutes(3))) struct HostileInputTests {
    static let task = "601"

    /// A live gateway with caller keys (`CallerTests.twoKeys`) in front of a CapMonster simulator
    /// holding a final task 601; `body` gets the port.
    func withKeyedGateway(
        configure: @Sendable (inout GatewayConfiguration) -> Void = { _ in },
        _ body: @Sendable (Int, RunningSimulator) async throws -> Void
    ) async throws {
        // Time stands still unless the test moves it: a not-final answer's max-age is exact.
        let clock = ManualClock(skipsWaits: true)
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))) { sim in
            addTask(sim.state, id: Self.task, .state(.succeeded, result: #"{"text":"kept"}"#))
            var configuration = gatewayConfiguration(
                store: temporaryStorePath(),
                provider("capmonster", endpoint: sim.endpoint, CapMonsterSettings(clientKey: testClientKey)),
                provider("other", endpoint: sim.endpoint, CapMonsterSettings(clientKey: testClientKey))
            )
            configuration.auth = CallerTests.twoKeys
            configure(&configuration)
            try await buildApplication(configuration, logger: quietLogger, clock: clock).test(.live) { client in
                try await body(try #require(client.port), sim)
            }
        }
    }

    static func get(_ port: Int, _ target: String, _ headers: String = "") async throws -> RawHTTPConnection.Answer? {
        try await RawHTTPConnection.exchange(port: port, "GET \(target) HTTP/1.1\r\nHost: taskgate\r\n\(headers)\r\n")
    }

    /// Every way to write a protected route that is not its canonical form.
    static func variants(of path: String) -> [String] {
        let segments = path.split(separator: "/").map(String.init)
        var variants = ["/" + path, path + "/", "/." + path, path + "/.", "/x/.." + path, "http://taskgate/" + path]
        for index in segments.indices {
            var doubled = segments.map { "/" + $0 }
            doubled[index] = "/" + doubled[index]
            variants.append(doubled.joined())
            var dotted = segments.map { "/" + $0 }
            dotted[index] = "/." + dotted[index]
            variants.append(dotted.joined())
            var encoded = segments
            let first = encoded[index].unicodeScalars.first!
            encoded[index] = String(format: "%%%02X", first.value) + encoded[index].dropFirst()
            variants.append("/" + encoded.joined(separator: "/"))
        }
        if segments.count > 1 {
            variants.append("/" + segments.joined(separator: "%2F"))
            variants.append("/" + segments.joined(separator: "%2f"))
            variants.append("/" + segments[0] + "/" + segments.dropFirst().joined(separator: "%2F"))
        }
        return variants
    }

    static let protectedPaths = ["/tasks", "/tasks/capmonster/\(task)", "/tasks/capmonster/\(task)/artifacts/0", "/metrics"]

    @Test func noSpellingOfAProtectedRouteGetsPastTheKeys() async throws {
        try await withKeyedGateway { port, sim in
            // The canonical forms: refused without a key, answered with one (the test can fail).
            for path in Self.protectedPaths {
                #expect(try await Self.get(port, path)?.status == 401, "\(path)")
            }
            #expect(try await Self.get(port, "/tasks/capmonster/\(Self.task)", "Authorization: Bearer token-ops\r\n")?.status == 200)
            #expect(try await Self.get(port, "/metrics", "Authorization: Bearer token-ops\r\n")?.status == 200)
            let callsBefore = sim.state.calls(for: Self.task).count
            for path in Self.protectedPaths {
                for variant in Self.variants(of: path) {
                    let answer = try #require(try await Self.get(port, variant), "\(variant)")
                    #expect(answer.status == 400, "\(variant): \(answer.status)")
                    #expect(answer.text.contains("urn:taskgate:problem:invalid-path"), "\(variant)")
                    // Even with a key, a variant is refused: one path, one decision.
                    let keyed = try #require(try await Self.get(port, variant, "Authorization: Bearer token-ops\r\n"))
                    #expect(keyed.status == 400, "\(variant) with a key: \(keyed.status)")
                }
            }
            #expect(sim.state.calls(for: Self.task).count == callsBefore, "no variant reached the vendor")
            // Unknown paths need a key too: the policy fails closed.
            #expect(try await Self.get(port, "/tasks;x")?.status == 401)
            #expect(try await Self.get(port, "/TASKS")?.status == 401)
            #expect(try await Self.get(port, "/healthz")?.status == 200)
        }
    }

    @Test(arguments: [
        ("/", true), ("/tasks", true), ("/tasks/a-b_c/2600011633-WorkflowTask-80108cc3380155d98b2e3573a48a", true),
        ("/a/...", true), ("/a/.b", true), ("", false), ("tasks", false), ("*", false), ("//", false), ("/a//b", false),
        ("/a/", false), ("/.", false), ("/..", false), ("/a/./b", false), ("/a/../b", false), ("/a%2Fb", false),
        ("/a%41", false), ("/a#b", false), ("/a\\b", false), ("/a b", false), ("/a\u{7F}", false), ("/é", false),
    ])
    func canonicalPaths(path: String, canonical: Bool) {
        #expect(RequestPath.isCanonical(path) == canonical)
    }

    static let cursorSecret = "a-cursor-secret-of-at-least-32-characters"

    /// An Alibaba gateway (router client) with five listed tasks, its cursors sealed with
    /// `cursorSecret` when given (else with the store's own key).
    func withListingGateway(
        cursorSecret: String? = HostileInputTests.cursorSecret,
        store: String = temporaryStorePath(),
        _ body: @Sendable (any TestClientProtocol, RunningSimulator) async throws -> Void
    ) async throws {
        let clock = ManualClock(skipsWaits: true)
        let simulator = AliyunSimulator(accessKeyID: aliyunKeyID, accessKeySecret: aliyunSecret, state: SimulatorState(clock: clock))
        try await withSimulator(simulator) { sim in
            for index in 0..<5 {
                sim.state.add(SimulatedTask(id: String(500 + index), steps: [.state(.running)], createdAt: clock.date))
            }
            var configuration = gatewayConfiguration(
                store: store,
                provider(
                    "aliyun",
                    endpoint: sim.endpoint,
                    AliyunSettings(region: "cn-shanghai", accessKeyID: aliyunKeyID, accessKeySecret: aliyunSecret)
                )
            )
            configuration.cursorSecret = cursorSecret
            try await buildApplication(configuration, logger: quietLogger, clock: clock).test(.router) { client in
                try await body(client, sim)
            }
        }
    }

    static func listCalls(_ sim: RunningSimulator) -> Int { sim.state.calls(for: "*")["ListTasks"] ?? 0 }

    @Test func forgedTamperedAndTruncatedCursorsAreRefusedBeforeTheVendor() async throws {
        try await withListingGateway { client, sim in
            let first = try await client.get("/tasks?provider=aliyun&limit=2").json()
            let cursor = try #require(first["nextCursor"] as? String)
            let calls = Self.listCalls(sim)
            // The issue's forged cursor: old-style JSON whose Alibaba token overflowed a product.
            let forged = Data(#"{"f":"haZEvWBV","i":0,"t":"4611686018427387904/2/0"}"#.utf8).base64EncodedString()
            // Sealed with the right key, but a token whose page would overflow: the source's own
            // check refuses it (the seal is not the only defence).
            let key = CursorKey(bytes: Array(SHA256.hash(data: Array(Self.cursorSecret.utf8))))
            let query = try TaskQuery(parameters: [("provider", "aliyun"), ("limit", "2")], configured: ["aliyun"], cursorKey: key)
            let overflowing = key.seal(TaskCursor(providerIndex: 0, token: "4611686018427387904/2/0"), binding: query.binding)
            let negative = key.seal(TaskCursor(providerIndex: -1, token: nil), binding: query.binding)
            var tampered = Array(cursor.utf8)
            tampered[3] = tampered[3] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            for bad in [
                forged, String(cursor.dropLast()), String(cursor.dropFirst()), String(decoding: tampered, as: UTF8.self), cursor + "A",
                overflowing, negative, "", ".", cursor.replacingOccurrences(of: ".", with: ""),
            ] {
                let response = try await client.get("/tasks?provider=aliyun&limit=2&cursor=\(bad)")
                #expect(response.status == .badRequest, "\(bad)")
                #expect(try response.json()["type"] as? String == "urn:taskgate:problem:invalid-query", "\(bad)")
            }
            // Bound to its query: another status or limit-independent filter is refused.
            #expect(try await client.get("/tasks?provider=aliyun&status=running&limit=2&cursor=\(cursor)").status == .badRequest)
            #expect(Self.listCalls(sim) == calls, "no refused cursor reached the vendor")
            // The gateway is still up, and the real cursor goes on.
            let second = try await client.get("/tasks?provider=aliyun&limit=2&cursor=\(cursor)")
            #expect(second.status == .ok)
            #expect(try #require(second.json()["tasks"] as? [[String: Any]]).map { $0["id"] as? String } == ["502", "503"])
        }
    }

    @Test func theStoreKeepsOneCursorKeyForEveryProcessOnIt() async throws {
        let store = temporaryStorePath()
        let cursor = Shared<String?>(nil)
        try await withListingGateway(cursorSecret: nil, store: store) { client, _ in
            cursor.value = try await client.get("/tasks?provider=aliyun&limit=2").json()["nextCursor"] as? String
        }
        let made = try #require(cursor.value)
        // Another process on the same store takes it; one on another store does not.
        try await withListingGateway(cursorSecret: nil, store: store) { client, _ async throws in
            #expect(try await client.get("/tasks?provider=aliyun&limit=2&cursor=\(made)").status == .ok)
        }
        try await withListingGateway(cursorSecret: nil) { client, _ async throws in
            #expect(try await client.get("/tasks?provider=aliyun&limit=2&cursor=\(made)").status == .badRequest)
        }
    }

    @Test(arguments: [
        ("1/100/0", true), ("21474836/100/99", true), ("21474837/100/0", false), ("4611686018427387904/2/0", false),
        ("0/10/0", false), ("1/101/0", false), ("1/10/10", false), ("1//10/0", false), ("1/10/0/", false), ("-1/10/0", false),
    ])
    func alibabaPagePositionsStayWithinItsIntegers(token: String, valid: Bool) {
        let position = AliyunTaskList.Position(token: token)
        #expect((position != nil) == valid)
        if let position { #expect(position.itemsThrough != nil) }
    }

    static let capmonsterYAML = "providers:\n  capmonster: {kind: capmonster, endpoint: http://127.0.0.1:1, client_key: k}\n"
    static let scopedKey = "auth: {keys: {scoped: {sha256: \(CallerTests.opsDigest), providers: [capmonster]}}}\n"

    /// A value of the wrong shape or an overflowing number never falls back to a default: the
    /// load fails naming the key (`check-config` and `serve` exit 78).
    @Test(
        arguments: [
            ("auth: {keys: {scoped: {sha256: \(CallerTests.opsDigest), providers: {capmonster: true}}}}\n", [:], "auth.keys.scoped.providers"),
            ("auth: {keys: {scoped: {sha256: \(CallerTests.opsDigest), providers: }}}\n", [:], "auth.keys.scoped.providers"),
            ("auth: {keys: {scoped: {sha256: \(CallerTests.opsDigest), providers: []}}}\n", [:], "auth.keys.scoped.providers"),
            ("auth: {keys: {scoped: {sha256: \(CallerTests.opsDigest), providers: [[capmonster]]}}}\n", [:], "auth.keys.scoped.providers"),
            ("auth: {keys: {scoped: {sha256: \(CallerTests.opsDigest), providers: capmonster}}}\n", [:], "auth.keys.scoped.providers"),
            (scopedKey, ["AUTH_KEYS_SCOPED_PROVIDERS": ","], "auth.keys.scoped.providers"),
            (scopedKey, ["AUTH_KEYS_SCOPED_PROVIDERS_CAPMONSTER": "true"], "auth.keys.scoped.providers"),
            (
                "auth: {metrics_requires_key: [true], keys: {ops: {sha256: \(CallerTests.opsDigest), metrics: true}}}\n", [:],
                "auth.metrics_requires_key"
            ),
            ("auth: {keys: {ops: {sha256: \(CallerTests.opsDigest), metrics: {a: true}}}}\n", [:], "auth.keys.ops.metrics"),
            ("store: [x.sqlite]\n", [:], "store"),
            ("store: {path: x.sqlite}\n", [:], "store"),
            ("store:\n", [:], "store"),
            ("listen: [1, 2]\n", [:], "listen"),
            ("cache_memory: 9999999999999GiB\n", [:], "cache_memory"),
            ("", ["CACHE_MEMORY": "9999999999999GiB"], "cache_memory"),
            ("", ["CACHE_MEMORY": "-9223372036854775808KiB"], "cache_memory"),
            ("limits: {max_uri_length: 9223372036854775807KiB}\n", [:], "limits.max_uri_length"),
            ("limits: {idle_timeout: [1]}\n", [:], "limits.idle_timeout"),
            ("webhook_timeout: 1e300\n", [:], "webhook_timeout"),
            ("shutdown_grace_period: 99999999999999999999d\n", [:], "shutdown_grace_period"),
        ] as [(String, [String: String], String)]
    )
    func wrongShapesAndOverflowsAreRefusedNamingTheirKey(yaml: String, environment: [String: String], key: String) async throws {
        do {
            _ = try await loadConfiguration(yaml + Self.capmonsterYAML, environment: environment)
            Issue.record("loaded")
        } catch let error as ConfigurationError {
            #expect(error.key == key, "\(error)")
        }
    }

    @Test(arguments: [
        ("timeout: {a: 1}", "timeout"), ("mirror_hosts: {a: b}", "mirror_hosts"), ("mirror_hosts: ['*']", "mirror_hosts"),
        ("mirror_hosts: ['http://files.example.com']", "mirror_hosts"), ("mirror_hosts: [a..b]", "mirror_hosts"),
        ("mirror_hosts: [.]", "mirror_hosts"), ("mirror_hosts: ['files example']", "mirror_hosts"), ("mirror: [true]", "mirror"),
        ("result_budget: [1]", "result_budget"),
    ])
    func wrongProviderSettingsAreRefusedNamingTheirKey(setting: String, key: String) async throws {
        do {
            _ = try await loadConfiguration("providers:\n  capmonster: {kind: capmonster, endpoint: http://127.0.0.1:1, client_key: k, \(setting)}\n")
            Issue.record("loaded")
        } catch let error as ConfigurationError {
            #expect(error.key == "providers.capmonster.\(key)", "\(error)")
        }
    }

    @Test func goodShapesStillLoad() async throws {
        let yaml = """
            cache_memory: 8GiB
            auth: {keys: {scoped: {sha256: \(CallerTests.opsDigest), providers: [capmonster]}, other: {sha256: \(CallerTests.billingDigest), providers: [capmonster]}}}
            providers:
              capmonster: {kind: capmonster, endpoint: http://127.0.0.1:1, client_key: k, mirror_hosts: [.example.com, files.example.org, 10.0.0.7, "::1"]}

            """
        let configuration = try await loadConfiguration(
            yaml,
            environment: ["PROVIDERS_CAPMONSTER_RETRY_BACKOFF_MAX": "3s", "AUTH_KEYS_OTHER_PROVIDERS": "capmonster,capmonster"]
        )
        #expect(configuration.cacheMemoryBytes == 8 << 30)
        #expect(configuration.auth.keys.map(\.providers) == [["capmonster"], ["capmonster"]])
        #expect(configuration.providers[0].mirror.hosts == [".example.com", "files.example.org", "10.0.0.7", "::1"])
    }

    /// URLs keep their credentials out of every message: userinfo and query are redacted.
    @Test func urlsInErrorsAndSourcesKeepNoSecrets() async throws {
        for yaml in [
            "providers:\n  capmonster: {kind: capmonster, endpoint: 'https://user:hunter2@api.example.com/?token=s3cret', client_key: k}\n",
            Self.capmonsterYAML + "webhooks:\n  hook: {url: 'https://hook:hunter2@example.com/in?token=s3cret', secret: whsec_AAAA}\n",
            "providers:\n  capmonster: {kind: capmonster, endpoint: 'ftp://user:hunter2@x?token=s3cret', client_key: k}\n",
        ] {
            do {
                _ = try await loadConfiguration(yaml)
                Issue.record("loaded")
            } catch let error as ConfigurationError {
                #expect(!"\(error)".contains("hunter2") && !"\(error)".contains("s3cret"), "\(error)")
                #expect("\(error)".contains("***"), "\(error)")
            }
        }
        #expect(RedactedURL.text("https://u:p@h.example/a?b=c#d") == "https://***@h.example/a?***")
        #expect(RedactedURL.text("u:p@h/a") == "***@h/a")
        #expect(RedactedURL.text("https://h.example/a@b") == "https://h.example/a@b")
        let source = ArtifactMirror.source(of: URL(string: "https://user:pass@files.example.com/a/b.png?Signature=x")!)
        #expect(source == "https://files.example.com/a/b.png")
    }

    /// With keys, every answer was given to one key: `private`, on both doors (the second final
    /// answer comes from the hot path), for listings and not-final answers too.
    @Test func keyedAnswersArePrivate() async throws {
        try await withKeyedGateway { port, sim in
            addTask(sim.state, id: "602", .state(.running))
            let key = "Authorization: Bearer token-ops\r\n"
            for cache in ["MISS", "HIT"] {
                let answer = try #require(try await Self.get(port, "/tasks/capmonster/\(Self.task)", key))
                #expect(answer.header("X-Cache") == cache)
                #expect(answer.header("Cache-Control") == "private, max-age=31536000, immutable")
            }
            #expect(try await Self.get(port, "/tasks/capmonster/602", key)?.header("Cache-Control") == "private, max-age=2")
            #expect(try await Self.get(port, "/tasks", key)?.header("Cache-Control") == "private, no-cache")
        }
    }

    /// Kept files never run in a browser: served with `nosniff`, sandboxed, and as attachments
    /// when their type is one a browser would run or render; the type is the one this task's
    /// answer lists, not the first link's to the same bytes.
    @Test func keptFilesAreInertAndTypedPerTask() async throws {
        let page = "<html><script>document.title = 'owned'</script></html>\n"
        let router = Router()
        router.get("/page") { _, _ in Response(status: .ok, headers: [.contentType: "text/html"], body: .init(byteBuffer: ByteBuffer(string: page))) }
        router.get("/text") { _, _ in Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: page)))
        }
        router.get("/svg") { _, _ in
            Response(status: .ok, headers: [.contentType: "image/svg+xml"], body: .init(byteBuffer: ByteBuffer(string: "<svg/>")))
        }
        try await withLocalServer(router) { origin in
            try await withAliyunGateway(configure: MirrorTests.mirroring()) { client, sim in
                addTask(sim.state, id: "600050", .state(.succeeded, result: #"{"ProcessResultUrl":"\#(origin)/page"}"#))
                addTask(sim.state, id: "600051", .state(.succeeded, result: #"{"Outputs":["\#(origin)/text","\#(origin)/svg"]}"#))
                #expect(try await client.get("/tasks/aliyun/600050").status == .ok)
                #expect(try await client.get("/tasks/aliyun/600051").status == .ok)
                let html = try await client.get("/tasks/aliyun/600050/artifacts/0")
                let text = try await client.get("/tasks/aliyun/600051/artifacts/0")
                let svg = try await client.get("/tasks/aliyun/600051/artifacts/1")
                #expect(String(buffer: html.body) == page && String(buffer: text.body) == page)
                for served in [html, text, svg] {
                    #expect(served.headers[.xContentTypeOptions] == "nosniff")
                    #expect(served.headers[.contentSecurityPolicy] == "sandbox")
                }
                #expect(html.headers[.contentType] == "text/html")
                #expect(html.headers[.contentDisposition] == "attachment")
                #expect(svg.headers[.contentDisposition] == "attachment")
                // The same bytes as the page, linked as text: served as text, shown inline.
                #expect(text.headers[.contentType] == "text/plain")
                #expect(text.headers[.contentDisposition] == nil)
            }
        }
    }

    @Test(arguments: [
        ("image/png", true), ("image/jpeg; q=1", true), ("video/mp4", true), ("application/json", true), ("text/plain; charset=utf-8", true),
        ("text/html", false), ("image/svg+xml", false), ("application/xhtml+xml", false), ("text/xml", false), ("application/xml", false),
        ("text/javascript", false), ("application/javascript", false), ("application/pdf", false), ("text/css", false), ("", false),
        ("image/", false), ("IMAGE/SVG+XML", false), ("multipart/x-mixed-replace", false),
    ])
    func onlyTypesABrowserMerelyDisplaysAreShownInline(type: String, inline: Bool) {
        #expect(Artifact.isDisplayedOnly(type) == inline)
    }

    /// HTTP/1 framing as RFC 9112 and nginx have it: HTTP/1.0 without keep-alive closes after its
    /// answer; CONNECT and a request without exactly one Host get a framed answer, then the close.
    @Test func framingIsAnsweredAndClosedAsNginxDoes() async throws {
        try await withKeyedGateway { port, _ in
            let cases: [(String, Int, Bool)] = [
                ("GET /healthz HTTP/1.0\r\n\r\n", 200, true),
                ("GET /healthz HTTP/1.0\r\nHost: taskgate\r\n\r\n", 200, true),
                ("GET /healthz HTTP/1.1\r\nHost: taskgate\r\nConnection: close\r\n\r\n", 200, true),
                ("CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n", 405, true),
                ("GET /healthz HTTP/1.1\r\n\r\n", 400, true),
                ("GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, true),
                ("GET /healthz HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400, true),
                ("GET /tasks/capmonster/\(Self.task) HTTP/1.1\r\nAuthorization: Bearer token-ops\r\n\r\n", 400, true),
                ("GET /healthz HTTP/1.1\r\nHost: taskgate\r\n\r\n", 200, false),
            ]
            for (request, status, closes) in cases {
                let connection = try await RawHTTPConnection.open(port: port)
                connection.send(request)
                let answer = try #require(try await connection.readAnswer(), "\(request)")
                #expect(answer.status == status, "\(request)")
                #expect(answer.header("Content-Length") != nil, "\(request): framed")
                if closes {
                    #expect(try await connection.isClosedByServer(), "\(request)")
                    #expect(answer.header("Connection") == "close", "\(request)")
                }
                if status == 405 { #expect(answer.header("Allow") == "GET, HEAD") }
            }
            // Behind an answer under way, a refused request is answered in order, then the close.
            let connection = try await RawHTTPConnection.open(port: port)
            connection.send(
                "GET /tasks HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer token-ops\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"
                    + "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
            )
            #expect(try await connection.readAnswer()?.status == 200)
            #expect(try await connection.readAnswer()?.status == 400)
            #expect(try await connection.isClosedByServer())
        }
    }

    /// The task and artifact routes read their query as strictly as `/tasks` does.
    @Test func unknownAndRepeatedParametersAreRefusedOnEveryRoute() async throws {
        try await withKeyedGateway { port, sim in
            let key = "Authorization: Bearer token-ops\r\n"
            for target in [
                "/tasks/capmonster/\(Self.task)?x=1", "/tasks/capmonster/\(Self.task)?wait=1s&wait=2s", "/tasks/capmonster/\(Self.task)?wait",
                "/tasks/capmonster/\(Self.task)/artifacts/0?download=1", "/tasks?status=running&status=failed",
            ] {
                let answer = try #require(try await Self.get(port, target, key))
                #expect(answer.status == 400, "\(target)")
                #expect(answer.text.contains("urn:taskgate:problem:invalid-query"), "\(target)")
            }
            #expect(sim.state.calls(for: Self.task).isEmpty)
        }
    }

    /// A vendor's error code reaches callers and logs as printable ASCII of at most 64 bytes, and a
    /// text log line stays one line whatever its values hold.
    @Test func vendorWordsAndCallerHeadersCannotForgeLogLines() throws {
        let error = GatewayError(.vendorError, "x", provider: "aliyun", vendorCode: "Bad\nlevel=error msg=forged" + String(repeating: "é", count: 60))
        let code = try #require(error.vendorCode)
        #expect(code.utf8.count <= 64 && code.utf8.allSatisfy { (0x20...0x7E).contains($0) })
        #expect(code.hasPrefix("Bad?level=error msg=forged"))
        let body = String(decoding: error.problemBody(instance: "/tasks/aliyun/1", requestID: "r", status: .badGateway), as: UTF8.self)
        #expect(!body.contains("\\n") && body.contains(code))

        let handler = TextLogHandler(label: "taskgate", sink: LogSink(fileDescriptor: -1))
        let line = String(
            decoding: handler.render(
                level: .info,
                message: "request",
                metadata: ["vendor_code": "A\nlevel=error msg=forged", "forwarded_for": "1.2.3.4 admin=true", "path": "/tasks", "empty": ""]
            ),
            as: UTF8.self
        )
        #expect(line.filter { $0 == "\n" }.count == 1 && line.hasSuffix("\n"))
        #expect(line.contains(#" vendor_code="A\nlevel=error msg=forged""#))
        #expect(line.contains(#" forwarded_for="1.2.3.4 admin=true""#))
        #expect(line.contains(" path=/tasks ") && line.contains(#" empty="""#))
        #expect(!line.contains(" admin=true "))
    }

    /// Another program's SQLite file is never adopted: `serve` (the store), `backup` and
    /// `migrate-store` refuse it naming the file, and not one byte of it changes.
    @Test(arguments: [
        "CREATE TABLE other (x)",
        "CREATE TABLE task (id INTEGER PRIMARY KEY, title TEXT)",
        "CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY); INSERT INTO grdb_migrations VALUES ('v1: users'); CREATE TABLE users (id)",
    ])
    func anotherProgramsDatabaseIsRefusedUntouched(schema: String) async throws {
        let path = temporaryStorePath()
        let queue = try DatabaseQueue(path: path)
        try await queue.write { try $0.execute(sql: schema) }
        try queue.close()
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        do {
            _ = try SQLiteTaskStore(path: path, logger: quietLogger)
            Issue.record("opened")
        } catch {
            #expect(error.path == path)
            #expect(error.reason.contains("no taskgate schema"), "\(error)")
        }
        let backup = #expect(throws: StoreBackupError.self) { try StoreBackup.copy(store: path, to: path + ".backup") }
        #expect(backup?.description.contains("not a taskgate store") == true)
        await #expect(throws: StoreOpenError.self) {
            try await StoreLocation.sqlite(path: path).withStore(logger: quietLogger, mustExist: true) { _ in }
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
        // A store taskgate made opens again, as does an empty file.
        let ours = temporaryStorePath()
        try SQLiteTaskStore(path: ours, logger: quietLogger).close()
        try SQLiteTaskStore(path: ours, logger: quietLogger).close()
        let empty = temporaryStorePath()
        FileManager.default.createFile(atPath: empty, contents: Data())
        try SQLiteTaskStore(path: empty, logger: quietLogger).close()
    }

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

    /// A vendor's link may claim any expiry: the answer is cached at most a year, and nothing
    /// converting its time traps (it did: `Int(9.2e18)`).
    @Test(arguments: ["9223372036854775807", "-9223372036854775808", "99999999999999999999"])
    func aLinkExpiringAtTheEndOfTimeIsCachedAYearAtMost(expires: String) async throws {
        try await withAliyunGateway { client, sim in
            let link = "https://b.oss-cn-shanghai.aliyuncs.com/r.json?Expires=\(expires)&OSSAccessKeyId=x&Signature=y"
            addTask(sim.state, id: "600070", .state(.succeeded, result: #"{"ProcessResultUrl":"\#(link)"}"#))
            for _ in 0..<2 {
                let answer = try await client.get("/tasks/aliyun/600070")
                #expect(answer.status == .ok)
                let cacheControl = try #require(answer.headers[.cacheControl])
                let maxAge = try #require(Int(cacheControl.split(separator: "max-age=").last?.prefix { $0.isNumber } ?? ""))
                #expect(maxAge >= 0 && maxAge <= 31_536_000, "\(cacheControl)")
            }
        }
        #expect(Seconds.whole(.nan) == 0 && Seconds.whole(.infinity) == 1 << 53 && Seconds.whole(-1e300) == -(1 << 53))
    }
}
