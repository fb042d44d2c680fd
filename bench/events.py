#!/usr/bin/env python3
"""The event feed under fan-out: N server-sent event streams open on one taskgate (release
binary, SQLite store, CapMonster simulator), then M tasks turned final at a steady pace. Prints
how long each event took from the answer that made it final to each stream (p50, p99, max), that
every stream got every event exactly once, taskgate's CPU time and its memory per open stream.
A measurement, not a test: it asserts nothing about time.

    bench/events.py "$(swift build -c release --show-bin-path)/taskgate" [streams] [events] [per_second]
"""
import hashlib
import json
import os
import selectors
import socket
import subprocess
import sys
import threading
import time
import urllib.request

BIN = sys.argv[1]
STREAMS = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
EVENTS = int(sys.argv[3]) if len(sys.argv) > 3 else 300
PER_SECOND = float(sys.argv[4]) if len(sys.argv) > 4 else 50
WORK = "/tmp/taskgate-bench-events"
PORT, SIM_PORT, CONTROL_PORT = 18870, 18875, 19875
CONFIG = f"""listen: 127.0.0.1:{PORT}
store: {WORK}/taskgate.sqlite
log_level: warning
limits:
  max_connections: {STREAMS + 100}
  max_streams: {STREAMS + 10}
providers:
  capmonster:
    kind: capmonster
    watch: false
    endpoint: http://127.0.0.1:{SIM_PORT}
    client_key: bench-client-key
    min_poll_interval: 2s
"""


def event_id(task):
    return "msg_" + hashlib.sha256(f"capmonster\n{task}".encode()).hexdigest()[:32]


def proc_stat(pid):
    with open(f"/proc/{pid}/stat") as file:
        fields = file.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    with open(f"/proc/{pid}/status") as file:
        rss = next(int(line.split()[1]) for line in file if line.startswith("VmRSS:")) / 1024
    return cpu, rss


def main():
    subprocess.run(["rm", "-rf", WORK], check=True)
    os.makedirs(WORK)
    with open(f"{WORK}/taskgate.yaml", "w") as file:
        file.write(CONFIG)
    # The simulator's control API listens on its port + 1000 (`taskgate simulate`).
    sim = subprocess.Popen([BIN, "simulate", "--config", f"{WORK}/taskgate.yaml"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    gateway = subprocess.Popen([BIN, "serve", "--config", f"{WORK}/taskgate.yaml"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{PORT}/readyz", timeout=1).status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        cpu0, rss0 = proc_stat(gateway.pid)

        selector = selectors.DefaultSelector()
        buffers = {}
        arrivals = {}  # event id -> list of arrival times
        counts = [0] * STREAMS
        for index in range(STREAMS):
            sock = socket.create_connection(("127.0.0.1", PORT))
            sock.sendall(b"GET /events?after=now HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n")
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ, index)
            buffers[index] = b""
        stop = threading.Event()

        def read_all():
            while not stop.is_set():
                for key, _ in selector.select(timeout=0.2):
                    data = key.fileobj.recv(65536)
                    if not data:
                        selector.unregister(key.fileobj)
                        continue
                    now = time.monotonic()
                    index = key.data
                    buffer = buffers[index] + data
                    *lines, buffers[index] = buffer.split(b"\n")
                    for line in lines:
                        if line.startswith(b'data: {"id":"msg_'):
                            arrivals.setdefault(line[13:49].decode(), []).append(now)
                            counts[index] += 1
        reader = threading.Thread(target=read_all, daemon=True)
        reader.start()
        time.sleep(2)
        cpu1, rss1 = proc_stat(gateway.pid)

        made_final = {}
        started = time.monotonic()
        for n in range(EVENTS):
            task = str(800000 + n)
            body = json.dumps({"id": task, "timeline": [{"state": "succeeded", "result": {"text": f"task {task}"}}]}).encode()
            urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{CONTROL_PORT}/_sim/tasks", data=body, method="POST"), timeout=10).read()
            urllib.request.urlopen(f"http://127.0.0.1:{PORT}/tasks/capmonster/{task}", timeout=10).read()
            made_final[event_id(task)] = time.monotonic()
            pause = started + (n + 1) / PER_SECOND - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sum(counts) < STREAMS * EVENTS:
            time.sleep(0.1)
        elapsed = time.monotonic() - started
        cpu2, rss2 = proc_stat(gateway.pid)
        stop.set()

        latencies = sorted(t - made_final[e] for e, times in arrivals.items() if e in made_final for t in times)
        exact = all(len(arrivals.get(e, [])) == STREAMS for e in made_final) and all(c == EVENTS for c in counts)
        def q(p):
            return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else float("nan")
        print(f"{STREAMS} streams, {EVENTS} events at {PER_SECOND:.0f}/s ({elapsed:.1f} s): "
              f"{len(latencies)} deliveries, every stream every event exactly once: {exact}")
        print(f"  answer -> stream: p50 {q(0.5):.1f} ms, p99 {q(0.99):.1f} ms, max {latencies[-1] * 1000 if latencies else float('nan'):.1f} ms")
        print(f"  taskgate CPU: {cpu2 - cpu1:.2f} s for the events ({(cpu2 - cpu1) / max(1, EVENTS) * 1000:.2f} ms per event to {STREAMS} streams), "
              f"{cpu1 - cpu0:.2f} s opening the streams")
        print(f"  taskgate RSS: {rss0:.0f} MiB idle, {rss1:.0f} MiB with {STREAMS} streams open "
              f"({(rss1 - rss0) * 1024 / STREAMS:.1f} KiB per stream), {rss2:.0f} MiB after")
    finally:
        gateway.terminate()
        sim.terminate()
        gateway.wait(timeout=30)
        sim.wait(timeout=10)


if __name__ == "__main__":
    main()
