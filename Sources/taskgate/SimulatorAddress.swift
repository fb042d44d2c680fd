import ArgumentParser
import Foundation

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
