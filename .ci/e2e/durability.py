#!/usr/bin/env python3
"""Durability of the store, against the release binary.

1. kill -9: taskgate is killed at a random moment while callers fetch final tasks (every fetch
   writes a final row); after each restart `PRAGMA integrity_check` says ok and every task that
   was answered final to a caller is in the store. Three rounds.
2. A full disk (a tmpfs filled up, or RLIMIT_FSIZE where mounting is not allowed): writes fail
   loudly (503 store-unavailable, an error log line, taskgate_store_errors_total) while stored
   answers keep being served; once space returns the same task is fetched and stored, so nothing
   answered as final was lost. (A disk cannot be remounted read-only under a process that holds
   files open for writing, so the read-only case is a write failure of the same path; a store
   that is read-only at start stops startup, see SQLiteTaskStoreTests.)
3. limits.max_connections: with the cap reached a new connection waits unanswered, and is
   served as soon as one closes.
Uses the Alibaba simulator started by .ci/e2e/run (port 18981, control 19981).
"""
import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

BIN = sys.argv[1]
WORK = "/tmp/taskgate-e2e/durability"
PORT = 18970
GATEWAY = f"http://127.0.0.1:{PORT}"
CONTROL = "http://127.0.0.1:19981/_sim"
failures = []


def request(method, url, body=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return None, {}, b""


def add_final_task(task_id):
    status, _, body = request("POST", f"{CONTROL}/tasks", {"id": task_id, "timeline": [{"state": "succeeded"}]})
    assert status == 201, (status, body)


def config(store, limits=""):
    path = f"{WORK}/taskgate.yaml"
    with open(path, "w") as file:
        file.write(f"""listen: 127.0.0.1:{PORT}
store: {store}
log_level: info
{limits}
providers:
  aliyun:
    kind: aliyun-multimediaai
    endpoint: http://127.0.0.1:18981
    region: cn-shanghai
    access_key_id: LTAI5tE2E
    access_key_secret: e2e-secret
    rate_limit: 10000
""")
    return path


def start(store, log, limits=""):
    process = subprocess.Popen([BIN, "serve", "--config", config(store, limits)], stdout=log, stderr=subprocess.STDOUT)
    for _ in range(100):
        if request("GET", f"{GATEWAY}/readyz", timeout=1)[0] == 200:
            return process
        time.sleep(0.05)
    process.kill()
    raise SystemExit("taskgate did not become ready")


def stored_finals(store):
    db = sqlite3.connect(store)
    try:
        check = db.execute("PRAGMA integrity_check").fetchone()[0]
        rows = {row[0] for row in db.execute("SELECT task_id FROM task WHERE provider = 'aliyun' AND is_final = 1")}
    finally:
        db.close()
    return check, rows


os.makedirs(WORK, exist_ok=True)
log = open(f"{WORK}/serve.log", "ab")

print("== kill -9 while final results are written")
store = f"{WORK}/kill.sqlite"
answered = set()
for round_number in range(3):
    ids = [str(900000 + round_number * 10000 + n) for n in range(5000)]
    for task_id in ids:
        add_final_task(task_id)
    process = start(store, log)
    lock = threading.Lock()
    queue = list(ids)

    def fetch():
        while True:
            with lock:
                if not queue:
                    return
                task_id = queue.pop()
            status, _, body = request("GET", f"{GATEWAY}/tasks/aliyun/{task_id}", timeout=5)
            if status is None:
                return  # taskgate is gone
            if status == 200 and json.loads(body).get("final") is True:
                with lock:
                    answered.add(task_id)

    workers = [threading.Thread(target=fetch) for _ in range(8)]
    for worker in workers:
        worker.start()
    time.sleep(random.uniform(0.3, 1.0))
    process.kill()  # SIGKILL
    process.wait(timeout=10)
    for worker in workers:
        worker.join(timeout=30)
    # Restart on the same file: it must open, and hold every answered final result.
    process = start(store, log)
    check, rows = stored_finals(store)
    missing = answered - rows
    print(f"round {round_number + 1}: killed with {len(queue)} tasks unasked; {len(answered)} answered final so far, integrity {check}, missing {len(missing)}")
    if not queue:
        failures.append(f"round {round_number + 1}: every task was answered before the kill; the kill came too late")
    if check != "ok":
        failures.append(f"integrity_check after kill -9: {check}")
    if missing:
        failures.append(f"{len(missing)} answered final results missing after kill -9, e.g. {sorted(missing)[:3]}")
    process.terminate()
    process.wait(timeout=30)


def metric(name):
    _, _, body = request("GET", f"{GATEWAY}/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def check_failing_writes(label, restore):
    """Writes fail now; stored answers still served; after restore() the task is stored."""
    status, _, _ = request("GET", f"{GATEWAY}/tasks/aliyun/{stored_id}")
    if status != 200:
        failures.append(f"{label}: a stored answer was not served ({status})")
    add_final_task(new_id := str(990000 + random.randint(0, 9999)))
    status, _, body = request("GET", f"{GATEWAY}/tasks/aliyun/{new_id}")
    problem = json.loads(body) if body else {}
    print(f"{label}: new final task -> {status} {problem.get('type')}; store errors {metric('taskgate_store_errors_total')}")
    if status != 503 or problem.get("type") != "urn:taskgate:problem:store-unavailable":
        failures.append(f"{label}: a final answer that could not be stored was answered {status}")
    if metric('taskgate_store_errors_total{operation="write"}') < 1:
        failures.append(f"{label}: no taskgate_store_errors_total")
    restore()
    status, _, body = request("GET", f"{GATEWAY}/tasks/aliyun/{new_id}")
    if status != 200 or json.loads(body).get("final") is not True:
        failures.append(f"{label}: after recovery the task answered {status}")
    _, rows = stored_finals(store)
    if new_id not in rows:
        failures.append(f"{label}: after recovery the final answer is not in the store")
    print(f"{label}: after recovery -> {status}, stored")


print("== a full disk")
mount = f"{WORK}/disk"
os.makedirs(mount, exist_ok=True)
mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mount], capture_output=True).returncode == 0
stored_id = "989999"
add_final_task(stored_id)
if mounted:
    store = f"{mount}/taskgate.sqlite"
    process = start(store, log)
    try:
        request("GET", f"{GATEWAY}/tasks/aliyun/{stored_id}")
        filler = f"{mount}/filler"
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)  # until ENOSPC
        check_failing_writes("full disk (tmpfs)", lambda: os.remove(filler))
    finally:
        process.terminate()
        process.wait(timeout=30)
        subprocess.run(["umount", mount])
else:
    # No mount permission: the kernel's file-size limit makes writes fail the same way (EFBIG).
    print("(tmpfs not mountable here: using RLIMIT_FSIZE for the full disk)")
    store = f"{WORK}/fsize.sqlite"
    process = start(store, log)
    request("GET", f"{GATEWAY}/tasks/aliyun/{stored_id}")
    size = os.path.getsize(store) + os.path.getsize(store + "-wal")
    subprocess.run(["prlimit", f"--pid={process.pid}", f"--fsize={size}"], check=True)
    check_failing_writes("full disk (RLIMIT_FSIZE)", lambda: subprocess.run(["prlimit", f"--pid={process.pid}", "--fsize=unlimited"], check=True))
    process.terminate()
    process.wait(timeout=30)

print("== the connection cap")
import socket

process = start(f"{WORK}/cap.sqlite", log, "limits: {max_connections: 2}")
try:
    held = [socket.create_connection(("127.0.0.1", PORT), timeout=5) for _ in range(2)]
    for sock in held:  # two keep-alive connections, each answered once and kept open
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        sock.recv(4096)
    third = socket.create_connection(("127.0.0.1", PORT), timeout=1)
    third.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    try:
        third.recv(4096)
        failures.append("a third connection was served while two were open under max_connections: 2")
    except socket.timeout:
        print("third connection waits while two are open")
    held[0].close()
    third.settimeout(5)
    answer = third.recv(4096)
    print("after one closes, the third is answered:", answer.split(b"\r\n", 1)[0].decode())
    if not answer.startswith(b"HTTP/1.1 200"):
        failures.append(f"the waiting connection was not served once a slot freed: {answer[:40]!r}")
    for sock in (held[1], third):
        sock.close()
finally:
    process.terminate()
    process.wait(timeout=30)

if failures:
    print("durability: FAILED\n  " + "\n  ".join(failures))
    sys.exit(1)
print("durability passed")
