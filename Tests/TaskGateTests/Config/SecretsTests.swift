import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import TaskGate
import TaskGateSimulators
import Testing

/// Secrets never appear in logs, answers or metrics, whatever goes wrong.
@Suite(.timeLimit(.minutes(2))) struct SecretsTests {
    static let capmonsterKey = "SECRETcapmonsterKEY0123456789abcd"
    static let aliyunSecret = "SECRETaliyunSECRET0123456789abcd"
    static let tencentKey = "SECRETtencentKEY0123456789abcdef"

    @Test func noSecretAppearsAnywhereOnAnyPath() async throws {
        let logs = LogRecorder()
        // The vendors know other secrets: every signed call is refused, and the refusals are logged.
        let capmonster = CapMonsterSimulator(clientKey: "the-vendor-knows-another-key")
        let aliyun = AliyunSimulator(accessKeyID: aliyunKeyID, accessKeySecret: "another-secret")
        let tencent = TencentSimulator(secretID: tencentSecretID, secretKey: "another-key")
        var seen: [String] = []
        try await withSimulator(capmonster) { capmonsterSim in
            try await withSimulator(aliyun) { aliyunSim in
                try await withSimulator(tencent) { tencentSim in
                    var capmonster = provider("capmonster", endpoint: capmonsterSim.endpoint, CapMonsterSettings(clientKey: Self.capmonsterKey))
                    capmonster.timeout = .seconds(5)
                    let configuration = gatewayConfiguration(
                        store: temporaryStorePath(),
                        logLevel: .trace,
                        capmonster,
                        provider(
                            "aliyun",
                            endpoint: aliyunSim.endpoint,
                            AliyunSettings(region: "cn-shanghai", accessKeyID: aliyunKeyID, accessKeySecret: Self.aliyunSecret)
                        ),
                        provider("tencent", endpoint: tencentSim.endpoint, TencentSettings(secretID: tencentSecretID, secretKey: Self.tencentKey))
                    )
                    let app = try buildApplication(configuration, logger: logs.logger)
                    seen = try await app.test(.router) { client in
                        var texts: [String] = []
                        let paths = [
                            "/tasks/capmonster/1", "/tasks/capmonster/abc", "/tasks/aliyun/1", "/tasks/aliyun/x", "/tasks/tencent/t-1",
                            "/tasks/tencent/bad!", "/tasks/nosuch/1", "/tasks", "/tasks?status=bogus", "/tasks?provider=aliyun,tencent",
                            "/readyz", "/healthz", "/nowhere",
                        ]
                        for path in paths {
                            let response = try await client.get(path, [.acceptEncoding: "identity"])
                            texts.append(response.text)
                            texts.append(response.headers.map { "\($0.name): \($0.value)" }.joined(separator: "\n"))
                        }
                        texts.append(try await client.get("/metrics").text)
                        return texts
                    }
                    #expect(capmonsterSim.state.rejections["ERROR_KEY_DOES_NOT_EXIST", default: 0] >= 1)
                    #expect(aliyunSim.state.rejections["SignatureDoesNotMatch", default: 0] >= 1)
                    #expect(tencentSim.state.rejections["AuthFailure.SignatureFailure", default: 0] >= 1)
                }
            }
        }
        #expect(logs.lines.count > 20)
        let everything = seen + logs.lines.map(\.rendered)
        for secret in [Self.capmonsterKey, Self.aliyunSecret, Self.tencentKey] {
            #expect(!everything.contains { $0.contains(secret) }, "secret leaked: \(secret.prefix(12))…")
            // Nor a recognizable part of it.
            #expect(!everything.contains { $0.contains(secret.suffix(16)) })
        }
    }
}
