/// A configured provider as the service holds it: the vendor adapter, and what taskgate decides
/// about its answers (the adapter never sees that).
struct ServedProvider: Sendable {
    let provider: any Provider
    let policy: CachePolicy
    /// How long one replica's lease on a task's vendor call holds: the provider's whole call
    /// (`timeout`) and, when it mirrors, the download of the files (`mirror_timeout`).
    let leaseDuration: Duration
    /// Keeps the files a final answer links to; nil when the provider does not mirror.
    let mirror: ArtifactMirror?

    init(_ provider: any Provider, policy: CachePolicy, callTimeout: Duration, mirror: ArtifactMirror? = nil) {
        self.provider = provider
        self.policy = policy
        self.leaseDuration = callTimeout + (mirror?.policy.timeout ?? .zero)
        self.mirror = mirror
    }

    var name: String { provider.name }
}
