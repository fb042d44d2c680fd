import Crypto
import Foundation

/// One provider instance under `providers.<name>`.
///
/// Keys every kind has:
/// - `kind` (string, required): `capmonster`, …; see `ProviderKind.all`.
/// - `endpoint` (URL, required): the vendor's base URL; a simulator's for tests and demos.
/// - `status_ttl` (duration, default `2s`): how long a not-final answer is reused before the
///   vendor is asked again.
/// - `timeout` (duration, default `10s`): the whole vendor call — every attempt, wait and retry;
///   past it the caller gets 504.
/// - `connect_timeout` (duration, default `3s`): opening one connection to the vendor; an attempt
///   that fails to connect is retried like any connection error.
/// - `retries` (integer, default `2`): further attempts after a transient failure (connection
///   error, 5xx, throttling); `0` turns retries off.
/// - `retry_backoff` (duration, default `200ms`) and `retry_backoff_max` (duration, default
///   `2s`): the n-th retry waits a random time up to min(max, backoff × 2ⁿ⁻¹), or the vendor's
///   Retry-After when longer.
/// - `circuit_failures` (integer, default `5`): vendor failures in a row that open the circuit
///   (503 at once, no vendor call); `0` turns the breaker off.
/// - `circuit_open` (duration, default `30s`): how long the circuit stays open before one probe.
/// - `rate_limit` (integer, default per kind: the vendor's published limit) and `rate_burst`
///   (integer, default per kind: 1 where the vendor counts per second): vendor requests per
///   second taskgate allows itself (token bucket).
/// - `rate_limit_wait` (duration, default `1s`): how long a request over the rate may wait for a
///   token before it gets 503 + Retry-After.
/// - `max_body` (size, default `8MiB`): largest vendor answer read, after inflating; beyond, 502.
/// - `stale_max` (duration, default `60s`): when the vendor fails (timeout, throttling, 5xx,
///   garbage, open circuit), an earlier not-final answer at most this old is served instead,
///   marked `X-Cache: STALE` with `Age`; `0s` turns this off.
/// - `stale_while_revalidate` (duration, default `0s`: off): a not-final answer at most this long past
///   its `status_ttl` is served at once (`X-Cache: UPDATING`, `Age`) while one vendor call asks
///   again in the background, as nginx's `proxy_cache_use_stale updating` with
///   `proxy_cache_background_update`: a poll never waits on the vendor for a task it has an answer
///   for. Long polls wait for the fresh answer. `0s` turns this off.
/// - `link_refresh_margin` (duration, default `5m`): a final answer whose result holds signed
///   links is cached until this long before the earliest expires; a request after that asks the
///   vendor for the task again (fresh links, `X-Cache: REFRESH`).
/// - `mirror` (bool, default `false`): keep each file the result links to, downloaded once when
///   the task turns final, in the store; the answer lists them as `artifacts`.
/// - `mirror_max_bytes` (size, default `16MiB`), `mirror_timeout` (duration, default `30s`),
///   `mirror_max_files` (integer, default `16`): the largest file kept, the longest a caller
///   waits for all the files of one answer (fetched side by side; what is not kept by then is
///   kept in the background), and the most files kept per answer.
/// - `mirror_hosts` (list, default per kind: the vendor's storage, `.aliyuncs.com`,
///   `.myqcloud.com`): where files may come from (see `MirrorPolicy`).
/// - `watch` (bool, default `true`): follow every task seen while not final in the background
///   until it is final (its answer stored though nobody asks again) or `watch_horizon` has passed
///   since it was first seen (default per kind: the vendor's retention — tencent `3d`, aliyun
///   `7d`, capmonster `10m`); `watch_interval` (default `30s`; capmonster its
///   `min_poll_interval`) is how often one task may be asked about.
/// Credentials and other keys belong to the kind (`vendor`, e.g. `CapMonsterSettings`).
///
/// Built once: from the file by `GatewayConfiguration.load`, or in code as a value (the demo,
/// the tests), starting from the defaults below.
public struct ProviderConfiguration: Sendable {
    public var name: String
    public var endpoint: URL
    /// The kind's own settings; they decide the kind.
    public var vendor: any VendorSettings
    public var statusTTL: Duration = .seconds(2)
    public var timeout: Duration = .seconds(10)
    public var connectTimeout: Duration = .seconds(3)
    public var staleMax: Duration = .seconds(60)
    public var staleWhileRevalidate: Duration = .zero
    public var linkRefreshMargin: Duration = .seconds(300)
    public var retries = 2
    public var retryBackoff: Duration = .milliseconds(200)
    public var retryBackoffMax: Duration = .seconds(2)
    public var circuitFailures = 5
    public var circuitOpen: Duration = .seconds(30)
    public var rateLimit: Int
    public var rateBurst: Int
    public var rateLimitWait: Duration = .seconds(1)
    public var maxBodyBytes = 8 << 20
    public var mirror: MirrorPolicy
    public var watch = true
    public var watchHorizon: Duration
    /// nil: the kind's default (`VendorSettings.defaultWatchInterval`).
    public var watchInterval: Duration?

    /// How often the background watch may ask about one task.
    public var effectiveWatchInterval: Duration { watchInterval ?? vendor.defaultWatchInterval }

    public var kind: ProviderKind { type(of: vendor).kind }

    /// How the service reuses this provider's answers: the cache keys above, with the vendor's
    /// polling floor applied.
    var cachePolicy: CachePolicy {
        CachePolicy(
            statusTTL: statusTTL,
            staleMax: staleMax,
            staleWhileRevalidate: staleWhileRevalidate,
            linkMargin: linkRefreshMargin,
            pollingFloor: vendor.pollingFloor
        )
    }

    /// The vendor account this provider calls as: the kind, the endpoint's host and the
    /// credential's public id, hashed (never the credential itself). Two provider names for one
    /// account share one key, so they share its budgets.
    public var accountKey: String {
        let text = "\(kind.name)\n\(endpoint.host ?? "")\n\(vendor.accountID)"
        return kind.name + ":" + Hex.encode(SHA256.hash(data: Array(text.utf8))).prefix(16)
    }

    /// A provider with every common setting at its default.
    public init(name: String, endpoint: URL, vendor: any VendorSettings) {
        self.name = name
        self.endpoint = endpoint
        self.vendor = vendor
        self.rateLimit = type(of: vendor).kind.defaultRateLimit
        self.rateBurst = type(of: vendor).kind.defaultRateBurst
        self.mirror = MirrorPolicy(hosts: type(of: vendor).kind.defaultMirrorHosts)
        self.watchHorizon = type(of: vendor).kind.defaultWatchHorizon
    }

    static let commonKeys: Set<String> = [
        "kind", "endpoint", "status_ttl", "timeout", "connect_timeout", "stale_max", "stale_while_revalidate", "link_refresh_margin", "retries",
        "retry_backoff",
        "retry_backoff_max", "circuit_failures", "circuit_open", "rate_limit", "rate_burst", "rate_limit_wait", "max_body", "mirror",
        "mirror_max_bytes", "mirror_timeout", "mirror_max_files", "mirror_hosts", "watch", "watch_horizon", "watch_interval",
    ]

    static func isValidName(_ name: String) -> Bool {
        guard let first = name.utf8.first, (0x61...0x7A).contains(first) || (0x30...0x39).contains(first) else { return false }
        return name.utf8.count <= 64
            && name.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D || $0 == 0x5F }
    }

    /// Reads `providers.<name>`: the defaults above, overridden by what the file and environment say.
    init(name: String, values: ConfigValues) throws(ConfigurationError) {
        let kindName = try values.requiredString("kind")
        guard let kind = ProviderKind.named(kindName) else {
            throw ConfigurationError(
                key: values.fullKey("kind"),
                "unknown kind \(kindName) (known: \(ProviderKind.all.map(\.name).joined(separator: ", ")))"
            )
        }
        let endpoint = try values.endpoint("endpoint")
        self.init(name: name, endpoint: endpoint, vendor: try kind.settings.init(values: values))
        statusTTL = try values.duration("status_ttl", default: statusTTL, range: 0...3600)
        timeout = try values.duration("timeout", default: timeout, range: 0.001...600)
        connectTimeout = try values.duration("connect_timeout", default: connectTimeout, range: 0.001...600)
        staleMax = try values.duration("stale_max", default: staleMax, range: 0...86_400)
        staleWhileRevalidate = try values.duration("stale_while_revalidate", default: staleWhileRevalidate, range: 0...3_600)
        linkRefreshMargin = try values.duration("link_refresh_margin", default: linkRefreshMargin, range: 0...86_400)
        retries = try values.integer("retries", default: retries, range: 0...10)
        retryBackoff = try values.duration("retry_backoff", default: retryBackoff, range: 0.001...60)
        retryBackoffMax = try values.duration("retry_backoff_max", default: retryBackoffMax, range: 0.001...600)
        circuitFailures = try values.integer("circuit_failures", default: circuitFailures, range: 0...10_000)
        circuitOpen = try values.duration("circuit_open", default: circuitOpen, range: 0.001...3600)
        rateLimit = try values.integer("rate_limit", default: rateLimit, range: 1...100_000)
        rateBurst = try values.integer("rate_burst", default: rateBurst, range: 1...100_000)
        rateLimitWait = try values.duration("rate_limit_wait", default: rateLimitWait, range: 0...60)
        maxBodyBytes = try values.size("max_body", default: maxBodyBytes, range: 1024...(1 << 30))
        mirror = MirrorPolicy(
            enabled: try values.bool("mirror", default: mirror.enabled),
            maxBytes: try values.size("mirror_max_bytes", default: mirror.maxBytes, range: 1...(1 << 30)),
            timeout: try values.duration("mirror_timeout", default: mirror.timeout, range: 0.001...3600),
            maxFiles: try values.integer("mirror_max_files", default: mirror.maxFiles, range: 1...256),
            hosts: try values.list("mirror_hosts") ?? mirror.hosts
        )
        for host in mirror.hosts where !MirrorPolicy.isHostEntry(host) {
            throw ConfigurationError(key: values.fullKey("mirror_hosts"), "lists \(host), which is neither a host name, an IP address nor a .domain")
        }
        watch = try values.bool("watch", default: watch)
        watchHorizon = try values.duration("watch_horizon", default: watchHorizon, range: 1...(366 * 86_400))
        if values.string("watch_interval") != nil {
            watchInterval = try values.duration("watch_interval", default: .seconds(30), range: 0.1...86_400)
        }
    }
}
