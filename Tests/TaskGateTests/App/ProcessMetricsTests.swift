import Testing

@testable import TaskGate

/// `/proc/self/stat` read as proc(5) lays it out, whatever the command's name holds.
struct ProcessMetricsTests {
    @Test func fieldsAreCountedFromAfterTheCommandName() throws {
        let line =
            "4242 (task gate) (x)) S 1 4242 4242 0 -1 4194560 1200 0 0 0 250 75 0 0 20 0 9 0 3600 987654321 2048 "
            + "18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 17 1 0 0 0 0 0"
        let stat = try #require(ProcessMetrics.parseStat(line))
        #expect(stat.userTicks == 250)
        #expect(stat.systemTicks == 75)
        #expect(stat.startTicks == 3600)
        #expect(stat.virtualBytes == 987_654_321)
        #expect(stat.residentPages == 2048)
    }

    @Test(arguments: ["", "4242 (taskgate", "4242 (taskgate) S 1 2 3", "4242 (taskgate) S 1 2 3 4 5 6 7 8 9 10 x y"])
    func aShortOrOddLineIsNothing(line: String) {
        #expect(ProcessMetrics.parseStat(line) == nil)
    }
}
