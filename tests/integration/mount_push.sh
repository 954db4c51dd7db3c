#!/bin/bash
# mount_push: a reader going through a directory's files one after another
# (find | sort, one sha256sum per file, after dropping the kernel's caches) gets
# every file's bytes, while most files reach it through the page cache
# without a read request: the mount pushes the next files' contents to the
# kernel ahead of the reader (notify_store). The tree holds 300 small files
# beside files of 1-8 MiB in several blobs (a bufvec built inside a struct
# sent the last blob in the first one's place, and a 3 MiB file read back
# wrong from byte 0), a file over the push limit, and an empty one. At
# unmount no blob is still referenced (that bufvec also took a reference
# to every blob and dropped one: they stayed in memory past the cache
# budget, and random reads after a tar ran at a third of their speed).
# Dropping the page cache needs root.
source "$(dirname "$0")/lib.sh"

SRC=$TMP/src
MNT=$TMP/mnt
gentree "$SRC" --small 300 --big-mib 8
mkdir "$SRC/mixed"
for i in 1 2 3 4 5 6; do
        head -c $((i * 1000)) /dev/urandom >"$SRC/mixed/a$i-small"
        head -c $((i * 1024 * 1024 + 4097 * i)) /dev/urandom >"$SRC/mixed/b$i-big"
done
head -c $((12 * 1024 * 1024)) /dev/urandom >"$SRC/mixed/c-over-limit"
: >"$SRC/mixed/d-empty"
# one sha256sum per file: a reader a little slower than tar, so that the
# pusher stays ahead of it also when other tests load the machine
digests() { (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -n 1 sha256sum); }
want=$(digests "$SRC")
nfiles=$(echo "$want" | wc -l)

expect_exit 0 "$CAIRN" init --kdf min
expect_exit 0 "$CAIRN" backup "$SRC"
mount_repo_fg "$MNT"
pid=$MOUNT_PID
fuse_reads() { awk '/^syscr:/ { print $2 }' "/proc/$pid/io"; }

for round in 1 2 3; do
        sync
        echo 3 >/proc/sys/vm/drop_caches
        before=$(fuse_reads)
        got=$(digests "$MNT/snapshots/latest$SRC")
        reads=$(($(fuse_reads) - before))
        expect_eq "$got" "$want" "sha256 of all $nfiles files read in order through the mount (round $round)"
        echo "round $round: $nfiles files, $reads read syscalls in the mount process"
        # unpushed, every file costs a read of /dev/fuse at least (1135 for
        # these 666 files, with the pack reads); pushed, about 375 in the
        # first round and 270 after (the blobs stay cached). Pushed only
        # from a directory's first file read on, and only up to the next
        # subdirectory, it was 450 and 335.
        ((reads < nfiles)) || fail "$reads read syscalls for $nfiles files: the next files were not pushed ahead"
        ((round == 1 || reads * 20 < nfiles * 9)) ||
                fail "$reads read syscalls for $nfiles files in round $round (at most $((nfiles * 9 / 20))): the first files of directories were not pushed"
done

# tar walks depth first: a directory's files, each subdirectory as it
# comes, then the files after it. The files of a directory are pushed once
# the kernel has its listing (not only after its first file was read), the
# trees of its subdirectories are loaded and their first files fetched
# before tar enters them: 380 read syscalls here before, now about 300
# (the pack reads included; 335 once in a sanitized build).
sync
echo 3 >/proc/sys/vm/drop_caches
before=$(fuse_reads)
mkdir "$TMP/untar"
(cd "$MNT/snapshots/latest$SRC" && tar cf - .) | tar xmf - -C "$TMP/untar" ||
        fail "tar through the mount failed"
reads=$(($(fuse_reads) - before))
expect_eq "$(digests "$TMP/untar")" "$want" "sha256 of all $nfiles files copied by tar through the mount"
echo "tar: $nfiles files, $reads read syscalls in the mount process"
((reads < nfiles * 2 / 3)) || fail "$reads read syscalls for $nfiles files read by tar: the next files were not pushed ahead"

unmount_repo "$MNT"
# "N blobs still referenced at unmount" would be here
expect_eq "$(cat "$TMP/mount.err")" "" "what the mount wrote to stderr"
echo "ok: mount_push"
