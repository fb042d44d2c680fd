import Foundation
import GRDB
import HTTPTypes
import HummingbirdTesting
import TaskGate
import TaskGateSimulators
import Testing

/// `GET /tasks`: CapMonster has no list call, so its tasks come from the store.
@Suite(.timeLimit(.minutes(2))) struct TaskListerTests {
    @Test func listsTheTasksTaskgateHasSeenWithTheirLastStatus() async throws {
        try await withCapMonsterGateway { client, sim in
            addTask(sim.state, id: "80", .state(.running))
            addTask(sim.state, id: "81", .state(.succeeded))
            addTask(sim.state, id: "82", .failed(code: "ERROR_CAPTCHA_UNSOLVABLE"))
            addTask(sim.state, id: "83", .state(.running))  // never asked: never listed
            for id in ["80", "81", "82"] { _ = try await client.get("/tasks/capmonster/\(id)") }
            let callsBefore = sim.state.totalCalls

            let all = try await client.get("/tasks")
            #expect(all.status == .ok)
            let page = try all.json()
            let tasks = try #require(page["tasks"] as? [[String: Any]])
            #expect(tasks.map { $0["id"] as? String } == ["80", "81", "82"])
            #expect(tasks.map { $0["status"] as? String } == ["running", "succeeded", "failed"])
            #expect(page["nextCursor"] is NSNull)
            #expect((page["incomplete"] as? [Any])?.isEmpty == true)
            #expect(sim.state.totalCalls == callsBefore)  // listing asks no vendor

            let running = try await client.get("/tasks?status=running&provider=capmonster").json()
            #expect((running["tasks"] as? [[String: Any]])?.map { $0["id"] as? String } == ["80"])
        }
    }

    @Test func pagesFollowTheCursorToTheEnd() async throws {
        try await withCapMonsterGateway { client, sim in
            let ids = (100..<107).map(String.init)
            for id in ids {
                addTask(sim.state, id: id, .state(.succeeded))
                _ = try await client.get("/tasks/capmonster/\(id)")
            }
            var seen: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                let path = "/tasks?limit=3" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try await client.get(path, [.acceptEncoding: "gzip"]).json()
                let tasks = try #require(page["tasks"] as? [[String: Any]])
                #expect(tasks.count <= 3)
                seen += tasks.compactMap { $0["id"] as? String }
                cursor = page["nextCursor"] as? String
                pages += 1
            } while cursor != nil && pages < 10
            #expect(seen == ids)
            #expect(pages == 3)
        }
    }

    @Test(arguments: [
        "/tasks?status=done", "/tasks?status=", "/tasks?limit=0", "/tasks?limit=201", "/tasks?limit=ten",
        "/tasks?provider=nosuch", "/tasks?provider=capmonster,nosuch", "/tasks?cursor=garbage!",
        "/tasks?cursor=eyJmIjoieCIsImkiOjB9", "/tasks?statuss=running", "/tasks?limit=1&limit=2",
    ])
    func badQueriesAreRejected(path: String) async throws {
        try await withCapMonsterGateway { client, _ in
            let response = try await client.get(path)
            #expect(response.status == .badRequest)
            #expect(response.headers[.contentType] == "application/problem+json")
            #expect(try response.json()["type"] as? String == "urn:taskgate:problem:invalid-query")
        }
    }

    @Test func aCursorCannotBeReusedWithAnotherFilter() async throws {
        try await withCapMonsterGateway { client, sim in
            for id in ["90", "91"] {
                addTask(sim.state, id: id, .state(.succeeded))
                _ = try await client.get("/tasks/capmonster/\(id)")
            }
            let first = try await client.get("/tasks?limit=1&status=succeeded").json()
            let cursor = try #require(first["nextCursor"] as? String)
            #expect(try await client.get("/tasks?limit=1&status=succeeded&cursor=\(cursor)").status == .ok)
            let other = try await client.get("/tasks?limit=1&status=running&cursor=\(cursor)")
            #expect(other.status == .badRequest)
        }
    }

    @Test func aSourceThatFailsMakesThePageIncompleteNotAnError() async throws {
        let store = temporaryStorePath()
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey)) { sim in
            let configuration = gatewayConfiguration(
                store: store,
                provider("capmonster", endpoint: sim.endpoint, CapMonsterSettings(clientKey: testClientKey)),
                provider("anticaptcha", endpoint: sim.endpoint, CapMonsterSettings(clientKey: testClientKey))
            )
            try await buildApplication(configuration, logger: quietLogger).test(.router) { client in
                // Break the store under the running gateway, as a bad disk or an operator would.
                try await DatabaseQueue(path: store).write { db in try db.execute(sql: "DROP TABLE task") }
                let response = try await client.get("/tasks")
                #expect(response.status == .ok)
                let page = try response.json()
                #expect((page["tasks"] as? [Any])?.isEmpty == true)
                let incomplete = try #require(page["incomplete"] as? [[String: String]])
                #expect(incomplete.map { $0["provider"] } == ["anticaptcha", "capmonster"])
                #expect(incomplete.allSatisfy { $0["error"] == "urn:taskgate:problem:store-unavailable" })
                #expect(page["nextCursor"] is NSNull)
            }
        }
    }
}
