import ArgumentParser
import Foundation
import TaskGate
import TaskGateSimulators

/// The simulator of a configured provider, accepting that provider's credentials.
func makeSimulator(for provider: ProviderConfiguration, state: SimulatorState = SimulatorState()) throws -> any VendorSimulator {
    switch provider.kind.name {
    case "capmonster":
        return CapMonsterSimulator(clientKey: try provider.values.requiredString("client_key", isSecret: true), state: state)
    case "aliyun-multimediaai":
        return AliyunSimulator(
            accessKeyID: try provider.values.requiredString("access_key_id"),
            accessKeySecret: try provider.values.requiredString("access_key_secret", isSecret: true),
            state: state
        )
    case "tencent-mps":
        return TencentSimulator(
            secretID: try provider.values.requiredString("secret_id"),
            secretKey: try provider.values.requiredString("secret_key", isSecret: true),
            state: state
        )
    default:
        throw ValidationError("no simulator for kind \(provider.kind.name)")
    }
}

/// Where a simulator binds: the host and port of the provider's endpoint.
struct SimulatorAddress {
    var host: String
    var port: Int

    init(endpoint: URL) throws {
        guard endpoint.scheme == "http", let host = endpoint.host else {
            throw ValidationError("a simulator serves plain http; endpoint \(endpoint.absoluteString) is not http://host:port")
        }
        self.host = host
        self.port = endpoint.port ?? 80
    }
}
