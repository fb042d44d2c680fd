/// A position in the event feed, as callers hold it: `next` of a page, `id:` of a streamed event,
/// `after=` and `Last-Event-ID`. Sealed like the task list's cursors (`CursorKey`, bound to
/// "events"): a position taskgate did not hand out is refused before it is read. A position
/// means the same on every replica of a store and for any filter, so the filter is not bound.
struct EventCursor: Codable, Equatable {
    var sequence: Int64

    enum CodingKeys: String, CodingKey {
        case sequence = "s"
    }

    static let binding = "events"

    static let notOurs = GatewayError(.invalidQuery, "The event cursor is not one taskgate made (use next, an event stream's id, or now).")

    func sealed(with key: CursorKey) -> String { key.seal(self, binding: Self.binding) }

    /// - Throws: `invalid-query` (400) for a cursor that is not one of ours, or a negative position.
    static func open(_ text: String, with key: CursorKey) throws(GatewayError) -> EventCursor {
        guard let cursor = key.open(text, as: EventCursor.self, binding: binding), cursor.sequence >= 0 else { throw notOurs }
        return cursor
    }
}
