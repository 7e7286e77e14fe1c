#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/seeds/<target>/ (committed: run this
after changing an input format). Formats: the comment at the top of each
fuzz/fuzz_*.c and of fuzz/fz_drv.h."""
import json
import os
import struct
import sys

LOW = 64 * 1024
F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4


def seed(log2, flags, start, delta, wsel, heads, descs, tables=(), extra=(), race=None):
    """descs: {index: (addr, len, flags, next)}; tables: [(gpa, [desc...])];
    race: [(at, offset, value)] (flag 8 is set for it)."""
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
    if race is not None:
        flags |= 8
    hdr = struct.pack('<BBHHBB', log2, flags, start, delta, wsel, 0)
    if race is not None:
        hdr += bytes([len(race)]) + b''.join(struct.pack('<HIB', *w) for w in race)
    return hdr + bytes(ram).rstrip(b'\0')


def virtq_seeds():
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
        # Racing: the avail index, a head and a descriptor length change
        # between the parser's reads.
        'race': seed(4, 1, 0, 2, 255, [2, 3],
                     {2: (buf, 64, F_NEXT, 5), 5: (buf + 64, 128, F_WRITE, 0),
                      3: (0x4000, 32, F_INDIRECT, 0)},
                     [(0x4000, [(buf, 16, F_NEXT, 1), (buf + 16, 32, F_WRITE, 0)])],
                     race=[(1, 16 * 16 + 2, 9), (2, 16 * 16 + 4, 3), (3, 16 * 2 + 8, 0xff),
                           (5, 0x4000 + 8, 0x40)]),
    }
    return seeds

# ------------------------------------------------- fz_drv.h driver programs
Q = 0x4000            # queue q's rings at q * Q: desc, avail +0x1000, used +0x2000


def init(accept=0xffffffff, bits=0, qlogs=(4,)):
    return struct.pack('<IB', accept, bits) + bytes(qlogs)


def desc(q, i, addr, length, flags=0, nxt=0):
    return bytes([0, q]) + struct.pack('<HIHB', i, addr, length & 0xffff, flags) + \
        (struct.pack('<H', length >> 16) if flags & 0x40 else b'') + struct.pack('<H', nxt)


def avail(q, head):
    return bytes([1, q]) + struct.pack('<H', head)


def kick(q):
    return bytes([2, q])


def poke(off, data):
    out = b''
    for k in range(0, len(data), 255):
        chunk = data[k:k + 255]
        out += bytes([3, 0]) + struct.pack('<IB', off + k, len(chunk)) + chunk
    return out


def race(at, off, val):
    return bytes([4, 0]) + struct.pack('<HIB', at, off, val)


def dev(data):
    return bytes([5, 0]) + data


def reinit(*a, **k):
    return bytes([6, 0]) + init(*a, **k)


def config(off, wlog, val, write):
    return bytes([8, 1 if write else 0, off, wlog]) + struct.pack('<Q', val)


def ack():
    return bytes([9, 0])


def chain(q, first, segs):
    """segs: [(addr, len, flags)] linked from descriptor first on."""
    out = b''
    for k, (addr, length, flags) in enumerate(segs):
        more = k + 1 < len(segs)
        out += desc(q, first + k, addr, length, flags | (F_NEXT if more else 0), first + k + 1)
    return out


def blk_req(slot, rtype, sector, data_len=0, write_data=True, extra=b''):
    """A request in descriptors 3*slot..: header (+extra), data, status."""
    hdr = 0x20000 + 0x100 * slot
    data = 0x30000 + 0x1000 * slot
    status = 0x28000 + slot
    segs = [(hdr, 16 + len(extra), 0)]
    if data_len:
        segs.append((data, data_len, 0 if not write_data else F_WRITE))
    segs.append((status, 1, F_WRITE))
    return (poke(hdr, struct.pack('<IIQ', rtype, 0, sector) + extra) +
            chain(0, 3 * slot, segs) + avail(0, 3 * slot))


def blk_seeds():
    discard = struct.pack('<QII', 2, 8, 0) + struct.pack('<QII', 20, 4, 0)
    wz = struct.pack('<QII', 0, 16, 1)
    table = b''.join(struct.pack('<QIHH', a, n, f, x) for a, n, f, x in
                     [(0x20000, 16, F_NEXT, 1), (0x31000, 1024, F_NEXT | F_WRITE, 2),
                      (0x28000, 1, F_WRITE, 0)])
    return {
        'read': init() + blk_req(0, 0, 1, 512) + kick(0),
        'write_read': init() + poke(0x30000, bytes(range(256)) * 2) +
                      blk_req(0, 1, 3, 512, False) + kick(0) + blk_req(1, 0, 3, 512) + kick(0),
        'flush_getid': init() + blk_req(0, 4, 0) + blk_req(1, 8, 0, 20) + kick(0),
        'discard_wz': init() + blk_req(0, 11, 0, extra=discard) + blk_req(1, 13, 0, extra=wz) +
                      kick(0),
        'indirect': init() + poke(0x20000, struct.pack('<IIQ', 0, 0, 5)) + poke(0x24000, table) +
                    desc(0, 0, 0x24000, 48, F_INDIRECT) + avail(0, 0) + kick(0),
        'beyond_end': init() + blk_req(0, 0, 63, 1024) + blk_req(1, 99, 0) + kick(0),
        'race': init() + race(6, 0x20000, 1) + race(9, 8 + 16, 0xff) + blk_req(0, 0, 1, 512) +
                kick(0) + reinit(qlogs=(3,)) + blk_req(0, 0, 0, 512) + ack() + kick(0),
        'config': init() + config(32, 0, 0, True) + config(0, 3, 0, False) + blk_req(0, 1, 0, 512, False) +
                  kick(0),
    }


def balloon_seeds():
    """fuzz_balloon: all five queues up (inflate, deflate, stats, hinting, reporting)."""
    q5 = init(qlogs=(4, 4, 4, 4, 4))
    pfns = struct.pack('<5I', 0x31, 0x30, 0x33, 0x31, 0x1000)
    stats = struct.pack('<HQ', 0, 7) + struct.pack('<HQ', 15, 9) + struct.pack('<HQ', 99, 1) + b'\x04'
    return {
        'inflate_deflate': q5 + poke(0x20000, pfns) + desc(0, 0, 0x20000, 20) + avail(0, 0) +
                           kick(0) + desc(1, 0, 0x20004, 8) + avail(1, 0) + kick(1),
        'stats': q5 + poke(0x21000, stats) + desc(2, 0, 0x21000, len(stats)) + avail(2, 0) +
                 kick(2) + dev(b'\x04') + dev(b'\x00') + avail(2, 0) + kick(2) + dev(b'\x06\x10\x00\x01'),
        'hint_report': q5 + dev(b'\x0a') + poke(0x22000, struct.pack('<I', 2)) +
                       chain(3, 0, [(0x22000, 4, 0), (0x34000, 0x2000, F_WRITE)]) + avail(3, 0) +
                       kick(3) + chain(4, 0, [(0x36000, 0x1800, F_WRITE), (0x39000, 0x1000, F_WRITE)]) +
                       avail(4, 0) + kick(4) + poke(0x22000, struct.pack('<I', 0)) + avail(3, 0) + kick(3),
        'reporting_only': init(accept=1 << 5, qlogs=(4, 4, 4)) +
                          chain(2, 0, [(0x30000, 0x3000, F_WRITE)]) + avail(2, 0) + kick(2) + dev(b'\x06\x00\x00\x00'),
    }


def pmem_seeds():
    """fuzz_pmem: one request queue; a request is a 4-byte type out and a 4-byte status in."""
    q = init(qlogs=(4,))
    flush = struct.pack('<I', 0)

    def req(first, at):
        return chain(0, first, [(at, 4, 0), (at + 0x10, 4, F_WRITE)]) + avail(0, first)
    return {
        'flush': q + poke(0x20000, flush) + req(0, 0x20000) + kick(0) + dev(b'\x00'),
        'shared_then_next': q + poke(0x20000, flush) + req(0, 0x20000) + req(2, 0x20000) +
                            kick(0) + req(4, 0x20000) + kick(0) + dev(b'\x00') + dev(b'\x00'),
        'rewritten_in_flight': q + poke(0x20000, flush) + req(0, 0x20000) + kick(0) +
                               desc(0, 1, 0x30000, 4, 0) + reinit(qlogs=(3,)) + dev(b'\x00') +
                               req(0, 0x20000) + kick(0) + dev(b'\x01\x00\x00\x00'),
        'bad_type_limiter': q + poke(0x20000, struct.pack('<I', 9)) + req(0, 0x20000) + kick(0) +
                            dev(b'\x03\x01') + poke(0x20000, flush) + req(2, 0x20000) + kick(0) +
                            req(4, 0x20000) + kick(0) + dev(b'\x00') + dev(b'\x02'),
    }


def virtio_mem_seeds():
    """fuzz_virtio_mem: its one queue up, UNPLUGGED_INACCESSIBLE taken."""
    q1 = init(accept=1 << 1, qlogs=(4,))

    def mreq(slot, rtype, block, nb):
        at = 0x8000 + 0x100 * slot
        return (dev(bytes([1]) + struct.pack('<HBHH', at, rtype, block, nb)) +
                chain(0, 2 * slot, [(at, 24, 0), (at + 0x80, 10, F_WRITE)]) + avail(0, 2 * slot))

    plug, unplug, unplug_all, state = 0, 1, 2, 3
    return {
        'plug_state_unplug': q1 + dev(bytes([0, 8])) + mreq(0, plug, 0, 4) + kick(0) +
                             mreq(1, state, 0, 8) + kick(0) + mreq(2, unplug, 2, 1) +
                             mreq(3, plug, 300, 1) + kick(0) + dev(bytes([2])),
        'too_big_and_all': q1 + dev(bytes([0, 1])) + mreq(0, plug, 0, 300) + mreq(1, plug, 255, 2) +
                           kick(0) + mreq(2, unplug_all, 0, 0) + kick(0) + dev(bytes([0, 0])),
        'raw_addr': q1 + dev(bytes([0, 4])) +
                    dev(bytes([9]) + struct.pack("<HBHQH", 0x9000, plug, 0, 0xfffffffffffff000, 2)) +
                    chain(0, 0, [(0x9000, 24, 0), (0x9080, 10, F_WRITE)]) + avail(0, 0) + kick(0),
        'no_feature': init(accept=0, qlogs=(4,)) + dev(bytes([0, 2])) + mreq(0, plug, 0, 1) + kick(0),
    }


ETH = bytes.fromhex('ffffffffffff02485200000108060001080006040001') + bytes(40)


def net_hdr(flags=0, gso=0, hdr_len=0, gso_size=0, csum_start=0, csum_off=0):
    return struct.pack('<BBHHHHH', flags, gso, hdr_len, gso_size, csum_start, csum_off, 0)


def net_rx(n, size=0x800, first=0):
    out = b''
    for k in range(n):
        out += desc(0, first + k, 0x30000 + size * (first + k), size, F_WRITE) + avail(0, first + k)
    return out + kick(0)


def net_frame(data, pair=0):
    return dev(bytes([pair << 2]) + struct.pack('<H', len(data)) + data)


def net_seeds():
    q5 = (4, 4, 4, 4, 4)
    tx = net_hdr() + ETH
    gso = net_hdr(1, 1, 54, 1448, 34, 16) + ETH + bytes(1400)
    no_mrg = 0xffffffff & ~(1 << 15)
    ctrl = poke(0x28000, bytes([4, 0, 2, 0])) + chain(4, 0, [(0x28000, 4, 0), (0x28010, 1, F_WRITE)])
    return {
        'tx': init(qlogs=q5) + poke(0x20000, tx) + desc(1, 0, 0x20000, len(tx)) + avail(1, 0) +
              kick(1),
        'tx_gso_split': init(qlogs=q5) + poke(0x20000, gso[:12]) + poke(0x21000, gso[12:]) +
                        chain(1, 0, [(0x20000, 12, 0), (0x21000, len(gso) - 12, 0)]) +
                        avail(1, 0) + kick(1),
        'rx_mrg': init(qlogs=q5) + net_rx(4, 0x100) + net_frame(net_hdr() + ETH * 8),
        'rx_plain': init(no_mrg, qlogs=q5) + net_rx(2, 0x800) + net_frame(net_hdr() + ETH) +
                    net_frame(ETH, 0) + dev(b'\x01') + net_frame(ETH),
        'ctrl_mq': init(qlogs=q5) + ctrl + avail(4, 0) + kick(4) + net_rx(2) +
                   net_frame(net_hdr() + ETH, 1) + dev(b'\x03'),
        # The in-process backend (user-mode networking's send and recv ops), no header.
        'inproc': init(qlogs=q5) + dev(b'\x01') + dev(b'\x02') + net_rx(4, 0x100) +
                  net_frame(ETH * 8) + net_frame(ETH) + poke(0x20000, tx) +
                  desc(1, 0, 0x20000, len(tx)) + avail(1, 0) + kick(1),
        'race_rx': init(qlogs=q5) + race(3, 0x1000 + 4, 7) + race(4, 8, 0xff) + net_rx(3, 0x80) +
                   net_frame(net_hdr() + ETH * 4),
    }


def vs_hdr(op, src_port, dst_port, length=0, flags=0, src_cid=3, dst_cid=2, buf_alloc=65536,
           fwd_cnt=0):
    return struct.pack('<QQIIIHHIII', src_cid, dst_cid, src_port, dst_port, length, 1, op, flags,
                       buf_alloc, fwd_cnt)


def vs_tx(slot, pkt):
    addr = 0x20000 + 0x200 * slot
    return poke(addr, pkt) + desc(1, slot, addr, len(pkt)) + avail(1, slot) + kick(1)


def vs_rx(n):
    out = b''
    for k in range(n):
        out += desc(0, k, 0x30000 + 0x1000 * k, 0x1000, F_WRITE) + avail(0, k)
    return out + kick(0)


def vs_tx_data(slot, pkt, addr, length):
    """A packet whose data is length bytes of guest RAM at addr (descriptors slot, slot + 1)."""
    hdr = 0x20000 + 0x200 * slot
    return (poke(hdr, pkt) + chain(1, slot, [(hdr, len(pkt), 0), (addr, length, 0)]) +
            avail(1, slot) + kick(1))


def vs_host(step, *args, sock=True):
    """fuzz_vsock's device step; sock: a host socket exists, so the step names one (0)."""
    return dev(bytes([step] + ([0] if sock else []) + list(args)))


def vs_guest(op, ports, flags, length, fwd_cnt=0, sock=True):
    """fuzz_vsock's guest packet step (8)."""
    return vs_host(8, op, ports, flags, *struct.pack('<HI', length, fwd_cnt), sock=sock)


def vsock_seeds():
    q3 = (4, 4, 4)
    host_port = 1 << 30
    READ, SHUT_RD, ROUND, MODES, CATCH_UP, RX_BUFFERS = 4, 5, 6, 7, 0x80, 9
    HOLD, AUTO_READ, SYS_SNDBUF = 1, 2, 12
    TIME, FULL_LIMIT = 10, 0x80
    IN, OUT, HUP = 1, 2, 8
    big = 0x8000   # guest data from RAM at 0x38000, more than the device's socket takes
    return {
        # A guest sends more than the service reads: the device holds the rest,
        # the service reads it in small pieces, the guest half-closes.
        'slow_service': init(qlogs=q3) + vs_rx(8) + vs_tx(0, vs_hdr(1, 1234, 5000)) +
                        vs_tx_data(1, vs_hdr(5, 1234, 5000, big), 0x38000, big) +
                        vs_host(READ, 3) + vs_host(READ, 15) +
                        vs_tx(3, vs_hdr(7, 1234, 5000)) + vs_host(READ, 255) +
                        vs_tx(4, vs_hdr(4, 1234, 5000, flags=2)) + vs_host(READ | CATCH_UP) +
                        vs_host(3),
        # The same with the loop held: events come when and as the input says.
        'held_loop': init(qlogs=q3) + vs_rx(8) + vs_host(MODES, HOLD, sock=False) +
                     vs_tx(0, vs_hdr(1, 1234, 52)) +
                     vs_tx_data(1, vs_hdr(5, 1234, 52, 0x4000), 0x38000, 0x4000) +
                     vs_host(ROUND, 15, 0) + vs_host(READ, 7) + vs_host(ROUND, 0, OUT) +
                     vs_tx(3, vs_hdr(4, 1234, 52, flags=1)) + vs_host(ROUND, 3, IN | HUP) +
                     vs_host(READ, 255) + vs_host(ROUND | 0x40, 15, 0) + vs_host(3) +
                     vs_host(ROUND, 15, OUT | HUP),
        # A host client with the loop held and host programs reading all they get.
        'held_client': init(qlogs=q3) + vs_rx(8) + vs_host(MODES, HOLD | AUTO_READ, sock=False) +
                       dev(bytes([0])) + vs_host(ROUND, 15, 0) + vs_host(ROUND, 15, 0) +
                       vs_tx(0, vs_hdr(2, 5000, host_port)) + vs_host(ROUND, 15, IN) +
                       dev(bytes([1, 0, 4]) + b'data') + vs_host(ROUND, 15, 0) +
                       vs_tx(1, vs_hdr(5, 5000, host_port, 3) + b'abc') + vs_host(SHUT_RD) +
                       vs_host(ROUND, 15, 0) + vs_tx(2, vs_hdr(4, 5000, host_port, flags=3)) +
                       vs_host(ROUND, 15, 0),
        # The same in fuzz_vsock's own steps: guest packets and receive buffers.
        'compact_slow_service': init(qlogs=q3) + vs_host(RX_BUFFERS, 7, sock=False) +
                                vs_guest(1, 0, 0, 0, sock=False) + vs_guest(5, 0, 0, big) +
                                vs_host(READ, 3) + vs_guest(4, 0, 1, 0) +
                                vs_host(READ | CATCH_UP) + vs_guest(5, 0, 0, 16) +
                                vs_host(3),
        # A host client through the guest's packets: CONNECT, RESPONSE, data both ways.
        'compact_host_client': init(qlogs=q3) + vs_host(RX_BUFFERS, 7, sock=False) +
                               dev(bytes([0])) + vs_guest(2, 2 | 2 << 2, 0, 0) +
                               dev(bytes([1, 0, 4]) + b'data') +
                               vs_guest(5, 2 | 2 << 2, 0, 0x3000) + vs_host(READ, 15) +
                               vs_guest(6, 2 | 2 << 2, 0, 0, fwd_cnt=4) +
                               vs_guest(4, 2 | 2 << 2, 2, 0) + vs_host(READ | CATCH_UP),
        # Issue 18, item 1: the guest closes both ways with data still buffered,
        # then the service catches up; the flush that empties the buffer ends
        # the connection inside the EPOLLOUT handler (a use-after-free before).
        'shut_both_buffered': init(qlogs=q3) + vs_host(RX_BUFFERS, 7, sock=False) +
                              vs_guest(1, 0, 0, 0, sock=False) + vs_guest(5, 0, 0, big) +
                              vs_guest(4, 0, 3, 0) + vs_host(READ | CATCH_UP),
        # The system's socket buffers: the service's socket takes it all.
        'big_buffers': init(qlogs=q3) + vs_rx(8) + vs_host(MODES, SYS_SNDBUF, sock=False) +
                       vs_tx(0, vs_hdr(1, 1234, 5000)) +
                       vs_tx_data(1, vs_hdr(5, 1234, 5000, big), 0x38000, big) +
                       vs_host(READ, 255) + vs_host(3),
        'guest_connect': init(qlogs=q3) + vs_rx(8) + vs_tx(0, vs_hdr(1, 1234, 5000)) +
                         vs_tx(1, vs_hdr(5, 1234, 5000, 5) + b'hello') +
                         dev(bytes([1, 0, 5]) + b'world') +
                         vs_tx(2, vs_hdr(4, 1234, 5000, flags=3)),
        'host_connect': init(qlogs=q3) + vs_rx(8) + dev(bytes([0])) +
                        vs_tx(0, vs_hdr(2, 5000, host_port)) +
                        vs_tx(1, vs_hdr(5, 5000, host_port, 3) + b'abc') +
                        dev(bytes([1, 0, 4]) + b'data') + dev(bytes([2, 0])) +
                        vs_tx(2, vs_hdr(7, 5000, host_port)) + vs_tx(3, vs_hdr(3, 5000, host_port)),
        'refused': init(qlogs=q3) + vs_rx(2) + vs_tx(0, vs_hdr(1, 1, 77)) +
                   vs_tx(1, vs_hdr(5, 1, 77, 4, dst_cid=9) + b'xxxx') +
                   dev(bytes([0x80, 5]) + b'CONN\n'),
        # Issue 18, item 8: a client sends CONNECT in pieces within the limit and
        # is served; a silent one is closed when the timer fires past it, the
        # last time with the loop held, so the handler runs in an input's round.
        'handshake_timeout': init(qlogs=q3) + vs_host(RX_BUFFERS, 7, sock=False) +
                             dev(bytes([0x80, 4]) + b'CONN') + vs_host(0x80, 0) +
                             vs_host(TIME, *struct.pack('<H', 4000)) +
                             dev(bytes([1, 0, 9]) + b'ECT 5000\n') +
                             vs_host(TIME | FULL_LIMIT) + vs_guest(2, 2 | 2 << 2, 0, 0) +
                             vs_host(MODES, HOLD) + vs_host(0x80, 0) +
                             vs_host(TIME | FULL_LIMIT) + vs_host(ROUND, 15, 0),
        'race': init(qlogs=q3) + vs_rx(4) + race(2, 0x20000 + 32, 0xff) +
                vs_tx(0, vs_hdr(1, 1234, 52)) + race(3, 0x20200 + 24, 0xff) +
                vs_tx(1, vs_hdr(5, 1234, 52, 8) + b'12345678') + dev(bytes([3, 0])),
    }


def mmio_seeds():
    def reg(index, value, write=True, blk=False, width=2):
        c = width | (4 if write else 0) | (8 if blk else 0)
        return bytes([c, index]) + struct.pack('<I', value)

    def ram(off, data, blk=False):
        return bytes([0xc0 | (8 if blk else 0)]) + struct.pack('<IB', off, len(data)) + data

    def drv_init(blk=False, qlog=4):
        return bytes([0xf0 | (8 if blk else 0)]) + init(qlogs=(qlog,))

    rng_req = (ram(0, struct.pack('<QIHH', 0x20000, 64, F_WRITE, 0)) +
               ram(0x1000, struct.pack('<HHH', 0, 1, 0)))
    blk_hdr = ram(0x20000, struct.pack('<IIQ', 0, 0, 0), True)
    blk_chain = ram(0, b''.join(struct.pack('<QIHH', a, n, f, x) for a, n, f, x in
                                [(0x20000, 16, F_NEXT, 1), (0x21000, 512, F_NEXT | F_WRITE, 2),
                                 (0x22000, 1, F_WRITE, 0)]), True)
    notify = 12      # index of QueueNotify (0x050) in fuzz_mmio.c's table
    status = 15      # Status (0x070)
    return {
        'rng_notify': drv_init() + rng_req + reg(notify, 0) + reg(13, 0, False) + reg(14, 1),
        'blk_notify': drv_init(True) + blk_hdr + blk_chain + ram(0x1000, struct.pack('<HHH', 0, 1, 0), True) +
                      reg(notify, 0, blk=True) + reg(status, 0, blk=True),
        'by_hand': reg(status, 1) + reg(status, 3) + reg(5, 0) + reg(4, 0, False) + reg(7, 1) +
                   reg(6, 1) + reg(status, 11) + reg(8, 0) + reg(10, 8) + reg(16, 0) +
                   reg(18, 0x1000) + reg(20, 0x2000) + reg(11, 1) + reg(status, 15) +
                   rng_req + reg(notify, 0),
        'bad_order': reg(status, 4) + reg(notify, 3) + reg(status, 0) + reg(11, 1) +
                     reg(8, 9) + reg(10, 3) + reg(status, 1) + reg(status, 0xff) +
                     bytes([0xa6]) + struct.pack('<HI', 0x104, 7) +
                     bytes([0x03, 28]) + struct.pack('<Q', 0x1122334455667788),
    }


def bzimage(payload=0x1000, setup_sects=4):
    setup = (setup_sects + 1) * 512
    img = bytearray(setup + payload)
    h = 0x1f1
    img[h] = setup_sects
    struct.pack_into('<I', img, 0x1f4, (payload + 15) // 16)
    struct.pack_into('<H', img, 0x1fe, 0xaa55)
    struct.pack_into('<H', img, 0x200, 0xeb | ((0x26c - 0x202) << 8))
    struct.pack_into('<IH', img, 0x202, 0x53726448, 0x020f)
    img[0x211] = 1                                     # LOADED_HIGH
    struct.pack_into('<II', img, 0x22c, 0x7fffffff, 0x200000)
    img[0x234], img[0x235] = 1, 21
    struct.pack_into('<HI', img, 0x236, 1, 2047)       # XLF_KERNEL_64, cmdline_size
    struct.pack_into('<QI', img, 0x258, 0x1000000, 0x800000)
    for k in range(setup, len(img)):
        img[k] = (k * 13 + 5) & 0xff
    return bytes(img)


def elf(pvh):
    ehdr_size, ph_size, nph = 64, 56, 3
    img = bytearray(0x3000)
    img[0:16] = b'\x7fELF\x02\x01\x01' + bytes(9)
    struct.pack_into('<HHIQQQIHHHHHH', img, 16, 2, 62, 1, 0x200100, ehdr_size, 0, 0, ehdr_size,
                     ph_size, nph, 0, 0, 0)
    note = struct.pack('<III', 4, 20, 3) + b'GNU\0' + b'G' * 20
    if pvh:
        note += struct.pack('<III', 4, 4, 18) + b'Xen\0' + struct.pack('<I', 0x200040)
    img[0x200:0x200 + len(note)] = note
    phs = [(4, 4, 0x200, 0, 0, len(note), len(note), 4),
           (1, 7, 0x1000, 0xffffffff80200000, 0x200000, 0x1000, 0x2000, 0x1000),
           (0x6474e551, 6, 0, 0, 0, 0, 0, 16)]
    for k, ph in enumerate(phs):
        struct.pack_into('<IIQQQQQQ', img, ehdr_size + ph_size * k, *ph)
    for k in range(0x1000, len(img)):
        img[k] = (k * 17 + 1) & 0xff
    return bytes(img)


def multiboot(aout):
    """An ELF32 Multiboot kernel at 4 MiB (text with the header, data with
    bss), or the same bytes loaded by the a.out kludge's addresses."""
    img = bytearray(0x3000)
    img[0:16] = b'\x7fELF\x01\x01\x01' + bytes(9)
    struct.pack_into('<HHIIIIIHHHHHH', img, 16, 2, 3, 1, 0x400020, 52, 0, 0, 52, 32, 2, 0, 0, 0)
    struct.pack_into('<8I', img, 52, 1, 0x1000, 0x400000, 0x400000, 0x1000, 0x1000, 5, 0x1000)
    struct.pack_into('<8I', img, 84, 1, 0x2000, 0x401000, 0x401000, 0x1000, 0x3000, 6, 0x1000)
    for k in range(0x1000, len(img)):
        img[k] = (k * 11 + 3) & 0xff
    flags = 0x10003 if aout else 0x3
    hdr = [0x1badb002, flags, (-(0x1badb002 + flags)) & 0xffffffff]
    if aout:
        hdr += [0x401000, 0x400000, 0x403000, 0x405000, 0x401020]
    struct.pack_into('<%dI' % len(hdr), img, 0x1000, *hdr)
    return bytes(img)


def bzimage_packed(inner, compress):
    """A bzImage whose payload (payload_offset 0x100) is inner compressed, as the kernel
    build leaves it: gzip with its own size, the others followed by the size."""
    z = compress(inner)
    # The protected-mode part in whole 16-byte paragraphs, as syssize counts it.
    img = bytearray(bzimage((0x100 + len(z) + 15) // 16 * 16))
    setup = 5 * 512
    struct.pack_into('<II', img, 0x248, 0x100, len(z))  # payload_offset, payload_length
    img[setup + 0x100:setup + 0x100 + len(z)] = z
    return bytes(img)


def with_tool(argv):
    """A compressor the kernel build runs (Debian's zstd, lz4, lzop), then the size."""
    import subprocess
    return lambda b: (subprocess.run(argv, input=b, stdout=subprocess.PIPE, check=True).stdout +
                      struct.pack('<I', len(b)))


def loader_seeds():
    import bz2
    import gzip
    import lzma
    xz = (lambda b: lzma.compress(b, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32) +
          struct.pack('<I', len(b)))
    alone = lambda b: lzma.compress(b, format=lzma.FORMAT_ALONE) + struct.pack('<I', len(b))
    return {'bzimage_gzip_pvh': bzimage_packed(elf(True), lambda b: gzip.compress(b, mtime=0)),
            'bzimage_xz_elf64': bzimage_packed(elf(False), xz),
            'bzimage_bzip2_pvh': bzimage_packed(elf(True), lambda b: bz2.compress(b, 9) +
                                                struct.pack('<I', len(b))),
            'bzimage_lzma_pvh': bzimage_packed(elf(True), alone),
            'bzimage_lzo_pvh': bzimage_packed(elf(True), with_tool(['lzop', '-9', '-c'])),
            'bzimage_zstd_pvh': bzimage_packed(elf(True), with_tool(['zstd', '-19', '-c', '-q'])),
            'bzimage_lz4_pvh': bzimage_packed(elf(True), with_tool(['lz4', '-l', '-9', '-c',
                                                                    '-q'])),
            'bzimage': bzimage(), 'bzimage_old': bzimage(0x800, 0)[:0x1f1] + bzimage(0x800, 0)[0x1f1:],
            'elf_pvh': elf(True), 'elf64': elf(False),
            'multiboot_elf': multiboot(False), 'multiboot_aout': multiboot(True)}


def cli_seeds():
    def argv(mode, *args):
        return bytes([mode]) + b'\0'.join(a.encode() for a in args)
    return {
        'run': argv(0, '--kernel', '/vmlinuz', '--initrd=/initrd', '--cmdline', 'console=ttyS0',
                    '--cpus', '2', '--memory=512', '--disk',
                    'path=/tmp/d.img,ro,id=root,cache=none,bw=10M/1000+2M,ops=100/1000',
                    '--net', 'user,host-loopback=on,hostfwd=tcp:8080-:80,rx-bw=1M/100',
                    '--net', 'tap=tap0,mac=02:00:00:00:00:01,vhost=off,queues=2',
                    '--vsock', 'cid=3,uds=/tmp/v.sock',
                    '--rng=bw=1K/100,ops=5/100', '--virtio-cmdline', '-q'),
        'run_bad': argv(0, '--kernel', 'k', '--cpus', '0', '--disk', 'path=,,id=x' + 'y' * 30,
                        '--vsock', 'cid=2'),
        'run_test_kernel': argv(0, '--kernel', 'x86/msr.flat', '--debug-exit=iobase=0x501,iosize=2',
                                '--test-devices', '--debug-exit', '--debug-exit=iosize=3,iobase=0xfffe'),
        'run_flat': argv(0, '--flat', 'hello16.bin,addr=0x7c00,entry=0x7c00,mode=real',
                         '--debugcon', 'port=0xf1,out=/tmp/d.txt', '--memory', '16'),
        'run_flat_bad': argv(0, '--flat', 'a.bin,mode=vm86,addr=0x', '--debugcon', '--debugcon=',
                             '--flat', ',', '--debugcon=port=0x40', '--no-rng', '--kernel', 'k'),
        'serve': argv(1, '--api-sock', '/tmp/a.sock', '--id', 'vm-1', '--config-file', '/c.json',
                      '--level', 'Debug', '--show-level', '--http-api-max-payload-size', '51200'),
        'firecracker': argv(2, '--api-sock', '/tmp/fc.sock', '--no-api', '--log-path', '/tmp/l',
                            '--metrics-path', '/tmp/m', '--start-time-us', '123',
                            '--start-time-cpu-us', '4', '--parent-cpu-time-us', '5',
                            '--no-seccomp'),
        'restore': argv(3, '--snapshot', '/s/vm.snap', '--mem', '/s/vm.mem',
                        '--drive-override', 'rootfs=rw:/d.img', '--net-override', 'eth0=tap=tap1',
                        '--net-override', 'eth1=user,hostfwd=tcp:1-:2', '--vsock-override',
                        '/v.sock', '--pmem-override', 'p0=ro:/p0', '--huge-pages', '2M',
                        '--kvm', '/dev/kvm', '--api-sock', '/a.sock'),
        'restore_vhost_vsock': argv(3, '--snapshot', '/s/vm.snap', '--mem', '/s/vm.mem',
                                    '--vsock-cid', '42', '--drive-override', 'r=ro:/r'),
        # hearth fork (first byte 4: even) and hearth reset (9: odd, 9 % 5 == 4).
        'fork': argv(4, '--api-sock', '/t.sock', '--count', '3', '--clone-sock', 'c{i}.sock',
                     '--serial-out', 'c{i}.out', '--drive-override', 'scratch=rw:d{i}.img',
                     '--pmem-override', 'p0=ro:p{i}', '--net-override', 'eth0=tap=tap{i}',
                     '--net-override', 'eth1=user,host-loopback=on',
                     '--vsock-override', 'v{i}.sock', '--template', 'Paused', '--paused'),
        'fork_bad': argv(4, '--api-sock', '/t.sock', '--count', '1001', '--clone-sock', 'c',
                         '--drive-override', 'scratch=rx:d', '--net-override', '=tap'),
        'reset': argv(9, '--api-sock', '/c.sock'),
    }


RL = {'bandwidth': {'size': 1048576, 'refill_time': 1000, 'one_time_burst': 4096},
      'ops': {'size': 100, 'refill_time': 1000}}
CONFIG = {
    'boot-source': {'kernel_image_path': '/vmlinux', 'boot_args': 'console=ttyS0',
                    'initrd_path': '/initrd'},
    'machine-config': {'vcpu_count': 2, 'mem_size_mib': 256, 'smt': False,
                       'track_dirty_pages': False},
    'drives': [{'drive_id': 'rootfs', 'path_on_host': '/rootfs.ext4', 'is_root_device': True,
                'is_read_only': False, 'cache_type': 'Unsafe', 'rate_limiter': RL}],
    'network-interfaces': [{'iface_id': 'eth0', 'host_dev_name': 'tap0',
                            'guest_mac': '06:00:ac:10:00:02', 'rx_rate_limiter': RL}],
    'vsock': {'guest_cid': 3, 'uds_path': '/tmp/v.sock'},
    'entropy': {'rate_limiter': RL},
    'logger': {'log_path': '/tmp/log', 'level': 'Info', 'show_level': True},
    'metrics': {'metrics_path': '/tmp/metrics'},
}


def api_seeds():
    def req(method, path, body=None):
        b = b'' if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        return bytes([method]) + path.encode() + b'\0' + struct.pack('<H', len(b)) + b
    GET, PUT, PATCH = 0, 1, 2
    c = CONFIG
    return {
        'configure_start': req(PUT, '/machine-config', c['machine-config']) +
                           req(PUT, '/boot-source', c['boot-source']) +
                           req(PUT, '/drives/rootfs', c['drives'][0]) +
                           req(PUT, '/network-interfaces/eth0', c['network-interfaces'][0]) +
                           req(PUT, '/vsock', c['vsock']) + req(PUT, '/entropy', c['entropy']) +
                           req(PUT, '/actions', {'action_type': 'InstanceStart'}) +
                           req(GET, '/vm/config') +
                           req(PATCH, '/drives/rootfs', {'drive_id': 'rootfs',
                                                         'path_on_host': '/b.img'}) +
                           req(PATCH, '/network-interfaces/eth0',
                               {'iface_id': 'eth0', 'tx_rate_limiter': RL}) +
                           req(PATCH, '/vm', {'state': 'Paused'}) +
                           req(PATCH, '/vm', {'state': 'Resumed'}),
        # Firecracker's VFIO branch: PUT /device-passthrough/{id}, its sbdf parsed
        # (vm_vfio_parse_sbdf), long and short, good and bad, before and after start.
        'passthrough': req(PUT, '/device-passthrough/nvme0', {'id': 'nvme0',
                                                              'sbdf': '0000:03:00.0'}) +
                       req(PUT, '/device-passthrough/nvme1', {'id': 'nvme1', 'sbdf': '03:1f.7'}) +
                       req(PUT, '/device-passthrough/nvme2', {'id': 'nvme2',
                                                              'sbdf': 'ABCD:ef:20.8'}) +
                       req(PUT, '/device-passthrough/nvme3', {'id': 'x', 'sbdf': '0:1:2.3'}) +
                       req(PUT, '/boot-source', c['boot-source']) +
                       req(PUT, '/actions', {'action_type': 'InstanceStart'}) +
                       req(PUT, '/device-passthrough/nvme0', {'id': 'nvme0',
                                                              'sbdf': '0000:03:00.0'}) +
                       req(GET, '/vm/config'),
        'pmem': req(PUT, '/pmem/p0', {'id': 'p0', 'path_on_host': '/p.img', 'root_device': True,
                                      'read_only': True, 'rate_limiter': RL}) +
                req(PUT, '/pmem/p1', {'id': 'p1', 'path_on_host': '/q.img', 'root_device': True}) +
                req(PUT, '/drives/rootfs', c['drives'][0]) + req(GET, '/vm/config') +
                req(PATCH, '/pmem/p0', {'id': 'p0', 'rate_limiter': RL}) +
                req(PUT, '/actions', {'action_type': 'InstanceStart'}) +
                req(PATCH, '/pmem/p0', {'id': 'p0', 'rate_limiter': RL}) +
                req(PATCH, '/pmem/p9', {'id': 'p9'}),
        # Hearth's virtio-fs: good, a tag too long, one taken, an id unlike the path's, late.
        'fs': req(PUT, '/fs/f0', {'id': 'f0', 'tag': 'share', 'socket': '/f.sock'}) +
              req(PUT, '/fs/f1', {'id': 'f1', 'tag': 't' * 37, 'socket': '/g.sock'}) +
              req(PUT, '/fs/f1', {'id': 'f1', 'tag': 'share', 'socket': '/g.sock'}) +
              req(PUT, '/fs/f2', {'id': 'f3', 'tag': 'x y', 'socket': ''}) +
              req(GET, '/vm/config') + req(PUT, '/boot-source', c['boot-source']) +
              req(PUT, '/actions', {'action_type': 'InstanceStart'}) +
              req(PUT, '/fs/f4', {'id': 'f4', 'tag': 'late', 'socket': '/f.sock'}),
        # Live migration's bodies, TLS's fields among them: good, a name with a space, a name
        # without tls, tls on an incoming, an unknown field.
        'migrate': req(PUT, '/migrate/incoming', {'uri': 'tcp:10.0.0.7:4444', 'tls': True}) +
                   req(PUT, '/migrate/incoming', {'uri': 'unix:/m.sock', 'tls': 'yes'}) +
                   req(PUT, '/boot-source', c['boot-source']) +
                   req(PUT, '/actions', {'action_type': 'InstanceStart'}) +
                   req(PUT, '/migrate', {'uri': 'tcp:10.0.0.7:4444', 'tls': True,
                                         'tls_hostname': 'dst.example', 'postcopy': True}) +
                   req(PUT, '/migrate', {'uri': 'tcp:10.0.0.7:4444', 'tls': True,
                                         'tls_hostname': 'bad name'}) +
                   req(PUT, '/migrate', {'uri': 'unix:/m.sock', 'tls_hostname': 'x'}) +
                   req(PUT, '/migrate', {'uri': 'unix:/m.sock', 'tls_dir': '/etc'}) +
                   req(GET, '/migrate'),
        'observe': req(PUT, '/logger', {'level': 'Debug'}) + req(PUT, '/metrics', c['metrics']) +
                   req(PUT, '/serial', {'serial_out_path': '/tmp/s'}) +
                   req(PATCH, '/machine-config', {'vcpu_count': 4}) + req(GET, '/') +
                   req(GET, '/version') + req(GET, '/machine-config') +
                   req(PUT, '/actions', {'action_type': 'FlushMetrics'}),
        'snapshot_load': req(PUT, '/serial', {'serial_out_path': '/tmp/s'}) +
                         req(PUT, '/snapshot/load', {
                             'snapshot_path': '/s/vm.snap',
                             'mem_backend': {'backend_type': 'File', 'backend_path': '/s/m'},
                             'drive_overrides': [{'drive_id': 'rootfs', 'path_on_host': '/d',
                                                  'is_read_only': False}],
                             'network_overrides': [{'iface_id': 'eth0', 'host_dev_name': 't'},
                                                   {'iface_id': 'eth1', 'backend': 'user'}],
                             'pmem_overrides': [{'id': 'p0', 'path_on_host': '/p0',
                                                 'read_only': True}],
                             'vsock_override': {'uds_path': '/v.sock'}}),
        'huge_clock': req(PUT, '/machine-config', {'vcpu_count': 1, 'mem_size_mib': 64,
                                                   'huge_pages': '2M'}) +
                      req(PATCH, '/machine-config', {'mem_size_mib': 65}) +
                      req(GET, '/machine-config') +
                      req(PUT, '/snapshot/load', {
                          'snapshot_path': '/s/vm.snap', 'clock_realtime': True,
                          'mem_backend': {'backend_type': 'File', 'backend_path': '/s/m'}}),
        # Hearth's PUT /fork (its body: api/json_fork.c) and PUT /reset, after boot.
        'fork': req(PUT, '/boot-source', c['boot-source']) +
                req(PUT, '/actions', {'action_type': 'InstanceStart'}) +
                req(PUT, '/fork', {'count': 3, 'template': 'Paused', 'resume': False,
                                   'clone': {'api_sock': 'c{i}.sock', 'serial_out': 'c{i}.out',
                                             'drive_overrides': [{'drive_id': 'rootfs',
                                                                  'path_on_host': 'd{i}.img',
                                                                  'is_read_only': False}],
                                             'vsock_override': {'uds_path': 'v{i}.sock'}}}) +
                req(PUT, '/fork', {'clones': [{'api_sock': 'a.sock'}, {'api_sock': 'a.sock'}]}) +
                req(PUT, '/reset'),
        'bad': req(PUT, '/drives/a', b'{"drive_id": "b"') + req(3, '/balloon') +
               req(PUT, '/machine-config', {'vcpu_count': -1, 'x': 1}) + req(4, '/'),
    }


def json_config_seeds():
    minimal = {k: CONFIG[k] for k in ('boot-source', 'machine-config')}
    return {'full': json.dumps(CONFIG, indent=1).encode(),
            'minimal': json.dumps(minimal).encode(),
            'bad': b'{"boot-source": {"kernel_image_path": 5}, "balloon": {}}',
            'cpu-config': json.dumps(dict(minimal, **{
                'machine-config': {'vcpu_count': 2, 'mem_size_mib': 128, 'smt': True},
                'cpu-config': {'kvm_capabilities': ['171', '!172'],
                               'cpuid_modifiers': [{'leaf': '0x1', 'subleaf': '0x0', 'flags': 0,
                                                    'modifiers': [{'register': 'ecx',
                                                                   'bitmap': '0bx00100xxx1'}]}],
                               'msr_modifiers': [{'addr': '0x10a', 'bitmap': '0b1x0'}]}})).encode(),
            'pmem': json.dumps(dict(minimal, pmem=[
                {'id': 'p0', 'path_on_host': '/p.img', 'root_device': True, 'read_only': True,
                 'rate_limiter': {'ops': {'size': 1, 'refill_time': 10}}},
                {'id': 'p1', 'path_on_host': '/q.img'}])).encode(),
            'fs': json.dumps(dict(minimal, fs=[
                {'id': 'f0', 'tag': 'share', 'socket': '/f.sock'},
                {'id': 'f1', 'tag': 'other', 'socket': '/g.sock'}])).encode(),
            'huge': json.dumps(dict(minimal, **{
                'machine-config': {'vcpu_count': 1, 'mem_size_mib': 128,
                                   'huge_pages': '2M'}})).encode(),
            'template': json.dumps(dict(minimal, **{
                'machine-config': {'vcpu_count': 1, 'mem_size_mib': 128,
                                   'cpu_template': 'T2S'}})).encode()}


def vsock_line_seeds():
    # The first byte picks the verb: even CONNECT, odd OK.
    lines = [b'\0CONNECT 5000\n', b'\0connect 52\nhello', b'\1OK 1073741824\n',
             b'\0CONNECT  7 \r\n', b'\0CONNECT 4294967295\n', b'\0CONNECT 4294967296\n',
             b'\0CONNECT 12', b'\0CONNECT x\n']
    return {'seed%d' % k: v for k, v in enumerate(lines)}


def pci_seeds():
    """fuzz_pci: Linux's probe through 0xcf8, BAR sizing through ECAM, a record round trip."""
    def ecam_rd(off, w=2):
        return bytes([0]) + struct.pack('<IB', off, w)

    def ecam_wr(off, val, w=2):
        return bytes([1]) + struct.pack('<IBQ', off, w, val)

    def port_rd(p, w=2):
        return bytes([2, p, w])

    def port_wr(p, val, w=2):
        return bytes([3, p, w]) + struct.pack('<I', val)

    fn = 5 << 15
    probe = (port_wr(3, 1, 0) + port_wr(0, 0x80000000) + port_rd(0) + port_rd(4) +
             port_wr(0, 0x80002810) + port_wr(4, 0xffffffff) + port_rd(4) + port_wr(1, 6, 0))
    bars = b''.join(ecam_wr(fn + 0x10 + 4 * i, 0xffffffff) + ecam_rd(fn + 0x10 + 4 * i)
                    for i in range(6))
    caps = ecam_rd(fn + 0x34, 0) + ecam_wr(fn + 0x42, 0xffff, 1) + ecam_rd(fn + 0x40)
    record = port_wr(0, 0x80002844) + bytes([4]) + struct.pack('<HB', 4, 0x80)

    def hp_reg(off, val=0, w=2, write=0):
        return bytes([6, off, w, write]) + (struct.pack('<I', val) if write else b'')

    # Hotplug: a plug into slot 3 (slot 5's function taken out), PCNT's reads, an eject,
    # the unplug (slot 5's function back).
    hotplug = (bytes([7, 3, 1]) + hp_reg(0) + hp_reg(4) + hp_reg(8, 1 << 3, 2, 1) +
               ecam_rd(fn) + bytes([7, 3, 0]) + hp_reg(4) + ecam_rd(fn))

    def straddle(reg, k, w, write, val=0xffffffff, ecam=False):   # w: log2 of the width
        return bytes([8]) + struct.pack('<BBBBI', reg, (k + 3) | (0x80 if ecam else 0), w,
                                        write, val)

    # Every offset -3..+3 from CONFIG_DATA's start and from slot 5's ECAM end, each width.
    straddles = b''.join(straddle(reg, k, w, wr, ecam=ecam)
                         for ecam in (False, True) for reg in (0x40, 0x04)
                         for k in range(-3, 4) for w in range(3) for wr in (0, 1))
    return {'probe': probe, 'bars': bars, 'caps': caps, 'record': record, 'hotplug': hotplug,
            'straddle': straddles}


def virtio_pci_seeds():
    """fuzz_virtio_pci: a bring-up, then requests and the driver's odd accesses."""
    def bar(off, val, w=1, write=1):
        return bytes([1]) + struct.pack('<HBBQ', off, w, write, val)

    def cfg(off, val, w=2, write=1):
        return bytes([0]) + struct.pack('<HBBI', off, w, write, val)

    def straddle(target, k, w, write, val, off=0):   # op 5; w: log2 of the width
        return bytes([5]) + struct.pack('<BHBBBI', target, off, k + 3, w, write, val)

    desc = struct.pack('<QIHH', 0x20000, 64, 2, 0)
    ring = bytes([2]) + struct.pack('<IB', 0x10000, 16) + desc
    avail = bytes([2]) + struct.pack('<IB', 0x10100, 6) + struct.pack('<HHH', 0, 1, 0)
    up = bytes([3])
    # The PCI_CFG capability of virtio-rng (common, notify, ISR before it), its
    # pci_cfg_data at +16.
    c = 0x74
    d = c + 16
    # F3's trigger by hand: the window aimed at queue_select, length 2, then a dword
    # from 2 below the field (cap.length's upper bytes 0), its read, one past the field.
    raw = (cfg(c + 4, 0, 0) + cfg(c + 8, 0x16, 2) + cfg(c + 12, 2, 2) +
           cfg(d - 2, 0xbbaa0000, 2) + cfg(d - 2, 0, 2, 0) + cfg(d + 2, 0xbeef, 2) +
           cfg(d + 1, 0x56, 0) + cfg(d - 1, 0x7700, 1) + cfg(d - 3, 0x66000000, 2))
    plain = b''.join(straddle(t, k, w, wr, 0x44332211 + k)
                     for t in (0, 2) for k in range(-3, 4) for w in range(3) for wr in (1, 0))
    live = up + b''.join(straddle(t, k, w, wr, 0x0f0f0f0f)
                         for t in (3, 4, 5, 6) for k in range(-3, 4) for w in (0, 2)
                         for wr in (0, 1))
    anywhere = b''.join(straddle(7 + 8 * lw, k, 2, 1, 0x01010101, off)
                        for lw in range(3) for k in (-2, 1) for off in (0x14, 0x2000, 0x4008))
    return {
        'bring_up_request': up + ring + avail + bar(0x3000, 0, 1) + bar(0x1000, 0, 0, 0),
        'masked': up + bar(0x400c, 1, 2) + ring + avail + bar(0x3000, 0, 1) +
                  bar(0x5000, 0, 3, 0) + bar(0x400c, 0, 2),
        'window': cfg(c + 4, 0, 0) + cfg(c + 8, 0x12, 2) + cfg(c + 12, 2, 2) +
                  cfg(d, 0, 2, 0),
        'window_straddle_raw': raw,
        'window_straddle_plain': plain,
        'window_straddle_live': live,
        'window_straddle_anywhere': anywhere,
        'reset_and_host': up + bar(0x14, 0, 0) + bytes([4]) + up + bytes([4]),
    }


def devstate_seeds():
    # Mode byte: m % 4 is the mode, m // 4 % 6 the device (rng, blk, net on a fake
    # backend, hybrid vsock, net on libslirp, vhost-vsock on a fake vhost).
    out = {}
    for dev, name in enumerate(('rng', 'blk', 'net', 'vsock', 'user', 'vhost')):
        m = 4 * dev
        out['%s-as-saved' % name] = bytes([m]) + struct.pack('<H', 0xffff)
        out['%s-flips' % name] = bytes([m]) + struct.pack('<HHBHBHB', 0xffff, 4, 1, 30, 0x80,
                                                          200, 0xff)
        out['%s-cut' % name] = bytes([m]) + struct.pack('<H', 40)
        out['%s-reinit' % name] = bytes([m + 3]) + struct.pack('<HHB', 0xffff, 12, 4)
        out['%s-raw' % name] = bytes([m + 1]) + b'VMMI' + struct.pack('<I', 2) + bytes(40)
    # Memory files: an ELF core with a note and two regions, and broken ones.
    eh = bytearray(64)
    eh[0:4] = b'\x7fELF'
    eh[4], eh[5], eh[6] = 2, 1, 1
    struct.pack_into('<HHIQQQIHHHHHH', eh, 16, 4, 62, 1, 0, 64, 0, 0, 64, 56, 3, 0, 0, 0)
    ph = struct.pack('<IIQQQQQQ', 4, 0, 0x200, 0, 0, 64, 64, 4)
    ph += struct.pack('<IIQQQQQQ', 1, 6, 0x1000, 0, 0, 0x80000, 0x80000, 0x1000)
    ph += struct.pack('<IIQQQQQQ', 1, 6, 0x81000, 0x100000000, 0x100000000, 0x7f000,
                      0x7f000, 0x1000)
    hdr = bytes(eh) + ph
    out['memfile-ok'] = bytes([2]) + struct.pack('<I', 0x100000) + hdr
    out['memfile-short'] = bytes([2]) + struct.pack('<I', 0) + hdr
    out['memfile-not-elf'] = bytes([2]) + struct.pack('<I', 0) + b'hello'
    return out


def mmds_net_seeds():
    """fuzz_mmds_net: byte 0 the version (odd: V2), then ops (b % 5)."""
    arp_req, arp_reply, rnd, read = bytes([1, 0, 0]), bytes([1, 1, 0]), bytes([2]), bytes([3])

    def canned(sport, req):
        return bytes([4, sport, req])

    def tcp(sport, seq, ack, flags, data=b'', mode=0):
        return (bytes([1, 2, sport]) + struct.pack('<II', seq, ack) + bytes([flags, len(data)])
                + data + bytes([mode]))

    out = {}
    out['arp'] = bytes([0]) + arp_req + rnd + read + arp_reply + rnd + read
    out['v1-get'] = bytes([0]) + arp_req + rnd + canned(0, 0) + read + rnd + read
    out['v2-token'] = bytes([1]) + arp_req + rnd + canned(1, 1) + read + canned(2, 2) + read
    out['forwarded'] = bytes([1]) + canned(3, 3) + rnd + read
    out['syn-flood'] = bytes([0]) + arp_req + b''.join(tcp(i, 1000, 0, 0x02) + rnd
                                                       for i in range(8)) + read
    out['partial-csum'] = bytes([0]) + tcp(1, 1000, 0, 0x02, mode=1) + rnd + read
    out['gso'] = bytes([0]) + tcp(1, 1000, 0, 0x02, b'GET /', mode=2) + rnd
    out['raw-truncated'] = bytes([0, 0]) + struct.pack('<H', 20) + bytes(12) + b'\x08\x00' \
        + bytes([0x45, 0, 0, 40, 0, 0]) + rnd
    return out


def vu_msg(req, payload, flags=0x5):
    return struct.pack('<III', req, flags, len(payload)) + payload


def vu_transcript(mq=True, ack=True, cut=None):
    """What a well-behaved vhost-user-blk backend answers to Hearth's handshake,
    a start, a pause and resume, a config refresh and a reset, in order."""
    u64 = lambda v: struct.pack('<Q', v)  # noqa: E731
    feats = (1 << 32) | (1 << 29) | (1 << 28) | (1 << 30) | 0x246 | ((1 << 12) if mq else 0)
    proto = (1 << 9) | ((1 << 0) if mq else 0) | ((1 << 3) if ack else 0)
    config = bytearray(60)
    config[0:8] = struct.pack('<Q', 8192)
    config[34:36] = struct.pack('<H', 2)
    get_config = vu_msg(24, struct.pack('<III', 0, 60, 0) + bytes(config))
    acks = lambda *reqs: b''.join(vu_msg(r, u64(0)) for r in reqs) if ack else b''  # noqa: E731
    out = vu_msg(1, u64(feats)) + vu_msg(15, u64(proto)) + acks(3)
    if mq:
        out += vu_msg(17, u64(2)) + get_config
    out += get_config
    # SET_FEATURES, SET_MEM_TABLE, then the ring: NUM, BASE, ADDR, KICK, CALL, ENABLE
    start = acks(2, 5, 8, 10, 9, 12, 13, 18)
    out += start + vu_msg(11, struct.pack('<II', 0, 0)) + start + get_config
    out += vu_msg(11, struct.pack('<II', 0, 0))
    return out[:cut] if cut else out


def vhost_user_seeds():
    good = vu_transcript()
    return {'good': good, 'no-mq': vu_transcript(mq=False), 'no-ack': vu_transcript(ack=False),
            'truncated': good[:len(good) // 2], 'empty': b''}


def vfio_seeds():
    """fuzz_vfio: an NVMe-like device (PM then MSI-X, table and PBA in BAR 0), Linux's
    probe (BAR sizing, memory and bus master on, MSI-X on, a vector unmasked, doorbells),
    and a device whose capability list loops."""
    def dev(loop=False):
        c = bytearray(256)
        struct.pack_into('<HHHH', c, 0, 0x1b36, 0x0010, 0, 0x0010)   # ids, command, status
        struct.pack_into('<I', c, 0x08, 0x01080202)
        struct.pack_into('<III', c, 0x10, 0x4, 0, 0)                  # BAR 0 64-bit, BAR 2
        struct.pack_into('<I', c, 0x20, 0x1)                          # BAR 4 I/O
        c[0x34] = 0x40
        c[0x40], c[0x41] = 0x01, 0x40 if loop else 0x50
        c[0x50], c[0x51] = 0x11, 0
        struct.pack_into('<HII', c, 0x52, 7, 0x2000, 0x3000)
        return bytes(c) + struct.pack('<6I', 0x4000, 0, 0x1000, 0, 0x100, 0)

    def cfg_rd(off, w=4):
        return bytes([0]) + struct.pack('<HB', off, w)

    def cfg_wr(off, val, w=4):
        return bytes([1]) + struct.pack('<HBI', off, w, val)

    def win(off, val=0, w=2, write=0):   # w: log2 of the width
        return bytes([2]) + struct.pack('<IBBQ', off, w, write, val)

    base = 0x1000000
    probe = (b''.join(cfg_wr(0x10 + 4 * i, 0xffffffff) + cfg_rd(0x10 + 4 * i) for i in range(6)) +
             cfg_wr(0x10, base) + cfg_wr(0x14, 0) + cfg_wr(0x18, base + 0x4000) +
             cfg_wr(0x04, 0x6, 2) + cfg_rd(0x40) + cfg_wr(0x42, 0xc000, 2) +
             win(base + 0x2000, 0xfee00000, 2, 1) + win(base + 0x2008, 0x41, 2, 1) +
             win(base + 0x200c, 0, 2, 1) + cfg_wr(0x42, 0x8000, 2) + win(base + 0x1000, 1, 2, 1) +
             win(base + 0x3000) + win(base + 0x100, 0, 3))
    return {'probe': dev() + probe, 'loop': dev(True) + probe}


TARGETS = {
    'fuzz_virtq': virtq_seeds, 'fuzz_vsock_line': vsock_line_seeds, 'fuzz_blk': blk_seeds,
    'fuzz_blk_qcow2': blk_seeds,
    'fuzz_net': net_seeds, 'fuzz_vsock': vsock_seeds, 'fuzz_mmio': mmio_seeds,
    'fuzz_loader': loader_seeds, 'fuzz_cli': cli_seeds, 'fuzz_api': api_seeds,
    'fuzz_json_config': json_config_seeds, 'fuzz_devstate': devstate_seeds,
    'fuzz_mmds_net': mmds_net_seeds, 'fuzz_balloon': balloon_seeds,
    'fuzz_pmem': pmem_seeds,
    'fuzz_virtio_mem': virtio_mem_seeds,
    'fuzz_pci': pci_seeds,
    'fuzz_virtio_pci': virtio_pci_seeds,
    'fuzz_vhost_user': vhost_user_seeds,
    'fuzz_vfio': vfio_seeds,
}


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), 'seeds')
    for target, make in TARGETS.items():
        out = os.path.join(root, target)
        os.makedirs(out, exist_ok=True)
        for name, data in make().items():
            with open(os.path.join(out, name), 'wb') as f:
                f.write(data)


if __name__ == '__main__':
    main()
