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
import multiprocessing
from itertools import accumulate, repeat
from operator import floordiv, mod
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
_STATIC = {id(x) for x in (WORDS, NAMES, CITIES, LEVELS, COMPONENTS, STATUS,
                           TYPES, KEYWORDS)}
SKEW = bytes(min(8, (8 - (b ^ 0xFF).bit_length())) for b in range(256))


def sub_rng(seed, name):
    h = hashlib.sha256(f"cairn-gendata/{seed}/{name}".encode()).digest()
    return random.Random(int.from_bytes(h[:8], "little"))


# --------------------------------------------------------------------------
# Content generators.  Each yields bytes chunks; write_gen() truncates the
# stream at the requested size.

def gen_random(rng, size):
    while True:
        yield rng.randbytes(min(size, CHUNK))


_PICK = {}


def pick(rng, pop, n):
    """n items of the sequence pop, chosen from PRNG bytes at C speed: a
    lookup table of 256 or 65536 entries spreads pop proportionally (so a
    list with repeated items is weighted).  Tables of ranges and of the
    module's constant lists are kept; others are built per call."""
    if isinstance(pop, range):
        key = (pop.start, pop.stop, pop.step)
    else:
        key = id(pop) if id(pop) in _STATIC else None
    tbl = _PICK.get(key) if key is not None else None
    if tbl is None and key is None and n < 8192:
        # small draw from a one-off pool: index it directly
        m = len(pop)
        idx = array.array("H", rng.randbytes(2 * n))
        if sys.byteorder != "little":
            idx.byteswap()
        return [pop[i * m >> 16] for i in idx]
    if tbl is None:
        size = 256 if len(pop) <= 16 else 65536
        tbl = [pop[i * len(pop) // size] for i in range(size)]
        if key is not None:
            _PICK[key] = tbl
    if len(tbl) == 256:
        return list(map(tbl.__getitem__, rng.randbytes(n)))
    idx = array.array("H", rng.randbytes(2 * n))
    if sys.byteorder != "little":
        idx.byteswap()
    return list(map(tbl.__getitem__, idx))


def lines_for(size, avg, most):
    """Lines to make per chunk: enough for `size` bytes, at most `most`."""
    return max(16, min(most, size // avg + 16))


_TABLES = {}


def tables():
    """Preformatted pieces (built once; C-level lookups keep text fast)."""
    if not _TABLES:
        days, m, d = [], 1, 1
        mlen = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        for _ in range(366):
            days.append(f"2024-{m:02d}-{d:02d}")
            d += 1
            if d > mlen[m - 1]:
                m, d = m + 1, 1
        _TABLES["day"] = days
        _TABLES["hms"] = [f"{h:02d}:{mi:02d}:{s:02d}" for h in range(24)
                          for mi in range(60) for s in range(60)]
        _TABLES["ms"] = [f"{i:03d}" for i in range(1000)]
        _TABLES["amount"] = [f"{i // 100}.{i % 100:02d}"
                             for i in range(100, 100000, 7)]
        _STATIC.update(id(x) for x in _TABLES.values())
    return _TABLES


def phrases(rng, count, lo, hi):
    """`count` phrases of lo..hi words from the word list."""
    lens = pick(rng, range(lo, hi + 1), count)
    w = pick(rng, WORDS, sum(lens))
    out, p = [], 0
    for k in lens:
        out.append(" ".join(w[p:p + k]))
        p += k
    return out


LOG_FMT = "{}T{}.{}Z {:5} [{}] {} id={} took={}ms\n".format


def gen_log(rng, size):
    T = tables()
    t = rng.randrange(0, 300 * 86400 * 1000)
    while True:
        n = lines_for(size, 90, 50000)
        dt = pick(rng, range(900), n)
        acc = list(accumulate(dt, initial=t))[1:]
        t = acc[-1]
        secs = list(map(floordiv, acc, repeat(1000)))
        day = map(T["day"].__getitem__,
                  map(mod, map(floordiv, secs, repeat(86400)), repeat(366)))
        hms = map(T["hms"].__getitem__, map(mod, secs, repeat(86400)))
        ms = map(T["ms"].__getitem__, map(mod, acc, repeat(1000)))
        msgs = pick(rng, phrases(rng, n // 6 + 1, 3, 9), n)
        lines = map(LOG_FMT, day, hms, ms, pick(rng, LEVELS, n),
                    pick(rng, COMPONENTS, n), msgs,
                    pick(rng, range(100000), n), dt)
        yield "".join(lines).encode()


CSV_FMT = "{},{},{},{},{},{},{},{}\n".format


def gen_csv(rng, size):
    T = tables()
    yield b"id,date,name,city,amount,quantity,status,note\n"
    row = rng.randrange(1, 1000)
    while True:
        n = lines_for(size, 70, 60000)
        lines = map(CSV_FMT, range(row, row + n),
                    pick(rng, T["day"], n), pick(rng, NAMES, n),
                    pick(rng, CITIES, n), pick(rng, T["amount"], n),
                    pick(rng, range(1, 50), n), pick(rng, STATUS, n),
                    pick(rng, phrases(rng, n // 4 + 1, 1, 4), n))
        row += n
        yield "".join(lines).encode()


def gen_source(rng, size):
    """C-like functions: a fresh pool of statements per chunk, arranged into
    functions with nested blocks."""
    fn = 0
    while True:
        n = lines_for(size, 40, 100000)
        pool = []
        w = pick(rng, WORDS, (n // 3 + 1) * 6)
        kinds = pick(rng, range(4), n // 3 + 1)
        nums = pick(rng, range(256), n // 3 + 1)
        for i, k in enumerate(kinds):
            a, b, c, d, e, f = w[6 * i:6 * i + 6]
            if k == 0:
                pool.append(f"/* {a} {b} {c} {d} {e} {f} */")
            elif k == 1:
                pool.append(f"return {a}({b}, {nums[i]});")
            else:
                pool.append(f"{a}->{b} = {c}_{d}({e}, {nums[i]});")
        draws = iter(pick(rng, pool, n + 64))
        out = []
        made = 0
        while made < n:
            a, b, c, d = pick(rng, WORDS, 4)
            t1, t2 = pick(rng, TYPES, 2)
            out.append(f"\n/* {a} {b}: {c} the {d}. */\nstatic {t1} "
                       f"{a}_{b}_{fn}({t2} {c}, int {d})\n{{\n")
            fn += 1
            for blk in range(rng.randint(1, 4)):
                body = [next(draws) for _ in range(rng.randint(2, 12))]
                out.append("\t" + "\n\t".join(body) + "\n")
                kw, x, y = rng.choice(KEYWORDS), *pick(rng, WORDS, 2)
                inner = [next(draws) for _ in range(rng.randint(1, 6))]
                out.append(f"\t{kw} ({x} < {y}->{d}) {{\n\t\t"
                           + "\n\t\t".join(inner) + "\n\t}\n")
                made += len(body) + len(inner) + 3
            out.append("}\n")
            made += 5
        yield "".join(out).encode()


def gen_records(rng, size):
    """32-byte records: u32 seq, u32 time, u16 sensor, u16 flags,
    4-byte magic, 12 small-integer bytes, 4 bytes zero padding."""
    seq = rng.randrange(1 << 20)
    tim = rng.randrange(1_600_000_000, 1_700_000_000)
    n = min(CHUNK, size + 64 * 32) // (64 * 32) * 64
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
    gen = GENS[kind](rng, size)
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
    for rel, _, _ in entries:
        os.makedirs(os.path.dirname(os.path.join(a.dir, rel)), exist_ok=True)
    # Files are independent (each has its own PRNG), so generate them on
    # all cores, biggest first; duplicates are copied afterwards.
    jobs = [(a.dir, a.seed, n, rel, kind, arg)
            for n, (rel, kind, arg) in enumerate(entries) if kind != "dup"]
    jobs.sort(key=lambda j: -j[5])
    with multiprocessing.Pool(os.cpu_count() or 1) as pool:
        for _ in pool.imap_unordered(make_file, jobs, chunksize=16):
            pass
    for n, (rel, kind, arg) in enumerate(entries):
        if kind == "dup":
            path = os.path.join(a.dir, rel)
            shutil.copyfile(os.path.join(a.dir, arg), path)
            os.utime(path, (MTIME_BASE + n, MTIME_BASE + n))
    total = sum(os.path.getsize(os.path.join(a.dir, e[0])) for e in entries)
    print(f"gendata: {len(entries)} files, {total} bytes "
          f"({total / MIB:.1f} MiB) in {time.monotonic() - t0:.1f} s",
          file=sys.stderr)


def make_file(job):
    top, seed, n, rel, kind, size = job
    path = os.path.join(top, rel)
    write_gen(path, kind, size, sub_rng(seed, rel))
    os.utime(path, (MTIME_BASE + n, MTIME_BASE + n))


if __name__ == "__main__":
    main()
