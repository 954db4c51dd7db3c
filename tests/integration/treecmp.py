#!/usr/bin/env python3
"""treecmp.py A B [--no-atime] [--no-sparse] [--nlink] [--ignore NAME]...

Compare two directory trees entry by entry, the way a restore must be exact:
type, all 12 mode bits, uid, gid, mtime (ns), atime (ns, unless --no-atime),
size, SHA-256 of file contents, symlink targets, device numbers, the full set
of xattrs (security.* and system.* skipped), hardlink structure (two paths
share an inode in A iff they do in B) and sparseness (a file that is sparse
in A, st_blocks*512 < size - 1 MiB, must be sparse in B too).  The two root
directories' own metadata is compared as well; directory sizes are not.

--no-sparse skips the sparseness check (a FUSE mount cannot show holes:
its st_blocks is computed from the size).  --nlink also compares st_nlink
of everything but directories (the link counts a mount reports as stored).

Paths are handled as bytes, so any name a filesystem allows works.
--ignore NAME skips (with their subtrees) entries whose base name or path
relative to the root is NAME.

Files and directories are read with O_NOATIME, so comparing does not move
their atimes; every stat is taken before anything is read.  The kernel
does update a symlink's atime on readlink, so only the first comparison
that includes symlink atimes is meaningful.

Exit 0 and "treecmp: N entries identical" (N not counting the roots) when
equal; otherwise up to 50 differences, "treecmp: K differences", exit 1.
Exit 2 on bad usage or an unreadable root.
"""

import argparse
import errno
import hashlib
import os
import stat
import sys

MAX_SHOWN = 50
SPARSE_SLACK = 1024 * 1024
O_NOATIME = getattr(os, "O_NOATIME", 0)

TYPES = {
    stat.S_IFREG: "file",
    stat.S_IFDIR: "dir",
    stat.S_IFLNK: "symlink",
    stat.S_IFIFO: "fifo",
    stat.S_IFCHR: "chardev",
    stat.S_IFBLK: "blockdev",
    stat.S_IFSOCK: "socket",
}


def open_noatime(path, flags):
    """Open without touching atime; O_NOATIME needs ownership or CAP_FOWNER."""
    if O_NOATIME:
        try:
            return os.open(path, flags | O_NOATIME)
        except PermissionError:
            pass
    return os.open(path, flags)


def listdir(path):
    fd = open_noatime(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        # With a descriptor, names come back as str; fsencode restores the
        # exact bytes (surrogateescape).
        return sorted(os.fsencode(n) for n in os.listdir(fd))
    finally:
        os.close(fd)


def walk(root, ignore):
    """Return {relpath: stat_result} for root (as b'.') and everything in it."""
    entries = {b".": os.lstat(root)}
    stack = [b"."]
    while stack:
        rel = stack.pop()
        full = root if rel == b"." else os.path.join(root, rel[2:])
        for name in listdir(full):
            crel = rel + b"/" + name
            if name in ignore or crel[2:] in ignore:
                continue
            st = os.lstat(os.path.join(full, name))
            entries[crel] = st
            if stat.S_ISDIR(st.st_mode):
                stack.append(crel)
    return entries


def sha256_file(path):
    h = hashlib.sha256()
    fd = open_noatime(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        while True:
            buf = os.read(fd, 1 << 20)
            if not buf:
                break
            h.update(buf)
    finally:
        os.close(fd)
    return h.hexdigest()


def xattrs(path):
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EPERM):
            return {}
        raise
    out = {}
    for n in names:
        if n.startswith("security.") or n.startswith("system."):
            continue
        try:
            out[n] = os.getxattr(path, n, follow_symlinks=False)
        except OSError as e:
            out[n] = "<error: %s>" % e.strerror
    return out


def is_sparse(st):
    return stat.S_ISREG(st.st_mode) and st.st_blocks * 512 < st.st_size - SPARSE_SLACK


def fmt_time(ns):
    return "%d.%09d" % divmod(ns, 10**9)


def inode_groups(entries):
    """Map each non-directory path to the sorted tuple of paths on its inode."""
    by_ino = {}
    for rel, st in entries.items():
        if not stat.S_ISDIR(st.st_mode):
            by_ino.setdefault((st.st_dev, st.st_ino), []).append(rel)
    groups = {}
    for paths in by_ino.values():
        t = tuple(sorted(paths))
        for p in t:
            groups[p] = t
    return groups


def compare(a_root, b_root, check_atime, ignore, check_sparse=True, check_nlink=False):
    diffs = []

    def diff(rel, msg):
        diffs.append("%r: %s" % (rel, msg))

    ea = walk(a_root, ignore)
    eb = walk(b_root, ignore)

    for rel in sorted(set(ea) - set(eb)):
        diff(rel, "only in A")
    for rel in sorted(set(eb) - set(ea)):
        diff(rel, "only in B")

    def full(root, rel):
        return root if rel == b"." else os.path.join(root, rel[2:])

    for rel in sorted(set(ea) & set(eb)):
        sa, sb = ea[rel], eb[rel]
        ta, tb = stat.S_IFMT(sa.st_mode), stat.S_IFMT(sb.st_mode)
        if ta != tb:
            diff(rel, "type %s != %s" % (TYPES.get(ta, ta), TYPES.get(tb, tb)))
            continue
        pa, pb = full(a_root, rel), full(b_root, rel)
        if stat.S_IMODE(sa.st_mode) != stat.S_IMODE(sb.st_mode):
            diff(rel, "mode %04o != %04o" % (stat.S_IMODE(sa.st_mode), stat.S_IMODE(sb.st_mode)))
        if sa.st_uid != sb.st_uid:
            diff(rel, "uid %d != %d" % (sa.st_uid, sb.st_uid))
        if sa.st_gid != sb.st_gid:
            diff(rel, "gid %d != %d" % (sa.st_gid, sb.st_gid))
        if sa.st_mtime_ns != sb.st_mtime_ns:
            diff(rel, "mtime %s != %s" % (fmt_time(sa.st_mtime_ns), fmt_time(sb.st_mtime_ns)))
        if check_atime and sa.st_atime_ns != sb.st_atime_ns:
            diff(rel, "atime %s != %s" % (fmt_time(sa.st_atime_ns), fmt_time(sb.st_atime_ns)))
        if check_nlink and ta != stat.S_IFDIR and sa.st_nlink != sb.st_nlink:
            diff(rel, "nlink %d != %d" % (sa.st_nlink, sb.st_nlink))
        if ta in (stat.S_IFREG, stat.S_IFLNK) and sa.st_size != sb.st_size:
            diff(rel, "size %d != %d" % (sa.st_size, sb.st_size))
        if ta in (stat.S_IFCHR, stat.S_IFBLK) and sa.st_rdev != sb.st_rdev:
            diff(rel, "rdev %d:%d != %d:%d" % (os.major(sa.st_rdev), os.minor(sa.st_rdev),
                                              os.major(sb.st_rdev), os.minor(sb.st_rdev)))
        if ta == stat.S_IFLNK:
            la, lb = os.readlink(pa), os.readlink(pb)
            if la != lb:
                diff(rel, "symlink target %r != %r" % (la, lb))
        if ta == stat.S_IFREG:
            if sa.st_size == sb.st_size:
                ha, hb = sha256_file(pa), sha256_file(pb)
                if ha != hb:
                    diff(rel, "content sha256 %s != %s" % (ha[:16], hb[:16]))
            if check_sparse and is_sparse(sa) and not is_sparse(sb):
                diff(rel, "sparse in A (%d bytes allocated) but not in B (%d bytes allocated)"
                     % (sa.st_blocks * 512, sb.st_blocks * 512))
        xa, xb = xattrs(pa), xattrs(pb)
        if xa != xb:
            for n in sorted(set(xa) | set(xb)):
                if n not in xb:
                    diff(rel, "xattr %s only in A" % n)
                elif n not in xa:
                    diff(rel, "xattr %s only in B" % n)
                elif xa[n] != xb[n]:
                    diff(rel, "xattr %s %r != %r" % (n, xa[n], xb[n]))

    ga, gb = inode_groups(ea), inode_groups(eb)
    seen = set()
    common = set(ea) & set(eb)
    for rel in sorted(set(ga) & set(gb)):
        if ga[rel] in seen:
            continue
        seen.add(ga[rel])
        # Compare only names present on both sides; missing names are
        # already reported above.
        la = tuple(p for p in ga[rel] if p in common)
        lb = tuple(p for p in gb[rel] if p in common)
        if la != lb:
            diff(rel, "hardlinks %r != %r" % (list(la), list(lb)))

    return len(ea) - 1, diffs


def main():
    ap = argparse.ArgumentParser(description="compare two trees exactly")
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--no-atime", action="store_true", help="do not compare atimes")
    ap.add_argument("--no-sparse", action="store_true",
                    help="do not insist that files sparse in A are sparse in B")
    ap.add_argument("--nlink", action="store_true",
                    help="compare link counts of non-directories")
    ap.add_argument("--ignore", action="append", default=[], metavar="NAME",
                    help="skip entries with this base name or relative path")
    args = ap.parse_args()
    a, b = os.fsencode(args.a), os.fsencode(args.b)
    for root in (a, b):
        if not os.path.isdir(root):
            print("treecmp: %r is not a directory" % root, file=sys.stderr)
            return 2
    ignore = set(os.fsencode(n).rstrip(b"/") for n in args.ignore)
    ignore |= set(n[2:] for n in ignore if n.startswith(b"./"))
    n, diffs = compare(a, b, not args.no_atime, ignore,
                       check_sparse=not args.no_sparse, check_nlink=args.nlink)
    if not diffs:
        print("treecmp: %d entries identical" % n)
        return 0
    for d in diffs[:MAX_SHOWN]:
        print(d)
    if len(diffs) > MAX_SHOWN:
        print("... %d more" % (len(diffs) - MAX_SHOWN))
    print("treecmp: %d differences" % len(diffs))
    return 1


if __name__ == "__main__":
    sys.exit(main())
