#!/usr/bin/env python3
"""Three replicas of the release binary on one PostgreSQL database, behind nginx with three
upstream servers (deploy/nginx/taskgate.conf), against the simulators .ci/e2e/run started.

1. A real PostgreSQL 15 cluster: initdb into a temporary directory (as the unprivileged
   `postgres` user when run as root), a free loopback port; stopped at the end.
2. `taskgate migrate-store` copies the e2e SQLite store into it; the replicas serve its final
   tasks as hits (no vendor call) and list them.
3. A storm of 64 callers on one running Tencent task through nginx costs at most 2 vendor calls
   per status_ttl.
4. CapMonster's per-task budget and spacing hold for the cluster: never more than result_budget
   getTaskResult calls, never two within min_poll_interval.
5. Tencent's rate is the cluster's: each replica pushed over 100/s, the vendor never answers
   RequestLimitExceeded and its busiest second stays within its 100/s.
6. kill -9 one replica under load (nginx fails over to the others), then stop PostgreSQL for 2 s
   under load (/readyz 503) and start it: every task a caller was answered final is in the
   database; the other replicas stay up and /readyz is 200 again without a restart.
   Meanwhile two readers follow GET /events through nginx: a server-sent event stream (the
   replica killed is the one it reads from; it resumes with Last-Event-ID) and a poller (after=
   next). Each sees every event written during the phase exactly once, in the database's order.
7. The database password appears in no log line.
Prints what it measured. Every wait is bounded.
"""
import concurrent.futures
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

BIN = sys.argv[1]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORK = "/tmp/taskgate-e2e/replicas"
SQLITE_STORE = "/tmp/taskgate-e2e/taskgate.sqlite"
REPLICA_PORTS = [18960, 18961, 18962]
NGINX_PORT = 18992
BASE = f"http://127.0.0.1:{NGINX_PORT}"
CAPMONSTER_CONTROL = "http://127.0.0.1:19985/_sim"
ALIYUN_CONTROL = "http://127.0.0.1:19981/_sim"
TENCENT_CONTROL = "http://127.0.0.1:19984/_sim"
PASSWORD = "e2e-db-password-7f3k"
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print(f"  FAIL: {message}", flush=True)


def request(method, url, body=None, timeout=30, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return None, {}, b""


def sim_calls(control):
    status, _, body = request("GET", f"{control}/calls")
    assert status == 200, status
    return json.loads(body)


def add_task(control, task_id, timeline):
    status, _, body = request("POST", f"{control}/tasks", {"id": task_id, "timeline": timeline})
    assert status == 201, (status, body)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


class Postgres:
    """A throwaway cluster, as the tests' fixture makes one."""

    def __init__(self):
        self.binaries = next(
            (f"/usr/lib/postgresql/{v}/bin" for v in ("17", "16", "15") if os.path.exists(f"/usr/lib/postgresql/{v}/bin/pg_ctl")),
            None,
        )
        assert self.binaries, "PostgreSQL's server programs were not found (apt-get install postgresql)"
        self.run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.directory = f"{WORK}/pg"
        os.makedirs(self.directory)
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres")
        self.port = free_port()
        self.url = f"postgres://taskgate:{PASSWORD}@127.0.0.1:{self.port}/taskgate?sslmode=disable"
        subprocess.run(
            self.run_as + [f"{self.binaries}/initdb", "-D", f"{self.directory}/data", "-U", "taskgate", "-A", "trust", "-E", "UTF8"],
            check=True, stdout=subprocess.DEVNULL,
        )
        self.start()
        subprocess.run(
            self.run_as + [f"{self.binaries}/createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "taskgate", "taskgate"], check=True
        )

    def pg_ctl(self, *arguments):
        subprocess.run(self.run_as + [f"{self.binaries}/pg_ctl", "-D", f"{self.directory}/data", *arguments], check=True,
                       stdout=subprocess.DEVNULL, timeout=60)

    def start(self):
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c max_connections=100"
        self.pg_ctl("-o", options, "-l", f"{self.directory}/server.log", "-w", "start")

    def restart(self):
        self.pg_ctl("-m", "fast", "-w", "stop")
        self.start()

    def stop(self):
        try:
            self.pg_ctl("-m", "immediate", "-w", "stop")
        except Exception:
            pass

    def query(self, sql):
        result = subprocess.run(
            [f"{self.binaries}/psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "taskgate", "-d", "taskgate", "-At", "-c", sql],
            check=True, capture_output=True, text=True, timeout=60,
        )
        return result.stdout.split()


def write_config(port, database):
    path = f"{WORK}/replica-{port}.yaml"
    with open(path, "w") as file:
        file.write(f"""listen: 127.0.0.1:{port}
store: {database}
store_pool: 6
log_level: info
providers:
  capmonster:
    kind: capmonster
    watch: false
    endpoint: http://127.0.0.1:18985
    client_key: e2e-client-key
    status_ttl: 0s
    result_budget: 5
    min_poll_interval: 2s
  aliyun:
    kind: aliyun-multimediaai
    watch: false
    endpoint: http://127.0.0.1:18981
    region: cn-shanghai
    access_key_id: LTAI5tE2E
    access_key_secret: e2e-secret
  tencent:
    kind: tencent-mps
    watch: false
    endpoint: http://127.0.0.1:18984
    secret_id: AKIDE2E
    secret_key: e2e-key
    status_ttl: 5s
  # The same account under another name (so the same rate), never reusing an answer.
  tencent-load:
    kind: tencent-mps
    watch: false
    endpoint: http://127.0.0.1:18984
    secret_id: AKIDE2E
    secret_key: e2e-key
    status_ttl: 0s
    rate_limit_wait: 0s
""")
    return path


class Replica:
    def __init__(self, port, database):
        self.port = port
        self.config = write_config(port, database)
        self.log_path = f"{WORK}/replica-{port}.log"
        self.process = None

    def start(self):
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen([BIN, "serve", "--config", self.config], stdout=log, stderr=log)

    def ready(self):
        status, _, _ = request("GET", f"http://127.0.0.1:{self.port}/readyz", timeout=2)
        return status == 200

    def alive(self):
        return self.process.poll() is None

    def kill9(self):
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self):
        if self.process and self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_nginx():
    directory = f"{WORK}/nginx"
    os.makedirs(f"{directory}/logs")
    with open(f"{ROOT}/deploy/nginx/taskgate.conf") as file:
        site = file.read()
    servers = "".join(f"    server 127.0.0.1:{port};\n" for port in REPLICA_PORTS)
    assert "    server 127.0.0.1:8080;\n" in site
    site = site.replace("    server 127.0.0.1:8080;\n", servers).replace("listen 80;", f"listen 127.0.0.1:{NGINX_PORT};")
    # Which replica a stream reads from, so the test can kill that one.
    assert "    location = /events {\n" in site
    site = site.replace("    location = /events {\n", "    location = /events {\n        add_header X-Upstream $upstream_addr always;\n")
    with open(f"{directory}/taskgate.conf", "w") as file:
        file.write(site)
    with open(f"{directory}/nginx.conf", "w") as file:
        file.write(f"""worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/logs/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log {directory}/logs/access.log;
    include {directory}/taskgate.conf;
}}
""")
    subprocess.run(["nginx", "-p", directory, "-c", f"{directory}/nginx.conf"], check=True)
    return directory


class StreamReader(threading.Thread):
    """Follows GET /events?after=<start> as server-sent events through nginx, as an EventSource
    would: on any end or error it reconnects with Last-Event-ID. Records event ids in order."""

    def __init__(self, start):
        super().__init__(daemon=True)
        self.last_id = start
        self.ids = []
        self.upstreams = []
        self.reconnects = 0
        self.stop = threading.Event()
        self.connected = threading.Event()

    def run(self):
        first = True
        while not self.stop.is_set():
            connection = http.client.HTTPConnection("127.0.0.1", NGINX_PORT, timeout=20)
            try:
                headers = {"Accept": "text/event-stream"}
                path = f"/events?after={self.last_id}" if first else "/events"
                if not first:
                    headers["Last-Event-ID"] = self.last_id
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                if response.status != 200:
                    response.read()
                    time.sleep(0.2)
                    continue
                first = False
                self.upstreams.append(response.getheader("X-Upstream"))
                self.connected.set()
                event_id, data = None, None
                while not self.stop.is_set():
                    line = response.readline()
                    if not line:
                        break
                    line = line.rstrip(b"\n").decode()
                    if line.startswith("id: "):
                        event_id = line[4:]
                    elif line.startswith("data: "):
                        data = line[6:]
                    elif line == "" and data is not None:
                        self.ids.append(json.loads(data)["id"])
                        self.last_id = event_id
                        event_id, data = None, None
            except (OSError, http.client.HTTPException, ValueError):
                pass
            finally:
                connection.close()
            if not self.stop.is_set():
                self.reconnects += 1
                time.sleep(0.1)


class PollReader(threading.Thread):
    """Polls GET /events?after=<next> through nginx; records event ids in order."""

    def __init__(self, start):
        super().__init__(daemon=True)
        self.cursor = start
        self.ids = []
        self.failed_polls = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            status, _, body = request("GET", f"{BASE}/events?after={self.cursor}&limit=100", timeout=10)
            if status == 200:
                page = json.loads(body)
                self.ids += [event["id"] for event in page["events"]]
                self.cursor = page["next"]
                if page["events"]:
                    continue
            else:
                self.failed_polls += 1
            time.sleep(0.2)


def storm(urls, threads):
    """Fetches every URL once, `threads` at a time; returns [(url, status, body)]."""
    def fetch(url):
        status, headers, body = request("GET", url)
        return url, status, headers, body
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return list(pool.map(fetch, urls))


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    postgres = Postgres()
    replicas = []
    nginx_directory = None
    try:
        print("== migrate-store: the e2e SQLite store into PostgreSQL", flush=True)
        migrated = subprocess.run([BIN, "migrate-store", "--from", SQLITE_STORE, "--to", postgres.url],
                                  capture_output=True, text=True, timeout=120)
        print("  " + (migrated.stdout.strip() or migrated.stderr.strip()), flush=True)
        check(migrated.returncode == 0 and migrated.stdout.startswith("copied "), f"migrate-store failed: {migrated.stderr}")
        check(PASSWORD not in migrated.stdout + migrated.stderr, "migrate-store printed the database password")
        again = subprocess.run([BIN, "migrate-store", "--from", SQLITE_STORE, "--to", postgres.url], capture_output=True, text=True, timeout=120)
        check(again.returncode != 0 and "holds" in again.stderr, f"migrate-store into a non-empty store: {again.stderr}")
        tasks_in_sqlite = int(subprocess.run(["python3", "-c", f"import sqlite3; print(sqlite3.connect('file:{SQLITE_STORE}?mode=ro', uri=True).execute('SELECT count(*) FROM task').fetchone()[0])"],
                                             capture_output=True, text=True, check=True).stdout)
        check(postgres.query("SELECT count(*) FROM task") == [str(tasks_in_sqlite)], "PostgreSQL does not hold every migrated task")

        print("== three replicas behind nginx", flush=True)
        replicas = [Replica(port, postgres.url) for port in REPLICA_PORTS]
        for replica in replicas:
            replica.start()
        check(wait_until(lambda: all(r.ready() for r in replicas), 60), "the replicas did not become ready")
        nginx_directory = start_nginx()
        check(wait_until(lambda: request("GET", f"{BASE}/readyz", timeout=2)[0] == 200, 30), "not ready behind nginx")

        calls_before = sim_calls(CAPMONSTER_CONTROL)["tasks"].get("7001", {})
        for replica in replicas:
            status, headers, _ = request("GET", f"http://127.0.0.1:{replica.port}/tasks/capmonster/7001")
            check(status == 200 and headers.get("X-Cache") == "HIT", f"migrated task 7001 on :{replica.port}: {status} {headers.get('X-Cache')}")
        check(sim_calls(CAPMONSTER_CONTROL)["tasks"].get("7001", {}) == calls_before, "a migrated final task cost a vendor call")
        status, _, body = request("GET", f"{BASE}/tasks?provider=capmonster&limit=100")
        listed = [task["id"] for task in json.loads(body).get("tasks", [])] if status == 200 else []
        check("7001" in listed, f"the shared listing lacks 7001: {status} {listed[:5]}")

        print("== a storm on one running task costs one vendor call per status_ttl", flush=True)
        storm_id = "2600011633-WorkflowTask-e2estorm1"
        add_task(TENCENT_CONTROL, storm_id, [{"state": "running"}])
        started = time.monotonic()
        results = storm([f"{BASE}/tasks/tencent/{storm_id}"] * 640, 64)
        elapsed = time.monotonic() - started
        statuses = [status for _, status, _, _ in results]
        cache = {}
        for _, _, headers, _ in results:
            cache[headers.get("X-Cache")] = cache.get(headers.get("X-Cache"), 0) + 1
        calls = sim_calls(TENCENT_CONTROL)["tasks"].get(storm_id, {}).get("DescribeTaskDetail", 0)
        ttls = 1 + int(elapsed / 5)
        print(f"  64 callers, 640 requests over 3 replicas in {elapsed:.2f} s ({ttls} status_ttl): {calls} vendor call(s); "
              f"X-Cache {cache}", flush=True)
        check(statuses.count(200) == 640, f"storm statuses: {sorted(set(statuses), key=str)}")
        check(1 <= calls <= 2 * ttls, f"the storm cost {calls} vendor calls in {elapsed:.2f} s (status_ttl 5 s)")

        print("== CapMonster's per-task budget and spacing hold for the cluster", flush=True)
        add_task(CAPMONSTER_CONTROL, "7301", [{"state": "running"}])
        stop_at = time.monotonic() + 13
        outcomes = {}
        lock = threading.Lock()

        def poll_capmonster():
            while time.monotonic() < stop_at:
                status, _, _ = request("GET", f"{BASE}/tasks/capmonster/7301")
                with lock:
                    outcomes[status] = outcomes.get(status, 0) + 1
                time.sleep(0.05)
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            for _ in range(6):
                pool.submit(poll_capmonster)
        report = sim_calls(CAPMONSTER_CONTROL)
        budget_calls = report["tasks"].get("7301", {}).get("getTaskResult", 0)
        gap = report["shortestGapSeconds"].get("7301")
        print(f"  6 callers for 13 s: {budget_calls} getTaskResult calls (budget 5), shortest gap {gap:.3f} s (spacing 2 s); answers {outcomes}", flush=True)
        check(budget_calls == 5, f"CapMonster was asked {budget_calls} times (budget 5)")
        check(gap is not None and gap >= 1.99, f"two CapMonster calls {gap} s apart (min_poll_interval 2 s)")
        check(set(outcomes) <= {200, 429, 503}, f"CapMonster answers: {outcomes}")
        check(outcomes.get(429, 0) > 0, "the spent budget never answered 429")

        print("== Tencent's rate is the cluster's", flush=True)
        before = sim_calls(TENCENT_CONTROL)
        rate_ids = [f"2600011633-WorkflowTask-e2erate{n}" for n in range(200)]
        for task_id in rate_ids:
            add_task(TENCENT_CONTROL, task_id, [{"state": "running"}])
        load_until = time.monotonic() + 6
        answers = {}
        offered = {port: 0 for port in REPLICA_PORTS}

        def load_tencent(offset):
            # Straight at one replica each, over a kept-alive connection: each replica is pushed
            # well over 100/s; what is over the cluster's rate is refused at once (503).
            port = REPLICA_PORTS[offset % 3]
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            n = offset
            while time.monotonic() < load_until:
                connection.request("GET", f"/tasks/tencent-load/{rate_ids[n % len(rate_ids)]}")
                response = connection.getresponse()
                response.read()
                with lock:
                    answers[response.status] = answers.get(response.status, 0) + 1
                    offered[port] += 1
                n += 7
            connection.close()
        with concurrent.futures.ThreadPoolExecutor(24) as pool:
            for future in [pool.submit(load_tencent, offset) for offset in range(24)]:
                future.result()
        after = sim_calls(TENCENT_CONTROL)
        sent = after["total"] - before["total"]
        limited = after["rejectedByReason"].get("RequestLimitExceeded", 0) - before["rejectedByReason"].get("RequestLimitExceeded", 0)
        per_replica = ", ".join(f"{count / 6:.0f}/s" for count in offered.values())
        print(f"  offered per replica {per_replica}; the vendor got {sent} calls in 6 s ({sent / 6:.0f}/s), busiest second "
              f"{after['peakPerSecond']} (it allows 100), RequestLimitExceeded {limited}; answers {answers}", flush=True)
        check(all(count / 6 > 100 for count in offered.values()), f"a replica was not pushed over 100/s: {per_replica}")
        check(limited == 0, f"the vendor answered RequestLimitExceeded {limited} times")
        check(after["peakPerSecond"] <= 100, f"the vendor saw {after['peakPerSecond']} requests within one second")
        check(set(answers) <= {200, 503}, f"answers under the rate: {answers}")

        print("== kill -9 one replica, then stop and start PostgreSQL, under load; two feed readers", flush=True)
        # Nothing writes events now: the readers start at the feed's end, and every event the
        # phase writes is after it.
        status, _, body = request("GET", f"{BASE}/events?after=now")
        check(status == 200, f"GET /events?after=now: {status}")
        feed_start = json.loads(body)["next"] if status == 200 else ""
        sequence_start = int(postgres.query("SELECT last_sequence FROM event_feed")[0])
        stream_reader, poll_reader = StreamReader(feed_start), PollReader(feed_start)
        stream_reader.start()
        poll_reader.start()
        check(stream_reader.connected.wait(10), "the event stream did not open")
        first_upstream = (stream_reader.upstreams or [""])[0] or ""
        stream_port = int(first_upstream.rsplit(":", 1)[1]) if ":" in first_upstream else REPLICA_PORTS[1]
        victim = next((r for r in replicas if r.port == stream_port), replicas[1])
        answered_final = set()
        answered_after_kill = set()
        next_id = [900000]
        load_on = threading.Event()
        load_on.set()
        killed = threading.Event()
        phase_errors = {}

        def load_final():
            while load_on.is_set():
                with lock:
                    next_id[0] += 1
                    task_id = str(next_id[0])
                add_task(ALIYUN_CONTROL, task_id, [{"state": "succeeded", "result": {"n": task_id}}])
                after_kill = killed.is_set()
                status, _, body = request("GET", f"{BASE}/tasks/aliyun/{task_id}", timeout=20)
                with lock:
                    if status == 200 and json.loads(body).get("final") is True:
                        answered_final.add(task_id)
                        if after_kill:
                            answered_after_kill.add(task_id)
                    else:
                        phase_errors[status] = phase_errors.get(status, 0) + 1
        survivors = [r for r in replicas if r is not victim]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            workers = [pool.submit(load_final) for _ in range(8)]
            time.sleep(2)
            victim.kill9()
            killed.set()
            time.sleep(3)
            served_after_kill = len(answered_after_kill)
            postgres.pg_ctl("-m", "fast", "-w", "stop")
            down_ready = [wait_until(lambda r=r: not r.ready(), 2) for r in survivors]
            time.sleep(2)
            postgres.start()
            time.sleep(4)
            load_on.clear()
            for worker in workers:
                worker.result()
        print(f"  after kill -9, nginx sent {served_after_kill} tasks to the other replicas in 3 s; with the database "
              f"down /readyz turned 503: {down_ready}", flush=True)
        check(served_after_kill > 20, f"only {served_after_kill} answers after the kill")
        check(all(down_ready), "/readyz stayed 200 with the database down")
        stored = set(postgres.query("SELECT task_id FROM task WHERE provider = 'aliyun' AND is_final"))
        lost = answered_final - stored
        print(f"  {len(answered_final)} tasks answered final; {len(lost)} missing from the database; "
              f"other answers {phase_errors}", flush=True)
        check(len(answered_final) > 50, f"too little load: {len(answered_final)} answered")
        check(not lost, f"answered final but not stored: {sorted(lost)[:10]}")
        check(all(r.alive() for r in survivors), "a replica exited when PostgreSQL restarted")
        check(wait_until(lambda: all(r.ready() for r in survivors), 30), "/readyz did not come back after the restart")
        status, headers, _ = request("GET", f"{BASE}/tasks/aliyun/{sorted(answered_final)[0]}")
        check(status == 200, f"a stored task after the restart: {status}")
        expected = postgres.query(f"SELECT id FROM task_event WHERE sequence > {sequence_start} ORDER BY sequence")
        for reader in (stream_reader, poll_reader):
            wait_until(lambda r=reader: len(r.ids) >= len(expected), 30)
        time.sleep(1)  # anything more (a duplicate) would arrive now
        stream_reader.stop.set()
        poll_reader.stop.set()
        print(f"  the feed: {len(expected)} events written in the phase; the stream (on :{stream_port}, killed) saw "
              f"{len(stream_reader.ids)} over {len(stream_reader.upstreams)} connections {stream_reader.upstreams}; the poller "
              f"saw {len(poll_reader.ids)} ({poll_reader.failed_polls} polls failed while the database was down)", flush=True)
        check(len(expected) >= len(answered_final), f"{len(expected)} events for {len(answered_final)} tasks answered final")
        check(stream_reader.ids == expected, f"the stream reader's events differ: {len(stream_reader.ids)} seen, "
              f"{len(set(stream_reader.ids))} distinct, {len(expected)} written")
        check(poll_reader.ids == expected, f"the polling reader's events differ: {len(poll_reader.ids)} seen, "
              f"{len(set(poll_reader.ids))} distinct, {len(expected)} written")
        check(len(stream_reader.upstreams) >= 2, f"the stream was never resumed after the kill: {stream_reader.upstreams}")

        print("== no secret in any log", flush=True)
        for replica in replicas:
            with open(replica.log_path, errors="replace") as file:
                check(PASSWORD not in file.read(), f"the database password is in {replica.log_path}")
    finally:
        for replica in replicas:
            replica.stop()
        if nginx_directory:
            subprocess.run(["nginx", "-p", nginx_directory, "-c", f"{nginx_directory}/nginx.conf", "-s", "stop"], check=False)
        postgres.stop()
    if failures:
        for replica in replicas:
            print(f"--- last lines of {replica.log_path}", file=sys.stderr)
            with open(replica.log_path, errors="replace") as file:
                sys.stderr.write("".join(file.readlines()[-15:]))
        print(f"replicas: {len(failures)} failure(s)", file=sys.stderr)
        sys.exit(1)
    print("replicas passed", flush=True)


if __name__ == "__main__":
    main()
