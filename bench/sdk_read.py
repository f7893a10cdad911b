#!/usr/bin/python3
"""The SDK workload's reader (bench/sdk.sh): one harness for the three
sides, so they differ only in where the bytes come from.

    sdk_read.py files local|mount DIR LIST THREADS
    sdk_read.py files sdk REPO@REF LIST THREADS
    sdk_read.py seq local|mount FILE
    sdk_read.py seq sdk REPO@REF:PATH

files: reads every path of LIST (one per line, relative) whole with
THREADS threads taking them in the list's order (open+read+close, or
Ref.read_bytes); seq: reads one file front to back into a reused 1 MiB
buffer (readinto, as dd bs=1M). Each does two passes in this process,
cold (the caller dropped the caches and made a fresh mount; this process
is a fresh client) and warm (what the first pass left in caches), and
prints one JSON line: bytes, files, and seconds of each pass. The sdk side
uses $T9KFS_SDK_CACHE as its chunk cache (the mount keeps the kernel's
page cache).
"""

import concurrent.futures
import json
import os
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "sdk", "python"))


def files_pass(read, paths, threads):
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        total = sum(ex.map(read, paths, chunksize=16))
    return total, time.perf_counter() - t0


def seq_pass(f, size):
    buf = bytearray(1 << 20)
    mv = memoryview(buf)
    t0 = time.perf_counter()
    f.seek(0)
    got = 0
    while True:
        n = f.readinto(mv)
        if not n:
            break
        got += n
    dt = time.perf_counter() - t0
    if got != size:
        raise SystemExit("read %d bytes of %d" % (got, size))
    return got, dt


def main():
    mode, side, where = sys.argv[1:4]
    out = {"mode": mode, "side": side}
    if side == "sdk":
        import t9kfs

        client = t9kfs.Client(cache_size=os.environ.get("T9KFS_SDK_CACHE", "1G"))
    if mode == "files":
        paths = open(sys.argv[4]).read().split()
        threads = int(sys.argv[5])
        if side == "sdk":
            ref = client.ref(where)
            read = lambda p: len(ref.read_bytes(p))  # noqa: E731
        else:
            def read(p):
                with open(os.path.join(where, p), "rb", buffering=0) as f:
                    return len(f.read())
        for name in ("cold", "warm"):
            nbytes, secs = files_pass(read, paths, threads)
            out[name] = secs
        out.update(bytes=nbytes, files=len(paths))
    else:
        if side == "sdk":
            spec, _, path = where.partition(":")
            f = client.ref(spec).open(path)
            size = f.size
        else:
            f = open(where, "rb", buffering=0)
            size = os.fstat(f.fileno()).st_size
        for name in ("cold", "warm"):
            nbytes, secs = seq_pass(f, size)
            out[name] = secs
        out.update(bytes=nbytes, files=1)
        f.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
