import Crypto
import Foundation

/// Bounds on what callers send and hold (`limits`), so a misbehaving client cannot starve others.
///
/// Keys:
/// - `limits.max_connections` (integer, default `4096`): open connections; beyond it new ones
///   wait in the kernel's accept queue.
/// - `limits.max_uri_length` (size, default `8KiB`): longer request targets get 414.
/// - `limits.max_header_size` (size, default `64KiB`): request line and headers together; beyond it
///   the request is refused (400) and the connection closed.
/// - `limits.idle_timeout` (duration, default `60s`): a connection that has not completed a
///   request within this time — idle keep-alive, or a client sending its request too slowly
///   (slow loris) — is closed.
/// - `limits.max_wait` (duration, default `60s`): the longest long poll (`?wait=`); more is 400.
/// - `limits.max_streams` (integer, default `1000`): open event streams (`GET /events` as
///   server-sent events) per process; one more is 503 with Retry-After.
public struct LimitsConfiguration: Sendable {
    public var maxConnections = 4096
    public var maxURILength = 8 << 10
    public var maxHeaderSize = 64 << 10
    public var idleTimeout: Duration = .seconds(60)
    public var maxWait: Duration = .seconds(60)
    public var maxStreams = 1000

    static let keys: Set<String> = ["max_connections", "max_uri_length", "max_header_size", "idle_timeout", "max_wait", "max_streams"]

    init() {}

    init(values: ConfigValues) throws(ConfigurationError) {
        maxConnections = try values.integer("max_connections", default: maxConnections, range: 1...1_000_000)
        maxURILength = try values.size("max_uri_length", default: maxURILength, range: 256...(1 << 20))
        maxHeaderSize = try values.size("max_header_size", default: maxHeaderSize, range: 1024...(1 << 20))
        idleTimeout = try values.duration("idle_timeout", default: idleTimeout, range: 0.1...3600)
        maxWait = try values.duration("max_wait", default: maxWait, range: 0...3600)
        maxStreams = try values.integer("max_streams", default: maxStreams, range: 0...1_000_000)
    }
}
