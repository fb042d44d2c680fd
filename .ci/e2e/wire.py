#!/usr/bin/env python3
"""The hot path on the wire, straight to taskgate (started by .ci/e2e/run, task 7001 final).

Pipelined requests mixing answers from the hot path and from the router come back whole and in
order; HTTP/1.0 without keep-alive is answered and closed; a request head split across writes
is answered once it is whole.
"""
import socket
import sys
import time

HOST, PORT = "127.0.0.1", 18980
TASK = "/tasks/capmonster/7001"


def read_answers(sock, count, deadline=5.0):
    """Reads `count` HTTP/1.1 answers (Content-Length framed); returns (status, headers, body)."""
    sock.settimeout(deadline)
    data, answers = b"", []
    while len(answers) < count:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError(f"connection closed after {len(answers)} answers")
            data += chunk
        head, data = data.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers.get("content-length", "0")) if status != 304 else 0
        while len(data) < length:
            data += sock.recv(65536)
        answers.append((status, headers, data[:length]))
        data = data[length:]
    return answers


def get(path, extra=""):
    return f"GET {path} HTTP/1.1\r\nHost: taskgate\r\nAccept-Encoding: gzip\r\n{extra}\r\n".encode()


def main():
    with socket.create_connection((HOST, PORT)) as sock:
        sock.sendall(get(TASK) + get(TASK))
        (first_status, first, first_body), _ = read_answers(sock, 2)
        assert first_status == 200 and first["x-cache"] == "HIT", first
        etag = first["etag"]

        # Hot, router, hot, 304, router 404 — sent in one write.
        pipelined = (
            get(TASK, "X-Request-Id: p1\r\n")
            + get("/healthz", "X-Request-Id: p2\r\n")
            + get(TASK, "X-Request-Id: p3\r\nConnection: keep-alive\r\n")
            + get(TASK, f"X-Request-Id: p4\r\nIf-None-Match: {etag}\r\n")
            + get("/nowhere", "X-Request-Id: p5\r\n")
        )
        sock.sendall(pipelined)
        answers = read_answers(sock, 5)
        assert [a[1]["x-request-id"] for a in answers] == ["p1", "p2", "p3", "p4", "p5"], answers
        assert [a[0] for a in answers] == [200, 200, 200, 304, 404], [a[0] for a in answers]
        assert answers[0][2] == first_body and answers[2][2] == first_body
        assert b'"status"' in answers[1][2]

        # A head dribbled in pieces is answered once whole.
        request = get(TASK, "X-Request-Id: slow\r\n")
        for index in range(0, len(request), 7):
            sock.sendall(request[index:index + 7])
            time.sleep(0.01)
        (status, headers, body), = read_answers(sock, 1)
        assert status == 200 and headers["x-request-id"] == "slow" and body == first_body

    # HTTP/1.0 without keep-alive: one answer, then the server closes.
    with socket.create_connection((HOST, PORT)) as sock:
        sock.sendall(f"GET {TASK} HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n".encode())
        sock.settimeout(5)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        assert data.startswith(b"HTTP/1.") and b" 200 " in data.split(b"\r\n", 1)[0], data[:80]
        assert data.endswith(first_body)

    print("wire: pipelined hot and routed answers in order, dribbled head, HTTP/1.0 close: ok")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as error:
        print(f"wire check failed: {error}", file=sys.stderr)
        sys.exit(1)
