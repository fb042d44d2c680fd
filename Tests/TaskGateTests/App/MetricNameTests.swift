import Foundation
import Testing

@testable import TaskGate

/// The dashboard and the alerting rules in `deploy/` use only metrics `/metrics` exposes, in
/// queries Prometheus parses.
struct MetricNameTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let dashboard = repository.appendingPathComponent("deploy/grafana/taskgate.json")
    static let rules = repository.appendingPathComponent("deploy/prometheus/taskgate-rules.yaml")

    /// Every `taskgate_…` or `process_…` name in `text`, a histogram's series as its metric.
    static func metricNames(in text: String) throws -> Set<String> {
        let pattern = try Regex(#"\b(?:taskgate|process)_[a-z_]+\b"#)
        return Set(text.matches(of: pattern).map { String(text[$0.range]) })
    }

    static func isExposed(_ name: String) -> Bool {
        if MetricName(rawValue: name) != nil { return true }
        return ["_bucket", "_sum", "_count"].contains { suffix in
            name.hasSuffix(suffix) && MetricName(rawValue: String(name.dropLast(suffix.count)))?.isHistogram == true
        }
    }

    static func dashboardQueries() throws -> [String] {
        let document = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: dashboard)) as? [String: Any])
        let panels = try #require(document["panels"] as? [[String: Any]])
        return panels.flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String } }
    }

    @Test(arguments: [dashboard, rules])
    func deployUsesOnlyExposedMetrics(file: URL) throws {
        let names = try Self.metricNames(in: String(contentsOf: file, encoding: .utf8))
        #expect(names.count >= 8)
        #expect(names.filter { !Self.isExposed($0) }.isEmpty)
        // The changeChannel name is not a metric: nothing else may look like one.
        #expect(!names.contains("taskgate_task"))
    }

    /// Every panel's query parses, as Prometheus parses a rule (Grafana's variables set).
    @Test func dashboardQueriesParse() throws {
        let queries = try Self.dashboardQueries()
        #expect(queries.count >= 25)
        var rules = "groups:\n  - name: dashboard\n    rules:\n"
        for (index, query) in queries.enumerated() {
            let expression = query.replacingOccurrences(of: "$__rate_interval", with: "5m").replacingOccurrences(of: "$job", with: ".*")
            rules += "      - record: dashboard:query\(index)\n        expr: '\(expression.replacingOccurrences(of: "'", with: "''"))'\n"
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("taskgate-dashboard-\(UUID().uuidString).yaml")
        try rules.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let check = try runPromtool(["check", "rules", file.path], input: "")
        #expect(check.status == 0, "\(check.output)")
    }

    /// The rules pass promtool's own checks and their unit tests (one per alert).
    @Test func rulesPassTheirTests() throws {
        let check = try runPromtool(["check", "rules", Self.rules.path], input: "")
        #expect(check.status == 0, "\(check.output)")
        let tests = Self.rules.deletingLastPathComponent().appendingPathComponent("taskgate-rules.test.yaml")
        let run = try runPromtool(["test", "rules", tests.path], input: "")
        #expect(run.status == 0, "\(run.output)")
        let text = try String(contentsOf: Self.rules, encoding: .utf8) + String(contentsOf: tests, encoding: .utf8)
        let alerts = text.matches(of: try Regex(#"alert: (\w+)"#)).count
        let tested = text.matches(of: try Regex(#"alertname: (\w+)"#)).map { String(text[$0.range]) }
        #expect(alerts == 8)
        #expect(Set(tested).count == alerts)
    }
}
