import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import TaskGate
@testable import TaskGateSimulators

/// Where each signed-link form keeps its expiry, one row per form (and per way to get it wrong).
@Suite struct LinkExpiryTests {
    static let rows: [(link: String, expires: Double?, form: String)] = [
        (
            "https://multimediaai-output.oss-cn-shanghai.aliyuncs.com/processResult/400099/result.json?Expires=1571392620&OSSAccessKeyId=LTAI4FkeUBLrzPH2r1PaKBEG&Signature=zw9a9Q4nZ1h0Rbi6LkqYmVKB5Nc%3D",
            1_571_392_620, "OSS V1 (the seed's own example)"
        ),
        (
            "https://b.oss-cn-beijing.aliyuncs.com/o.mp4?OSSAccessKeyId=LTAI&Expires=1700000000&Signature=s%2B%3D&response-content-type=video%2Fmp4",
            1_700_000_000, "OSS V1, parameters in another order"
        ),
        ("https://b.oss-cn-beijing.aliyuncs.com/o.mp4?Expires=1700000000", nil, "Expires without a signature is not a signed link"),
        (
            "https://b.oss-cn-hangzhou.aliyuncs.com/o.json?x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-credential=LTAI%2F20240101%2Fcn-hangzhou%2Foss%2Faliyun_v4_request&x-oss-date=20240101T000000Z&x-oss-expires=3600&x-oss-signature=abc",
            1_704_070_800, "OSS V4"
        ),
        (
            "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
            1_369_440_000, "S3 SigV4 (AWS's documented example)"
        ),
        (
            "https://b-1250000000.cos.ap-guangzhou.myqcloud.com/o.mp4?x-amz-date=20240101T000000Z&x-amz-expires=600&x-amz-signature=abc",
            1_704_067_800, "COS SigV4, lowercase names"
        ),
        (
            "https://b-1250000000.cos.ap-guangzhou.myqcloud.com/o.mp4?q-sign-algorithm=sha1&q-ak=AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q&q-sign-time=1557989151;1557996351&q-key-time=1557989151;1557996351&q-header-list=host&q-url-param-list=&q-signature=c8a5d4a2f2ce9a86cba5c6a2c7c8be3e2a8a7b5f",
            1_557_996_351, "COS q-sign-time"
        ),
        (
            "https://b-1250000000.cos.ap-guangzhou.myqcloud.com/o.mp4?q-sign-time=1557989151%3B1557996351&q-signature=x", 1_557_996_351,
            "COS, ; percent-encoded"
        ),
        (
            "https://b-1250000000.cos.ap-guangzhou.myqcloud.com/o.mp4?sign=q-sign-algorithm%3Dsha1%26q-ak%3DAKID%26q-sign-time%3D1557989151%3B1557996351%26q-signature%3Dx",
            1_557_996_351, "COS, the signature in one sign parameter"
        ),
        ("https://b.s3.amazonaws.com/o?X-Amz-Date=2013-05-24T00:00:00Z&X-Amz-Expires=60", nil, "a date not in the signed form"),
        ("https://b.s3.amazonaws.com/o?X-Amz-Date=20130524T000000Z&X-Amz-Expires=soon", nil, "a lifetime that is not a number"),
        ("https://example.com/video.mp4", nil, "a plain link"),
        ("https://example.com/watch?v=Expires", nil, "a query that only looks like one"),
        ("Expires=1700000000&OSSAccessKeyId=a&Signature=b", nil, "not a link"),
    ]

    @Test(arguments: rows)
    func eachFormsExpiry(row: (link: String, expires: Double?, form: String)) {
        #expect(LinkExpiry.expiry(of: row.link) == row.expires.map(Date.init(timeIntervalSince1970:)), "\(row.form)")
    }

    @Test func theEarliestLinkAnywhereInTheResultCounts() throws {
        let result = try #require(
            JSONFragment(jsonObject: [
                "ProcessResultUrl": "https://b.oss-cn-shanghai.aliyuncs.com/r.json?Expires=1800000000&OSSAccessKeyId=a&Signature=b",
                "Outputs": [
                    ["Path": "/out.mp4", "Url": "https://b.oss-cn-shanghai.aliyuncs.com/o.mp4?Expires=1700000000&OSSAccessKeyId=a&Signature=c"]
                ],
                "VideoUrl": "https://example.com/plain.mp4",
                "AnalysisUseTime": 12,
            ])
        )
        #expect(LinkExpiry.earliest(in: result) == Date(timeIntervalSince1970: 1_700_000_000))
        #expect(LinkExpiry.earliest(in: JSONFragment(jsonObject: ["text": "no links"])) == nil)
        #expect(LinkExpiry.earliest(in: nil) == nil)
    }

    /// The answer says when its links die: a signed ProcessResultUrl's expiry, null without one.
    @Test func theAnswerCarriesLinksExpireAt() async throws {
        try await withAliyunGateway { client, sim in
            let signed = "https://b.oss-cn-shanghai.aliyuncs.com/r.json?Expires=1800000000&OSSAccessKeyId=LTAI&Signature=s%3D"
            addTask(sim.state, id: "400201", .state(.succeeded, result: #"{"ProcessResultUrl":"\#(signed)"}"#))
            addTask(sim.state, id: "400202", .state(.succeeded, result: AliyunMultimediaAIProviderTests.result))
            #expect(try await client.get("/tasks/aliyun/400201").json()["linksExpireAt"] as? String == "2027-01-15T08:00:00Z")
            let plain = try await client.get("/tasks/aliyun/400202").json()
            #expect(plain.keys.contains("linksExpireAt") && plain["linksExpireAt"] is NSNull)
        }
    }

    /// A vendor's link may claim any expiry: the answer is cached at most a year, and nothing
    /// converting its time traps (it did: `Int(9.2e18)`).
    @Test(arguments: ["9223372036854775807", "-9223372036854775808", "99999999999999999999"])
    func aLinkExpiringAtTheEndOfTimeIsCachedAYearAtMost(expires: String) async throws {
        try await withAliyunGateway { client, sim in
            let link = "https://b.oss-cn-shanghai.aliyuncs.com/r.json?Expires=\(expires)&OSSAccessKeyId=x&Signature=y"
            addTask(sim.state, id: "600070", .state(.succeeded, result: #"{"ProcessResultUrl":"\#(link)"}"#))
            for _ in 0..<2 {
                let answer = try await client.get("/tasks/aliyun/600070")
                #expect(answer.status == .ok)
                let cacheControl = try #require(answer.headers[.cacheControl])
                let maxAge = try #require(Int(cacheControl.split(separator: "max-age=").last?.prefix { $0.isNumber } ?? ""))
                #expect(maxAge >= 0 && maxAge <= 31_536_000, "\(cacheControl)")
            }
        }
        #expect(Seconds.whole(.nan) == 0 && Seconds.whole(.infinity) == 1 << 53 && Seconds.whole(-1e300) == -(1 << 53))
    }
}
