import HTTPTypes

/// The checks a request meets before taskgate looks for its answer, written once: the router's
/// middleware and the hot path call these same functions in the same order — target length
/// (414) and canonical path (400), caller key (401, 403 for metrics), the key's providers (403) —
/// so a policy changes in one place.
struct RequestPolicy: Sendable {
    let auth: AuthConfiguration
    let maxURILength: Int
    let metrics: GatewayMetrics

    /// A caller's `X-Request-Id` is kept when it is 1–200 visible ASCII characters; anything else
    /// could forge log lines, so it is replaced by one taskgate makes.
    static func acceptableRequestID(_ id: String) -> String? {
        guard (1...200).contains(id.utf8.count), id.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else { return nil }
        return id
    }

    /// - Parameters:
    ///   - target: the whole request target, as sent.
    ///   - path: its path, exactly as the router will match it.
    /// - Throws: `uri-too-long` (414) past `limits.max_uri_length`; `invalid-path` (400) for a
    ///   path that is not in its one canonical form (`RequestPath`).
    func checkTarget(_ target: String, path: Substring.UTF8View) throws(GatewayError) {
        guard target.utf8.count <= maxURILength else {
            throw GatewayError(.uriTooLong, "The request target is longer than \(maxURILength) bytes.")
        }
        guard RequestPath.isCanonical(path) else {
            throw GatewayError(
                .invalidPath,
                "The request path is not in canonical form (no empty or dot segments, no trailing slash, no percent-encoding)."
            )
        }
    }

    /// The routes every caller may reach when keys are configured.
    static let openPaths: Set<String> = ["/healthz", "/readyz", "/openapi.yaml"]

    /// The caller's key for a request to `path`: nil when keys are off or the route is open
    /// (health, readiness, the API description, and `/metrics` unless configured otherwise).
    /// Every other path needs a key, known route or not: the policy fails closed.
    /// `authorization` is only read when keys are on (the hot path's header scan costs).
    /// - Throws: `unauthorized` (401) without a known key; `forbidden` (403) for metrics the key
    ///   may not read. Each refusal is counted.
    func authenticate(path: String, authorization: @autoclosure () -> String?) throws(GatewayError) -> AuthConfiguration.Key? {
        guard auth.isEnabled else { return nil }
        let isMetrics = path == "/metrics"
        guard !Self.openPaths.contains(path), !isMetrics || auth.metricsRequiresKey else { return nil }
        guard let authorization = authorization() else {
            metrics.authRefused(reason: "missing")
            throw GatewayError(.unauthorized, "This route needs Authorization: Bearer <key>.")
        }
        guard let key = auth.key(forAuthorization: authorization) else {
            metrics.authRefused(reason: "invalid")
            throw GatewayError(.unauthorized, "The API key is not known.")
        }
        if isMetrics, !key.metrics {
            metrics.authRefused(reason: "forbidden")
            throw GatewayError(.forbidden, "Key \(key.name) may not read metrics.")
        }
        return key
    }

    /// - Throws: `forbidden` (403) when the caller's key is scoped and `provider` is outside it.
    static func requireAccess(keyName: String?, allowedProviders: Set<String>?, to provider: String) throws(GatewayError) {
        guard let allowedProviders, !allowedProviders.contains(provider) else { return }
        throw GatewayError(.forbidden, "Key \(keyName ?? "?") does not cover provider \(provider).", provider: provider)
    }
}
