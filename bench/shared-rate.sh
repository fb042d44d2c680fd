#!/usr/bin/env bash
# What the shared rate limit costs per vendor call: the one statement a replica sends to take a
# slot from an account's bucket in PostgreSQL (PostgresTaskStore.takeRateSlot), run by pgbench
# from 1 and 3 clients (replicas) on one account's row, on a throwaway local cluster. Prints
# latency and statements per second; asserts nothing. Needs Debian's postgresql (pgbench).
#
#   bench/shared-rate.sh             # 10 s per client count
#   BENCH_DURATION=30 bench/shared-rate.sh
set -euo pipefail
duration=${BENCH_DURATION:-10}
cd "$(dirname "$0")"
source ./pg-cluster.sh
work=$(mktemp -d /tmp/taskgate-bench-pg.XXXXXX)
trap 'pg_cluster_stop; rm -rf "$work"' EXIT
pg_cluster_start "$work/pg"
bin=$PG_BIN
port=$PG_PORT
psql=("$bin/psql" -h 127.0.0.1 -p "$port" -U taskgate -d taskgate -qAt)
# As taskgate's migration v5 makes it: unlogged (no WAL flush per slot).
"${psql[@]}" -c "CREATE UNLOGGED TABLE vendor_rate (account text PRIMARY KEY, full_at double precision NOT NULL)"

# taskgate's statement with its bind values written out: 100/s with the 10% margin (11 ms a slot),
# burst 1, and a `latest` far ahead so every call takes a slot (the row is as contended as it gets).
cat >"$work/slot.sql" <<'SQL'
INSERT INTO vendor_rate AS rate (account, full_at) VALUES ('5f0c9e3a1b2d4c6e', extract(epoch from clock_timestamp()) + 0.011)
ON CONFLICT (account) DO UPDATE SET full_at = GREATEST(rate.full_at, extract(epoch from clock_timestamp())) + 0.011
WHERE GREATEST(rate.full_at, extract(epoch from clock_timestamp())) - 0 <= extract(epoch from clock_timestamp()) + 1000000
RETURNING GREATEST(extract(epoch from clock_timestamp()), full_at - 0.011 - 0);
SQL

echo "shared rate limit: one slot taken per vendor call (PostgreSQL $("$bin/postgres" --version | awk '{print $3}'), loopback, ${duration} s each)"
printf '%-10s %14s %14s\n' clients "statements/s" "latency ms"
for clients in 1 3; do
    out=$("$bin/pgbench" -h 127.0.0.1 -p "$port" -U taskgate -n -M prepared -c "$clients" -j "$clients" -T "$duration" -f "$work/slot.sql" taskgate 2>&1)
    tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out")
    latency=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$out")
    printf '%-10s %14.0f %14s\n' "$clients" "$tps" "$latency"
done
