"""bench/run.sh's helper.

    report.py record SCENARIO TARGET ROUND RESULTS < wrk-output   append one run as a JSON line
    report.py table RESULTS                                      print the comparison table
"""
import json
import re
import statistics
import sys


def seconds(value, unit):
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def record(scenario, target, round_number, path):
    text = sys.stdin.read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    latency = {}
    for percentile, value, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M):
        latency[percentile] = seconds(value, unit) * 1000
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors:(.*)", text)
    row = {
        "scenario": scenario, "target": target, "round": int(round_number), "rps": rps,
        "p50_ms": latency.get("50"), "p99_ms": latency.get("99"),
        "non_2xx_3xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1).strip() if errors else "",
    }
    with open(path, "a") as out:
        out.write(json.dumps(row) + "\n")
    print(f"  {target:<9} round {round_number}: {rps:>10,.0f} req/s  p50 {row['p50_ms']:.2f} ms  p99 {row['p99_ms']:.2f} ms"
          + (f"  non-2xx/3xx {row['non_2xx_3xx']}" if row["non_2xx_3xx"] else ""))


def table(path):
    rows = [json.loads(line) for line in open(path) if line.strip() and '"scenario"' in line]
    scenarios = []
    for row in rows:
        if row["scenario"] not in scenarios:
            scenarios.append(row["scenario"])

    def median(scenario, target, field):
        values = [r[field] for r in rows if r["scenario"] == scenario and r["target"] == target and r[field] is not None]
        return statistics.median(values) if values else None

    def fmt(value, spec):
        return format(value, spec) if value is not None else "-"

    print("| scenario | target | req/s | p50 ms | p99 ms | taskgate ÷ target (req/s medians) |")
    print("|---|---|---:|---:|---:|---:|")
    for scenario in scenarios:
        targets = []
        for row in rows:
            if row["scenario"] == scenario and row["target"] not in targets:
                targets.append(row["target"])
        mine = median(scenario, "taskgate", "rps")
        for target in targets:
            values = [median(scenario, target, f) for f in ("rps", "p50_ms", "p99_ms")]
            ratio = f"{mine / values[0]:.2f}x" if target != "taskgate" and mine and values[0] else ""
            print(f"| {scenario} | {target} | {fmt(values[0], ',.0f')} | {fmt(values[1], '.2f')} | {fmt(values[2], '.2f')} | {ratio} |")
    one = next((s for s in scenarios if s.startswith("1 ")), None)
    if one and mine_of(rows, one):
        goals = [("taskgate-log-off", 0.9, "access log on ÷ off"), ("nginx", 1.3, "÷ nginx proxy_cache"),
                 ("nginx-gzip-static", 0.8, "÷ nginx gzip_static")]
        print()
        for target, goal, words in goals:
            other = median(one, target, "rps")
            if other:
                ratio = median(one, "taskgate", "rps") / other
                print(f"scenario 1, taskgate {words}: {ratio:.2f}x (target ≥ {goal}x) {'met' if ratio >= goal else 'MISSED'}")
        baseline = median(one, "taskgate-baseline", "rps")
        if baseline:
            print(f"scenario 1, this build ÷ BENCH_BASELINE's: {median(one, 'taskgate', 'rps') / baseline:.2f}x")
        traced = median(one, "taskgate-traced", "rps")
        if traced:
            ratio = traced / median(one, "taskgate", "rps")
            print(f"scenario 1, tracing on (1% sampled) ÷ off: {ratio:.2f}x (target ≥ 0.9x) {'met' if ratio >= 0.9 else 'MISSED'}")


    five = next((s for s in scenarios if s.startswith("5 ")), None)
    if five and mine_of(rows, five):
        print()
        for target in ("taskgate", "taskgate-swr"):
            p99 = median(five, target, "p99_ms")
            if p99 is not None:
                print(f"scenario 5, {target} p99: {p99:.2f} ms (target < 5 ms) {'met' if p99 < 5 else 'MISSED'}")


def mine_of(rows, scenario):
    return any(r["scenario"] == scenario and r["target"] == "taskgate" for r in rows)


if __name__ == "__main__":
    if sys.argv[1] == "record":
        record(*sys.argv[2:6])
    else:
        table(sys.argv[2])
