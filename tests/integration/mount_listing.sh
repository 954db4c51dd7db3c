#!/bin/bash
# mount_listing: a listing looks ahead into the subdirectories it lists
# (their trees, and the first blobs of their files), but only into a
# directory's first 32: `ls -l` of a directory of 300 subdirectories, each
# holding one 256 KiB file of random bytes (one blob each), makes the mount
# read more than 4 MiB of packs (the first subdirectories' files, fetched
# ahead) and less than 24 MiB (all 300 would be 75 MiB). This kernel
# answers such a listing in one readdirplus (1 MiB buffers); with smaller
# ones the bound holds across answers too (fs.c counts the subdirectories
# listed before). A file in the 300th subdirectory still reads back right.
# Dropping the page cache needs root.
source "$(dirname "$0")/lib.sh"

SRC=$TMP/src
MNT=$TMP/mnt
mkdir -p "$SRC/wide"
for i in $(seq -w 1 300); do
        mkdir "$SRC/wide/d$i"
        head -c $((256 * 1024)) /dev/urandom >"$SRC/wide/d$i/f"
done

expect_exit 0 "$CAIRN" init --kdf min
expect_exit 0 "$CAIRN" backup "$SRC"
mount_repo_fg "$MNT"
pid=$MOUNT_PID
read_bytes() { awk '/^rchar:/ { print $2 }' "/proc/$pid/io"; }

sync
echo 3 >/proc/sys/vm/drop_caches
before=$(read_bytes)
n=$(ls -l "$MNT/snapshots/latest$SRC/wide" | grep -c '^d')
expect_eq "$n" 300 "subdirectories listed"
sleep 1 # the look-ahead runs after the answers
read=$(($(read_bytes) - before))
echo "ls -l of 300 subdirectories: the mount read $read bytes"
((read > 4 * 1024 * 1024)) || fail "listing read $read bytes: the first subdirectories' files were not fetched ahead"
((read < 24 * 1024 * 1024)) || fail "listing read $read bytes: the look-ahead went past the first subdirectories"
expect_eq "$(sha256sum <"$MNT/snapshots/latest$SRC/wide/d300/f")" "$(sha256sum <"$SRC/wide/d300/f")" \
        "sha256 of wide/d300/f read through the mount"

unmount_repo "$MNT"
expect_eq "$(cat "$TMP/mount.err")" "" "what the mount wrote to stderr"
echo "ok: mount_listing"
