import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Tencent Cloud MPS (API 3.0, version 2019-06-12): DescribeTaskDetail and DescribeTasks, each
/// request signed here with TC3-HMAC-SHA256.
///
/// Keys (besides the common ones):
/// - `secret_id` (string, required), `secret_key` (secret, required).
/// - `region` (string, optional): sent as X-TC-Region when set.
///
/// Rate limit default: 100 requests/s (Tencent allows DescribeTaskDetail 100/s).
struct TencentMPSProvider: Provider {
    static let version = "2019-06-12"
    static let service = "mps"
    /// Sent byte for byte as signed.
    static let contentType = "application/json"

    /// The kind's name, written into every answer.
    static let kind = TencentSettings.kind.name

    let name: String
    let endpoint: URL
    let region: String?
    let secretID: String
    let secretKey: String
    let environment: ProviderEnvironment

    /// 1–128 characters of `A-Z a-z 0-9 - _` (e.g. `2600010949-WorkflowTask-80108cc3380155d98b2e3573a48a`).
    func validateID(_ id: String) throws(GatewayError) -> String {
        guard (1...128).contains(id.utf8.count),
            id.utf8.allSatisfy({ $0.isASCIIAlphanumeric || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") })
        else {
            throw GatewayError(.malformedID, "A \(Self.kind) TaskId is 1 to 128 characters of A-Z, a-z, 0-9, - and _.", provider: name)
        }
        return id
    }

    func fetchTask(id: String, known: LastKnownStatus?, logger: Logger) async throws(GatewayError) -> TaskRecord {
        var body = JSONWriter(capacity: 64 + id.utf8.count)
        body.beginObject()
        body.key("TaskId")
        body.string(id)
        body.endObject()
        let answer = try await call("DescribeTaskDetail", body: body.bytes, logger: logger)
        return try TencentReply.record(
            detail: answer.body,
            provider: name,
            kind: Self.kind,
            id: id,
            fetchedAt: environment.clock.date,
            requestID: answer.requestID
        )
    }

    var taskList: (any VendorTaskList)? { TencentTaskList(provider: self) }

    /// One DescribeTasks page: the items of one vendor status, and the token of the next page
    /// (empty: the last).
    func describeTasks(
        status: String,
        limit: Int,
        scrollToken: String,
        logger: Logger
    ) async throws(GatewayError) -> (items: [[String: Any]], scrollToken: String, requestID: String?) {
        var body = JSONWriter()
        body.beginObject()
        body.key("Status")
        body.string(status)
        body.key("Limit")
        body.raw(String(limit).utf8)
        body.key("ScrollToken")
        body.string(scrollToken)
        body.endObject()
        let answer = try await call("DescribeTasks", body: body.bytes, logger: logger)
        guard let items = answer.body["TaskSet"] as? [[String: Any]] else {
            throw GatewayError(
                .vendorBadAnswer,
                "The vendor's DescribeTasks answer has no TaskSet.",
                provider: name,
                vendorRequestID: answer.requestID
            )
        }
        return (items, (answer.body["ScrollToken"] as? String) ?? "", answer.requestID)
    }

    /// One signed call; every attempt is signed with its own timestamp.
    func call(_ action: String, body: [UInt8], logger: Logger) async throws(GatewayError) -> TencentReply {
        try await environment.vendor.exchange(call: action, logger: logger) {
            signedRequest(action, body: body)
        } interpret: { (response) throws(GatewayError) in
            let answer = try TencentReply(response, provider: name, call: action, logger: logger)
            return (answer, answer.requestID)
        }
    }

    func signedRequest(_ action: String, body: [UInt8]) -> HTTPClientRequest {
        let timestamp = Int(environment.clock.date.timeIntervalSince1970)
        let signed = TC3Signer.sign(
            service: Self.service,
            host: hostHeader,
            contentType: Self.contentType,
            payload: body,
            timestamp: timestamp,
            secretID: secretID,
            secretKey: secretKey
        )
        var request = HTTPClientRequest(url: endpoint.absoluteString)
        request.method = .POST
        request.headers.replaceOrAdd(name: "Host", value: hostHeader)
        request.headers.add(name: "Content-Type", value: Self.contentType)
        request.headers.add(name: "X-TC-Action", value: action)
        request.headers.add(name: "X-TC-Version", value: Self.version)
        request.headers.add(name: "X-TC-Timestamp", value: String(timestamp))
        if let region { request.headers.add(name: "X-TC-Region", value: region) }
        request.headers.add(name: "Authorization", value: signed.authorization)
        request.headers.add(name: "Accept-Encoding", value: "gzip")
        request.body = .bytes(body)
        return request
    }

    /// `host[:port]` exactly as sent, because TC3 signs it.
    private var hostHeader: String {
        (endpoint.host ?? "") + (endpoint.port.map { ":\($0)" } ?? "")
    }
}

extension UInt8 {
    var isASCIIAlphanumeric: Bool {
        (0x30...0x39).contains(self) || (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self)
    }
}
