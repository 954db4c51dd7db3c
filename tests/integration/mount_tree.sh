#!/bin/bash
# mount_tree: the full generated tree (20000 small files, a 100 MiB file,
# every kind of entry and metadata), backed up and mounted with
# `cairn mount --daemon`, reads back exactly through FUSE: contents, mode,
# owner, mtime, sizes, symlink targets, device numbers, xattrs, link counts
# and hardlink structure (treecmp --nlink; --no-sparse since st_blocks does
# not show holes); ctime shows the mtime; the virtual directories (ids,
# snapshots/latest, hosts, kinds) are right; the mount is read-only; statfs
# works; 500 random range reads of the big file and 8 concurrent readers
# return the source's bytes.
source "$(dirname "$0")/lib.sh"

SRC=$TMP/src
MNT=$TMP/mnt
gentree "$SRC"

expect_exit 0 "$CAIRN" init --kdf min
expect_exit 0 "$CAIRN" backup "$SRC"
snap=$(last_snapshot_id)
short=${snap:0:8}
tname=$(snapshot_names "$snap")
[[ $tname =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]] || fail "snapshot time name '$tname'"
host=$(hostname)

mount_repo "$MNT"
[[ -n $MOUNT_PID ]] || fail "no cairn process serving $MNT after cairn mount --daemon"
echo "mounted at $MNT (daemon pid $MOUNT_PID)"

# The virtual directories.
for d in snapshots ids hosts tags kinds; do
        [[ -d $MNT/$d ]] || fail "$MNT/$d is not a directory"
done
expect_eq "$(ls "$MNT/ids")" "$short" "ls \$MNT/ids"
expect_eq "$(ls "$MNT/snapshots")" "$tname"$'\n'"latest" "ls \$MNT/snapshots"
[[ -L $MNT/snapshots/latest ]] || fail "snapshots/latest is not a symlink"
expect_eq "$(readlink "$MNT/snapshots/latest")" "$tname" "readlink snapshots/latest"
expect_eq "$(ls "$MNT/hosts")" "$host" "ls \$MNT/hosts"
expect_eq "$(ls "$MNT/hosts/$host")" "$tname"$'\n'"latest" "ls \$MNT/hosts/$host"
expect_eq "$(readlink "$MNT/hosts/$host/latest")" "$tname" "readlink hosts/$host/latest"
expect_eq "$(ls "$MNT/kinds")" "files" "ls \$MNT/kinds"
expect_eq "$(readlink "$MNT/kinds/files/latest")" "$tname" "readlink kinds/files/latest"
expect_eq "$(ls -A "$MNT/tags")" "" "ls \$MNT/tags (no tagged snapshots)"
for p in "snapshots/$tname" "snapshots/latest" "ids/$short" "hosts/$host/latest" "kinds/files/latest"; do
        [[ -d $MNT/$p$SRC ]] || fail "$MNT/$p$SRC is not a directory"
        cmp "$SRC/text/t_00065537.txt" "$MNT/$p$SRC/text/t_00065537.txt" ||
                fail "$p$SRC/text/t_00065537.txt differs"
done
[[ ! -e $MNT/snapshots/no-such-snapshot ]] || fail "snapshots/no-such-snapshot exists"
[[ ! -e $MNT/ids/00000000 || $short == 00000000 ]] || fail "ids/00000000 exists"

# The whole tree, every attribute.
treecmp "$SRC" "$MNT/snapshots/latest$SRC" --no-atime --no-sparse --nlink
# A subtree through ids/ as well.
treecmp "$SRC/hardlinks" "$MNT/ids/$short$SRC/hardlinks" --no-atime --nlink

# Hardlink groups share one st_ino (also checked by treecmp); ctime shows
# the mtime; statfs works.
python3 - "$MNT/snapshots/latest$SRC" <<'PY' || fail "stat checks through the mount"
import os, stat, sys
root = os.fsencode(sys.argv[1])
def st(p):
    return os.lstat(os.path.join(root, p))
one = st(b"hardlinks/one/file")
for p in (b"hardlinks/two/file-again", b"hardlinks/third-name"):
    s = st(p)
    if (s.st_ino, s.st_nlink) != (one.st_ino, 3) or one.st_nlink != 3:
        sys.exit("%r: ino %d nlink %d, hardlinks/one/file: ino %d nlink %d"
                 % (p, s.st_ino, s.st_nlink, one.st_ino, one.st_nlink))
if st(b"hardlinks/pair-a").st_ino != st(b"hardlinks/pair-b").st_ino:
    sys.exit("hardlinks/pair-a and pair-b have different inode numbers")
if st(b"hardlinks/pair-a").st_ino == one.st_ino:
    sys.exit("two hardlink groups share an inode number")
bad = 0
n = 0
for dirpath, dirnames, filenames in os.walk(root):
    for name in dirnames + filenames:
        s = os.lstat(os.path.join(dirpath, name))
        n += 1
        if s.st_ctime_ns != s.st_mtime_ns:
            bad += 1
            if bad <= 5:
                print("ctime %d != mtime %d: %r" % (s.st_ctime_ns, s.st_mtime_ns, os.path.join(dirpath, name)))
if bad:
    sys.exit("%d of %d entries have ctime != mtime" % (bad, n))
v = os.statvfs(root)
if v.f_bsize <= 0 or v.f_namemax <= 0:
    sys.exit("statfs: f_bsize %d f_namemax %d" % (v.f_bsize, v.f_namemax))
print("stat: hardlink inodes, ctime == mtime on %d entries, statfs ok" % n)
PY
stat -f "$MNT" >/dev/null || fail "stat -f $MNT failed"

# Read-only.
if touch "$MNT/snapshots/latest$SRC/new-file" 2>/dev/null; then fail "creating a file in the mount succeeded"; fi
if mkdir "$MNT/new-dir" 2>/dev/null; then fail "mkdir in the mount root succeeded"; fi
if rm -f "$MNT/snapshots/latest$SRC/empty-file" 2>/dev/null && [[ ! -e $MNT/snapshots/latest$SRC/empty-file ]]; then
        fail "removing a file in the mount succeeded"
fi
if printf x 2>/dev/null >>"$MNT/snapshots/latest$SRC/text/t_00000013.txt"; then fail "appending to a file in the mount succeeded"; fi
cmp "$SRC/text/t_00000013.txt" "$MNT/snapshots/latest$SRC/text/t_00000013.txt" || fail "t_00000013.txt changed"

# Random range reads of the big file, then 8 concurrent readers.
python3 "$READCHECK" ranges "$SRC/big.bin" "$MNT/snapshots/latest$SRC/big.bin" --count 500 ||
        fail "range reads of big.bin through the mount differ from the source"
python3 "$READCHECK" concurrent "$SRC" "$MNT/snapshots/latest$SRC" --readers 8 ||
        fail "concurrent reads through the mount differ from the source"

proc_alive "$MOUNT_PID" || fail "the mount daemon died"
unmount_repo "$MNT"
expect_eq "$(ls -A "$MNT")" "" "the mount point after unmounting"

echo "ok: mount_tree"
