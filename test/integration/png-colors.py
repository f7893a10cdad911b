#!/usr/bin/python3
"""Prints how many pixels of a PNG have each of the given colours, and how
many are not white: "WIDTHxHEIGHT nonwhite=N #rrggbb=N ...". Used by the
report test to check that charts were drawn. Standard library only; reads
8-bit RGB and RGBA PNGs (what Chromium writes)."""
import struct
import sys
import zlib


def decode(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"{path}: not a PNG")
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                sys.exit(f"{path}: unsupported PNG (depth {depth}, type {ctype})")
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride, prev, rows = zlib.decompress(idat), w * bpp, bytearray(w * bpp), []
    for y in range(h):
        ftype, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def main():
    w, h, bpp, rows = decode(sys.argv[1])
    want = {c: 0 for c in sys.argv[2:]}
    nonwhite = 0
    for row in rows:
        for x in range(0, w * bpp, bpp):
            rgb = "#%02x%02x%02x" % (row[x], row[x + 1], row[x + 2])
            if rgb != "#ffffff":
                nonwhite += 1
            if rgb in want:
                want[rgb] += 1
    print(f"{w}x{h} nonwhite={nonwhite} " + " ".join(f"{c}={n}" for c, n in want.items()))


if __name__ == "__main__":
    main()
