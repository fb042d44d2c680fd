import Foundation

/// A piece of valid JSON text, kept as bytes so a vendor's object passes through unchanged in meaning.
///
/// Objects are re-serialized with sorted keys so the same vendor answer always gives the same
/// bytes, and therefore the same ETag.
public struct JSONFragment: Sendable, Equatable {
    public let bytes: [UInt8]

    /// Wraps a value produced by `JSONSerialization` (dictionary, array, string, number, bool, null).
    public init?(jsonObject: Any) {
        if jsonObject is NSNull {
            self.bytes = Array("null".utf8)
            return
        }
        guard
            let data = try? JSONSerialization.data(
                withJSONObject: jsonObject,
                options: [.sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed]
            )
        else { return nil }
        self.bytes = Array(data)
    }

    /// Parses and normalizes JSON text; nil when it is not JSON.
    public init?(parsing text: some Sequence<UInt8>) {
        guard let value = try? JSONSerialization.jsonObject(with: Data(text), options: [.fragmentsAllowed]) else {
            return nil
        }
        self.init(jsonObject: value)
    }

    /// The fields of a vendor object that taskgate does not map, as one object: `object` without
    /// the `mapped` keys and without nulls; nil when nothing is left.
    static func unmappedFields(of object: [String: Any], mapped: Set<String>) -> JSONFragment? {
        let rest = object.filter { !mapped.contains($0.key) && !($0.value is NSNull) }
        return rest.isEmpty ? nil : JSONFragment(jsonObject: rest)
    }
}
