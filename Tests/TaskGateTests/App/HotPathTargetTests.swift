import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import NIOHTTP1
import TaskGate
import TaskGateSimulators
import Testing

@testable import TaskGate

/// Which targets the hot path reads as `/tasks/{provider}/{id}` (anything else goes to the router).
@Suite struct HotPathTargetTests {
    @Test(arguments: [
        ("/tasks/capmonster/91", "capmonster", "91"),
        ("/tasks/aliyun/E2A1B3C4-0000-4000-8000-00000000000A", "aliyun", "E2A1B3C4-0000-4000-8000-00000000000A"),
        ("/tasks/p/\u{e9}t\u{e9}", "p", "\u{e9}t\u{e9}"),
    ])
    func aTaskTargetIsSplit(target: String, provider: String, id: String) {
        let split = HotPath.taskPath(target)
        #expect(split?.0 == provider && split?.1 == id)
    }

    @Test(arguments: [
        "/tasks", "/tasks/", "/tasks/capmonster", "/tasks/capmonster/", "/tasks//91", "/tasks/capmonster/91/", "/tasks/a/b/c",
        "/tasks/capmonster/91?wait=5s", "/tasks/capmonster/9%31", "/task/capmonster/91", "/tasksx/capmonster/91", "/metrics",
    ])
    func anythingElseGoesToTheRouter(target: String) {
        #expect(HotPath.taskPath(target) == nil)
    }
}
