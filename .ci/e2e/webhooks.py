#!/usr/bin/env python3
"""A webhook survives kill -9, against the release binary.

A task turns final while its receiver is down; taskgate is killed with SIGKILL right after it
answered; the receiver comes up and taskgate is started again on the same store: the receiver
gets the event once, its Standard Webhooks signature checked here with Python's own hmac.
Uses the Alibaba simulator started by .ci/e2e/run (port 18981, control 19981).
"""
import base64
import hashlib
import hmac
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

BIN = sys.argv[1]
WORK = "/tmp/taskgate-e2e/webhooks"
PORT = 18972
GATEWAY = f"http://127.0.0.1:{PORT}"
CONTROL = "http://127.0.0.1:19981/_sim"
KEY = b"e2e-webhook-signing-key-32-bytes"
SECRET = "whsec_" + base64.b64encode(KEY).decode()


def request(method, url, body=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return None, b""


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


received = []


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def start(config, log):
    process = subprocess.Popen([BIN, "serve", "--config", config], stdout=log, stderr=subprocess.STDOUT)
    for _ in range(200):
        if request("GET", f"{GATEWAY}/readyz", timeout=1)[0] == 200:
            return process
        time.sleep(0.05)
    process.kill()
    raise SystemExit("taskgate did not become ready")


os.makedirs(WORK, exist_ok=True)
receiver_port = free_port()
config = f"{WORK}/taskgate.yaml"
with open(config, "w") as file:
    file.write(f"""listen: 127.0.0.1:{PORT}
store: {WORK}/store.sqlite
log_level: info
webhooks:
  e2e:
    url: http://127.0.0.1:{receiver_port}/hooks/taskgate
    secret: {SECRET}
providers:
  aliyun:
    kind: aliyun-multimediaai
    endpoint: http://127.0.0.1:18981
    region: cn-shanghai
    access_key_id: LTAI5tE2E
    access_key_secret: e2e-secret
    watch: false
""")
log = open(f"{WORK}/serve.log", "ab")
status, body = request("POST", f"{CONTROL}/tasks", {"id": "7301", "timeline": [{"state": "succeeded"}]})
assert status == 201, (status, body)

print("== a task turns final while its receiver is down; kill -9")
process = start(config, log)
status, answer = request("GET", f"{GATEWAY}/tasks/aliyun/7301")
assert status == 200 and json.loads(answer)["final"], (status, answer)
process.kill()  # SIGKILL, right after the answer (the event is in the store, not sent)
process.wait(timeout=10)

print("== the receiver comes up, taskgate starts again on the same store")
server = http.server.ThreadingHTTPServer(("127.0.0.1", receiver_port), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
process = start(config, log)
deadline = time.time() + 60
while not received and time.time() < deadline:
    time.sleep(0.1)
time.sleep(2)  # a second delivery would come now, were the event not marked
process.terminate()
process.wait(timeout=30)
server.shutdown()

failures = []
if len(received) != 1:
    failures.append(f"the receiver got {len(received)} events, not one")
for headers, body in received[:1]:
    headers = {name.lower(): value for name, value in headers.items()}
    signed = f"{headers.get('webhook-id')}.{headers.get('webhook-timestamp')}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(KEY, signed, hashlib.sha256).digest()).decode()
    if headers.get("webhook-signature") != expected:
        failures.append(f"signature {headers.get('webhook-signature')} is not {expected}")
    event = json.loads(body)
    if event.get("type") != "task.final" or event.get("data", {}).get("id") != "7301":
        failures.append(f"unexpected event {event}")
    print(f"delivered after restart: webhook-id {headers.get('webhook-id')}, signature checked")
if failures:
    for failure in failures:
        print("FAIL:", failure, file=sys.stderr)
    sys.exit(1)
print("webhooks passed")
