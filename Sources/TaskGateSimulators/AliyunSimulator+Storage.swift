import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import TaskGate

/// The simulated object storage (OSS) the result files are in: signed links that expire, as the
/// vendor's are, and files served whole, by range, or in chunks.
extension AliyunSimulator {
    static var defaultResult: [String: Any] {
        [
            "VideoName": "videoName", "AnalysisUseTime": 30, "ApplicationId": "applicationId",
            "ProcessResultUrl": "http://example.invalid/processResult/x.txt",
        ]
    }

    /// A succeeded task's result when its timeline gives none: the seed's, its file's link
    /// signed now for `resultLinkLifetime`.
    func defaultResult(taskID: String, host: String) -> [String: Any] {
        var result = Self.defaultResult
        guard let resultLinkLifetime else { return result }
        let expires = Int(state.clock.date.timeIntervalSince1970) + Int(resultLinkLifetime.components.seconds)
        let signature = Self.storageSignature(object: Self.resultObject(taskID), expires: expires)
        result["ProcessResultUrl"] =
            "http://\(host)/\(Self.resultObject(taskID))?Expires=\(expires)&OSSAccessKeyId=\(Self.storageKeyID)"
            + "&Signature=\(AliyunRPCSigner.percentEncode(signature))"
        return result
    }

    static func resultObject(_ taskID: String) -> String { "processResult/\(taskID)/result.json" }

    /// OSS V1 query-string signature: base64 HMAC-SHA1 of `GET\n\n\n<Expires>\n/<bucket>/<object>`.
    static func storageSignature(object: String, expires: Int) -> String {
        let stringToSign = "GET\n\n\n\(expires)\n/\(resultBucket)/\(object)"
        let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Data(stringToSign.utf8), using: SymmetricKey(data: Data(storageSecret.utf8)))
        return Data(mac).base64EncodedString()
    }

    /// GET (or HEAD) of a result file, as OSS answers a query-signed request: the file while the
    /// link holds, else its XML errors (403 `AccessDenied` "Request has expired." once expired).
    func resultFile(_ request: Request, task taskID: String, method: String) -> Response {
        let object = Self.resultObject(taskID)
        let query = request.uri.queryParameters
        let now = state.clock.date
        guard let expires = query["Expires"].map(String.init), let keyID = query["OSSAccessKeyId"].map(String.init),
            let signature = query["Signature"].map(String.init)
        else {
            return Self.storageError("AccessDenied", "You have no right to access this object because of bucket acl.", status: .forbidden)
        }
        guard keyID == Self.storageKeyID else {
            return Self.storageError("InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in our records.", status: .forbidden)
        }
        guard let expiry = Int(expires), Double(expiry) >= now.timeIntervalSince1970 else {
            let extra = Int(expires).map {
                ["Expires": AliyunTimestamp.format(Date(timeIntervalSince1970: Double($0))), "ServerTime": AliyunTimestamp.format(now)]
            }
            return Self.storageError("AccessDenied", "Request has expired.", status: .forbidden, extra: extra ?? [:])
        }
        guard signature == Self.storageSignature(object: object, expires: expiry) else {
            return Self.storageError(
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
                status: .forbidden
            )
        }
        guard state.peek(taskID) != nil else {
            return Self.storageError("NoSuchKey", "The specified key does not exist.", status: .notFound)
        }
        state.count(call: "GetObject", for: taskID)
        var headers: HTTPFields = [.contentType: "application/json"]
        headers[HTTPField.Name("x-oss-request-id")!] = Self.storageRequestID()
        headers[HTTPField.Name("x-oss-object-type")!] = "Normal"
        if resultFileChunked {
            let (size, id) = (resultFileBytes, taskID)
            return Response(
                status: .ok,
                headers: headers,
                body: ResponseBody { writer in
                    // Frames of the same file, 64 KiB at a time, made as they go out.
                    let frame = Self.resultFileBody(taskID: id, bytes: 64 << 10)
                    var sent = 0
                    while sent < size {
                        let count = min(frame.count, size - sent)
                        try await writer.write(ByteBuffer(bytes: frame[0..<count]))
                        sent += count
                    }
                    try await writer.finish(nil)
                }
            )
        }
        let body = Self.resultFileBody(taskID: taskID, bytes: resultFileBytes)
        let md5 = Insecure.MD5.hash(data: body).map { String(format: "%02X", $0) }.joined()
        headers[.eTag] = "\"\(md5)\""
        headers[.acceptRanges] = "bytes"
        headers[.contentLength] = String(body.count)
        return Response(status: .ok, headers: headers, body: method == "HEAD" ? .init() : .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// A result file: the task's frames as JSON, `bytes` long (whitespace pads the end), the same
    /// every time.
    public static func resultFileBody(taskID: String, bytes: Int) -> [UInt8] {
        var body = Array(#"{"TaskId":"\#(taskID)","Frames":["#.utf8)
        body.reserveCapacity(bytes + 64)
        var frame = 0
        while true {
            let next = Array(#"\#(frame > 0 ? "," : ""){"Time":\#(frame),"Label":"scene-\#(frame % 7)"}"#.utf8)
            guard body.count + next.count + 2 <= bytes else { break }
            body += next
            frame += 1
        }
        if body.count + 2 < bytes { body += repeatElement(UInt8(ascii: " "), count: bytes - 2 - body.count) }
        body.append(contentsOf: "]}".utf8)
        return body
    }

    static func storageRequestID() -> String {
        String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(24))
    }

    /// OSS's XML error body.
    static func storageError(_ code: String, _ message: String, status: HTTPResponse.Status, extra: [String: String] = [:]) -> Response {
        let requestID = storageRequestID()
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>\(code)</Code>\n  <Message>\(message)</Message>\n"
        xml += "  <RequestId>\(requestID)</RequestId>\n  <HostId>\(resultBucket).oss-cn-shanghai.aliyuncs.com</HostId>\n"
        for (name, value) in extra.sorted(by: { $0.key < $1.key }) { xml += "  <\(name)>\(value)</\(name)>\n" }
        xml += "</Error>\n"
        var headers: HTTPFields = [.contentType: "application/xml"]
        headers[HTTPField.Name("x-oss-request-id")!] = requestID
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: xml)))
    }
}
