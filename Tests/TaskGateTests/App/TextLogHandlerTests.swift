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

@Suite(.timeLimit(.minutes(3))) struct TextLogHandlerTests {
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
}
