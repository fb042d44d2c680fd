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

/// Kept files are served inert: typed as the answer lists them, never a page a browser runs.
@Suite(.timeLimit(.minutes(3))) struct ArtifactTests {
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
            try await withAliyunGateway(configure: ArtifactMirrorTests.mirroring()) { client, sim in
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
}
