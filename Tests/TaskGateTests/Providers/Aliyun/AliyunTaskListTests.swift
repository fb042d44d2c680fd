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
}
