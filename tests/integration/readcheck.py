#!/usr/bin/env python3
"""readcheck.py — compare reads through a mount with the source files.

  readcheck.py ranges SRC_FILE MNT_FILE [--count N] [--seed S]
      N (default 500) pread()s of random (offset, length) ranges from both
      files, compared byte for byte.  Offsets cluster near multiples of
      512 KiB .. 8 MiB (the chunker's minimum .. maximum chunk size, so
      reads straddle blob boundaries), with some uniform ones and some at
      and past the end of the file; lengths run from 1 byte to 3 MiB.

  readcheck.py concurrent SRC_ROOT MNT_ROOT [--readers 8] [--big REL]
      8 reader threads start together: half of them read REL (default
      big.bin) whole, each its own way (4 KiB, 128 KiB and 1 MiB sequential
      reads; 3 MiB blocks from the end backwards), the other half read
      different files of the tree (the largest ones and a sample of the
      rest).  Every file's SHA-256 must equal the source's.

Before each range (and when a reader opens a file) the mount file's pages
are dropped from the page cache (posix_fadvise DONTNEED), so that the reads
reach the filesystem rather than the kernel's cache of earlier reads.
Reads through the mount are repeated until the length is satisfied or a
read returns 0 bytes, so a short read shows up as missing bytes.  Exit 0
with a one-line summary, or 1 listing the first mismatches.
"""

import argparse
import hashlib
import os
import random
import stat
import sys
import threading
import time

KIB = 1024
MIB = 1024 * KIB


def drop_cache(fd):
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    except (AttributeError, OSError):
        pass


def pread_full(fd, length, offset):
    out = []
    got = 0
    while got < length:
        b = os.pread(fd, length - got, offset + got)
        if not b:
            break
        out.append(b)
        got += len(b)
    return b"".join(out)


def gen_ranges(size, count, rng):
    """(offset, length) pairs: boundaries, uniform, end of file, past it."""
    units = [512 * KIB, MIB, 2 * MIB, 4 * MIB, 8 * MIB]
    lengths_small = [1, 2, 7, 512, 4095, 4096, 4097, 65536, 131072 + 3]
    out = []
    for i in range(count):
        kind = i % 10
        if kind < 6:  # near a multiple of a chunk-ish unit
            u = rng.choice(units)
            m = rng.randint(1, max(1, size // u))
            off = m * u + rng.choice([0, 0, -1, 1, -rng.randint(1, 65536), rng.randint(1, 65536)])
        elif kind < 8:  # anywhere
            off = rng.randrange(0, max(1, size))
        elif kind == 8:  # the end of the file
            off = size - rng.randint(1, min(size, 3 * MIB)) if size else 0
        else:  # at or past the end
            off = size + rng.choice([0, 1, 4096, 10 * MIB])
        off = max(0, off)
        r = rng.random()
        if r < 0.25:
            length = rng.choice(lengths_small)
        elif r < 0.5:
            length = rng.randint(1, 256 * KIB)
        elif r < 0.85:
            length = rng.randint(256 * KIB, 3 * MIB)
        else:
            length = 3 * MIB - rng.randint(0, 4096)
        out.append((off, length))
    # A few fixed ones: first byte, the whole first 3 MiB, the last byte.
    out += [(0, 1), (0, 3 * MIB), (max(0, size - 1), 1), (max(0, size - 1), 3 * MIB)]
    return out


def cmd_ranges(args):
    rng = random.Random(args.seed)
    fs = os.open(args.src, os.O_RDONLY)
    fm = os.open(args.mnt, os.O_RDONLY)
    size = os.fstat(fs).st_size
    msize = os.fstat(fm).st_size
    if size != msize:
        print("readcheck: size %d in the source, %d in the mount" % (size, msize))
        return 1
    bad = []
    total = 0
    straddle = 0
    t0 = time.monotonic()
    ranges = gen_ranges(size, args.count, rng)
    for off, length in ranges:
        want = pread_full(fs, length, off)
        drop_cache(fm)
        try:
            got = pread_full(fm, length, off)
        except OSError as e:
            bad.append("offset %d length %d: %s" % (off, length, e))
            continue
        total += len(got)
        if off // MIB != (off + max(length, 1) - 1) // MIB:
            straddle += 1
        if got != want:
            if len(got) != len(want):
                bad.append("offset %d length %d: %d bytes, expected %d" % (off, length, len(got), len(want)))
            else:
                first = next(i for i in range(len(want)) if got[i] != want[i])
                bad.append("offset %d length %d: first differing byte at file offset %d"
                           % (off, length, off + first))
    os.close(fs)
    os.close(fm)
    dt = time.monotonic() - t0
    if bad:
        for b in bad[:20]:
            print(b)
        print("readcheck: %d of %d ranges wrong" % (len(bad), len(ranges)))
        return 1
    print("readcheck: %d ranges identical (%d crossing a MiB boundary, %.1f MiB in %.1f s)"
          % (len(ranges), straddle, total / MIB, dt))
    return 0


def sha256_read(path, block, backwards=False, drop=False):
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY)
    if drop:
        drop_cache(fd)
    try:
        if not backwards:
            off = 0
            while True:
                b = os.pread(fd, block, off)
                if not b:
                    break
                h.update(b)
                off += len(b)
        else:
            # Read the blocks last to first, then hash them in order.
            size = os.fstat(fd).st_size
            blocks = []
            off = (size - 1) // block * block if size else 0
            while size and off >= 0:
                blocks.append(pread_full(fd, min(block, size - off), off))
                off -= block
            for b in reversed(blocks):
                h.update(b)
    finally:
        os.close(fd)
    return h.hexdigest()


def cmd_concurrent(args):
    src, mnt = os.fsencode(args.src_root), os.fsencode(args.mnt_root)
    big = os.fsencode(args.big)
    files = []
    for dirpath, dirnames, filenames in os.walk(src):
        for n in filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                rel = os.path.relpath(p, src)
                if rel != big:
                    files.append((st.st_size, rel))
    files.sort(reverse=True)
    rng = random.Random(args.seed)
    chosen = files[:60] + rng.sample(files[60:], min(len(files) - 60, 400)) if len(files) > 60 else files
    nbig = args.readers // 2
    nother = args.readers - nbig
    groups = [chosen[i::nother] for i in range(nother)]
    ways = [(4 * KIB, False), (128 * KIB, False), (MIB, False), (3 * MIB, True)]

    barrier = threading.Barrier(args.readers)
    errors = []
    counts = [0] * args.readers
    lock = threading.Lock()

    def note(msg):
        with lock:
            errors.append(msg)

    expected = {}

    def src_sum(rel, block=MIB):
        if rel not in expected:
            expected[rel] = sha256_read(os.path.join(src, rel), block)
        return expected[rel]

    # Source hashes first, so the readers only touch the mount.
    src_sum(big)
    for g in groups:
        for _, rel in g:
            src_sum(rel)

    def big_reader(i):
        block, backwards = ways[i % len(ways)]
        barrier.wait()
        try:
            got = sha256_read(os.path.join(mnt, big), block, backwards, drop=True)
        except OSError as e:
            note("reader %d: %s: %s" % (i, big, e))
            return
        counts[i] += 1
        if got != expected[big]:
            note("reader %d (%d-byte reads%s): %s: sha256 %s != %s"
                 % (i, block, ", backwards" if backwards else "", big, got[:16], expected[big][:16]))

    def file_reader(i, group):
        barrier.wait()
        for _, rel in group:
            try:
                got = sha256_read(os.path.join(mnt, rel), 64 * KIB, drop=True)
            except OSError as e:
                note("reader %d: %r: %s" % (i, rel, e))
                continue
            counts[i] += 1
            if got != expected[rel]:
                note("reader %d: %r: sha256 %s != %s" % (i, rel, got[:16], expected[rel][:16]))

    threads = [threading.Thread(target=big_reader, args=(i,)) for i in range(nbig)]
    threads += [threading.Thread(target=file_reader, args=(nbig + k, groups[k])) for k in range(nother)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.monotonic() - t0
    if errors:
        for e in errors[:20]:
            print(e)
        print("readcheck: %d errors from %d concurrent readers" % (len(errors), args.readers))
        return 1
    print("readcheck: %d concurrent readers: %s whole %d times and %d other files identical (%.1f s)"
          % (args.readers, os.fsdecode(big), sum(counts[:nbig]), sum(counts[nbig:]), dt))
    return 0


def main():
    ap = argparse.ArgumentParser(description="compare reads through a mount with the source")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("ranges")
    r.add_argument("src")
    r.add_argument("mnt")
    r.add_argument("--count", type=int, default=500)
    r.add_argument("--seed", type=int, default=1)
    c = sub.add_parser("concurrent")
    c.add_argument("src_root")
    c.add_argument("mnt_root")
    c.add_argument("--readers", type=int, default=8)
    c.add_argument("--big", default="big.bin")
    c.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.cmd == "ranges":
        return cmd_ranges(args)
    if args.readers < 2:
        ap.error("--readers must be at least 2")
    return cmd_concurrent(args)


if __name__ == "__main__":
    sys.exit(main())
