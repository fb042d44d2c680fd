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
@testable import TaskGateSimulators

@Suite(.timeLimit(.minutes(3))) struct AliyunTaskListTests {
    @Test(arguments: [
        ("1/100/0", true), ("21474836/100/99", true), ("21474837/100/0", false), ("4611686018427387904/2/0", false),
        ("0/10/0", false), ("1/101/0", false), ("1/10/10", false), ("1//10/0", false), ("1/10/0/", false), ("-1/10/0", false),
    ])
    func alibabaPagePositionsStayWithinItsIntegers(token: String, valid: Bool) {
        let position = AliyunTaskList.Position(token: token)
        #expect((position != nil) == valid)
        if let position { #expect(position.itemsThrough != nil) }
    }

    /// A final task's answer is the same whichever route gives it first, and it is the richer one:
    /// GetTaskResult's result with what ListTasks adds (CreateTime and the item's own fields).
    @Test(arguments: [true, false])
    func aFinalTaskHasOneAnswerOnEveryRoute(singleFirst: Bool) async throws {
        try await withAliyunGateway { client, sim in
            let fields: [String: JSONValue] = ["ProcessingDuration": JSONValue(12)!, "ApplicationName": JSONValue("app1")!]
            let created = sim.state.clock.date.addingTimeInterval(-60)
            let steps: [SimulatedTask.Step] = [.state(.succeeded, result: AliyunMultimediaAIProviderTests.result)]
            sim.state.add(SimulatedTask(id: "400099", steps: steps, createdAt: created, fields: fields))
            let listingPath = "/tasks?provider=aliyun&status=succeeded"
            var single: [String: Any]
            var listed: [String: Any]
            if singleFirst {
                single = try await client.get("/tasks/aliyun/400099").json()
                listed = try #require((try await client.get(listingPath).json()["tasks"] as? [[String: Any]])?.first)
            } else {
                listed = try #require((try await client.get(listingPath).json()["tasks"] as? [[String: Any]])?.first)
                single = try await client.get("/tasks/aliyun/400099").json()
            }
            let canonical = { (object: [String: Any]) in try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) }
            #expect(try canonical(single) == canonical(listed))
            #expect(single["createdAt"] as? String == RFC3339Text.format(created))
            let vendorFields = try #require(single["vendorFields"] as? [String: Any])
            #expect(vendorFields["ProcessingDuration"] as? Int == 12)
            #expect(vendorFields["ApplicationName"] as? String == "app1")
            #expect((single["vendorRequestId"] as? String)?.isEmpty == false)
        }
    }

    @Test func vendorListFiltersPassThroughAndStayBoundToTheCursor() async throws {
        try await withAliyunGateway { client, sim in
            for index in 0..<4 {
                let id = String(600 + index)
                let fields = ["ApplicationName": JSONValue(index < 3 ? "app1" : "app2")!, "ServiceType": JSONValue(1)!]
                sim.state.add(SimulatedTask(id: id, steps: [.state(.running)], createdAt: sim.state.clock.date, fields: fields))
            }
            let first = try await client.get("/tasks?provider=aliyun&vendor.ApplicationName=app1&limit=2").json()
            #expect((first["tasks"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["600", "601"])
            let cursor = try #require(first["nextCursor"] as? String)
            let second = try await client.get("/tasks?provider=aliyun&vendor.ApplicationName=app1&limit=2&cursor=\(cursor)").json()
            #expect((second["tasks"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["602"])
            let byID = try await client.get("/tasks?provider=aliyun&vendor.TaskId=603").json()
            #expect((byID["tasks"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["603"])

            let unbound = try await client.get("/tasks?provider=aliyun&limit=2&cursor=\(cursor)")
            #expect(unbound.status == .badRequest)
            let unknown = try await client.get("/tasks?provider=aliyun&vendor.Bogus=1")
            #expect(unknown.status == .badRequest)
            let problem = try unknown.json()
            #expect(problem["type"] as? String == "urn:taskgate:problem:invalid-query")
            #expect((problem["detail"] as? String)?.contains("vendor.ApplicationName, vendor.ServiceType, vendor.TaskId") == true)
            #expect(try await client.get("/tasks?vendor.ApplicationName=app1").status == .badRequest)
        }
    }
}
