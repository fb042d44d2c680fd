"""bench/scale.sh's helper: pages GET /tasks?provider=capmonster&limit=100 to its end over one
keep-alive connection and prints, as JSON, the pages per second of the first and the last 500
pages (a cursor must cost the same deep in the list as at its start).

    python3 bench/page.py HOST PORT
"""
import http.client
import json
import sys
import time
import urllib.parse

host, port = sys.argv[1], int(sys.argv[2])
connection = http.client.HTTPConnection(host, port)
times, tasks, cursor = [], 0, None
while True:
    path = "/tasks?provider=capmonster&limit=100" + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else "")
    started = time.perf_counter()
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    times.append(time.perf_counter() - started)
    if response.status != 200:
        sys.exit(f"page {len(times)}: HTTP {response.status}: {body[:200]!r}")
    page = json.loads(body)
    tasks += len(page["tasks"])
    cursor = page["nextCursor"]
    if not cursor:
        break
window = min(500, len(times) // 2)
print(json.dumps({
    "pages": len(times), "tasks": tasks,
    "first_pages_per_s": round(window / sum(times[:window]), 1),
    "last_pages_per_s": round(window / sum(times[-window:]), 1),
}))
