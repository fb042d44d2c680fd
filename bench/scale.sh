#!/usr/bin/env bash
# taskgate with a store that grows: 100,000, then 1,000,000, then 10,000,000 final tasks seeded
# straight into one SQLite store (no origin files), as deployed (log_level info, default
# cache_memory). For each size: bytes per task on disk, time from start to a ready /readyz,
# resident memory idle and after load, random-id throughput (so at 1M and 10M most answers come
# from SQLite, not memory). At 1,000,000: nginx proxy_cache holding the same 1,000,000 answers
# (taskgate as its upstream, warmed with every id), and paging GET /tasks?provider=capmonster
# through 1,000,000 stored CapMonster tasks; for each size, how much of the store the page cache
# held and the disk's random reads (bench/disk.py). Asserts nothing; prints a table and writes
# bench/scale-results.json.
#
#   BENCH_SCALE=1 bench/run.sh
#   BENCH_SCALE_SIZES="100000 1000000" BENCH_SCALE=1 bench/run.sh   # stop earlier
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
duration=${BENCH_DURATION:-8s}
rounds=${BENCH_ROUNDS:-2}
sizes=${BENCH_SCALE_SIZES:-100000 1000000 10000000}
first=500000
work=/tmp/taskgate-scale
results="$root/bench/scale-results.json"
export BENCH_FIRST_ID=$first

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ -f "$work/nginx/nginx.pid" ] && nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -s stop 2>/dev/null || true
    # The store and nginx's cache are tens of GB at 10M: never left behind.
    rm -rf "$work"
}
trap cleanup EXIT

echo "== building release"
swift build -c release --product taskgate >/dev/null
swift build -c release --product taskgate-bench >/dev/null
bin=$(swift build -c release --show-bin-path)

rm -rf "$work" && mkdir -p "$work/nginx/logs" "$work/nginx/cache"
: >"$results"
store=$work/taskgate.sqlite
cat >"$work/taskgate.yaml" <<YAML
listen: 127.0.0.1:19180
store: $store
providers:
  aliyun:
    kind: aliyun-multimediaai
    watch: false
    endpoint: http://127.0.0.1:19181
    region: cn-shanghai
    access_key_id: LTAI5tBENCH
    access_key_secret: bench-secret
  capmonster:
    kind: capmonster
    watch: false
    endpoint: http://127.0.0.1:19185
    client_key: bench-client-key
YAML

seconds_since() { python3 -c "import sys,time; print(round(time.time() - float(sys.argv[1]), 2))" "$1"; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# random_run URL COUNT -> "rps p99_ms" (median rps of the rounds, p99 of that round)
random_run() {
    local url=$1 count=$2
    BENCH_COUNT=$count wrk -t2 -c64 -d"$duration" -s bench/random.lua "$url" >/dev/null
    for _ in $(seq 1 "$rounds"); do
        BENCH_COUNT=$count wrk -t2 -c64 -d"$duration" --latency -s bench/random.lua "$url" |
            python3 -c '
import re, sys
text = sys.stdin.read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
value, unit = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M).groups()
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
print(rps, float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit], bad.group(1) if bad else 0)'
    done | sort -n | awk '{rows[NR] = $0} END {print rows[int((NR + 1) / 2)]}'
}

seeded=0
listing_rows=0
for size in $sizes; do
    echo "== seeding to $size final tasks (straight into the store)"
    seed_started=$(date +%s.%N)
    "$bin/taskgate-bench" --store "$store" --count $((size - seeded)) --first-id $((first + seeded)) >/dev/null
    seed_seconds=$(seconds_since "$seed_started")
    seeded=$size
    if [ "$size" = 1000000 ]; then
        echo "== seeding 1,000,000 CapMonster tasks for the listing"
        "$bin/taskgate-bench" --store "$store" --provider capmonster --count 1000000 --first-id 100000000 >/dev/null
        listing_rows=1000000
    fi
    disk_bytes=$(( $(stat -c %s "$store") + $(stat -c %s "$store-wal" 2>/dev/null || echo 0) ))
    bytes_per_task=$(( disk_bytes / (size + listing_rows) ))

    echo "== taskgate on $size tasks"
    started=$(date +%s.%N)
    "$bin/taskgate" serve --config "$work/taskgate.yaml" >"$work/serve.log" 2>&1 &
    serve=$!
    pids+=($serve)
    until curl -sf http://127.0.0.1:19180/readyz >/dev/null 2>&1; do sleep 0.002; done
    ready_ms=$(python3 -c "import sys,time; print(round((time.time() - float(sys.argv[1])) * 1000))" "$started")
    sleep 1
    rss_idle=$(rss_kib "$serve")
    read -r rps p99 bad <<<"$(random_run http://127.0.0.1:19180 "$size")"
    rss_load=$(rss_kib "$serve")
    # What bounds lookups that miss memory at this size: how much of the store the page cache
    # kept through the run, and the disk's random reads past it.
    disk=$(python3 bench/disk.py "$store" 2)
    echo "   ready ${ready_ms} ms, ${bytes_per_task} B/task, RSS ${rss_idle} KiB idle / ${rss_load} KiB after load, random ${rps} req/s p99 ${p99} ms (non-2xx ${bad})"
    echo "   disk: $disk"
    row="{\"tasks\": $size, \"seed_seconds\": $seed_seconds, \"disk_bytes\": $disk_bytes, \"bytes_per_task\": $bytes_per_task, \"ready_ms\": $ready_ms, \"rss_idle_kib\": $rss_idle, \"rss_after_load_kib\": $rss_load, \"random_rps\": $rps, \"random_p99_ms\": $p99, \"non_2xx\": $bad, \"disk\": $disk"

    if [ "$size" = 1000000 ]; then
        echo "== paging GET /tasks?provider=capmonster&limit=100 through 1,000,000 tasks"
        paging=$(python3 bench/page.py 127.0.0.1 19180)
        echo "   $paging"
        row="$row, \"listing\": $paging"

        echo "== nginx proxy_cache holding the same 1,000,000 answers (taskgate upstream)"
        cat >"$work/nginx/nginx.conf" <<NGINX
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log $work/nginx/logs/access.log;
    keepalive_requests 1000000;
    proxy_cache_path $work/nginx/cache levels=1:2 keys_zone=tasks:256m max_size=20g inactive=1d use_temp_path=off;
    upstream taskgate { server 127.0.0.1:19180; keepalive 32; }
    server {
        listen 127.0.0.1:19190;
        location / {
            proxy_pass http://taskgate;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache tasks;
            proxy_cache_valid 200 1d;
            proxy_cache_lock on;
            add_header X-Cache \$upstream_cache_status;
        }
    }
}
NGINX
        nginx -p "$work/nginx" -c "$work/nginx/nginx.conf"
        # Every id through nginx once (two threads, each sweeping all ids: the second pass hits).
        warm=$(( size / 6000 + 5 ))
        BENCH_COUNT=$size wrk -t2 -c16 -d"${warm}s" -s bench/sweep.lua http://127.0.0.1:19190 >/dev/null
        read -r nginx_rps nginx_p99 nginx_bad <<<"$(random_run http://127.0.0.1:19190 "$size")"
        nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -s stop
        sleep 1
        rm -rf "$work/nginx/cache"
        echo "   nginx proxy_cache: ${nginx_rps} req/s p99 ${nginx_p99} ms (non-2xx ${nginx_bad})"
        row="$row, \"nginx_random_rps\": $nginx_rps, \"nginx_random_p99_ms\": $nginx_p99"
    fi
    kill -TERM "$serve"
    wait "$serve" 2>/dev/null || true
    echo "$row}" >>"$results"
done

echo
python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("| tasks | B/task on disk | ready ms | RSS idle MiB | RSS after load MiB | random req/s | p99 ms | nginx proxy_cache req/s |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    nginx = f"{r['nginx_random_rps']:,.0f}" if "nginx_random_rps" in r else ""
    print(f"| {r['tasks']:,} | {r['bytes_per_task']:,} | {r['ready_ms']} | {r['rss_idle_kib'] / 1024:.0f} | "
          f"{r['rss_after_load_kib'] / 1024:.0f} | {r['random_rps']:,.0f} | {r['random_p99_ms']:.2f} | {nginx} |")
base = rows[0]["random_rps"]
for r in rows:
    line = f"{r['tasks']:,}: random ÷ {rows[0]['tasks']:,} = {r['random_rps'] / base:.2f}x"
    if "nginx_random_rps" in r:
        line += f"; ÷ nginx = {r['random_rps'] / r['nginx_random_rps']:.2f}x"
    if r.get("disk", {}).get("resident_bytes") is not None:
        d = r["disk"]
        line += (f"; page cache held {d['resident_bytes'] / d['file_bytes']:.0%} of the store after the run, disk "
                 f"{d['direct_random_reads_per_s_qd1']:,}/{d['direct_random_reads_per_s_qd8']:,}/{d['direct_random_reads_per_s_qd32']:,} "
                 "random reads/s at depth 1/8/32")
    if "listing" in r:
        l = r["listing"]
        line += f"; listing {l['first_pages_per_s']:,.0f} pages/s at the start, {l['last_pages_per_s']:,.0f} at the end ({l['pages']:,} pages)"
    print(line)
PY
