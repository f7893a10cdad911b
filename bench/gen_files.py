#!/usr/bin/python3
"""Writes a deterministic dataset for benchmarks: N files of 4-64 KiB
(random bytes, sizes uniform) in directories of 1,000, or one big file,
or N files of BYTES random bytes each in DIR.
usage: gen_files.py small DIR N | big FILE BYTES | fixed DIR N BYTES"""
import os
import random
import sys


def main():
    kind, dest, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rnd = random.Random(42)
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
