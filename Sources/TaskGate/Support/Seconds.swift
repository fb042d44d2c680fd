/// Whole numbers of a time interval that may come from outside — a vendor's link expiry, a time
/// read back from the store — converted without a trap: NaN is 0, and anything past ±2^53 is
/// clamped there (`Int(Double)` traps out of range; 2^53 seconds is 285 million years).
enum Seconds {
    static let limit = 1 << 53

    static func whole(_ value: Double, rounding rule: FloatingPointRoundingRule = .down) -> Int {
        guard !value.isNaN else { return 0 }
        return Int(min(max(value.rounded(rule), -Double(limit)), Double(limit)))
    }
}
