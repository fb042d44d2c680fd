import Foundation
import TaskGate
import Testing

/// The TC3 signer reproduces Tencent's worked example and the official SDK's MPS requests.
@Suite(.timeLimit(.minutes(2))) struct TC3SignerTests {
    @Test func vectors() throws {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/tc3", withExtension: "json"))
        let cases = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [[String: Any]])
        #expect(cases.count == 3)
        for vector in cases {
            let inputs = try #require(vector["inputs"] as? [String: Any])
            let expected = try #require(vector["expected"] as? [String: String])
            let wire = vector["wire_request"] as? [String: Any]
            let wireHeaders = wire?["headers"] as? [String: String]
            let host = try #require((inputs["host"] as? String) ?? wireHeaders?["Host"])
            let contentType = try #require((inputs["content_type"] as? String) ?? wireHeaders?["Content-Type"])
            let payload = try #require((inputs["payload"] as? String) ?? (wire?["body"] as? String))
            let signed = TC3Signer.sign(
                service: try #require(inputs["service"] as? String),
                host: host,
                contentType: contentType,
                payload: Array(payload.utf8),
                timestamp: try #require(inputs["timestamp"] as? Int),
                secretID: try #require(inputs["secret_id"] as? String),
                secretKey: try #require(inputs["secret_key"] as? String)
            )
            let name = vector["name"] as? String ?? "?"
            #expect(signed.canonicalRequest == expected["canonical_request"], "\(name)")
            #expect(signed.stringToSign == expected["string_to_sign"], "\(name)")
            #expect(signed.signature == expected["signature"], "\(name)")
            #expect(signed.authorization == expected["authorization"], "\(name)")
            if let sent = wireHeaders?["Authorization"] { #expect(signed.authorization == sent) }
        }
    }

    @Test func theHostIsSignedWithItsPort() {
        let plain = TC3Signer.sign(
            service: "mps",
            host: "127.0.0.1",
            contentType: "application/json",
            payload: [],
            timestamp: 1_700_000_000,
            secretID: "id",
            secretKey: "k"
        )
        let ported = TC3Signer.sign(
            service: "mps",
            host: "127.0.0.1:18084",
            contentType: "application/json",
            payload: [],
            timestamp: 1_700_000_000,
            secretID: "id",
            secretKey: "k"
        )
        #expect(ported.canonicalRequest.contains("host:127.0.0.1:18084\n"))
        #expect(plain.signature != ported.signature)
        #expect(TC3Signer.utcDate(1_700_000_000) == "2023-11-14")
        #expect(TC3Signer.utcDate(1_551_139_199) == "2019-02-25")  // 23:59:59 UTC, still the 25th
    }
}
