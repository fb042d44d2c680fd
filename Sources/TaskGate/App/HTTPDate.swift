import Foundation
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `Date` header value, formatted once a second per thread rather than per request (and
/// without a lock the event loops would take turns at).
final class HTTPDate: Sendable {
    private final class Cache: @unchecked Sendable {  // only its own thread touches it
        var second = -1
        var text = ""
    }

    private let cache = ThreadSpecificVariable<Cache>()

    var now: String {
        let seconds = Int(Date().timeIntervalSince1970)
        let mine = cache.current(orMake: Cache.init)
        if mine.second != seconds {
            mine.second = seconds
            mine.text = Self.format(Date(timeIntervalSince1970: TimeInterval(seconds)))
        }
        return mine.text
    }

    /// RFC 9110 IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`. The calendar is libc's `gmtime_r`
    /// and the names are fixed English, as Hummingbird's own date cache does: a locale-aware
    /// formatter would load ICU's data into every process for one fixed format.
    static func format(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func twoDigits(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let time = [parts.tm_hour, parts.tm_min, parts.tm_sec].map(twoDigits).joined(separator: ":")
        return "\(weekdays[Int(parts.tm_wday)]), \(twoDigits(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(1900 + parts.tm_year) \(time) GMT"
    }
}
