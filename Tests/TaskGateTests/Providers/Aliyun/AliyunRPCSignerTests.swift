import Foundation
import TaskGate
import Testing

/// Alibaba's RPC signer (HMAC-SHA1) reproduces the vectors computed with the official SDK, field by field.
@Suite(.timeLimit(.minutes(2))) struct AliyunRPCSignerTests {
    static func vectors(_ name: String) throws -> [[String: Any]] {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: "json"))
        return try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [[String: Any]])
    }

    @Test func rpcVectors() throws {
        let cases = try Self.vectors("aliyun_rpc")
        #expect(cases.count == 3)
        for vector in cases {
            let inputs = try #require(vector["inputs"] as? [String: Any])
            let expected = try #require(vector["expected"] as? [String: String])
            let parameters: [(String, String)]
            if let ordered = inputs["params_signed"] as? [String: String] {
                // The request target keeps the SDK's order, which the JSON object lost; take it from the expected target.
                let target = try #require(expected["request_target"])
                let names = target.dropFirst(2).split(separator: "&").map { String($0.split(separator: "=")[0]) }.filter { $0 != "Signature" }
                parameters = names.map { ($0, ordered[$0]!) }
            } else {
                parameters = try #require(inputs["params"] as? [String: String]).map { ($0.key, $0.value) }
            }
            let signed = AliyunRPCSigner.sign(
                method: try #require(inputs["method"] as? String),
                parameters: parameters,
                secret: try #require(inputs["access_key_secret"] as? String)
            )
            if let canonical = expected["canonicalized_query_string"] { #expect(signed.canonicalQuery == canonical, "\(vector["name"]!)") }
            #expect(signed.stringToSign == expected["string_to_sign"], "\(vector["name"]!)")
            #expect(signed.signature == expected["signature"], "\(vector["name"]!)")
            if let target = expected["request_target"] { #expect(signed.requestTarget == target) }
        }
    }

    @Test(arguments: [
        ("a b", "a%20b"), ("a*b", "a%2Ab"), ("a~b", "a~b"), ("a+b", "a%2Bb"), ("a/b:c", "a%2Fb%3Ac"), ("中文", "%E4%B8%AD%E6%96%87"),
        ("é", "%C3%A9"), ("-_.", "-_."), ("=&", "%3D%26"), ("%", "%25"),
    ])
    func percentEncodingLeavesOnlyUnreservedBare(raw: String, encoded: String) {
        #expect(AliyunRPCSigner.percentEncode(raw) == encoded)
        #expect(AliyunRPCSigner.percentDecode(Substring(encoded)) == raw)
    }

    @Test func reservedAndNonASCIIValuesAreSignedAsTheirUTF8Encoding() {
        let signed = AliyunRPCSigner.sign(
            method: "POST",
            parameters: [("ApplicationName", "app name*~/中"), ("Action", "ListTasks")],
            secret: "s"
        )
        #expect(signed.canonicalQuery == "Action=ListTasks&ApplicationName=app%20name%2A~%2F%E4%B8%AD")
        // Encoded twice in the string to sign: `%` itself becomes %25.
        #expect(signed.stringToSign == "POST&%2F&Action%3DListTasks%26ApplicationName%3Dapp%2520name%252A~%252F%25E4%25B8%25AD")
        #expect(signed.requestTarget.hasPrefix("/?ApplicationName=app%20name%2A~%2F%E4%B8%AD&Action=ListTasks&Signature="))
        // Any change in a value changes the signature.
        let other = AliyunRPCSigner.sign(method: "POST", parameters: [("ApplicationName", "app name*~/中 "), ("Action", "ListTasks")], secret: "s")
        #expect(other.signature != signed.signature)
    }
}
