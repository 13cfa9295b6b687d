#!/usr/bin/env python3
"""Writes the small seed corpora for the fuzz targets (mirroring the scenario suite's set-ups).
Input encodings are documented in Sources/Fuzzing/FuzzTargets.swift."""
import os, struct, sys

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "Tests", "FuzzingTests", "Corpus")

def u8(v): return struct.pack("<B", v & 0xFF)
def u16(v): return struct.pack("<H", v & 0xFFFF)
def u32(v): return struct.pack("<I", v & 0xFFFFFFFF)
def u64(v): return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)

def translate_seed(cfg, writes, root_page, requests):
    b = u8(cfg) + u8(len(writes))
    for off, val in writes:
        b += u32(off) + u64(val)
    b += u8(root_page) + u8(0) + u8(len(requests) - 1)
    for flags, sid, pasid, addr in requests:
        b += u8(flags) + u16(sid)
        if flags & 8: b += u32(pasid)
        b += u64(addr) if flags & 16 else u32(addr)
    return b

def ss_chain(root, leaf_out, perms=3):
    # 4-level second-stage chain for address 0 rooted at `root`, tables on the next pages.
    return [(root, (root + 0x1000) | 3), (root + 0x1000, (root + 0x2000) | 3),
            (root + 0x2000, (root + 0x3000) | 3), (root + 0x3000, leaf_out | perms)]

def fs_chain(root, leaf_out):
    return [(root, (root + 0x1000) | 0x27), (root + 0x1000, (root + 0x2000) | 0x27),
            (root + 0x2000, (root + 0x3000) | 0x27), (root + 0x3000, leaf_out | 0x67)]

seeds = {}
devfn = 0x10
# Legacy translated: root 0x1000, context table 0x2000, SS tables at 0x10000.
legacy = [(0x1000, 0x2000 | 1), (0x2000 + devfn * 16, 0x10000 | 1), (0x2000 + devfn * 16 + 8, 2)] + ss_chain(0x10000, 0x40000)
seeds["translate/legacy-translated"] = translate_seed(0x00, legacy, 1, [(1, devfn, 0, 0x567), (0, devfn, 0, 0x1567)])
legacy_pt = [(0x1000, 0x2000 | 1), (0x2000 + devfn * 16, 0x8 | 1), (0x2000 + devfn * 16 + 8, 2)]
seeds["translate/legacy-pt"] = translate_seed(0x00, legacy_pt, 1, [(1, devfn, 0, 0x10200567)])
# Scalable: root 0x1000 (LP), context 0x2000 (32 B entries), PASID dir 0x3000, PASID table 0x4000.
def scalable(pgtt, ss=0, fs=0, aw=2):
    return [(0x1000, 0x2000 | 1), (0x2000 + devfn * 32, 0x3000 | 1), (0x3000, 0x4000 | 1),
            (0x4000, ss | pgtt << 6 | aw << 2 | 1), (0x4000 + 8, 0), (0x4000 + 16, fs)]
seeds["translate/scalable-pt"] = translate_seed(0x01, scalable(4), 1, [(1, devfn, 0, 0x567)])
seeds["translate/scalable-ss"] = translate_seed(0x01, scalable(2, ss=0x10000) + ss_chain(0x10000, 0x40000), 1, [(1, devfn, 0, 0x567), (0, devfn, 0, 0x567)])
seeds["translate/scalable-fs"] = translate_seed(0x02, scalable(1, fs=0x10000) + fs_chain(0x10000, 0x40000), 1, [(1, devfn, 0, 0x567), (0, devfn, 0, 0x2000)])
seeds["translate/nested"] = translate_seed(0x03, scalable(3, ss=0x20000, fs=0x10000) + fs_chain(0x10000, 0x40000) +
                                           [(0x20000, 0x21000 | 3), (0x21000, 0x22000 | 3), (0x22000, 0 | 3 | 0x80)], 1, [(1, devfn, 0, 0x567)])
seeds["translate/with-pasid"] = translate_seed(0x42, scalable(1, fs=0x10000) + fs_chain(0x10000, 0x40000), 1, [(1 | 8, devfn, 0, 0x567), (8 | 64, devfn, 3, 0x567)])
# Registers: the seed programming flow as (op, offset, value) triples.
def reg(op, off, val=0):
    b = u8(op) + u16(off)
    if not op & 4: b += u64(val)
    return b
flow = (reg(3, 0x20, 0x1000) + reg(2, 0x18, 0x40000000) + reg(6, 0x1c) + reg(3, 0x90, 0x8000) + reg(3, 0x88, 0) +
        reg(2, 0x18, 0x44000000) + reg(2, 0x38, 0) + reg(2, 0x3c, 0) + reg(2, 0x40, 0xfee00000) + reg(2, 0x18, 0xc4000000) +
        reg(7, 0x10) + reg(3, 0x28, 0xA000000000000000) + reg(3, 0xF8, 0x9000000000000000) + reg(2, 0x34, 0x7F))
seeds["registers/seed-flow"] = u8(0x01) + flow
seeds["registers/odd-widths"] = u8(0x00) + reg(0, 0x38, 0xFFFF) + reg(1, 0x3A, 0xFF) + reg(3, 0x34, ~0) + reg(3, 0x220 + 8, 1 << 63) + reg(4, 0x3FF)
# Queue: descriptors at 0x8000 then IQT moves.
def desc(qw0, qw1=0): return u64(qw0) + u64(qw1)
q = [desc(0x1 | 1 << 4), desc(0x2 | 3 << 4 | 5 << 16, 0x20000 | 1), desc(0x4), desc(0x5 | 1 << 5 | 1 << 32, 0x9000), desc(0xF)]
body = b"".join(q)
seeds["queue/all-types"] = u8(0x01) + u8(len(body) // 8) + body + u8(0) + u8(0) + u8(0) + u16(4) + u8(1) + u8(0) + u16(5)
wide = [desc(0x6 | 2 << 4, 0) + desc(0, 0), desc(0x7 | 1 << 4 | 3 << 32) + desc(0, 0), desc(0x5 | 1 << 4) + desc(0, 0)]
body = b"".join(wide)
seeds["queue/wide"] = u8(0x01) + u8(len(body) // 8) + body + u8(1) + u8(0) + u8(0) + u16(6)

for name, data in seeds.items():
    path = os.path.join(out, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
print(f"wrote {len(seeds)} seeds to {out}")
