import Foundation
import NIOCore

/// Which linked files a provider keeps, and from where (`providers.<name>.mirror*`).
///
/// The links come from the vendor's answer, so they are not trusted: only `http`/`https`, only
/// hosts under `hosts`, and never an address inside the network taskgate runs in (loopback,
/// link-local — where cloud metadata services answer — private, shared or unspecified) unless that
/// very host is listed, not merely a domain above it. Redirects are checked the same way.
public struct MirrorPolicy: Sendable, Equatable {
    public var enabled: Bool
    /// The largest file kept; a larger one is refused (by its Content-Length, or once that many
    /// bytes have been read).
    public var maxBytes: Int
    /// All the downloads of one answer together, as the caller waits for them; each one alone
    /// (redirects included) when it goes on in the background.
    public var timeout: Duration
    /// Files kept per answer; further links are left to the vendor's own.
    public var maxFiles: Int
    /// `.aliyuncs.com` covers that domain and every name under it; `files.example.com` or
    /// `127.0.0.1` covers that host alone (and lets it be a private address).
    public var hosts: [String]

    public static let maxRedirects = 3
    /// Downloads of one answer under way at once.
    public static let parallelDownloads = 4

    public init(enabled: Bool = false, maxBytes: Int = 16 << 20, timeout: Duration = .seconds(30), maxFiles: Int = 16, hosts: [String]) {
        self.enabled = enabled
        self.maxBytes = maxBytes
        self.timeout = timeout
        self.maxFiles = maxFiles
        self.hosts = hosts.map { $0.lowercased() }
    }

    /// Why a link is not followed, before any address is looked up; nil when its scheme and host
    /// are allowed.
    func refusal(of url: URL) -> String? {
        guard let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https" else { return "not http or https" }
        guard let host = url.host?.lowercased(), !host.isEmpty else { return "no host" }
        guard isListed(host) else { return "host not under mirror_hosts" }
        return nil
    }

    /// Why a host's addresses are not used; nil when every one is public, or the host is listed
    /// by itself.
    func refusal(host: String, addresses: [SocketAddress]) -> String? {
        guard !addresses.isEmpty else { return "host has no address" }
        if hosts.contains(host.lowercased()) { return nil }
        return addresses.contains(where: Self.isInternal) ? "an internal address (loopback, link-local or private) not listed by host" : nil
    }

    /// Whether a `mirror_hosts` entry is a host name, an IP address, or `.` and a domain name: a
    /// `*`, a URL or an empty label would match nothing or (worse) more than meant.
    static func isHostEntry(_ entry: String) -> Bool {
        let name = entry.hasPrefix(".") ? entry.dropFirst() : Substring(entry)
        if !entry.hasPrefix("."), name.contains(":") {
            // An IPv6 address, as URL.host gives it (no brackets).
            return name.utf8.count <= 45
                && name.utf8.allSatisfy { (0x30...0x3A).contains($0) || (0x61...0x66).contains($0) || $0 == UInt8(ascii: ".") }
        }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        return name.utf8.count <= 253 && !labels.isEmpty
            && labels.allSatisfy { label in
                (1...63).contains(label.utf8.count) && label.first != "-" && label.last != "-"
                    && label.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x7A).contains($0) || $0 == UInt8(ascii: "-") }
            }
    }

    func isListed(_ host: String) -> Bool {
        hosts.contains { entry in
            entry.hasPrefix(".") ? host.hasSuffix(entry) || host == String(entry.dropFirst()) : host == entry
        }
    }

    /// Loopback, link-local, private (RFC 1918, unique local), shared (100.64/10), unspecified,
    /// multicast or broadcast: anything but the public internet.
    static func isInternal(_ address: SocketAddress) -> Bool {
        switch address {
        case .v4(let v4):
            return isInternal(v4: UInt32(bigEndian: v4.address.sin_addr.s_addr))
        case .v6(let v6):
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
                // IPv4-mapped: the IPv4 rules.
                return isInternal(v4: bytes[12..<16].reduce(0) { $0 << 8 | UInt32($1) })
            }
            if bytes[0..<15].allSatisfy({ $0 == 0 }) { return true }  // :: and ::1
            if bytes[0] == 0xFE && bytes[1] & 0xC0 == 0x80 { return true }  // fe80::/10 link-local
            if bytes[0] & 0xFE == 0xFC { return true }  // fc00::/7 unique local
            if bytes[0] == 0xFF { return true }  // multicast
            return false
        case .unixDomainSocket:
            return true
        }
    }

    static func isInternal(v4 address: UInt32) -> Bool {
        let (a, b) = (address >> 24, (address >> 16) & 0xFF)
        return a == 0 || a == 10 || a == 127 || (a == 169 && b == 254) || (a == 172 && (16...31).contains(b)) || (a == 192 && b == 168)
            || (a == 100 && (64...127).contains(b)) || a >= 224
    }
}
