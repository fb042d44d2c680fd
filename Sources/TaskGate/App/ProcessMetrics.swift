import Foundation
import Prometheus
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The process metrics every Prometheus client library exports, under the same names
/// (`process_cpu_seconds_total`, `process_resident_memory_bytes`, …), read from `/proc` when
/// metrics are scraped. Where `/proc` cannot be read (not Linux) they are left out.
final class ProcessMetrics: Sendable {
    private let reportedCPUSeconds = Mutex(0.0)
    private let startTime: Double?

    init() {
        startTime = Self.readStat().flatMap { stat in Self.bootTime().map { $0 + stat.startTicks / Self.ticksPerSecond } }
    }

    func update(_ metrics: GatewayMetrics) {
        if let startTime { metrics.gauge(.processStartTimeSeconds, [:]).set(startTime) }
        if let stat = Self.readStat() {
            let cpu = (stat.userTicks + stat.systemTicks) / Self.ticksPerSecond
            let increase = reportedCPUSeconds.withLock { reported in
                defer { reported = max(reported, cpu) }
                return max(0, cpu - reported)
            }
            metrics.counter(.processCpuSecondsTotal, [:]).increment(by: increase)
            metrics.gauge(.processVirtualMemoryBytes, [:]).set(stat.virtualBytes)
            metrics.gauge(.processResidentMemoryBytes, [:]).set(stat.residentPages * Double(sysconf(Int32(_SC_PAGESIZE))))
        }
        if let open = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            // The directory listing's own descriptor is among them.
            metrics.gauge(.processOpenFds, [:]).set(Int64(max(0, open.count - 1)))
        }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max {
            metrics.gauge(.processMaxFds, [:]).set(Double(limit.rlim_cur))
        }
    }

    private static let ticksPerSecond = Double(max(1, sysconf(Int32(_SC_CLK_TCK))))

    struct Stat: Equatable {
        var userTicks: Double
        var systemTicks: Double
        var startTicks: Double
        var virtualBytes: Double
        var residentPages: Double
    }

    /// `/proc/self/stat`'s fields after the command name (which may hold spaces and parentheses,
    /// so the split starts after its last `)`): utime is field 14, stime 15, starttime 22, vsize
    /// 23, rss 24 (proc(5)).
    static func parseStat(_ text: String) -> Stat? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        // fields[0] is field 3 (state).
        func field(_ number: Int) -> Double? { fields.indices.contains(number - 3) ? Double(fields[number - 3]) : nil }
        guard let user = field(14), let system = field(15), let start = field(22), let virtual = field(23), let rss = field(24) else {
            return nil
        }
        return Stat(userTicks: user, systemTicks: system, startTicks: start, virtualBytes: virtual, residentPages: rss)
    }

    private static func readStat() -> Stat? {
        (try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8)).flatMap(parseStat)
    }

    /// The boot time in seconds since 1970: `btime` in `/proc/stat`.
    private static func bootTime() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }
}
