import Logging
import NIOCore

/// Answers `GET /tasks`: asks each provider's source in turn until the page is full, and
/// reports a source that failed as `incomplete` instead of failing the page.
struct TaskLister: Sendable {
    let tasks: TaskService
    /// Vendor calls one page may cost at most (a vendor paging empty pages cannot loop us).
    let maxSourceCalls = 8

    struct Page {
        var tasks: [ByteBuffer]
        var nextCursor: String?
        var incomplete: [(provider: String, error: GatewayError)]
    }

    /// - Throws: `invalid-query` (400) when the cursor's page token is not one its provider's
    ///   source reads, before any vendor is asked; a source failing later makes the page
    ///   incomplete instead.
    func page(for query: TaskQuery, cursorKey: CursorKey, logger: Logger) async throws(GatewayError) -> Page {
        var index = query.cursor?.providerIndex ?? 0
        var token = query.cursor?.token
        if let token, index < query.providers.count, let provider = tasks.providers[query.providers[index]] {
            try tasks.listSource(for: provider).checkToken(token, status: query.status)
        }
        var page = Page(tasks: [], nextCursor: nil, incomplete: [])
        var calls = 0
        while index < query.providers.count, page.tasks.count < query.limit, calls < maxSourceCalls {
            let name = query.providers[index]
            calls += 1
            guard let provider = tasks.providers[name] else {
                index += 1
                continue
            }
            do {
                let result = try await tasks.listSource(for: provider).page(
                    status: query.status,
                    filters: query.vendorFilters,
                    limit: query.limit - page.tasks.count,
                    token: token,
                    logger: logger
                )
                page.tasks += result.tasks
                if let next = result.nextToken {
                    token = next
                } else {
                    index += 1
                    token = nil
                }
                if let missing = result.incomplete {
                    // Some of this page is missing (a listed task could not be had now): say so,
                    // and end the page here so the cursor goes on where this source left off.
                    logger.warning("a listed task could not be resolved", metadata: ["provider": "\(name)", "error": "\(missing.kind.rawValue)"])
                    page.incomplete.append((name, missing))
                    break
                }
            } catch {
                logger.warning("listing a provider failed", metadata: ["provider": "\(name)", "error": "\(error.kind.rawValue)"])
                page.incomplete.append((name, error))
                index += 1
                token = nil
            }
        }
        if index < query.providers.count {
            page.nextCursor = cursorKey.seal(TaskCursor(providerIndex: index, token: token), binding: query.binding)
        }
        return page
    }
}

extension TaskLister.Page {
    /// `{"tasks": [...], "nextCursor": ..., "incomplete": [{"provider", "error", "detail"}]}`
    func jsonBytes() -> [UInt8] {
        var writer = JSONWriter(capacity: tasks.reduce(128) { $0 + $1.readableBytes + 1 })
        writer.beginObject()
        writer.key("tasks")
        writer.beginArray()
        for task in tasks { writer.raw(task.readableBytesView) }
        writer.endArray()
        writer.key("nextCursor")
        writer.string(nextCursor)
        writer.key("incomplete")
        writer.beginArray()
        for (provider, error) in incomplete {
            writer.beginObject()
            writer.key("provider")
            writer.string(provider)
            writer.key("error")
            writer.string(error.kind.typeURI)
            writer.key("detail")
            writer.string(error.detail)
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        return writer.bytes
    }
}
