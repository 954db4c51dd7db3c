#!/usr/bin/env python3
"""gendata.py: build a deterministic benchmark dataset.

    tools/gendata.py DIR [--size-mib 1024] [--seed 1]

Fills DIR (created if missing; must be empty) with about --size-mib MiB:

  ~60 %  compressible data: log lines, CSV rows, source-like text (all made
         from a PRNG over a fixed word list) and binary "structured records"
         (fixed-layout 32-byte records of counters and small integers)
  ~30 %  incompressible data: raw PRNG bytes, mostly one file
         `big-random.bin` (300 MiB at the default size) at the top level
  ~10 %  exact duplicates of earlier files under other names

File sizes are mixed: a few large files (100-300 MiB at the default size,
scaled with --size-mib), medium files of 1-10 MiB and several thousand small
files of 1-64 KiB in nested directories.

Only the standard library is used.  Every byte, name and mtime comes from
random.Random instances seeded from (seed, file name) through SHA-256, so one
seed gives the same tree on any machine and any Python >= 3.9.  Large
buffers are built with C-speed operations (randbytes, bytes.translate,
extended-slice assignment, str.join) so 1 GiB takes well under a minute.
"""

import argparse
import array
import hashlib
import os
import random
import shutil
import sys
import time

KIB = 1024
MIB = 1024 * 1024
REF_MIB = 1024          # the layout below is described for this size
CHUNK = 4 * MIB         # generation buffer size
MTIME_BASE = 1700000000  # fixed timestamps, for reproducible trees

WORDS = """
the of and to in is that for it as was with be by on not he this are or his
from at which but have an they you were her she there been one all we their
has would when if so no will can more out up about into than them only other
time new some could these two may first then do any like my now over such our
man me even most made after also did many before must through back years where
much your way well down should because each just those people how too little
state good very make world still own see men work long get here between both
life being under never day same another know while last might us great old
year off come since against go came right used take three
request response server client cache index chunk packet buffer stream thread
worker queue socket handler session token user account config module driver
kernel process signal memory storage volume snapshot backup restore archive
repository object bucket region cluster node replica primary secondary leader
follower commit rollback transaction table column row query schema migration
error warning info debug trace failed succeeded timeout retry connected closed
opened started stopped received sent loaded saved deleted created updated
""".split()

NAMES = """alice bob carol dave erin frank grace heidi ivan judy mallory niaj
olivia peggy rupert sybil trent victor walter xavier yolanda zoe""".split()
CITIES = """Amsterdam Berlin Cairo Dublin Edinburgh Florence Geneva Helsinki
Istanbul Jakarta Kyoto Lisbon Madrid Nairobi Oslo Paris Quito Rome Seoul
Tokyo Utrecht Vienna Warsaw Zagreb""".split()
LEVELS = ["INFO"] * 12 + ["DEBUG"] * 6 + ["WARN"] * 2 + ["ERROR"]
COMPONENTS = """api auth db cache scheduler gc http grpc storage net fs
indexer uploader""".split()
STATUS = ["ok", "ok", "ok", "pending", "failed", "refunded"]
TYPES = ["int", "size_t", "char *", "struct node *", "uint64_t", "bool"]
KEYWORDS = ["if", "while", "for", "switch"]

# Random byte -> small integer, skewed towards 0 (count of leading one bits):
# about 2 bits of entropy per byte, like counters and flags in real records.
SKEW = bytes(min(8, (8 - (b ^ 0xFF).bit_length())) for b in range(256))


def sub_rng(seed, name):
    h = hashlib.sha256(f"cairn-gendata/{seed}/{name}".encode()).digest()
    return random.Random(int.from_bytes(h[:8], "little"))


# --------------------------------------------------------------------------
# Content generators.  Each yields bytes chunks; write_gen() truncates the
# stream at the requested size.

def gen_random(rng):
    while True:
        yield rng.randbytes(CHUNK)


def words_iter(rng, n):
    return rng.choices(WORDS, k=n)


def gen_log(rng):
    t = rng.randrange(1_600_000_000, 1_700_000_000) * 1000
    while True:
        n = 40000
        w = words_iter(rng, n * 7)
        lv = rng.choices(LEVELS, k=n)
        co = rng.choices(COMPONENTS, k=n)
        ln = rng.choices(range(3, 8), k=n)
        dt = rng.choices(range(0, 900), k=n)
        ids = rng.choices(range(100000), k=n)
        out = []
        p = 0
        for i in range(n):
            t += dt[i]
            s, ms = divmod(t, 1000)
            m, s = divmod(s, 60)
            h, m = divmod(m, 60)
            d, h = divmod(h, 24)
            k = ln[i]
            out.append(f"2024-{d % 12 + 1:02d}-{d % 28 + 1:02d}T{h:02d}:{m:02d}:"
                       f"{s:02d}.{ms:03d}Z {lv[i]:5} [{co[i]}] "
                       f"{' '.join(w[p:p + k])} id={ids[i]} "
                       f"took={dt[i]}ms\n")
            p += k
        yield "".join(out).encode()


def gen_csv(rng):
    yield b"id,date,name,city,amount,quantity,status,note\n"
    row = rng.randrange(1, 1000)
    while True:
        n = 50000
        na = rng.choices(NAMES, k=n)
        ci = rng.choices(CITIES, k=n)
        st = rng.choices(STATUS, k=n)
        am = rng.choices(range(100, 100000), k=n)
        qt = rng.choices(range(1, 50), k=n)
        dd = rng.choices(range(1, 29), k=n)
        w = words_iter(rng, n * 2)
        out = []
        for i in range(n):
            out.append(f"{row},2023-{i % 12 + 1:02d}-{dd[i]:02d},{na[i]},"
                       f"{ci[i]},{am[i] // 100}.{am[i] % 100:02d},{qt[i]},"
                       f"{st[i]},{w[2 * i]} {w[2 * i + 1]}\n")
            row += 1
        yield "".join(out).encode()


def gen_source(rng):
    fn = 0
    while True:
        n = 20000  # lines per chunk
        w = words_iter(rng, n * 6)
        ty = rng.choices(TYPES, k=n)
        kw = rng.choices(KEYWORDS, k=n)
        kind = rng.choices(range(10), k=n)
        nums = rng.choices(range(256), k=n)
        out = []
        depth = 1
        for i in range(n):
            a, b, c, d, e, f = w[6 * i:6 * i + 6]
            ind = "        " * depth
            k = kind[i]
            if depth == 1 and k == 0:
                out.append(f"}}\n\n/* {a} {b} {c} {d} {e}. */\n"
                           f"static {ty[i]} {a}_{b}_{fn}({ty[i - 1]} {c}, "
                           f"int {d})\n{{\n")
                fn += 1
            elif k <= 2 and depth < 4:
                out.append(f"{ind}{kw[i]} ({a}_{b} < {c}->{d}) {{\n")
                depth += 1
            elif k == 3 and depth > 1:
                depth -= 1
                out.append(f"{'        ' * depth}}}\n")
            elif k == 4:
                out.append(f"{ind}/* {a} {b} {c} {d} {e} {f} */\n")
            elif k == 5:
                out.append(f"{ind}return {a}({b}, {nums[i]});\n")
            else:
                out.append(f"{ind}{a}->{b} = {c}_{d}({e}, {nums[i]});\n")
        yield "".join(out).encode()


def gen_records(rng):
    """32-byte records: u32 seq, u32 time, u16 sensor, u16 flags,
    4-byte magic, 12 small-integer bytes, 4 bytes zero padding."""
    seq = rng.randrange(1 << 20)
    tim = rng.randrange(1_600_000_000, 1_700_000_000)
    n = CHUNK // 32
    while True:
        buf = bytearray(n * 32)
        sq = array.array("I", range(seq, seq + n))
        tm = array.array("I", range(tim, tim + 10 * n, 10))
        if sys.byteorder != "little":
            sq.byteswap()
            tm.byteswap()
        sq = sq.tobytes()
        tm = tm.tobytes()
        for j in range(4):
            buf[j::32] = sq[j::4]
            buf[4 + j::32] = tm[j::4]
        buf[8::32] = bytes(b & 0x3F for b in rng.randbytes(64)) * (n // 64)
        buf[10::32] = rng.randbytes(n).translate(SKEW)
        for j, ch in enumerate(b"REC1"):
            buf[12 + j::32] = bytes([ch]) * n
        small = rng.randbytes(12 * n).translate(SKEW)
        for j in range(12):
            buf[16 + j::32] = small[j::12]
        seq += n
        tim += 10 * n
        yield bytes(buf)


GENS = {"random": gen_random, "log": gen_log, "csv": gen_csv,
        "src": gen_source, "rec": gen_records}
EXT = {"random": ".bin", "log": ".log", "csv": ".csv", "src": ".c",
       "rec": ".dat"}


def write_gen(path, kind, size, rng):
    gen = GENS[kind](rng)
    left = size
    with open(path, "wb") as f:
        while left > 0:
            b = next(gen)
            if len(b) > left:
                b = b[:left]
            f.write(b)
            left -= len(b)


# --------------------------------------------------------------------------
# Layout.

def plan(total, seed):
    """Return a list of (relpath, kind, size_or_source)."""
    rng = sub_rng(seed, "plan")
    scale = total / (REF_MIB * MIB)
    entries = []

    def mib(x):
        return max(1, int(x * scale * MIB))

    # Large files.
    big_random = mib(300)
    entries.append(("big-random.bin", "random", big_random))
    entries.append(("logs/app-2024.log", "log", mib(150)))
    entries.append(("data/telemetry.dat", "rec", mib(120)))
    incompressible = int(0.30 * total) - big_random
    compressible = int(0.60 * total) - mib(150) - mib(120)
    duplicates = total - int(0.30 * total) - int(0.60 * total)

    # Directory tree for small files.
    n_small = max(40, int(5000 * scale))
    dirs = ["tree"]
    for i in range(max(4, n_small // 25)):
        parent = rng.choice(dirs)
        if parent.count("/") >= 4:
            parent = "tree"
        dirs.append(f"{parent}/{rng.choice(WORDS)}-{i:03d}")

    # Small files, 1-64 KiB; a few are incompressible ("images").
    smalls = []
    for i in range(n_small):
        size = rng.randint(1 * KIB, 64 * KIB)
        if incompressible > 64 * KIB and rng.random() < 0.04:
            kind = "random"
            incompressible -= size
        else:
            kind = rng.choice(["log", "csv", "src", "src", "src", "rec"])
            compressible -= size
        d = rng.choice(dirs)
        smalls.append((f"{d}/{rng.choice(WORDS)}_{i:05d}{EXT[kind]}",
                       kind, size))

    # Medium files, 1-10 MiB, fill what is left of each budget.
    mediums = []
    for kind_budget, kinds, folder in ((incompressible, ["random"], "blobs"),
                                       (compressible,
                                        ["log", "csv", "src", "rec"],
                                        "medium")):
        left = kind_budget
        i = 0
        while left >= 1 * MIB:
            size = min(left, rng.randint(1 * MIB, 10 * MIB))
            kind = rng.choice(kinds)
            mediums.append((f"{folder}/{rng.choice(WORDS)}-{i:03d}"
                            f"{EXT[kind]}", kind, size))
            left -= size
            i += 1
        if left > 0:  # remainder as one more small file
            kind = kinds[0]
            mediums.append((f"{folder}/rest{EXT[kind]}", kind, left))

    entries += mediums + smalls

    # Exact duplicates of earlier medium and small files, other names.
    pool = mediums + smalls
    left = duplicates
    i = 0
    while left > 0 and pool:
        src = pool[rng.randrange(len(pool))]
        if src[2] > left and left > 64 * KIB:
            continue
        d = rng.choice(dirs + ["copies", "copies/old"])
        base = src[0].rsplit("/", 1)[1]
        entries.append((f"{d}/copy{i:04d}-{base}", "dup", src[0]))
        left -= src[2]
        i += 1
    return entries


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if a.size_mib < 8:
        ap.error("--size-mib must be at least 8")
    os.makedirs(a.dir, exist_ok=True)
    if os.listdir(a.dir):
        sys.exit(f"gendata: {a.dir} is not empty")
    t0 = time.monotonic()
    entries = plan(a.size_mib * MIB, a.seed)
    total = 0
    for n, (rel, kind, arg) in enumerate(entries):
        path = os.path.join(a.dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if kind == "dup":
            shutil.copyfile(os.path.join(a.dir, arg), path)
        else:
            write_gen(path, kind, arg, sub_rng(a.seed, rel))
        total += os.path.getsize(path)
        os.utime(path, (MTIME_BASE + n, MTIME_BASE + n))
    print(f"gendata: {len(entries)} files, {total} bytes "
          f"({total / MIB:.1f} MiB) in {time.monotonic() - t0:.1f} s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
