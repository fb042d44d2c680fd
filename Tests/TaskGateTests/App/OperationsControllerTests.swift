import AsyncHTTPClient
import CompressNIO
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization
import TaskGate
import TaskGateSimulators
import Testing

/// Metrics, logs and the shutdown sequence, as an SRE sees them.
@Suite(.timeLimit(.minutes(2))) struct OperationsControllerTests {
    @Test func metricsCountRequestsVendorCallsCacheOutcomesAndTheStore() async throws {
        try await withCapMonsterGateway { client, sim in
            addTask(sim.state, id: "90", .state(.succeeded))
            _ = try await client.get("/tasks/capmonster/90")
            _ = try await client.get("/tasks/capmonster/90")
            _ = try await client.get("/tasks/capmonster/999")
            _ = try await client.get("/tasks/capmonster/abc")
            let response = try await client.get("/metrics")
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
            let text = response.text
            #expect(text.contains(#"taskgate_http_requests_total{route="/tasks/{provider}/{id}",status_class="2xx",caller="anonymous"} 2"#))
            #expect(text.contains(#"taskgate_http_requests_total{route="/tasks/{provider}/{id}",status_class="4xx",caller="anonymous"} 2"#))
            #expect(text.contains(#"taskgate_vendor_calls_total{provider="capmonster",call="getTaskResult",outcome="ok",caller="anonymous"} 1"#))
            #expect(
                text.contains(#"taskgate_vendor_calls_total{provider="capmonster",call="getTaskResult",outcome="not_found",caller="anonymous"} 1"#)
            )
            #expect(text.contains(#"taskgate_answers_total{provider="capmonster",cache="hit"} 1"#))
            #expect(text.contains(#"taskgate_answers_total{provider="capmonster",cache="miss"} 1"#))
            #expect(text.contains(#"taskgate_vendor_calls_avoided_total{provider="capmonster"} 1"#))
            #expect(text.contains("taskgate_vendor_call_duration_seconds_bucket"))
            #expect(text.contains("taskgate_http_request_duration_seconds_bucket"))
            #expect(text.contains("taskgate_store_rows 1.0"))
            #expect(text.contains("taskgate_store_file_bytes "))
            #expect(text.contains(#"taskgate_build_info{version="0.1.0""#))
            // No unbounded label: no task id, no path. (Labels only: a sample value may hold any digits.)
            let labels = text.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap { line in
                line.firstIndex(of: "{").flatMap { start in line.firstIndex(of: "}").map { line[start...$0] } }
            }
            #expect(!labels.isEmpty)
            #expect(!labels.contains { $0.contains("999") || $0.contains("90") || $0.contains("abc") })
            #expect(!text.contains("/tasks/capmonster/"))
        }
    }

    /// Every metric has HELP text and Prometheus's own linter finds nothing to say, after traffic
    /// on every route; the process metrics are there under their usual names.
    @Test func metricsPassPrometheusLinter() async throws {
        try await withCapMonsterGateway { client, sim in
            addTask(sim.state, id: "92", .state(.succeeded))
            addTask(sim.state, id: "93", .state(.running))
            for path in [
                "/tasks/capmonster/92", "/tasks/capmonster/92", "/tasks/capmonster/93", "/tasks/capmonster/999", "/tasks/capmonster/abc",
                "/tasks/nosuch/1", "/tasks", "/tasks?provider=capmonster&status=running", "/tasks/capmonster/92/artifacts/0",
                "/tasks/capmonster/93?wait=1", "/healthz", "/readyz", "/openapi.yaml", "/nowhere",
            ] {
                _ = try await client.get(path)
            }
            _ = try await client.execute(uri: "/tasks", method: .post) { $0 }
            let text = try await client.get("/metrics").text
            let types = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }
            let helped = Set(text.split(separator: "\n").filter { $0.hasPrefix("# HELP ") }.map { $0.split(separator: " ")[2] })
            #expect(types.count > 20)
            #expect(types.filter { !helped.contains($0) }.isEmpty)
            for name in [
                "process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes", "process_open_fds",
                "process_max_fds", "process_start_time_seconds",
            ] {
                #expect(text.contains("\n\(name) "), "\(name)")
            }
            let lint = try runPromtool(["check", "metrics"], input: text)
            #expect(lint.status == 0)
            #expect(lint.output.isEmpty, "\(lint.output)")
        }
    }

    /// Requests and the vendor calls they make are counted for the key that asked (its
    /// configured name), on both doors; a request without a key is `anonymous`.
    @Test func requestsAndVendorCallsAreCountedForTheirCaller() async throws {
        try await KeyedGateway.run { port, _ in
            let ops = "Authorization: Bearer token-ops\r\n"
            let billing = "Authorization: Bearer token-billing\r\n"
            let task = "/tasks/capmonster/\(KeyedGateway.task)"
            #expect(try await KeyedGateway.get(port, task, ops)?.header("X-Cache") == "MISS")
            #expect(try await KeyedGateway.get(port, task, ops)?.header("X-Cache") == "HIT")
            #expect(try await KeyedGateway.get(port, task, billing)?.header("X-Cache") == "HIT")
            #expect(try await KeyedGateway.get(port, "/tasks/other/\(KeyedGateway.task)", billing)?.status == 403)
            #expect(try await KeyedGateway.get(port, task)?.status == 401)
            let metrics = try #require(try await KeyedGateway.get(port, "/metrics", ops)).text
            let route = #"route="/tasks/{provider}/{id}""#
            for expected in [
                #"taskgate_http_requests_total{\#(route),status_class="2xx",caller="ops"} 2"#,
                #"taskgate_http_requests_total{\#(route),status_class="2xx",caller="billing"} 1"#,
                #"taskgate_http_requests_total{\#(route),status_class="4xx",caller="billing"} 1"#,
                #"taskgate_http_requests_total{\#(route),status_class="4xx",caller="anonymous"} 1"#,
                #"taskgate_vendor_calls_total{provider="capmonster",call="getTaskResult",outcome="ok",caller="ops"} 1"#,
            ] {
                #expect(metrics.contains(expected), "\(expected)")
            }
            #expect(!metrics.contains("token-"))
        }
    }

    @Test func accessLinesCarryWhatAnSRENeeds() async throws {
        let logs = LogRecorder()
        try await withCapMonsterGateway(logs: logs) { client, sim in
            addTask(sim.state, id: "91", .state(.succeeded))
            _ = try await client.get(
                "/tasks/capmonster/91",
                [HTTPField.Name("X-Request-Id")!: "sre-1", HTTPField.Name("X-Forwarded-For")!: "203.0.113.7", .acceptEncoding: "gzip"]
            )
        }
        let access = try #require(logs.lines.first { $0.message == "request" })
        #expect(access.metadata["method"] == "GET")
        #expect(access.metadata["path"] == "/tasks/capmonster/91")
        #expect(access.metadata["status"] == "200")
        #expect(Int(access.metadata["bytes"] ?? "") ?? 0 > 0)
        #expect(Double(access.metadata["duration_ms"] ?? "") != nil)
        #expect(access.metadata["request_id"] == "sre-1")
        #expect(access.metadata["cache"] == "MISS")
        #expect(access.metadata["forwarded_for"] == "203.0.113.7")
        #expect(access.metadata["client"] != nil)
        let vendor = try #require(logs.lines.first { $0.message == "vendor call" })
        #expect(vendor.level == .debug)
        #expect(vendor.metadata["provider"] == "capmonster")
        #expect(vendor.metadata["call"] == "getTaskResult")
        #expect(vendor.metadata["outcome"] == "ok")
        #expect(vendor.metadata["request_id"] == "sre-1")
        #expect(vendor.metadata["duration_ms"] != nil)
    }

    @Test func jsonLogLinesAreOneObjectEach() throws {
        var handler = JSONLogHandler(label: "taskgate")
        handler.metadata["request_id"] = "r-1"
        let rendered = handler.render(level: .info, message: "request \"quoted\"\nnext", metadata: ["status": "200"])
        #expect(!rendered.dropLast().contains(UInt8(ascii: "\n")))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(rendered)) as? [String: String])
        #expect(object["level"] == "info")
        #expect(object["message"] == "request \"quoted\"\nnext")
        #expect(object["request_id"] == "r-1")
        #expect(object["status"] == "200")
        #expect(object["time"]?.hasSuffix("Z") == true)
    }

    @Test func shutdownTurnsReadinessOffThenFinishesRequestsInFlight() async throws {
        let clock = ManualClock()
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))) { sim in
            addTask(
                sim.state,
                id: "92",
                SimulatedTask.Step(answer: .state(.running, result: nil, errorCode: nil, errorMessage: nil), delayMilliseconds: 1500)
            )
            let configuration = capMonsterConfiguration(endpoint: sim.endpoint, store: temporaryStorePath())
            let readiness = Readiness()
            let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
            let app = try buildApplication(
                configuration,
                logger: quietLogger,
                readiness: readiness,
                clock: clock,
                onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) }
            )
            let (stop, stopContinuation) = AsyncStream.makeStream(of: Void.self)
            let runner = GatewayRunner(
                app: app,
                readiness: readiness,
                drainDelay: .milliseconds(800),
                gracePeriod: .seconds(10),
                logger: quietLogger,
                clock: clock
            )
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await runner.run { for await _ in stop { return } } }
                var iterator = ports.makeAsyncIterator()
                let port = try #require(await iterator.next())
                let base = "http://127.0.0.1:\(port)"
                #expect(try await HTTPClient.shared.get(url: base + "/readyz").get().status == .ok)
                async let slow = HTTPClient.shared.execute(HTTPClientRequest(url: base + "/tasks/capmonster/92"), timeout: .seconds(60))
                #expect(await clock.sleepers(1))  // the request is at the vendor
                stopContinuation.yield()
                #expect(await clock.sleepers(2))  // and the drain delay has begun
                // Draining: still listening, but not ready.
                #expect(try await HTTPClient.shared.get(url: base + "/readyz").get().status == .serviceUnavailable)
                // The drain delay ends, the listener closes; the grace period begins.
                clock.advance(by: .milliseconds(800))
                #expect(await eventually { clock.sleepers == 2 && clock.nextDeadline == clock.now + .milliseconds(700) })
                // The vendor answers within the grace period: the request in flight still succeeds.
                clock.advance(by: .milliseconds(700))
                let slowResponse = try await slow
                #expect(slowResponse.status == .ok)
                try await tasks.next()
            }
            #expect(readiness.isShuttingDown)
        }
    }

    @Test func operationalRoutesAnswer() async throws {
        try await withCapMonsterGateway { client, _ in
            #expect(try await client.get("/healthz").status == .ok)
            let ready = try await client.get("/readyz")
            #expect(ready.status == .ok)
            #expect(try ready.json()["status"] as? String == "ready")
            let spec = try await client.get("/openapi.yaml")
            #expect(spec.status == .ok)
            #expect(spec.text.hasPrefix("openapi: 3.1"))
            #expect(spec.text.contains("/tasks/{provider}/{id}"))
            // The document names every problem type a caller can meet, and every route.
            for kind in GatewayError.Kind.allCases { #expect(spec.text.contains(kind.rawValue), "\(kind.rawValue)") }
            for path in ["/events:", "/webhooks/{name}/deliveries:", "/webhooks/{name}/deliveries/{id}/retry:", "/webhooks/{name}/replay:"] {
                #expect(spec.text.contains(path), "\(path)")
            }
            let missing = try await client.get("/nowhere")
            #expect(missing.status == .notFound)
            #expect(missing.headers[.contentType] == "application/problem+json")
            #expect(try missing.json()["type"] as? String == "urn:taskgate:problem:route-not-found")
        }
    }
}
