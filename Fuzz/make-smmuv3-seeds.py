#!/usr/bin/env python3
"""Writes the seed corpus of the `smmuv3` fuzz target (one valid flow per configuration: stage 1,
stage 2 and nested with 4 KiB and 64 KiB granules, bypass, 2-level stream table, SubstreamIDs,
commands, a Secure-window mapping). The input encoding is documented in
Sources/Fuzzing/SMMUv3FuzzTarget.swift; RAM is 1 MiB at 0, the Secure-only window 0x80000-0x9FFFF."""
import os, struct, sys

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "Tests", "FuzzingTests", "Corpus")

def u8(v): return struct.pack("<B", v & 0xFF)
def u16(v): return struct.pack("<H", v & 0xFFFF)
def u32(v): return struct.pack("<I", v & 0xFFFFFFFF)
def u64(v): return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)

STRTAB = 0x1000   # linear, 64 STEs (STRTAB_BASE_CFG.LOG2SIZE = 6)
CD = 0x3000
SID = 8

def ste(config, cd=0, cdmax=0, s1fmt=0, s1dss=0, s2=None):
    """STE dwords: V, Config (4 bypass, 5 stage 1, 6 stage 2, 7 nested), S1ContextPtr, S1CDMax, S1DSS;
    stage 2 as (ttb, t0sz, sl0, tg, vmid) with S2PS 44 bits, S2AA64, S2R."""
    dw = [0] * 8
    dw[0] = 1 | config << 1 | s1fmt << 4 | cd | cdmax << 59
    dw[1] = s1dss
    if s2:
        ttb, t0sz, sl0, tg, vmid = s2
        dw[2] = vmid | t0sz << 32 | sl0 << 38 | tg << 46 | 4 << 48 | 1 << 51 | 1 << 58
        dw[3] = ttb
    return [(STRTAB + 64 * SID + 8 * i, v) for i, v in enumerate(dw) if v]

def cd(address, ttb0, t0sz=16, tg0=0, asid=1):
    """CD dwords: T0SZ, TG0, EPD1, V, IPS 44 bits, AA64, R, A, ASID, TTB0."""
    dw0 = t0sz | tg0 << 6 | 1 << 30 | 1 << 31 | 4 << 32 | 1 << 41 | 1 << 45 | 1 << 46 | asid << 48
    return [(address, dw0), (address + 8, ttb0)]

S1_TABLE, S1_PAGE = 0x3, 0x743      # stage 1: table; page with AF, SH, AP = 01 (read/write at EL0 and EL1)
S2_TABLE, S2_PAGE = 0x3, 0x7FF      # stage 2: table; page with AF, SH, S2AP = 11, MemAttr 1111

def chain(root, va, leaf, shifts, step, table_desc, leaf_desc, index_bits):
    """Writes a walk for `va` from `root`: one table per level at root + k * step, `leaf` at the end."""
    writes, table = [], root
    for k, shift in enumerate(shifts):
        index = (va >> shift) & ((1 << index_bits[k]) - 1)
        if k == len(shifts) - 1:
            writes.append((table + 8 * index, leaf | leaf_desc))
        else:
            nxt = root + (k + 1) * step
            writes.append((table + 8 * index, nxt | table_desc))
            table = nxt
    return writes

def s1_4k(root, va, out):  # T0SZ 16: levels 0-3
    return chain(root, va, out, [39, 30, 21, 12], 0x1000, S1_TABLE, S1_PAGE, [9, 9, 9, 9])

def s1_64k(root, va, out):  # T0SZ 16, 64 KiB granule: levels 1-3 (6, 13, 13 bits)
    return chain(root, va, out, [42, 29, 16], 0x10000, S1_TABLE, S1_PAGE, [6, 13, 13])

def s2_4k(root, ipa, out):  # S2T0SZ 20, S2SL0 2: levels 0-3 (5, 9, 9, 9 bits)
    return chain(root, ipa, out, [39, 30, 21, 12], 0x1000, S2_TABLE, S2_PAGE, [5, 9, 9, 9])

def writes_blob(writes):
    b = u8(len(writes))
    for off, val in writes:
        b += u32(off) + u8(0) + u64(val)
    return b

def program(options, writes, strtab_cfg=6, strtab=STRTAB, cr2=0, queue_sizes=0x33):
    return (u8(options) + writes_blob(writes) + u8(strtab >> 12) + u32(strtab_cfg) + u32(0xd75) + u32(cr2) + u32(0) +
            u8(queue_sizes) + u8(0))

def translate(address, access=0, sid=SID, ssid=None, attrs=2, privileged=False):
    """A translate operation: access 0 read, 1 write, 2 atomic; attrs byte 2 = space non-secure, 0 = secure."""
    flags = access | (8 if ssid is not None else 0) | (16 if address >> 32 else 0) | (32 if privileged else 0)
    flags |= 0x80 if sid > 0x3F else 0
    b = u8(0) + u8(flags) + u8(attrs) + (u32(sid) if sid > 0x3F else u8(sid))
    if ssid is not None: b += u32(ssid)
    return b + (u64(address) if address >> 32 else u32(address))

def command(opcode, dw0=0, dw1=0):
    return u8(4) + u64(dw0 << 8 | opcode) + u64(dw1)

def memory(offset, value):
    return u8(5) + u32(offset) + u8(0) + u64(value)

def register(offset, value, wide=False):
    return u8(3 | (0x40 if wide else 0)) + u32(offset) + u64(value)

VA = 0x1234_5000
OUT = 0x40000
S2_ROOT = 0x20000
seeds = {}

stage1 = ste(5, cd=CD) + cd(CD, 0x10000) + s1_4k(0x10000, VA, OUT)
seeds["stage1-4k"] = program(1, stage1) + translate(VA | 0x567) + translate(VA | 0x10, access=1) + translate(VA + 0x1000)
stage1_64k = ste(5, cd=CD) + cd(CD, 0x10000, tg0=1) + s1_64k(0x10000, VA, 0x50000)
seeds["stage1-64k"] = program(1, stage1_64k) + translate(VA | 0x567) + translate(VA | 0xfff8, access=2)
stage2 = ste(6, s2=(S2_ROOT, 20, 2, 0, 3)) + s2_4k(S2_ROOT, VA, OUT)
seeds["stage2-4k"] = program(2, stage2) + translate(VA | 0x567, access=1) + translate(VA | 0x567)
# Nested: the CD at IPA 0x3000 and the stage-1 tables at IPAs 0x10000.. are identity-mapped by stage 2.
nested = ste(7, cd=CD, s2=(S2_ROOT, 20, 2, 0, 5)) + cd(CD, 0x10000) + s1_4k(0x10000, VA, 0x60000)
for ipa in [CD, 0x10000, 0x11000, 0x12000, 0x13000, 0x60000]:
    nested += s2_4k(S2_ROOT, ipa, ipa)
seeds["nested-4k"] = program(0, nested) + translate(VA | 0x567) + translate(VA | 0x567, access=1)
seeds["bypass"] = program(0, ste(4)) + translate(0x9_0000) + translate(0x1234, access=1)
# A stage-1 mapping into the Secure window: the Non-secure DMA is refused, a Secure request's fetches too.
to_secure = ste(5, cd=CD) + cd(CD, 0x10000) + s1_4k(0x10000, VA, 0x88000)
seeds["ns-to-secure"] = program(1, to_secure) + translate(VA, access=1) + translate(VA, attrs=0) + translate(VA, attrs=1)
# Stream table in the Secure window: STE fetches of a Non-secure stream fail (F_STE_FETCH).
seeds["secure-strtab"] = program(1, [(0x90000 + 64 * SID + 8 * i, v) for (a, v) in ste(4) for i in [((a - STRTAB - 64 * SID) // 8)]],
                                 strtab=0x90000) + translate(0x1000)
# 2-level stream table (FMT 1, SPLIT 6, LOG2SIZE 8): L1 descriptor 0 (Span 7) -> STEs at 0x5000.
two_level = [(0x1000, 0x5000 | 7)] + [(0x5000 + 64 * SID + 8 * i, v) for (a, v) in ste(4) for i in [((a - STRTAB - 64 * SID) // 8)]]
seeds["two-level-strtab"] = program(1, two_level, strtab_cfg=1 << 16 | 6 << 6 | 8) + translate(0x2000) + translate(0x2000, sid=0x21)
# SubstreamIDs: linear CD table of 16 CDs (S1CDMax 4), S1DSS 2 (CD 0 without SubstreamID).
ssid = ste(5, cd=CD, cdmax=4, s1dss=2) + cd(CD, 0x10000) + cd(CD + 64 * 3, 0x10000, asid=3) + s1_4k(0x10000, VA, OUT)
seeds["substreams"] = program(0x11, ssid) + translate(VA, ssid=3) + translate(VA) + translate(VA, ssid=0) + translate(VA, ssid=9)
# Commands: translate, remap the leaf, TLBI_NH_ALL + CFGI_ALL + CMD_SYNC, translate again; then an illegal command.
leaf = [a for a, v in s1_4k(0x10000, VA, OUT)][-1]
seeds["commands"] = (program(1, stage1) + translate(VA) + memory(leaf, 0x44000 | S1_PAGE) + translate(VA) +
                     command(0x10) + command(0x04, dw1=31) + command(0x46) + translate(VA) + command(0x00) +
                     register(0x64, 1) + translate(VA, access=1))
# Strict mode (options bit 3): a changed leaf without TLBI, then a CFGI_STE.
seeds["strict"] = (program(1 | 8, stage1) + translate(VA) + memory(leaf, 0x44000 | S1_PAGE) + translate(VA) +
                   command(0x03, dw0=SID << 24) + command(0x46) + translate(VA))
# Faults: a read-only leaf written (F_PERMISSION), an unmapped address (F_TRANSLATION), a bad StreamID.
read_only = ste(5, cd=CD) + cd(CD, 0x10000) + s1_4k(0x10000, VA, OUT)[:-1] + [(leaf, OUT | S1_PAGE | 0x80)]
seeds["faults"] = program(1, read_only) + translate(VA, access=1) + translate(0x7777_0000) + translate(VA, sid=0x1_0000)

for name, data in seeds.items():
    path = os.path.join(out, "smmuv3", name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
print(f"wrote {len(seeds)} seeds to {os.path.join(out, 'smmuv3')}")
