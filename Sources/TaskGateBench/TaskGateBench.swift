import ArgumentParser
import Foundation
import Logging
import NIOCore
import TaskGate

/// Prepares bench/run.sh's data: final tasks written straight into a taskgate store (batches of
/// 5,000 per transaction), and, when asked, the very same bodies as files for nginx's origin.
@main
struct TaskGateBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "taskgate-bench",
        abstract: "Seed a store and an nginx origin with identical final tasks."
    )

    @Option(help: "The SQLite store taskgate will serve.") var store: String
    @Option(help: "Directory for nginx's origin: <dir>/tasks/<provider>/<id> and .gz beside it (none if not given).")
    var originDirectory: String?
    @Option(help: "The provider the tasks belong to: aliyun (Alibaba video analysis) or capmonster.") var provider: String = "aliyun"
    @Option(help: "How many tasks.") var count: Int = 100_000
    @Option(help: "The first TaskId.") var firstID: Int = 500_000

    func run() async throws {
        var logger = Logger(label: "taskgate-bench")
        logger.logLevel = .warning
        let store = try SQLiteTaskStore(path: store, logger: logger)
        let directory = originDirectory.map { URL(fileURLWithPath: $0).appending(path: "tasks").appending(path: provider) }
        if let directory { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) }
        let fetched = Date()
        // Result links valid for 30 days from now, as a freshly fetched answer's would be (hours):
        // nothing is due for a refresh while the benchmark runs.
        let linksExpire = Int(fetched.timeIntervalSince1970) + 30 * 86_400
        var batch: [EncodedAnswer] = []
        batch.reserveCapacity(5_000)
        for offset in 0..<count {
            let id = String(firstID + offset)
            let (kind, vendorStatus, result) =
                provider == "capmonster"
                ? ("capmonster", "ready", #"{"gRecaptchaResponse":"03AGdBq2\#(id)-\#(String(repeating: "x", count: 200))"}"#)
                // The shape of Alibaba's GetTaskResult answer, as the seed's SDK capture returned it.
                : (
                    "aliyun-multimediaai", "2",
                    """
                    {"AnalysisUseTime":\(30 + offset % 90),"ApplicationId":"app-\(offset % 17)","ProcessResultUrl":"https://multimediaai-output.oss-cn-shanghai.aliyuncs.com/processResult/\(id)/result.json?Expires=\(linksExpire)&OSSAccessKeyId=LTAI5tOUTPUT&Signature=\(id)abcdef%3D","VideoName":"upload/\(id)/video-\(offset % 1000).mp4","VideoUrl":"https://example-bucket.oss-cn-shanghai.aliyuncs.com/upload/\(id)/video.mp4"}
                    """
                )
            let record = TaskRecord(
                provider: provider,
                kind: kind,
                id: id,
                status: .succeeded,
                vendorStatus: vendorStatus,
                result: JSONFragment(parsing: Array(result.utf8)),
                fetchedAt: fetched
            )
            let answer = try EncodedAnswer(record: record)
            batch.append(answer)
            if let file = directory?.appending(path: id) {
                try Data(try answer.bytes.inflated().readableBytesView).write(to: file)
                try Data(answer.bytes.gzip.readableBytesView).write(to: file.appendingPathExtension("gz"))
            }
            if batch.count == 5_000 {
                try await store.save(batch: batch)
                batch.removeAll(keepingCapacity: true)
            }
        }
        try await store.save(batch: batch)
        try store.close()
        print("seeded \(count) final tasks of \(provider) (ids \(firstID)…\(firstID + count - 1))")
    }
}
