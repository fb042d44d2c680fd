# Sourced by the benchmarks: a throwaway PostgreSQL cluster on loopback, as the tests make one
# (initdb into a directory, as the unprivileged `postgres` user when run as root, a free port).
#   pg_cluster_start DIR    # sets PG_URL (postgres://taskgate:bench@127.0.0.1:PORT/taskgate), PG_BIN, PG_PORT
#   pg_cluster_stop
pg_cluster_start() {
    PG_DIR=$1
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    PG_AS=()
    mkdir -p "$PG_DIR"
    # The server user must reach the directory through its parent (mktemp makes that 0700).
    if [ "$(id -u)" = 0 ]; then chmod o+x "$(dirname "$PG_DIR")"; chown postgres "$PG_DIR"; PG_AS=(runuser -u postgres --); fi
    PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "${PG_AS[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U taskgate -A trust -E UTF8 >/dev/null
    "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
        -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=100" start >/dev/null
    "${PG_AS[@]}" "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U taskgate taskgate
    PG_URL="postgres://taskgate:bench@127.0.0.1:$PG_PORT/taskgate?sslmode=disable"
}

pg_cluster_stop() {
    [ -n "${PG_DIR:-}" ] && "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
}
