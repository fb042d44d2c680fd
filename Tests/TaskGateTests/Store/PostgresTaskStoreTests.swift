import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import Synchronization
import Testing

@testable import TaskGate
@testable import TaskGateSimulators

/// Several replicas on one PostgreSQL database: what one has stored, every other serves.
@Suite(.timeLimit(.minutes(2))) struct PostgresTaskStoreTests {
    @Test func aFinalAnswerGivenByOneReplicaIsAHitOnAnother() async throws {
        let database = try PostgresCluster.shared.newDatabase()
        let clock = ManualClock(skipsWaits: true)
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))) { sim in
            addTask(sim.state, id: "31", .state(.succeeded, result: #"{"text":"shared"}"#))
            let configuration = capMonsterConfiguration(endpoint: sim.endpoint, store: database)
            let first = try buildApplication(configuration, logger: quietLogger, clock: clock)
            let given = try await first.test(.router) { client in
                let response = try await client.get("/tasks/capmonster/31")
                #expect(response.headers[.init("X-Cache")!] == "MISS")
                return response.body
            }
            let second = try buildApplication(configuration, logger: quietLogger, clock: clock)
            try await second.test(.router) { client in
                let response = try await client.get("/tasks/capmonster/31")
                #expect(response.status == .ok)
                #expect(response.headers[.init("X-Cache")!] == "HIT")
                #expect(response.body == given)
                let listed = try await client.get("/tasks?provider=capmonster").json()
                #expect((listed["tasks"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["31"])
                let metrics = String(buffer: try await client.get("/metrics").body)
                #expect(metrics.contains(#"taskgate_store_operation_duration_seconds_count{operation="read"}"#))
            }
            #expect(sim.state.calls(for: "31") == ["getTaskResult": 1])
        }
    }

    @Test func aStoreWrittenByANewerTaskgateIsRefused() async throws {
        let database = try PostgresCluster.shared.newDatabase()
        try await withStore(at: database) { store in
            let postgres = try #require(store as? PostgresTaskStore)
            try await postgres.client.query("INSERT INTO taskgate_migrations (name) VALUES ('v99: from the future')")
        }
        do {
            try await withStore(at: database) { _ in }
            Issue.record("a store from a newer taskgate was opened")
        } catch let error as StoreOpenError {
            #expect(error.isRefusal)
            #expect(error.reason.contains("v99: from the future"))
        }
    }

    /// PostgreSQL down under a running gateway: nothing exits, final answers in memory are still
    /// served, what needs the store is 503 store-unavailable, /readyz is 503 — and when the
    /// database is back taskgate reconnects by itself.
    @Test func aDatabaseOutageIsSurvivedWithoutARestart() async throws {
        let cluster = try PostgresCluster.dedicated()
        let database = try cluster.newDatabase()
        let clock = ManualClock(skipsWaits: true)
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))) { sim in
            addTask(sim.state, id: "41", .state(.succeeded))
            addTask(sim.state, id: "42", .state(.running))
            let app = try buildApplication(capMonsterConfiguration(endpoint: sim.endpoint, store: database), logger: quietLogger, clock: clock)
            try await app.test(.router) { client in
                #expect(try await eventuallyAnswers { try await client.get("/readyz").status == .ok })
                #expect(try await client.get("/tasks/capmonster/41").status == .ok)

                try cluster.stop()
                #expect(try await client.get("/readyz").status == .serviceUnavailable)
                let held = try await client.get("/tasks/capmonster/41")
                #expect(held.status == .ok)
                #expect(held.headers[.init("X-Cache")!] == "HIT")
                let needsStore = try await client.get("/tasks/capmonster/42")
                #expect(needsStore.status == .serviceUnavailable)
                #expect(try needsStore.json()["type"] as? String == "urn:taskgate:problem:store-unavailable")

                try cluster.start()
                #expect(try await eventuallyAnswers { try await client.get("/readyz").status == .ok })
                #expect(try await client.get("/tasks/capmonster/42").status == .ok)
            }
        }
        try cluster.stop()
    }

    /// Concurrent requests for one running task on two replicas cost one vendor call: the lease
    /// on the task row holds the other replica's caller until the answer is saved (its
    /// notification wakes it), which every caller then gets.
    @Test func oneVendorCallAcrossReplicas() async throws {
        let database = try PostgresCluster.shared.newDatabase()
        let clock = ManualClock()
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))) { sim in
            addTask(
                sim.state,
                id: "51",
                SimulatedTask.Step(answer: .state(.running, result: nil, errorCode: nil, errorMessage: nil), delayMilliseconds: 1000)
            )
            // Real-time bounds (the vendor call's socket deadline, the wait on the other replica) far
            // above what a loaded machine needs: this test is about call counts, not time.
            let configuration = capMonsterConfiguration(endpoint: sim.endpoint, store: database) { $0.timeout = .seconds(60) }
            let replicaA = try buildGateway(configuration, logger: quietLogger, clock: clock)
            let replicaB = try buildGateway(configuration, logger: quietLogger, clock: clock)
            let key = AnswerCache.Key(provider: "capmonster", id: "51")
            try await replicaA.application.test(.router) { a in
                try await replicaB.application.test(.router) { b in
                    let outcomes = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String?).self) { group in
                        for index in 0..<16 {
                            group.addTask {
                                let response = try await (index.isMultiple(of: 2) ? a : b).get("/tasks/capmonster/51")
                                return (response.status, response.headers[.init("X-Cache")!])
                            }
                        }
                        // One replica's call is at the vendor (asleep in the simulator) and the
                        // other's leader waits on the lease; each has 7 callers behind its leader.
                        #expect(
                            await eventually {
                                clock.sleepers == 1 && replicaA.service.cache.waiters(for: key) == 7
                                    && replicaB.service.cache.waiters(for: key) == 7
                            }
                        )
                        clock.advance(by: .seconds(1))
                        return try await group.reduce(into: []) { $0.append($1) }
                    }
                    #expect(outcomes.count == 16)
                    #expect(outcomes.allSatisfy { $0.0 == .ok }, "\(outcomes)")
                    #expect(outcomes.filter { $0.1 == "MISS" }.count == 1)
                    #expect(outcomes.filter { $0.1 == "COALESCED" }.count == 15)
                }
            }
            #expect(sim.state.calls(for: "51") == ["getTaskResult": 1])
        }
    }

    /// A final answer whose links are due is refreshed once for the cluster: one replica asks the
    /// vendor, the other waits on the task's lease and serves what the first stored.
    @Test func oneLinkRefreshAcrossReplicas() async throws {
        let database = try PostgresCluster.shared.newDatabase()
        let clock = ManualClock()
        let vendor = AliyunSimulator(accessKeyID: aliyunKeyID, accessKeySecret: aliyunSecret, state: SimulatorState(clock: clock))
        try await withSimulator(vendor) { sim in
            // Succeeded from the start; the vendor's answer to the refresh takes a second.
            var slow = SimulatedTask.Step.state(.succeeded)
            slow.delayMilliseconds = 1000
            addTask(sim.state, id: "500010", .state(.succeeded, seconds: 3400), slow)
            var aliyun = provider(
                "aliyun",
                endpoint: sim.endpoint,
                AliyunSettings(region: "cn-shanghai", accessKeyID: aliyunKeyID, accessKeySecret: aliyunSecret)
            )
            aliyun.timeout = .seconds(60)
            aliyun.rateBurst = 100  // no rate wait on a clock that does not move by itself
            let configuration = gatewayConfiguration(store: database, aliyun)
            let replicaA = try buildGateway(configuration, logger: quietLogger, clock: clock)
            let replicaB = try buildGateway(configuration, logger: quietLogger, clock: clock)
            let key = AnswerCache.Key(provider: "aliyun", id: "500010")
            try await replicaA.application.test(.router) { a in
                try await replicaB.application.test(.router) { b in
                    let first = try await a.get("/tasks/aliyun/500010")
                    #expect(first.headers[.init("X-Cache")!] == "MISS")
                    clock.advance(by: .seconds(3500))
                    let outcomes = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String?, String?).self) { group in
                        for index in 0..<16 {
                            group.addTask {
                                let response = try await (index.isMultiple(of: 2) ? a : b).get("/tasks/aliyun/500010")
                                return (response.status, response.headers[.init("X-Cache")!], response.headers[.eTag])
                            }
                        }
                        #expect(
                            await eventually {
                                clock.sleepers == 1 && replicaA.service.cache.waiters(for: key) == 7
                                    && replicaB.service.cache.waiters(for: key) == 7
                            }
                        )
                        clock.advance(by: .seconds(1))
                        return try await group.reduce(into: []) { $0.append($1) }
                    }
                    #expect(outcomes.allSatisfy { $0.0 == .ok && $0.1 == "REFRESH" }, "\(outcomes)")
                    #expect(Set(outcomes.map(\.2)).count == 1)
                    #expect(outcomes.first?.2 != first.headers[.eTag])
                }
            }
            #expect(sim.state.calls(for: "500010")["GetTaskResult"] == 2)
        }
    }

    /// A long poll on one replica is woken by another replica storing the task final, at once:
    /// the test clock never moves, so no poll of its own could have found it.
    @Test func aLongPollWakesWhenAnotherReplicaSeesTheTaskFinal() async throws {
        let database = try PostgresCluster.shared.newDatabase()
        let clock = ManualClock()
        let vendor = AliyunSimulator(accessKeyID: aliyunKeyID, accessKeySecret: aliyunSecret, state: SimulatorState(clock: clock))
        try await withSimulator(vendor) { sim in
            addTask(sim.state, id: "700010", .state(.running, polls: 1), .state(.succeeded, result: AliyunMultimediaAIProviderTests.result))
            var aliyun = provider(
                "aliyun",
                endpoint: sim.endpoint,
                AliyunSettings(region: "cn-shanghai", accessKeyID: aliyunKeyID, accessKeySecret: aliyunSecret)
            )
            TaskServiceLongPollTests.pacedAliyun(&aliyun)
            let replicaA = try buildGateway(gatewayConfiguration(store: database, aliyun), logger: quietLogger, clock: clock)
            // B reuses nothing, so its caller asks the vendor while A's answer is still fresh.
            aliyun.statusTTL = .zero
            let replicaB = try buildGateway(gatewayConfiguration(store: database, aliyun), logger: quietLogger, clock: clock)
            try await replicaA.application.test(.router) { a in
                try await replicaB.application.test(.router) { b in
                    async let waited = a.get("/tasks/aliyun/700010?wait=60s")
                    // A has seen it running and sleeps until its answer is stale.
                    #expect(await clock.sleepers(1))
                    let seen = try await b.get("/tasks/aliyun/700010")
                    #expect(try seen.json()["status"] as? String == "succeeded")
                    let answer = try await waited
                    #expect(try answer.json()["status"] as? String == "succeeded")
                    #expect(answer.body == seen.body)
                }
            }
            #expect(sim.state.calls(for: "700010")["GetTaskResult"] == 2)
        }
    }

    /// Two replicas watching the same store take turns, task by task (SKIP LOCKED): each due
    /// task is asked about once per interval, not once per replica.
    @Test func replicasWatchEachTaskOnce() async throws {
        let database = try PostgresCluster.shared.newDatabase()
        let clock = ManualClock()
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))) { sim in
            var capmonster = TaskWatcherTests.capmonster(sim.endpoint)
            capmonster.watch = true
            let configuration = gatewayConfiguration(store: database, capmonster)
            let replicaA = try buildGateway(configuration, logger: quietLogger, clock: clock)
            let replicaB = try buildGateway(configuration, logger: quietLogger, clock: clock)
            let ids = (0..<10).map { String(910_000 + $0) }
            for id in ids { addTask(sim.state, id: id, .state(.running)) }
            try await replicaA.application.test(.router) { a in
                try await replicaB.application.test(.router) { _ in
                    for id in ids { _ = try await a.get("/tasks/capmonster/\(id)") }
                    // Both watchers sleep until their next round; one interval (2 s) on, each task
                    // has been asked about once more, by one of them.
                    #expect(await clock.sleepers(2))
                    let polls = { @Sendable in ids.map { sim.state.calls(for: $0)["getTaskResult"] ?? 0 } }
                    await clock.drive(for: .milliseconds(2500), sleepers: 2) { polls().allSatisfy { $0 >= 2 } }
                    // Both watchers asleep again until the next interval: nobody asked twice.
                    #expect(await eventually { clock.sleepers >= 2 && clock.nextDeadline.map { $0 > clock.now + .seconds(1) } == true })
                    #expect(polls() == Array(repeating: 2, count: 10))
                }
            }
        }
    }

    /// Two replicas sending from one outbox: each event reaches its receiver once.
    @Test func replicasSendEachWebhookEventOnce() async throws {
        let database = try PostgresCluster.shared.newDatabase()
        let clock = ManualClock()
        try await withReceiver { url, received in
            try await withSimulator(CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))) { sim in
                var configuration = capMonsterConfiguration(endpoint: sim.endpoint, store: database)
                configuration.webhooks = [try WebhookConfiguration(name: "billing", url: URL(string: url)!, secret: WebhookDispatcherTests.secret)]
                let replicaA = try buildGateway(configuration, logger: quietLogger, clock: clock)
                let replicaB = try buildGateway(configuration, logger: quietLogger, clock: clock)
                let ids = (0..<8).map { String(920_000 + $0) }
                for id in ids { addTask(sim.state, id: id, .state(.succeeded, result: #"{"text":"once"}"#)) }
                try await replicaA.application.test(.router) { a in
                    try await replicaB.application.test(.router) { b in
                        for (index, id) in ids.enumerated() { _ = try await (index.isMultiple(of: 2) ? a : b).get("/tasks/capmonster/\(id)") }
                        await clock.drive(for: .seconds(5), sleepers: 4) { received.value.count >= ids.count }
                        await clock.drive(for: .seconds(10), sleepers: 4)
                    }
                }
                let delivered = received.value.compactMap { $0.header("webhook-id") }
                #expect(delivered.count == ids.count && Set(delivered).count == ids.count, "\(delivered)")
            }
        }
    }

    /// `rate_limit` is the vendor account's rate across replicas: two replicas sending together
    /// take turns in one bucket kept in the store, and the vendor never sees more.
    @Test func theRateLimitHoldsForTheCluster() async throws {
        let database = try PostgresCluster.shared.newDatabase()
        let clock = ManualClock()
        let simulator = TencentSimulator(
            secretID: tencentSecretID,
            secretKey: tencentSecretKey,
            requestsPerSecond: 20,
            state: SimulatorState(clock: clock)
        )
        try await withSimulator(simulator) { sim in
            var tencent = provider(
                "tencent",
                endpoint: sim.endpoint,
                TencentSettings(secretID: tencentSecretID, secretKey: tencentSecretKey, region: "ap-guangzhou")
            )
            tencent.statusTTL = .zero
            tencent.rateLimit = 20
            tencent.rateLimitWait = .seconds(5)
            let configuration = gatewayConfiguration(store: database, tencent)
            let replicaA = try buildApplication(configuration, logger: quietLogger, clock: clock)
            let replicaB = try buildApplication(configuration, logger: quietLogger, clock: clock)
            let ids = (0..<40).map { "2600010949-WorkflowTask-cluster\($0)" }
            for id in ids { addTask(sim.state, id: id, .state(.running)) }
            try await replicaA.test(.router) { a in
                try await replicaB.test(.router) { b in
                    let started = clock.now
                    let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                        for (index, id) in ids.enumerated() {
                            group.addTask { try await (index.isMultiple(of: 2) ? a : b).get("/tasks/tencent/\(id)").status }
                        }
                        // One goes at once, 39 wait for their slots, on both replicas.
                        try #require(await eventually { sim.state.totalCalls == 1 && clock.sleepers == 39 })
                        for sent in 2...40 {
                            // The first miss ends the test: every later step would wait out its own bound.
                            clock.advanceToNextDeadline()
                            try #require(await eventually { sim.state.totalCalls == sent })
                        }
                        return try await group.reduce(into: []) { $0.append($1) }
                    }
                    #expect(statuses.allSatisfy { $0 == .ok })
                    #expect(sim.state.rejections.isEmpty)  // never RequestLimitExceeded
                    // 40 calls at 20 a second (55 ms apart with the margin) span 39 intervals (the
                    // store keeps times as float epoch seconds: within 0.1 ms).
                    let span = clock.now - started
                    #expect(abs((span - .nanoseconds(39 * 55_000_000)).seconds) < 1e-4, "\(span)")
                }
            }
        }
    }

    /// A replica that found a task's lease taken is woken by the holder's save itself, not by
    /// its next look: the wait's bound here is longer than the suite's time limit.
    @Test func theHoldersSaveWakesTheWaitingReplica() async throws {
        let database = try PostgresCluster.shared.newDatabase()
        guard case .postgres(let url) = try StoreLocation(parsing: database) else { throw PostgresCluster.ClusterError("not a URL") }
        let (holder, waiter) = (
            PostgresTaskStore(url: url, poolSize: 2, logger: quietLogger), PostgresTaskStore(url: url, poolSize: 2, logger: quietLogger)
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await holder.run() }
            group.addTask { try await waiter.run() }
            try await holder.waitUntilReady()
            try await waiter.waitUntilReady()
            #expect(await eventually { waiter.listening.withLock { $0 } })
            let now = Date(timeIntervalSince1970: 1_800_000_000)
            let until = now.addingTimeInterval(60)
            #expect(try await holder.acquireLease(provider: "p", id: "1", holder: "A", until: until, now: now))
            let changes = waiter.watchChanges(provider: "p", id: "1")
            #expect(try await !waiter.acquireLease(provider: "p", id: "1", holder: "B", until: until, now: now))
            try await holder.save(try TaskStoreContractTests.answer("1", .running))
            await changes.next(orAfter: .seconds(600))
            changes.end()
            #expect(try await waiter.acquireLease(provider: "p", id: "1", holder: "B", until: until, now: now))
            group.cancelAll()
        }
    }
}
