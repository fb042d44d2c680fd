import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Alibaba's `yyyy-MM-ddTHH:mm:ssZ` UTC timestamps.
public enum AliyunTimestamp {
    public static func format(_ date: Date) -> String { RFC3339.format(date) }
    public static func parse(_ text: String) -> Date? { RFC3339.parse(text) }
}
