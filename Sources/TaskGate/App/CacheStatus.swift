import HTTPTypes

/// RFC 9211 `Cache-Status`, beside `X-Cache`, so standard tooling reads what happened: one
/// member, `taskgate`, for this cache.
///
/// | X-Cache | Cache-Status |
/// |---|---|
/// | HIT | `taskgate; hit; ttl=N` (no ttl for an immutable answer) |
/// | MISS | `taskgate; fwd=miss; stored; ttl=N` (`stored` unless the answer may not be reused) |
/// | COALESCED | `taskgate; fwd=miss; collapsed; ttl=N` (another request's vendor call) |
/// | REFRESH | `taskgate; fwd=stale; stored; ttl=N` (a final answer's links were due) |
/// | STALE | `taskgate; fwd=stale; detail=vendor-failed` (the vendor failed; the last answer stands in) |
/// | UPDATING | `taskgate; hit; detail=updating` (served past its TTL while the vendor is asked again) |
///
/// `ttl` is the seconds the answer stays fresh: the `max-age` sent with it.
enum CacheStatus {
    static func value(_ outcome: TaskService.CacheOutcome, _ freshness: Freshness) -> String {
        let ttl: Int? =
            switch freshness {
            case .immutable: nil
            case .linked(let maxAge), .transient(let maxAge): maxAge
            }
        let ttlParameter = ttl.map { "; ttl=\($0)" } ?? ""
        let stored = ttl == 0 ? "" : "; stored"
        return switch outcome {
        case .hit: "taskgate; hit" + ttlParameter
        case .miss: "taskgate; fwd=miss" + stored + ttlParameter
        case .coalesced: "taskgate; fwd=miss; collapsed" + ttlParameter
        case .refresh: "taskgate; fwd=stale" + stored + ttlParameter
        case .stale: "taskgate; fwd=stale; detail=vendor-failed"
        case .updating: "taskgate; hit; detail=updating"
        }
    }
}

extension HTTPField.Name {
    static let cacheStatus = Self("Cache-Status")!
}
