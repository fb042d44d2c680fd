import Foundation

/// Tencent Cloud's ISO 8601 UTC times (`2019-07-16T17:12:48Z`); `0000-00-00T00:00:00Z` stands
/// for "not yet". Public for the simulator, which writes them as the vendor does.
public enum TencentTimestamp {
    public static let notYet = "0000-00-00T00:00:00Z"

    public static func format(_ date: Date) -> String { RFC3339.format(date) }

    /// nil for "not yet" and for anything that is not such a time.
    public static func parse(_ text: String) -> Date? {
        text.hasPrefix("0000") ? nil : RFC3339.parse(text)
    }
}
