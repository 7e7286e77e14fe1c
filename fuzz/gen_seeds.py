#!/usr/bin/env python3
"""Writes a few well-formed inputs for fuzz_virtq (format: fuzz_virtq.c)."""
import os
import struct
import sys

LOW = 64 * 1024
F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4


def seed(log2, flags, start, delta, wsel, heads, descs, tables=(), extra=()):
    """descs: {index: (addr, len, flags, next)}; tables: [(gpa, [desc...])]."""
    size = 1 << log2
    ram = bytearray(LOW)
    for i, d in descs.items():
        struct.pack_into('<QIHH', ram, 16 * i, *d)
    avail = 16 * size
    for k, h in enumerate(heads):
        struct.pack_into('<H', ram, avail + 4 + 2 * ((start + k) % size), h)
    for gpa, entries in tables:
        for i, d in enumerate(entries):
            struct.pack_into('<QIHH', ram, gpa + 16 * i, *d)
    for gpa, data in extra:
        ram[gpa:gpa + len(data)] = data
    hdr = struct.pack('<BBHHBB', log2, flags, start, delta, wsel, 0)
    return hdr + bytes(ram).rstrip(b'\0')


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), 'corpus')
    os.makedirs(out, exist_ok=True)
    buf = 0x8000
    seeds = {
        # One readable + one writable segment, direct.
        'direct': seed(4, 0, 0, 1, 255, [2],
                       {2: (buf, 64, F_NEXT, 5), 5: (buf + 64, 128, F_WRITE, 0)}),
        # Several chains, indices about to wrap, EVENT_IDX.
        'wrap': seed(3, 2, 65534, 4, 128, [0, 1, 2, 3],
                     {i: (buf + 256 * i, 256, F_WRITE, 0) for i in range(4)}),
        # An indirect table of three entries.
        'indirect': seed(4, 1, 7, 1, 200, [1],
                         {1: (0x4000, 48, F_INDIRECT, 0)},
                         [(0x4000, [(buf, 16, F_NEXT, 1), (buf + 16, 32, F_NEXT | F_WRITE, 2),
                                    (buf + 48, 8, F_WRITE, 0)])]),
        # A buffer in the high region at 4 GiB.
        'high': seed(2, 3, 100, 1, 255, [0], {0: (0x100000000, 4096, F_WRITE, 0)}),
        # 1025 chained descriptors: more segments than VIRTQ_MAX_SEGS.
        'many': seed(11, 0, 0, 1, 255, [0],
                     {i: (buf, 1, F_NEXT if i < 1024 else 0, i + 1) for i in range(1025)}),
        # A full ring of one-segment chains.
        'full': seed(5, 2, 0, 32, 10, list(range(32)),
                     {i: (buf + 16 * i, 16, F_WRITE if i % 2 else 0, 0) for i in range(32)}),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
