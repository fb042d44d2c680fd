import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Keeps the files a provider's final answers link to (`providers.<name>.mirror`): each link the
/// policy allows is downloaded once, bounded in size and time, and its bytes go into the store
/// under their SHA-256, so the result stays usable after the vendor's signed link has died.
final class ArtifactMirror: Sendable {
    let provider: String
    let policy: MirrorPolicy
    let client: HTTPClient
    let store: any ArtifactStore
    let metrics: GatewayMetrics?
    /// Runs the downloads, so one the caller stops waiting for goes on.
    let background: BackgroundWork

    init(provider: String, policy: MirrorPolicy, client: HTTPClient, store: any ArtifactStore, metrics: GatewayMetrics?, background: BackgroundWork) {
        self.provider = provider
        self.policy = policy
        self.client = client
        self.store = store
        self.metrics = metrics
        self.background = background
    }

    /// Why a download stopped.
    struct Refusal: Error {
        /// The metric's outcome: `refused` (the policy), `too_large`, `failed`.
        var outcome: String
        var reason: String
    }

    /// What keeping one answer's files came to by `mirror_timeout`.
    struct KeptFiles: Sendable {
        /// Kept in time (or before), in link order: what the answer lists now.
        var artifacts: [Artifact]
        /// The downloads still under way at the deadline, going on without the caller; once they
        /// end, `lateFiles()` reads what they kept. nil when none was late.
        var late: LateFiles?
        /// How long the late ones may still take at most (each download is bounded alone).
        var lateBound: Duration = .zero
    }

    /// The files `result` links to, at most `mirror_max_files`: the ones in `previously` (by
    /// source) as they are and where they were, the others downloaded now, `parallelDownloads` at a time, the caller
    /// waiting for them all together at most `mirror_timeout`. A link that cannot be kept is
    /// logged and left out; one not kept by the deadline goes on in the background (`late`).
    func keep(_ result: JSONFragment?, previously: [Artifact] = [], logger: Logger) async -> KeptFiles {
        var sources: [String] = []
        var downloads: [(position: Int, source: String, url: URL)] = []
        for link in Self.links(in: result) {
            guard let url = URL(string: link) else { continue }
            let source = Self.source(of: url)
            guard !sources.contains(source) else { continue }
            guard sources.count < policy.maxFiles else {
                metrics?.mirrorDownload(provider: provider, outcome: "too_many")
                logger.warning(
                    "an answer links more files than mirror_max_files; the rest are not kept",
                    metadata: ["provider": "\(provider)", "mirror_max_files": "\(policy.maxFiles)"]
                )
                break
            }
            sources.append(source)
            if !previously.contains(where: { $0.source == source }) { downloads.append((sources.count - 1, source, url)) }
        }
        let downloading = FileDownloads()
        let started = background.submit { [self, downloads] in
            await withTaskGroup(of: Void.self) { group in
                for (index, download) in downloads.enumerated() {
                    if index >= MirrorPolicy.parallelDownloads { await group.next() }
                    group.addTask {
                        if let file = await self.fetch(download.url, source: download.source, logger: logger) {
                            downloading.kept(file, at: download.position)
                        }
                    }
                }
            }
            downloading.end()
        }
        // Shutting down: nothing is downloaded now; a later refresh tries again.
        let inTime = started ? await downloading.waitForEnd(orAfter: policy.timeout) : true
        let kept = downloading.files
        // Files listed before keep their positions (hrefs stay valid); new ones follow in link order.
        let listed = previously.filter { sources.contains($0.source) } + downloads.compactMap { kept[$0.position] }
        guard !inTime else { return KeptFiles(artifacts: listed) }
        let waiting = downloads.filter { kept[$0.position] == nil }.map(\.position)
        let rounds = (waiting.count + MirrorPolicy.parallelDownloads - 1) / MirrorPolicy.parallelDownloads
        return KeptFiles(artifacts: listed, late: LateFiles(downloads: downloading, positions: waiting), lateBound: policy.timeout * (2 * rounds))
    }

    /// The downloads of one answer still under way when its caller stopped waiting.
    struct LateFiles: Sendable {
        let downloads: FileDownloads
        /// Their positions, in link order.
        let positions: [Int]

        /// Once every download has ended: the files the late ones kept, in link order.
        func files() async -> [Artifact] {
            await downloads.waitForEnd()
            let done = downloads.files
            return positions.compactMap { done[$0] }
        }
    }

    /// One link downloaded and kept in the store; nil, logged and counted, when it cannot be. It
    /// may take twice `mirror_timeout`: one still running when the caller stops waiting has
    /// `mirror_timeout` more in the background.
    private func fetch(_ url: URL, source: String, logger: Logger) async -> Artifact? {
        do {
            let file = try await withTimeout(policy.timeout * 2) { try await self.download(url) }
            try await store.keepArtifact(file)
            metrics?.mirrorDownload(provider: provider, outcome: "kept")
            return Artifact(source: source, bytes: file.body.readableBytes, sha256: file.sha256, contentType: file.contentType)
        } catch {
            let refusal = (error as? Refusal) ?? Refusal(outcome: "failed", reason: error is TimeoutError ? "mirror_timeout passed" : "\(error)")
            metrics?.mirrorDownload(provider: provider, outcome: refusal.outcome)
            // The source, never the query: it holds the vendor's signature.
            let metadata: Logger.Metadata = ["provider": "\(provider)", "source": "\(source)", "reason": "\(refusal.reason)"]
            if refusal.outcome == "refused" {
                logger.warning("mirror refused a linked file", metadata: metadata)
            } else {
                logger.warning("a linked file could not be kept", metadata: metadata)
            }
            return nil
        }
    }

    /// GET `url`, following at most `MirrorPolicy.maxRedirects` redirects, each checked like the
    /// first link; the body read up to `maxBytes`.
    private func download(_ url: URL) async throws -> StoredArtifact {
        var current = url
        for hop in 0...MirrorPolicy.maxRedirects {
            if let reason = policy.refusal(of: current) { throw Refusal(outcome: "refused", reason: reason) }
            let host = current.host ?? ""
            let addresses = try await Self.addresses(of: host, port: current.port ?? (current.scheme == "https" ? 443 : 80))
            if let reason = policy.refusal(host: host, addresses: addresses) { throw Refusal(outcome: "refused", reason: reason) }
            let response = try await client.execute(
                HTTPClientRequest(url: current.absoluteString),
                timeout: .nanoseconds((policy.timeout * 2).nanoseconds)
            )
            switch response.status.code {
            case 200:
                if let length = response.headers.first(name: "content-length").flatMap(Int.init), length > policy.maxBytes {
                    throw Refusal(outcome: "too_large", reason: "Content-Length \(length) is over mirror_max_bytes \(policy.maxBytes)")
                }
                var body = ByteBuffer()
                for try await chunk in response.body {
                    guard body.readableBytes + chunk.readableBytes <= policy.maxBytes else {
                        throw Refusal(
                            outcome: "too_large",
                            reason: "over mirror_max_bytes \(policy.maxBytes) after \(body.readableBytes + chunk.readableBytes) bytes read"
                        )
                    }
                    body.writeImmutableBuffer(chunk)
                }
                let contentType = response.headers.first(name: "content-type") ?? "application/octet-stream"
                return StoredArtifact(contentType: contentType, body: body)
            case 301, 302, 303, 307, 308:
                guard hop < MirrorPolicy.maxRedirects else {
                    throw Refusal(outcome: "refused", reason: "more than \(MirrorPolicy.maxRedirects) redirects")
                }
                guard let location = response.headers.first(name: "location"), let next = URL(string: location, relativeTo: current)?.absoluteURL
                else { throw Refusal(outcome: "failed", reason: "a redirect without a usable Location") }
                current = next
            default:
                throw Refusal(outcome: "failed", reason: "HTTP \(response.status.code)")
            }
        }
        throw Refusal(outcome: "refused", reason: "more than \(MirrorPolicy.maxRedirects) redirects")
    }

    /// The http(s) links among a result's strings, however deeply nested, in the order of its
    /// keys (sorted, so an answer's artifacts keep their positions), each once.
    static func links(in result: JSONFragment?) -> [String] {
        guard let result, let value = try? JSONSerialization.jsonObject(with: Data(result.bytes), options: [.fragmentsAllowed]) else {
            return []
        }
        var links: [String] = []
        func visit(_ value: Any) {
            switch value {
            case let text as String:
                let lowered = text.prefix(8).lowercased()
                if (lowered.hasPrefix("https://") || lowered.hasPrefix("http://")) && !links.contains(text) { links.append(text) }
            case let array as [Any]: array.forEach(visit)
            case let object as [String: Any]: for key in object.keys.sorted() { visit(object[key]!) }
            default: break
            }
        }
        visit(value)
        return links
    }

    /// A link without its userinfo, query and fragment: where the file is, not the credentials
    /// or signature that opened it.
    static func source(of url: URL) -> String {
        guard var components = URLComponents(url: url, resolvingAgainstBaseURL: false) else { return RedactedURL.text(url.absoluteString) }
        components.user = nil
        components.password = nil
        components.query = nil
        components.fragment = nil
        return components.string ?? RedactedURL.text(url.absoluteString)
    }

    /// The addresses a host name stands for (an address stands for itself), looked up off the
    /// event loops.
    static func addresses(of host: String, port: Int) async throws -> [SocketAddress] {
        try await NIOThreadPool.singleton.runIfActive {
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var list: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else {
                throw Refusal(outcome: "failed", reason: "the host name does not resolve")
            }
            defer { freeaddrinfo(first) }
            var addresses: [SocketAddress] = []
            var entry: UnsafeMutablePointer<addrinfo>? = first
            while let current = entry {
                if let address = current.pointee.ai_addr {
                    switch Int32(current.pointee.ai_family) {
                    case AF_INET:
                        address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { addresses.append(SocketAddress($0.pointee, host: host)) }
                    case AF_INET6:
                        address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { addresses.append(SocketAddress($0.pointee, host: host)) }
                    default: break
                    }
                }
                entry = current.pointee.ai_next
            }
            return addresses
        }
    }
}
