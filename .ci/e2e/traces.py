#!/usr/bin/env python3
"""Traces from the release binary, received by a collector built on the specification's own
protobuf definitions (the `opentelemetry-proto` package), configured only by the standard
OTEL_* environment variables.

A traced miss for an Alibaba task is a SERVER span, child of the caller's traceparent, with the
vendor call as its CLIENT child; a hot hit is a SERVER span too; nothing exported holds the
vendor credentials or a signature. Uses the Alibaba simulator started by .ci/e2e/run (port 18981).
"""
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

BIN = sys.argv[1]
WORK = "/tmp/taskgate-e2e/traces"
PORT = 18974
COLLECTOR_PORT = 18975
GATEWAY = f"http://127.0.0.1:{PORT}"
CONTROL = "http://127.0.0.1:19981/_sim"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
SECRETS = [b"e2e-secret", b"LTAI5tE2E", b"Signature", b"AccessKeyId"]

received = []
raw = []


class Collector(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        assert self.path == "/v1/traces", self.path
        assert self.headers.get("Content-Type") == "application/x-protobuf", self.headers.get("Content-Type")
        raw.append(body)
        message = ExportTraceServiceRequest()
        message.ParseFromString(body)
        received.append(message)
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def get(path, headers=None):
    request = urllib.request.Request(GATEWAY + path, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def spans():
    for message in received:
        for resource_spans in message.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    attributes = {}
                    for a in span.attributes:
                        value = a.value
                        attributes[a.key] = value.string_value if value.HasField("string_value") else value.int_value
                    yield {
                        "trace": span.trace_id.hex(),
                        "span": span.span_id.hex(),
                        "parent": span.parent_span_id.hex(),
                        "name": span.name,
                        "kind": span.kind,
                        "attributes": attributes,
                        "events": [e.name for e in span.events],
                        "resource": resource,
                    }


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    collector = http.server.ThreadingHTTPServer(("127.0.0.1", COLLECTOR_PORT), Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    config = os.path.join(WORK, "taskgate.yaml")
    with open(config, "w") as file:
        file.write(
            f"""listen: 127.0.0.1:{PORT}
store: {WORK}/taskgate.sqlite
providers:
  aliyun:
    kind: aliyun-multimediaai
    watch: false
    endpoint: http://127.0.0.1:18981
    region: cn-shanghai
    access_key_id: LTAI5tE2E
    access_key_secret: e2e-secret
"""
        )
    environment = dict(
        os.environ,
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{COLLECTOR_PORT}",
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_SERVICE_NAME="taskgate-e2e",
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment=ci",
        OTEL_TRACES_SAMPLER="parentbased_always_on",
        OTEL_BSP_SCHEDULE_DELAY="100",
    )
    log = open(os.path.join(WORK, "serve.log"), "w")
    serve = subprocess.Popen([BIN, "serve", "--config", config], stdout=log, stderr=subprocess.STDOUT, env=environment)
    try:
        for _ in range(100):
            try:
                if get("/readyz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            raise SystemExit("taskgate did not start")
        body = json.dumps({"id": "7201", "timeline": [{"state": "succeeded"}]}).encode()
        urllib.request.urlopen(urllib.request.Request(CONTROL + "/tasks", data=body, method="POST"), timeout=10).read()
        incoming = {"traceparent": f"00-{TRACE_ID}-{PARENT}-01"}
        status, headers, _ = get("/tasks/aliyun/7201", incoming)
        assert status == 200 and headers.get("X-Cache") == "MISS", (status, headers)
        hot = {"traceparent": f"00-{'1' * 32}-{'2' * 16}-01"}
        status, headers, _ = get("/tasks/aliyun/7201", hot)
        assert status == 200 and headers.get("X-Cache") == "HIT", (status, headers)
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=30)
    collector.shutdown()

    exported = list(spans())
    server = [s for s in exported if s["kind"] == 2 and s["trace"] == TRACE_ID]
    assert len(server) == 1, exported
    server = server[0]
    assert server["name"] == "GET /tasks/{provider}/{id}", server
    assert server["parent"] == PARENT, server
    assert server["attributes"]["http.route"] == "/tasks/{provider}/{id}", server
    assert server["attributes"]["http.response.status_code"] == 200, server
    assert server["attributes"]["taskgate.cache"] == "MISS", server
    assert server["attributes"]["taskgate.provider"] == "aliyun", server
    assert server["resource"]["service.name"] == "taskgate-e2e", server
    assert server["resource"]["deployment.environment"] == "ci", server
    client = [s for s in exported if s["kind"] == 3 and s["parent"] == server["span"]]
    assert client and client[0]["trace"] == TRACE_ID, exported
    assert client[0]["attributes"]["taskgate.vendor.call"] == "GetTaskResult", client
    assert client[0]["attributes"].get("taskgate.vendor.request_id"), client
    assert "attempt" in client[0]["events"], client
    hit = [s for s in exported if s["kind"] == 2 and s["trace"] == "1" * 32]
    assert hit and hit[0]["attributes"]["taskgate.cache"] == "HIT" and hit[0]["parent"] == "2" * 16, exported
    for body in raw:
        for secret in SECRETS:
            assert secret not in body, f"{secret!r} was exported"
    print(f"traces: {len(exported)} spans received, decoded with opentelemetry-proto")


if __name__ == "__main__":
    main()
