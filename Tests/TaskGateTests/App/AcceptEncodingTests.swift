import Testing

@testable import TaskGate

@Suite(.timeLimit(.minutes(2))) struct AcceptEncodingTests {
    @Test(
        arguments: [
            (nil, ContentCoding.identity), ("", .identity), ("gzip", .gzip), ("GZIP", .gzip), ("deflate", .identity),
            ("gzip;q=0", .identity), ("gzip;q=0.001", .gzip), ("gzip;q=abc", .identity), ("gzip ; q=1.0", .gzip),
            ("*;q=0.1", .gzip), ("identity;q=1, *;q=0", .identity),
        ] as [(String?, ContentCoding)]
    )
    func choosesTheCoding(header: String?, expected: ContentCoding) {
        #expect(AcceptEncoding.choose(header) == expected)
    }

    @Test(arguments: ["identity;q=0", "*;q=0", "gzip;q=0, identity;q=0", "br, identity;q=0"])
    func refusesWhenNothingIsAcceptable(header: String) {
        #expect(AcceptEncoding.choose(header) == nil)
    }
}
