import Foundation
import Logging
import Tracing

extension TaskService {
    /// A record's answer, the files it links to kept first when it is final and its provider
    /// mirrors (`ArtifactMirror.keep`). When some are still being fetched at `mirror_timeout`,
    /// the answer lists those kept so far and is reusable only for as long as the rest may take;
    /// `finishLateFiles` replaces it once they are in.
    func encodeKeepingFiles(
        _ record: TaskRecord,
        provider: ServedProvider,
        previously: [Artifact] = [],
        logger: Logger
    ) async throws(GatewayError) -> (EncodedAnswer, ArtifactMirror.KeptFiles?) {
        guard record.isFinal, let mirror = provider.mirror else { return (try EncodedAnswer(record: record), nil) }
        var record = record
        let files = await mirror.keep(record.result, previously: previously, logger: logger)
        record.artifacts = files.artifacts
        guard files.late != nil else { return (try EncodedAnswer(record: record), nil) }
        // Past the link margin a request would ask the vendor again: reusable for the bound only.
        let until = clock.date.addingTimeInterval(provider.policy.linkMargin.seconds + files.lateBound.seconds + 1)
        return (try EncodedAnswer(record: record, reusableUntil: until), files)
    }

    /// Once the downloads still under way for a final answer end, replaces it with one listing the
    /// files they kept after those it lists (positions, and so hrefs, stay), reusable as long as
    /// its links are; in memory too. Past shutdown the answer stays as it is: reusable only for
    /// the bound, then refreshed, which tries the missing files again.
    func finishLateFiles(_ files: ArtifactMirror.KeptFiles, of record: TaskRecord, key: AnswerCache.Key, logger: Logger) {
        guard let late = files.late else { return }
        let traceparent = tracer?.currentTraceparent()
        _ = background.submit { [self] in
            var record = record
            let kept = await tracer.withTaskSpan(
                "keep files",
                linkedTo: traceparent,
                attributes: ["taskgate.provider": .string(key.provider), "taskgate.task.id": .string(key.id)]
            ) { await late.files() }
            record.artifacts = files.artifacts + kept
            do throws(GatewayError) {
                let answer = try EncodedAnswer(record: record)
                guard try await store.replaceFinal(answer) else { return }
                cache.keep(answer.bytes, for: key)
            } catch {
                logger.warning("files kept late could not be added to the answer", metadata: ["provider": "\(key.provider)"])
            }
        }
    }
}
