import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Alibaba Cloud multimediaai (RPC API, version 2019-08-10): GetTaskResult, GetTaskStatus and
/// ListTasks, each request signed here with a fresh nonce and timestamp.
///
/// Keys (besides the common ones):
/// - `region` (string, required): the RegionId parameter, e.g. `cn-shanghai`.
/// - `access_key_id` (string, required), `access_key_secret` (secret, required).
/// - `signature` (`rpc` or `v3`, default `rpc`): HMAC-SHA1 RPC signature or ACS3-HMAC-SHA256.
///
/// Rate limit default: 100 requests/s (Alibaba's usual per-account limit for query APIs).
struct AliyunMultimediaAIProvider: Provider {
    typealias SignatureScheme = AliyunSettings.SignatureScheme

    static let version = "2019-08-10"

    /// The kind's name, written into every answer.
    static let kind = AliyunSettings.kind.name

    let name: String
    let endpoint: URL
    let region: String
    let accessKeyID: String
    let accessKeySecret: String
    let scheme: SignatureScheme
    let environment: ProviderEnvironment

    /// A TaskId is a Long: 1 to 19 digits, no leading zero, so one task has one spelling (one row).
    func validateID(_ id: String) throws(GatewayError) -> String {
        guard let first = id.utf8.first, first != UInt8(ascii: "0"), id.utf8.count <= 19,
            id.utf8.allSatisfy({ (0x30...0x39).contains($0) }), Int64(id) != nil
        else {
            throw GatewayError(.malformedID, "An \(Self.kind) TaskId is a Long: 1 to 19 digits, no leading zero.", provider: name)
        }
        return id
    }

    /// A task seen for the first time is fetched whole; a known one is polled with the lighter
    /// GetTaskStatus, and fetched whole once that says it is final. A final task is also looked up
    /// in ListTasks, which knows what GetTaskResult does not (CreateTime, ProcessingDuration, …):
    /// its one stored answer is the richer one.
    func fetchTask(id: String, known: LastKnownStatus?, logger: Logger) async throws(GatewayError) -> TaskRecord {
        try await fetchTask(id: id, known: known, listed: nil, logger: logger)
    }

    /// - Parameter listed: the task's ListTasks item when a listing holds it (no second ListTasks).
    func fetchTask(id: String, known: LastKnownStatus?, listed: JSONFragment?, logger: Logger) async throws(GatewayError) -> TaskRecord {
        if known != nil {
            let status = try await call("GetTaskStatus", [("TaskId", id)], logger: logger)
            let code = try AliyunReply.statusCode(status.body, provider: name)
            guard code == 2 || code == 3 else {
                return try AliyunReply.record(
                    status.body,
                    provider: name,
                    kind: Self.kind,
                    id: id,
                    fetchedAt: environment.clock.date,
                    requestID: status.requestID
                )
            }
        }
        let answer = try await call("GetTaskResult", [("TaskId", id)], logger: logger)
        var record = try AliyunReply.record(
            answer.body,
            provider: name,
            kind: Self.kind,
            id: id,
            fetchedAt: environment.clock.date,
            requestID: answer.requestID
        )
        guard record.isFinal else { return record }
        let given = listed.flatMap { try? JSONSerialization.jsonObject(with: Data($0.bytes)) as? [String: Any] }
        if let item = given, AliyunReply.taskID(item) == id {
            AliyunReply.enrich(&record, with: item)
        } else if let item = await listedItem(id: id, logger: logger) {
            AliyunReply.enrich(&record, with: item)
        }
        return record
    }

    /// The task's ListTasks item; nil when the list call fails or does not have it (the answer is
    /// then stored without the item's fields, which a failing list call must not hold back).
    func listedItem(id: String, logger: Logger) async -> [String: Any]? {
        do {
            let listing = try await call("ListTasks", [("TaskId", id), ("PageNumber", "1"), ("PageSize", "1")], logger: logger)
            let items = listing.body["Tasks"] as? [[String: Any]] ?? []
            return items.first { AliyunReply.taskID($0) == id }
        } catch {
            logger.warning(
                "ListTasks failed; the final answer is stored without its list fields",
                metadata: ["provider": "\(name)", "problem": "\(error.kind.rawValue)"]
            )
            return nil
        }
    }

    var taskList: (any VendorTaskList)? { AliyunTaskList(provider: self) }

    /// GetTaskResult alone, for a task a listing names as finished (no GetTaskStatus first); the
    /// ListTasks item holds the rest of the answer.
    func listedFetch(id: String, item: JSONFragment?, logger: Logger) -> VendorFetch {
        { [self] (_) throws(GatewayError) in try await fetchTask(id: id, known: nil, listed: item, logger: logger) }
    }

    /// One signed call; every attempt is signed with its own nonce and timestamp.
    func call(_ action: String, _ parameters: [(String, String)], logger: Logger) async throws(GatewayError) -> AliyunReply {
        try await environment.vendor.exchange(call: action, logger: logger) {
            signedRequest(action, parameters)
        } interpret: { (response) throws(GatewayError) in
            let answer = try AliyunReply(response, provider: name, call: action, logger: logger)
            return (answer, answer.requestID)
        }
    }

    /// Builds the request with a fresh `SignatureNonce` and `Timestamp` (called for every attempt).
    func signedRequest(_ action: String, _ parameters: [(String, String)]) -> HTTPClientRequest {
        let now = environment.clock.date
        let nonce = UUID().uuidString.lowercased()
        let timestamp = AliyunTimestamp.format(now)
        var request: HTTPClientRequest
        switch scheme {
        case .rpc:
            let common = [
                ("Action", action), ("Version", Self.version), ("Format", "JSON"), ("AccessKeyId", accessKeyID),
                ("SignatureMethod", "HMAC-SHA1"), ("SignatureVersion", "1.0"), ("SignatureNonce", nonce),
                ("Timestamp", timestamp), ("RegionId", region),
            ]
            let signed = AliyunRPCSigner.sign(method: "POST", parameters: parameters + common, secret: accessKeySecret)
            request = HTTPClientRequest(url: baseURL + signed.requestTarget)
        case .v3:
            let query = parameters
            let emptyHash = Hex.encode(SHA256.hash(data: [UInt8]()))
            let headers = [
                ("host", hostHeader), ("x-acs-action", action), ("x-acs-version", Self.version), ("x-acs-date", timestamp),
                ("x-acs-signature-nonce", nonce), ("x-acs-content-sha256", emptyHash),
            ]
            let signed = AliyunV3Signer.sign(
                method: "POST",
                path: "/",
                query: query,
                headers: headers,
                payload: [],
                accessKeyID: accessKeyID,
                secret: accessKeySecret
            )
            let target = "/?" + query.map { AliyunRPCSigner.percentEncode($0.0) + "=" + AliyunRPCSigner.percentEncode($0.1) }.joined(separator: "&")
            request = HTTPClientRequest(url: baseURL + target)
            for (header, value) in headers { request.headers.replaceOrAdd(name: header, value: value) }
            request.headers.add(name: "Authorization", value: signed.authorization)
        }
        request.method = .POST
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "Accept-Encoding", value: "gzip")
        if scheme == .rpc {
            request.headers.add(name: "x-acs-action", value: action)
            request.headers.add(name: "x-acs-version", value: Self.version)
        }
        return request
    }

    /// The endpoint without a trailing slash.
    private var baseURL: String {
        var text = endpoint.absoluteString
        while text.hasSuffix("/") { text.removeLast() }
        return text
    }

    /// `host[:port]` exactly as sent, because V3 signs it.
    private var hostHeader: String {
        (endpoint.host ?? "") + (endpoint.port.map { ":\($0)" } ?? "")
    }
}
