#!/usr/bin/env python3
"""What the disk under a store answers: random 4 KiB reads per second with O_DIRECT (past the
page cache) at a few queue depths, and how much of the file the page cache holds now. At 10M
tasks most random lookups that miss memory are bounded by this (bench/RESULTS.md, session 11).

    bench/disk.py FILE [SECONDS]   -> one JSON line
"""
import json
import mmap
import os
import random
import subprocess
import sys
import threading
import time

path = sys.argv[1]
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 3
pages = os.path.getsize(path) // 4096


def resident_bytes():
    """Bytes of the file in the page cache (util-linux fincore), or None."""
    try:
        out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", path],
                             capture_output=True, text=True, check=True).stdout
        return int(out.split()[0])
    except (OSError, subprocess.CalledProcessError, ValueError, IndexError):
        return None


def reads_per_second(depth):
    stop = threading.Event()
    counts = [0] * depth

    def worker(index):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
        buffer = mmap.mmap(-1, 4096)  # page-aligned, as O_DIRECT needs
        try:
            while not stop.is_set():
                os.preadv(fd, [buffer], random.randrange(pages) * 4096)
                counts[index] += 1
        finally:
            os.close(fd)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(depth)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return round(sum(counts) / seconds)


result = {"file_bytes": os.path.getsize(path), "resident_bytes": resident_bytes()}
for depth in (1, 8, 32):
    result[f"direct_random_reads_per_s_qd{depth}"] = reads_per_second(depth)
print(json.dumps(result))
