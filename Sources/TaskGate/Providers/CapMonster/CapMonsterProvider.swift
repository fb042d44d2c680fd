import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// CapMonster Cloud and every service speaking the anti-captcha JSON protocol
/// (api.anti-captcha.com): `POST {endpoint}/getTaskResult` with `{"clientKey", "taskId"}`.
///
/// Keys (besides the common ones): `client_key` (secret, required).
struct CapMonsterProvider: Provider {
    let name: String
    let kind = "capmonster"
    let statusTTL: Duration
    let staleMax: Duration
    let timeout: Duration
    let resultURL: String
    let clientKey: String
    let environment: ProviderEnvironment

    /// taskIds are positive integers; no leading zeros, so one task has one spelling.
    func validateID(_ id: String) throws(GatewayError) -> String {
        guard let first = id.utf8.first, first != UInt8(ascii: "0"), id.utf8.count <= 18,
            id.utf8.allSatisfy({ (0x30...0x39).contains($0) })
        else {
            throw GatewayError(.malformedID, "A \(kind) task id is a positive integer (1 to 18 digits, no leading zero).", provider: name)
        }
        return id
    }

    func fetchTask(id: String, known: KnownTask?, logger: Logger) async throws(GatewayError) -> TaskRecord {
        var request = HTTPClientRequest(url: resultURL)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json")
        var body = JSONWriter(capacity: 96)
        body.beginObject()
        body.key("clientKey")
        body.string(clientKey)
        body.key("taskId")
        body.raw(id.utf8)  // validated digits: a JSON integer
        body.endObject()
        request.body = .bytes(body.bytes)
        let fetchedAt = environment.now()
        return try await environment.http.exchange(
            request,
            call: "getTaskResult",
            provider: name,
            timeout: timeout,
            logger: logger
        ) { (response) throws(GatewayError) in
            // The anti-captcha protocol has no request ids.
            (try CapMonsterAnswer.record(from: response, provider: name, kind: kind, id: id, fetchedAt: fetchedAt), nil)
        }
    }
}

extension ProviderKind {
    static let capmonster = ProviderKind(name: "capmonster", settingKeys: ["client_key"]) {
        (values: ConfigValues) throws(ConfigurationError) -> Builder in
        let clientKey = try values.requiredString("client_key", isSecret: true)
        return { configuration, environment in
            CapMonsterProvider(
                name: configuration.name,
                statusTTL: configuration.statusTTL,
                staleMax: configuration.staleMax,
                timeout: configuration.timeout,
                resultURL: configuration.endpoint.appending(path: "getTaskResult").absoluteString,
                clientKey: clientKey,
                environment: environment
            )
        }
    }
}
