import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// CapMonster Cloud and every service speaking the anti-captcha JSON protocol
/// (api.anti-captcha.com): `POST {endpoint}/getTaskResult` with `{"clientKey", "taskId"}`.
///
/// Keys (besides the common ones):
/// - `client_key` (secret, required).
/// - `result_budget` (integer, default `110`): result requests taskgate makes per task, counted
///   in the store; the vendor allows 120 and may lock the account beyond. Past it, 429.
/// - `min_poll_interval` (duration, default `2s`): shortest time between two result requests for
///   one task (the vendor answers ERROR_TOO_MUCH_REQUESTS to faster polling).
///
/// Rate limit default: 1000 requests/s with bursts of 1000 (the vendor publishes no account-wide
/// rate, only the per-task rules above; 1,000 tasks polled every 2 s need 500/s).
struct CapMonsterProvider: Provider {
    /// The kind's name, written into every answer.
    static let kind = CapMonsterSettings.kind.name

    let name: String
    let resultURL: String
    let clientKey: String
    let environment: ProviderEnvironment

    /// taskIds are positive integers; no leading zeros, so one task has one spelling.
    func validateID(_ id: String) throws(GatewayError) -> String {
        guard let first = id.utf8.first, first != UInt8(ascii: "0"), id.utf8.count <= 18,
            id.utf8.allSatisfy({ (0x30...0x39).contains($0) })
        else {
            throw GatewayError(.malformedID, "A \(Self.kind) task id is a positive integer (1 to 18 digits, no leading zero).", provider: name)
        }
        return id
    }

    func fetchTask(id: String, known: LastKnownStatus?, logger: Logger) async throws(GatewayError) -> TaskRecord {
        var body = JSONWriter(capacity: 96)
        body.beginObject()
        body.key("clientKey")
        body.string(clientKey)
        body.key("taskId")
        body.raw(id.utf8)  // validated digits: a JSON integer
        body.endObject()
        return try await environment.vendor.exchange(call: "getTaskResult", task: id, logger: logger) {
            var request = HTTPClientRequest(url: resultURL)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "Accept", value: "application/json")
            request.headers.add(name: "Accept-Encoding", value: "gzip")
            request.body = .bytes(body.bytes)
            return request
        } interpret: { (response) throws(GatewayError) in
            // When the vendor answered (not when taskgate began: a wait for the per-task spacing
            // would otherwise age the answer and bring the next poll due at once).
            // The anti-captcha protocol has no request ids.
            let record = try CapMonsterReply.record(
                from: response,
                provider: name,
                kind: Self.kind,
                id: id,
                fetchedAt: environment.clock.date,
                logger: logger
            )
            return (record, nil)
        }
    }
}
