import Foundation
import TaskGate
import Testing

/// Alibaba's V3 signer (ACS3-HMAC-SHA256) reproduces the vectors computed with the official SDK.
@Suite(.timeLimit(.minutes(2))) struct AliyunV3SignerTests {
    @Test func v3Vectors() throws {
        let cases = try AliyunRPCSignerTests.vectors("aliyun_v3")
        #expect(cases.count == 2)
        for vector in cases {
            let inputs = try #require(vector["inputs"] as? [String: Any])
            let expected = try #require(vector["expected"] as? [String: String])
            let signed = AliyunV3Signer.sign(
                method: try #require(inputs["method"] as? String),
                path: try #require(inputs["path"] as? String),
                query: try #require(inputs["query"] as? [String: String]).map { ($0.key, $0.value) },
                headers: try #require(inputs["headers"] as? [String: String]).map { ($0.key, $0.value) },
                payload: Array(try #require(inputs["payload"] as? String).utf8),
                accessKeyID: try #require(inputs["access_key_id"] as? String),
                secret: try #require(inputs["access_key_secret"] as? String)
            )
            #expect(signed.canonicalRequest == expected["canonical_request"], "\(vector["name"]!)")
            #expect(signed.stringToSign == expected["string_to_sign"])
            #expect(signed.signature == expected["signature"])
            #expect(signed.authorization == expected["authorization"])
            #expect(signed.hashedPayload == expected["hashed_payload"])
        }
    }
}
