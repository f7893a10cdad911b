#!/usr/bin/python3
"""Writes a deterministic dataset for benchmarks: N files of 4-64 KiB
(random bytes, sizes uniform) in directories of 1,000, or one big file,
or N files of BYTES random bytes each in DIR; or modifies PERCENT of each
file in DIR in place, half as 8 insertions at random offsets, half as an
append (the dedup workload's "1% changed").
usage: gen_files.py small DIR N | big FILE BYTES | fixed DIR N BYTES | modify DIR PERCENT"""
import os
import random
import sys


def main():
    kind, dest = sys.argv[1], sys.argv[2]
    rnd = random.Random(42)
    if kind == "modify":
        pct = float(sys.argv[3])
        for name in sorted(os.listdir(dest)):
            path = os.path.join(dest, name)
            with open(path, "rb") as f:
                data = bytearray(f.read())
            budget = int(len(data) * pct / 100)
            ins = budget // 2 // 8
            for off in sorted(rnd.randrange(len(data)) for _ in range(8)):
                data[off:off] = rnd.randbytes(ins)
            data += rnd.randbytes(budget - 8 * ins)
            with open(path, "wb") as f:
                f.write(data)
        return
    n = int(sys.argv[3])
    if kind == "big":
        with open(dest, "wb") as f:
            left = n
            while left:
                k = min(left, 8 << 20)
                f.write(rnd.randbytes(k))
                left -= k
        return
    if kind == "fixed":
        size = int(sys.argv[4])
        os.makedirs(dest, exist_ok=True)
        for i in range(n):
            with open(os.path.join(dest, "f%05d.bin" % i), "wb") as f:
                f.write(rnd.randbytes(size))
        return
    pool = rnd.randbytes(128 << 20)  # slices of one random pool: fast, and not deduplicable
    for i in range(n):
        d = os.path.join(dest, "d%04d" % (i // 1000))
        if i % 1000 == 0:
            os.makedirs(d, exist_ok=True)
        size = rnd.randint(4 << 10, 64 << 10)
        off = rnd.randrange(0, len(pool) - size)
        with open(os.path.join(d, "f%07d.bin" % i), "wb") as f:
            f.write(pool[off:off + size])


main()
