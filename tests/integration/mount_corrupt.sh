#!/bin/bash
# mount_corrupt: with one byte flipped in the pack holding a.bin's data, a
# read of a.bin through the mount fails with EIO ("Input/output error") —
# every 4 KiB block of a.bin either reads the source's bytes or fails with
# EIO, never wrong bytes, and the failing blocks are one run (the damaged
# blob) — while b.bin, in another pack, reads correctly and the mount stays
# up and usable. Then the same for a damaged tree (see below).
source "$(dirname "$0")/lib.sh"

SRC=$TMP/src
MNT=$TMP/mnt
mkdir "$SRC"
head -c $((4 * 1024 * 1024)) /dev/urandom >"$SRC/a.bin"

expect_exit 0 "$CAIRN" init --kdf min

# Two backups, so that a.bin's and b.bin's blobs are in different packs.
packs() { find "$CAIRN_REPOSITORY/data" -type f | sort; }
packs >"$TMP/packs0"
expect_exit 0 "$CAIRN" backup "$SRC"
ablobs=$(sed -n 's/.*(\([0-9]*\) data blobs.*/\1/p' "$TMP/out" | tail -n 1)
echo "a.bin: ${ablobs:-?} data blobs"
packs >"$TMP/packs1"
head -c $((4 * 1024 * 1024)) /dev/urandom >"$SRC/b.bin"
expect_exit 0 "$CAIRN" backup "$SRC"
packs >"$TMP/packs2"
mapfile -t apacks < <(comm -13 "$TMP/packs0" "$TMP/packs1")
mapfile -t bpacks < <(comm -13 "$TMP/packs1" "$TMP/packs2")
((${#apacks[@]} >= 1 && ${#bpacks[@]} >= 1)) ||
        fail "expected new packs from both backups, got ${#apacks[@]} and ${#bpacks[@]}"
# a.bin's data pack: the largest one the first backup wrote (4 MiB of
# incompressible data; tree blobs are small).
apack=$(ls -S "${apacks[@]}" | head -n 1)
size=$(stat -c %s "$apack")
((size > 3 * 1024 * 1024)) || fail "largest pack of the first backup is only $size bytes"
echo "flipping the byte at $((size / 2)) of $(basename "$apack") ($size bytes)"
flip_middle "$apack"

mount_repo "$MNT"
A=$MNT/snapshots/latest$SRC/a.bin
B=$MNT/snapshots/latest$SRC/b.bin
expect_eq "$(stat -c %s "$A")" $((4 * 1024 * 1024)) "size of a.bin in the mount"

# cat a.bin: EIO.
rc=0
cat "$A" >"$TMP/a.out" 2>"$TMP/cat.err" || rc=$?
((rc != 0)) || fail "cat of the damaged a.bin succeeded"
grep -q 'Input/output error' "$TMP/cat.err" || fail "cat a.bin: expected 'Input/output error', got: $(cat "$TMP/cat.err")"
echo "cat a.bin: $(cat "$TMP/cat.err")"
# Whatever cat wrote before the error is a prefix of a.bin.
cmp -n "$(stat -c %s "$TMP/a.out")" "$TMP/a.out" "$SRC/a.bin" || fail "cat a.bin wrote wrong bytes before the error"

# b.bin reads correctly.
cmp "$B" "$SRC/b.bin" || fail "b.bin differs through the mount"

# Block by block: good bytes or EIO, never wrong bytes.
python3 - "$SRC/a.bin" "$A" "${ablobs:-0}" <<'PY' || fail "block reads of a.bin"
import errno, os, sys
src, mnt, nblobs = sys.argv[1], sys.argv[2], int(sys.argv[3])
BS = 4096
want = open(src, "rb").read()
fd = os.open(mnt, os.O_RDONLY)
bad, wrong, other = [], [], []
for off in range(0, len(want), BS):
    try:
        got = os.pread(fd, BS, off)
    except OSError as e:
        if e.errno == errno.EIO:
            bad.append(off)
        else:
            other.append("offset %d: %s" % (off, e))
        continue
    if got != want[off:off + BS]:
        wrong.append("offset %d: %d bytes, %s" % (off, len(got),
                     "short read" if len(got) != len(want[off:off + BS]) else "wrong bytes"))
os.close(fd)
for w in (wrong + other)[:10]:
    print(w)
if wrong or other:
    sys.exit("%d blocks returned wrong or short data, %d other errors" % (len(wrong), len(other)))
if not bad:
    sys.exit("no block of the damaged a.bin failed with EIO")
first, last = bad[0], bad[-1] + BS
if len(bad) != (last - first) // BS:
    sys.exit("the EIO blocks are not one run: %d blocks between %d and %d" % (len(bad), first, last))
good = len(want) // BS - len(bad)
print("a.bin: EIO for bytes %d..%d (%d KiB), the other %d blocks read correctly" % (first, last, (last - first) // 1024, good))
if nblobs >= 2 and good == 0:
    sys.exit("a.bin has %d blobs but every block failed" % nblobs)
PY

# The mount is still up: a second cat still fails the same way, b.bin and
# the listings still work.
rc=0
cat "$A" >/dev/null 2>"$TMP/cat.err" || rc=$?
((rc != 0)) && grep -q 'Input/output error' "$TMP/cat.err" || fail "second cat of a.bin: rc $rc, $(cat "$TMP/cat.err")"
cmp "$B" "$SRC/b.bin" || fail "b.bin differs after the failed reads"
ls "$MNT/snapshots" >/dev/null || fail "ls \$MNT/snapshots failed after the failed reads"
expect_eq "$(ls "$MNT/snapshots/latest$SRC")" "$(printf 'a.bin\nb.bin')" "ls of the snapshot after the failed reads"
# The first snapshot holds a.bin alone.
# (sed, not head: head's early exit broke snapshot_names' pipe now and then)
first=$(snapshot_names | sed -n 1p)
expect_eq "$(ls "$MNT/snapshots/$first$SRC")" "a.bin" "ls of the first snapshot"
is_mounted "$MNT" || fail "the mount is gone"
[[ -z $MOUNT_PID ]] || proc_alive "$MOUNT_PID" || fail "the mount daemon died"

unmount_repo "$MNT"

# A damaged tree: a third backup, of a directory holding "wide" (3000
# empty files with long names: its tree is nearly all of the one pack
# that backup writes) and "ok". Listing the parent works (its look-ahead
# loads "wide"'s tree through the cache and logs the damage), listing
# "wide" fails with EIO, every time, while "ok" lists and the mount stays up.
SRC3=$TMP/src3
mkdir -p "$SRC3/wide" "$SRC3/ok"
(cd "$SRC3/wide" && for i in $(seq 3000); do : >"$(printf '%s-%05d' "$(echo "$i" | sha256sum | cut -c1-48)" "$i")"; done)
: >"$SRC3/ok/file"
packs >"$TMP/packs3"
expect_exit 0 "$CAIRN" backup "$SRC3"
packs >"$TMP/packs4"
mapfile -t tpacks < <(comm -13 "$TMP/packs3" "$TMP/packs4")
((${#tpacks[@]} == 1)) || fail "expected one new (tree) pack from the third backup, got ${#tpacks[@]}"
echo "flipping the middle byte of the tree pack $(basename "${tpacks[0]}") ($(stat -c %s "${tpacks[0]}") bytes)"
flip_middle "${tpacks[0]}"
mount_repo_fg "$MNT" # in the foreground: its log goes to mount.err
expect_eq "$(ls "$MNT/snapshots/latest$SRC3")" "$(printf 'ok\nwide')" "ls of the third snapshot"
for round in 1 2; do
        rc=0
        ls "$MNT/snapshots/latest$SRC3/wide" >/dev/null 2>"$TMP/ls.err" || rc=$?
        ((rc != 0)) && grep -q 'Input/output error' "$TMP/ls.err" ||
                fail "ls of the damaged wide/ (round $round): rc $rc, $(cat "$TMP/ls.err")"
done
echo "ls wide/: $(cat "$TMP/ls.err")"
expect_eq "$(ls "$MNT/snapshots/latest$SRC3/ok")" "file" "ls of ok/ beside the damaged tree"
is_mounted "$MNT" || fail "the mount is gone after the damaged tree"
unmount_repo "$MNT"
grep -qE '^cairn: mount: blob [0-9a-f]{16} in data/[0-9a-f]{2}/[0-9a-f]{64}: damaged \(failed authentication\)$' "$TMP/mount.err" ||
        fail "no log line for the damaged tree blob in: $(cat "$TMP/mount.err")"
echo "ok: mount_corrupt"
