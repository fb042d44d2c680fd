import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A real PostgreSQL server for the tests: one cluster per test process, made with `initdb` in a
/// temporary directory, listening on a free loopback port, stopped when the process exits. Each
/// test takes a database of its own (`PostgresCluster.shared.newDatabase()`).
///
/// As root (CI), the server runs as the unprivileged `postgres` user, as PostgreSQL requires.
final class PostgresCluster: Sendable {
    let port: Int
    let directory: String
    let user = "taskgate"
    private let binaries: String
    private let runAs: String?
    private let counter = Atomic<Int>(0)

    /// The cluster, started on first use. A machine without PostgreSQL fails the test that
    /// needs it, saying what to install.
    static var shared: PostgresCluster {
        get throws {
            try started.withLock { cluster in
                if let cluster { return cluster }
                let made = try PostgresCluster()
                cluster = made
                return made
            }
        }
    }
    private static let started = Mutex<PostgresCluster?>(nil)

    /// A cluster of its own, for a test that stops and starts the server.
    static func dedicated() throws -> PostgresCluster { try PostgresCluster() }

    private init() throws {
        guard let binaries = Self.findBinaries() else {
            throw ClusterError("PostgreSQL's server programs (initdb, pg_ctl) were not found: apt-get install postgresql")
        }
        self.binaries = binaries
        runAs = geteuid() == 0 ? "postgres" : nil
        Self.stopAbandonedClusters(binaries: binaries, runAs: runAs)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(Self.prefix)\(getpid())-\(UUID().uuidString)").path
        port = try Self.freePort()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if let runAs { try run("/bin/chown", [runAs, directory], as: nil) }
        let data = directory + "/data"
        try run(binaries + "/initdb", ["-D", data, "-U", user, "-A", "trust", "-E", "UTF8", "--no-sync"], as: runAs)
        try start()
        let stop = "\(binaries)/pg_ctl -D \(data) -m immediate stop"
        let first = Self.stopAtExit.withLock { commands in
            commands.append(runAs.map { "runuser -u \($0) -- \(stop)" } ?? stop)
            return commands.count == 1
        }
        if first {
            atexit {
                for command in PostgresCluster.stopAtExit.withLock({ $0 }) { _ = system(command + " >/dev/null 2>&1") }
            }
        }
    }
    private static let stopAtExit = Mutex<[String]>([])

    /// Starts the server (again) and waits until it accepts connections.
    func start() throws {
        let options = "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        try run(binaries + "/pg_ctl", ["-D", directory + "/data", "-o", options, "-l", directory + "/server.log", "-w", "start"], as: runAs)
    }

    /// Stops the server at once, as a crash or an outage would (open connections are cut).
    func stop() throws {
        try run(binaries + "/pg_ctl", ["-D", directory + "/data", "-m", "immediate", "-w", "stop"], as: runAs)
    }
    private static let prefix = "taskgate-pg-"

    /// A test process killed before its exit handler ran leaves its cluster running: stop and
    /// remove every cluster whose test process is gone.
    private static func stopAbandonedClusters(binaries: String, runAs: String?) {
        let temporary = FileManager.default.temporaryDirectory.path
        for name in (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? [] where name.hasPrefix(prefix) {
            guard let owner = Int32(name.dropFirst(prefix.count).prefix { $0 != "-" }), kill(owner, 0) != 0 else { continue }
            let stop = "\(binaries)/pg_ctl -D \(temporary)/\(name)/data -m immediate stop"
            _ = system((runAs.map { "runuser -u \($0) -- \(stop)" } ?? stop) + " >/dev/null 2>&1")
            try? FileManager.default.removeItem(atPath: temporary + "/" + name)
        }
    }

    /// A new, empty database; its URL.
    func newDatabase() throws -> String {
        let name = "t\(getpid())_\(counter.add(1, ordering: .relaxed).newValue)"
        try run(binaries + "/createdb", ["-h", "127.0.0.1", "-p", String(port), "-U", user, name], as: runAs)
        return url(database: name)
    }

    /// Runs SQL in the database `url` names, through psql (stops at the first error).
    func execute(_ sql: String, in url: String) throws {
        let database = String(url.split(separator: "/").last?.split(separator: "?").first ?? "")
        try run(
            binaries + "/psql",
            ["-h", "127.0.0.1", "-p", String(port), "-U", user, "-d", database, "-v", "ON_ERROR_STOP=1", "-c", sql],
            as: runAs
        )
    }

    func url(database: String) -> String {
        "postgres://\(user):secret@127.0.0.1:\(port)/\(database)?sslmode=disable"
    }

    /// Runs a command to its end through `system` (Foundation's `Process` waits on a descriptor the
    /// server that pg_ctl starts would inherit, and would never return).
    private func run(_ program: String, _ arguments: [String], as user: String?) throws {
        let quoted = ([program] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let outputPath = directory + "/command.log"
        let command = (user.map { "runuser -u \($0) -- " } ?? "") + quoted
        Self.keepDescriptorsFromChildren()
        let status = system("cd /tmp && " + command + " >'\(outputPath)' 2>&1 </dev/null")
        guard status == 0 else {
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            throw ClusterError("\((program as NSString).lastPathComponent) failed (\(status)): \(text)")
        }
    }

    /// Marks every descriptor this process has open close-on-exec: the server pg_ctl starts must
    /// not inherit the sockets of tests running beside it (a connection a test closes would stay
    /// open in the server, and its other side wait for ever).
    private static func keepDescriptorsFromChildren() {
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for name in descriptors {
            guard let fd = Int32(name), fd > 2 else { continue }
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    private static func findBinaries() -> String? {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        let candidates = versions.sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }.map { "/usr/lib/postgresql/\($0)/bin" } + ["/usr/local/bin", "/usr/bin"]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0 + "/pg_ctl") }
    }

    /// A loopback port nobody listens on now.
    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw ClusterError("no free loopback port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    struct ClusterError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
