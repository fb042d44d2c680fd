#!/usr/bin/env bash
# taskgate next to nginx on this machine, measured in one run (not part of the tests; it asserts
# nothing about time). Prints a table of req/s and p50/p99 for both, the ratio of the medians,
# taskgate's memory and start-up time, and writes every raw number to bench/results.json.
#
# As deployed: taskgate at its default log level (one JSON access line per request, stdout to a
# file) and nginx with its access log on (to a file). Scenario 1 adds two references: taskgate
# with its access log off, and nginx `gzip_static` serving the same precompressed bytes from its
# open-file cache (the near-limit of serving them over HTTP/1.1 here), and taskgate traced
# (OpenTelemetry, a 1% parent-based sampler, spans sent to a local sink). Scenario 5 adds taskgate
# with `stale_while_revalidate: 1s` (its own 1,000 running tasks), against the default (off).
#
#   bench/run.sh                      # 3 rounds of 8 s per scenario and target
#   BENCH_QUIET=1 bench/run.sh        # access logs off on both sides (taskgate at warning)
#   BENCH_SCALE=1 bench/run.sh        # bench/scale.sh: 100,000 to 10,000,000 stored tasks
#   BENCH_DURATION=15s BENCH_ROUNDS=5 bench/run.sh
#   BENCH_BASELINE=/path/to/taskgate bench/run.sh   # scenario 1 also against another build
#                                     # (an earlier commit's release binary) on the same store
#   BENCH_STORE=postgres bench/run.sh # the same on a PostgreSQL store (a throwaway local cluster,
#                                     # seeded with `taskgate migrate-store`), plus scenario 6:
#                                     # three replicas on it behind nginx
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
duration=${BENCH_DURATION:-8s}
rounds=${BENCH_ROUNDS:-3}
threads=2
connections=64
count=${BENCH_COUNT:-100000}
first=500000
work=/tmp/taskgate-bench
results="$root/bench/results.json"
store_kind=${BENCH_STORE:-sqlite}
quiet=${BENCH_QUIET:-0}
if [ "${BENCH_SCALE:-0}" = 1 ]; then exec bash bench/scale.sh; fi
if [ "$quiet" = 1 ]; then
    log_level=warning nginx_access_log="access_log off;"
else
    log_level=info nginx_access_log="access_log $work/nginx/logs/access.log;"
fi
export BENCH_FIRST_ID=$first BENCH_COUNT=$count BENCH_CLIENT_KEY=bench-client-key

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

pids=()
source bench/pg-cluster.sh
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ -f "$work/nginx/nginx.pid" ] && nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -s stop 2>/dev/null || true
    pg_cluster_stop
}
trap cleanup EXIT

echo "== building release"
swift build -c release --product taskgate >/dev/null
swift build -c release --product taskgate-bench >/dev/null
bin=$(swift build -c release --show-bin-path)

rm -rf "$work" && mkdir -p "$work/nginx/logs" "$work/nginx/cache"
: >"$results"
echo "== seeding $count final tasks into the store and nginx's origin"
"$bin/taskgate-bench" --store "$work/taskgate.sqlite" --origin-directory "$work/origin" --count "$count" --first-id "$first"
store=$work/taskgate.sqlite
if [ "$store_kind" = postgres ]; then
    echo "== a PostgreSQL store: a local cluster, the seeded tasks copied in with migrate-store"
    pg_cluster_start "$work/pg"
    store=$PG_URL
    migrate_started=$(date +%s.%N)
    "$bin/taskgate" migrate-store --from "$work/taskgate.sqlite" --to "$store"
    echo "   ($(python3 -c "print(round($(date +%s.%N) - $migrate_started, 1))") s)"
fi

# taskgate_config PORT [LOG_LEVEL] [STALE_WHILE_REVALIDATE]
taskgate_config() {
    cat <<YAML
listen: 127.0.0.1:$1
store: $store
log_level: ${2:-$log_level}
# The background watch is off: the scenarios measure callers' requests alone.
providers:
  aliyun:
    kind: aliyun-multimediaai
    watch: false
    endpoint: http://127.0.0.1:19081
    region: cn-shanghai
    access_key_id: LTAI5tBENCH
    access_key_secret: bench-secret
  capmonster:
    kind: capmonster
    watch: false
    endpoint: http://127.0.0.1:19085
    client_key: bench-client-key
    stale_while_revalidate: ${3:-0s}
YAML
}
taskgate_config 19080 >"$work/taskgate.yaml"
"$bin/taskgate" simulate --config "$work/taskgate.yaml" >"$work/simulate.log" 2>&1 &
pids+=($!)

echo "== starting taskgate"
started=$(date +%s.%N)
"$bin/taskgate" serve --config "$work/taskgate.yaml" >"$work/serve.log" 2>&1 &
serve=$!
pids+=($serve)
until curl -sf http://127.0.0.1:19080/readyz >/dev/null 2>&1; do sleep 0.005; done
ready=$(date +%s.%N)
ready_ms=$(python3 -c "print(round(($ready - $started) * 1000))")
sleep 1
rss_idle_kb=$(awk '/VmRSS/ {print $2}' "/proc/$serve/status")
if [ "$quiet" != 1 ]; then
    # The same gateway with its access log off, for scenario 1's log-on / log-off ratio.
    taskgate_config 19082 warning >"$work/taskgate-quiet.yaml"
    "$bin/taskgate" serve --config "$work/taskgate-quiet.yaml" >"$work/serve-quiet.log" 2>&1 &
    pids+=($!)
    until curl -sf http://127.0.0.1:19082/readyz >/dev/null 2>&1; do sleep 0.05; done
fi
# The same gateway traced (OpenTelemetry, 1% parent-based sampler, to a local collector that
# takes the spans), for scenario 1's tracing on / off ratio.
python3 bench/otlp-sink.py 19086 &
pids+=($!)
{ taskgate_config 19084; printf 'tracing:\n  endpoint: http://127.0.0.1:19086\n  sampler: parentbased_traceidratio\n  sampler_arg: 0.01\n'; } \
    >"$work/taskgate-traced.yaml"
"$bin/taskgate" serve --config "$work/taskgate-traced.yaml" >"$work/serve-traced.log" 2>&1 &
pids+=($!)
until curl -sf http://127.0.0.1:19084/readyz >/dev/null 2>&1; do sleep 0.05; done
# An earlier build, when given, for scenario 1's before / after in one run.
baseline=${BENCH_BASELINE:-}
[ "$store_kind" = sqlite ] || baseline=""
if [ -n "$baseline" ]; then
    # Its own copy of the store, without the migrations it does not know (it refuses a newer store).
    cp "$work/taskgate.sqlite" "$work/taskgate-baseline.sqlite"
    python3 - "$work/taskgate-baseline.sqlite" "$baseline" <<'PY'
import sqlite3, subprocess, sys
db = sqlite3.connect(sys.argv[1])
binary = open(sys.argv[2], "rb").read()
for (name,) in db.execute("SELECT identifier FROM grdb_migrations").fetchall():
    # A name of 15 bytes or fewer is a small string, kept in the code, not the binary's data.
    if len(name.encode()) > 15 and name.encode() not in binary:
        column = name.split(": task.")[-1] if ": task." in name else None
        if column:
            db.execute(f"ALTER TABLE task DROP COLUMN {column}")
        db.execute("DELETE FROM grdb_migrations WHERE identifier = ?", (name,))
db.commit()
PY
    taskgate_config 19087 | sed "s#^store: .*#store: $work/taskgate-baseline.sqlite#" >"$work/taskgate-baseline.yaml"
    "$baseline" serve --config "$work/taskgate-baseline.yaml" >"$work/serve-baseline.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 200); do curl -sf http://127.0.0.1:19087/readyz >/dev/null 2>&1 && break; sleep 0.05; done
    curl -sf http://127.0.0.1:19087/readyz >/dev/null || { tail -3 "$work/serve-baseline.log"; exit 1; }
fi
# The same gateway with `stale_while_revalidate: 1s`, for scenario 5 (its own running tasks).
taskgate_config 19083 "$log_level" 1s >"$work/taskgate-swr.yaml"
"$bin/taskgate" serve --config "$work/taskgate-swr.yaml" >"$work/serve-swr.log" 2>&1 &
pids+=($!)
until curl -sf http://127.0.0.1:19083/readyz >/dev/null 2>&1; do sleep 0.05; done

echo "== starting nginx (proxy_cache in front of a static origin with the same bodies; gzip_static)"
cat >"$work/nginx/nginx.conf" <<NGINX
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    $nginx_access_log
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    default_type application/json;
    proxy_cache_path $work/nginx/cache levels=1:2 keys_zone=tasks:64m max_size=2g inactive=1d use_temp_path=off;
    server {
        listen 127.0.0.1:19091;
        access_log off;
        root $work/origin;
        gzip_static on;
        gzip_vary on;
        etag on;
    }
    # The same precompressed bytes straight from files nginx keeps open.
    server {
        listen 127.0.0.1:19093;
        root $work/origin;
        gzip_static on;
        gzip_vary on;
        etag on;
        open_file_cache max=200000 inactive=1d;
        open_file_cache_valid 1d;
    }
    upstream origin { server 127.0.0.1:19091; keepalive 32; }
    server {
        listen 127.0.0.1:19090;
        location / {
            proxy_pass http://origin;
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

echo "== warming both caches with every id"
warm_seconds=$(( count / 15000 + 3 ))
wrk -t2 -c16 -d"${warm_seconds}s" -s bench/sweep.lua http://127.0.0.1:19090 >/dev/null
wrk -t2 -c16 -d"${warm_seconds}s" -s bench/sweep.lua http://127.0.0.1:19080 >/dev/null
[ "$quiet" = 1 ] || wrk -t2 -c16 -d"${warm_seconds}s" -s bench/sweep.lua http://127.0.0.1:19082 >/dev/null

one="/tasks/aliyun/$first"
gzip_etag_taskgate=$(curl -s -D - -o /dev/null -H 'Accept-Encoding: gzip' "http://127.0.0.1:19080$one" | awk -F': ' 'tolower($1)=="etag" {print $2}' | tr -d '\r')
gzip_etag_nginx=$(curl -s -D - -o /dev/null -H 'Accept-Encoding: gzip' "http://127.0.0.1:19090$one" | awk -F': ' 'tolower($1)=="etag" {print $2}' | tr -d '\r')

# run SCENARIO TARGET ROUND URL [wrk args...]
run() {
    local scenario=$1 target=$2 round=$3 url=$4
    shift 4
    wrk -t"$threads" -c"$connections" -d"$duration" --latency "$@" "$url" | python3 bench/report.py record "$scenario" "$target" "$round" "$results"
}

scenario() {
    local name=$1 taskgate_url=$2 other=$3 other_url=$4
    shift 4
    echo "== $name"
    for round in $(seq 1 "$rounds"); do
        run "$name" taskgate "$round" "$taskgate_url" "${taskgate_args[@]}"
        run "$name" "$other" "$round" "$other_url" "${other_args[@]}"
    done
}

taskgate_args=(-H 'Accept-Encoding: gzip'); other_args=(-H 'Accept-Encoding: gzip')
echo "== 1 one final task, gzip"
for round in $(seq 1 "$rounds"); do
    run "1 one final task, gzip" taskgate "$round" "http://127.0.0.1:19080$one" "${taskgate_args[@]}"
    [ "$quiet" = 1 ] || run "1 one final task, gzip" taskgate-log-off "$round" "http://127.0.0.1:19082$one" "${taskgate_args[@]}"
    run "1 one final task, gzip" taskgate-traced "$round" "http://127.0.0.1:19084$one" "${taskgate_args[@]}"
    [ -z "$baseline" ] || run "1 one final task, gzip" taskgate-baseline "$round" "http://127.0.0.1:19087$one" "${taskgate_args[@]}"
    run "1 one final task, gzip" nginx "$round" "http://127.0.0.1:19090$one" "${other_args[@]}"
    run "1 one final task, gzip" nginx-gzip-static "$round" "http://127.0.0.1:19093$one" "${other_args[@]}"
done
taskgate_args=(); other_args=()
scenario "2 one final task, identity" "http://127.0.0.1:19080$one" nginx "http://127.0.0.1:19090$one"
taskgate_args=(-H 'Accept-Encoding: gzip' -H "If-None-Match: $gzip_etag_taskgate")
other_args=(-H 'Accept-Encoding: gzip' -H "If-None-Match: $gzip_etag_nginx")
scenario "3 If-None-Match (304)" "http://127.0.0.1:19080$one" nginx "http://127.0.0.1:19090$one"
taskgate_args=(-s bench/random.lua); other_args=(-s bench/random.lua)
# A sweep fills nginx's cache, but its first random rounds still run far below its steady rate
# (file and page caches settling): one untimed random run against each before measuring.
wrk -t2 -c64 -d"$duration" -s bench/random.lua http://127.0.0.1:19090 >/dev/null
wrk -t2 -c64 -d"$duration" -s bench/random.lua http://127.0.0.1:19080 >/dev/null
scenario "4 $count final tasks, random, gzip" "http://127.0.0.1:19080" nginx "http://127.0.0.1:19090"
rss_load_kb=$(awk '/VmRSS/ {print $2}' "/proc/$serve/status")

echo "== seeding 1,000 running tasks for taskgate, 1,000 for taskgate-swr and 5,000 for direct calls"
seq 910000 910999 | xargs -P 8 -I{} curl -sf -o /dev/null -X POST http://127.0.0.1:20085/_sim/tasks -d '{"id":"{}","timeline":[{"state":"running"}]}'
seq 900000 900999 | xargs -P 8 -I{} curl -sf -o /dev/null -X POST http://127.0.0.1:20085/_sim/tasks -d '{"id":"{}","timeline":[{"state":"running"}]}'
seq 950000 954999 | xargs -P 8 -I{} curl -sf -o /dev/null -X POST http://127.0.0.1:20085/_sim/tasks -d '{"id":"{}","timeline":[{"state":"running"}]}'
calls_before=$(curl -sf http://127.0.0.1:20085/_sim/calls | python3 -c 'import json,sys; t=json.load(sys.stdin)["tasks"]; print(sum(sum(v.values()) for k,v in t.items() if 900000 <= int(k) < 901000))')
taskgate_args=(-s bench/poll.lua); other_args=(-s bench/poll-direct.lua)
# Each round measures steady polling: 2 s untimed first, as the tasks have sat unpolled while the
# other targets ran (past status_ttl and any stale_while_revalidate window).
poll_round() {
    local target=$1 round=$2 url=$3 script=$4
    wrk -t"$threads" -c"$connections" -d2s -s "$script" "$url" >/dev/null
    run "5 polling 1,000 running tasks" "$target" "$round" "$url" -s "$script"
}
echo "== 5 polling 1,000 running tasks"
for round in $(seq 1 "$rounds"); do
    poll_round taskgate "$round" http://127.0.0.1:19080 bench/poll.lua
    BENCH_POLL_FIRST=910000 poll_round taskgate-swr "$round" http://127.0.0.1:19083 bench/poll.lua
    poll_round simulator "$round" http://127.0.0.1:19085 bench/poll-direct.lua
done
calls_after=$(curl -sf http://127.0.0.1:20085/_sim/calls | python3 -c 'import json,sys; t=json.load(sys.stdin)["tasks"]; print(sum(sum(v.values()) for k,v in t.items() if 900000 <= int(k) < 901000))')
taskgate_requests=$(python3 -c "
import json
rows=[json.loads(l) for l in open('$results') if l.strip()]
print(sum(r['rps'] for r in rows if r['scenario'].startswith('5') and r['target']=='taskgate'))")
echo "== 5, diagnostic: which answers waited on a vendor call"
wrk -t"$threads" -c"$connections" -d2s -s bench/poll.lua http://127.0.0.1:19080 >/dev/null
wrk -t"$threads" -c"$connections" -d"$duration" --latency -s bench/poll-cache.lua http://127.0.0.1:19080 |
    awk '/^X-Cache:/ || / 99%/ {print "   diagnostic run: " $0}'
BENCH_POLL_FIRST=910000 wrk -t"$threads" -c"$connections" -d2s -s bench/poll.lua http://127.0.0.1:19083 >/dev/null
BENCH_POLL_FIRST=910000 wrk -t"$threads" -c"$connections" -d"$duration" --latency -s bench/poll-cache.lua http://127.0.0.1:19083 |
    awk '/^X-Cache:/ || / 99%/ {print "   diagnostic run, taskgate-swr: " $0}'

if [ "$store_kind" = postgres ]; then
    echo "== scenario 6: three replicas on the PostgreSQL store behind nginx (upstream keepalive)"
    for port in 19071 19072; do
        taskgate_config "$port" >"$work/taskgate-$port.yaml"
        "$bin/taskgate" serve --config "$work/taskgate-$port.yaml" >"$work/serve-$port.log" 2>&1 &
        pids+=($!)
        until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do sleep 0.05; done
    done
    cat >"$work/nginx/replicas.conf" <<NGINX
worker_processes auto;
pid $work/nginx/replicas.pid;
error_log $work/nginx/logs/replicas-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    upstream taskgate { server 127.0.0.1:19080; server 127.0.0.1:19071; server 127.0.0.1:19072; keepalive 64; }
    server {
        listen 127.0.0.1:19092;
        location / {
            proxy_pass http://taskgate;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Accept-Encoding \$http_accept_encoding;
            gzip off;
        }
    }
}
NGINX
    nginx -p "$work/nginx" -c "$work/nginx/replicas.conf"
    # Each replica reads an answer from PostgreSQL once, then holds it in memory: three sweeps
    # (nginx spreads each over the replicas) and an untimed random run before measuring.
    for _ in 1 2 3; do wrk -t2 -c16 -d"${warm_seconds}s" -s bench/sweep.lua http://127.0.0.1:19092 >/dev/null; done
    wrk -t2 -c64 -d"$duration" -s bench/random.lua http://127.0.0.1:19092 >/dev/null
    taskgate_args=(-s bench/random.lua); other_args=(-s bench/random.lua)
    scenario "6 3 replicas behind nginx, random, gzip" "http://127.0.0.1:19092" nginx "http://127.0.0.1:19090"
    nginx -p "$work/nginx" -c "$work/nginx/replicas.conf" -s stop
fi

echo
echo "store: $store_kind; access logs $([ "$quiet" = 1 ] && echo off || echo "on (taskgate at info, nginx to a file)")"
python3 bench/report.py table "$results"
echo
echo "taskgate ready in ${ready_ms} ms; resident memory ${rss_idle_kb} KiB idle, ${rss_load_kb} KiB after scenario 4"
echo "scenario 5: $((calls_after - calls_before)) vendor calls in $((rounds * (${duration%s} + 2))) s of polling through taskgate (2 s untimed per round; 1,000 tasks, status_ttl 2 s: at most 500 a second), ~$(python3 -c "print(int($taskgate_requests * ${duration%s}))") polls timed"
python3 - "$results" <<PY
import json, sys
with open(sys.argv[1], "a") as out:
    out.write(json.dumps({"ready_ms": $ready_ms, "rss_idle_kib": $rss_idle_kb, "rss_after_scenario4_kib": $rss_load_kb,
                          "scenario5_vendor_calls": $((calls_after - calls_before)), "duration": "$duration", "rounds": $rounds,
                          "threads": $threads, "connections": $connections, "count": $count, "store": "$store_kind",
                          "access_logs": "$([ "$quiet" = 1 ] && echo off || echo on)"}) + "\n")
PY
