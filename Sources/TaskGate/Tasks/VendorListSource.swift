import Logging
import NIOCore

/// A vendor's list call, its items resolved: one that does not say all is answered as the single
/// task is (`TaskService.appendListed`), so a task has one answer on every route.
struct VendorListSource: TaskListSource {
    let provider: String
    let list: any VendorTaskList
    let tasks: TaskService

    var vendorFilterNames: [String] { list.vendorFilterNames }

    func checkToken(_ token: String, status: TaskStatus?) throws(GatewayError) { try list.checkToken(token, status: status) }

    func page(status: TaskStatus?, filters: [VendorFilter], limit: Int, token: String?, logger: Logger) async throws(GatewayError) -> TaskListPage {
        let listed = try await list.page(status: status, filters: filters, limit: limit, token: token, logger: logger)
        var page = TaskListPage(tasks: [], nextToken: listed.nextToken)
        for item in listed.items {
            switch item {
            case .complete(let body): page.tasks.append(body)
            case .resolve(let id, let fetch):
                await tasks.appendListed(provider: provider, id: id, status: status, to: &page, logger: logger, fetch: fetch)
            }
        }
        return page
    }
}
