#!/bin/bash
# mount_memory: a 1 GiB file of random data read whole through a mount with
# --cache-size 64 (dd bs=1M) has the source's SHA-256, and the mount
# process's peak RSS (VmHWM) stays below 64 MiB + 80 MiB — also when 3,000
# small files were read first (their blobs, evicted, once left the malloc
# arenas fragmented and RSS 200 MiB past the cache size). Reading those
# small files ends no thread of the mount: its FUSE workers stay (once the
# loop config did not reach libfuse, max_idle_threads was 0 and every
# request started a thread and ended one, 9,000 of them for 6,000 files).
# The 1 GiB read takes under half a minor fault per page: evicted blobs'
# buffers are reused (a fresh buffer per blob faulted in every page).
source "$(dirname "$0")/lib.sh"

SRC=$TMP/src
MNT=$TMP/mnt
CACHE_MIB=64
LIMIT_MIB=$((CACHE_MIB + 80))
mkdir "$SRC"
head -c 1G /dev/urandom >"$SRC/big1g.bin"
"$GENTREE" "$SRC/small" --small 3000 --big-mib 1 >/dev/null
want=$(sha256sum <"$SRC/big1g.bin")

expect_exit 0 "$CAIRN" init --kdf min
expect_exit 0 "$CAIRN" backup "$SRC"

# Foreground in the background, so that $MOUNT_PID is the serving process.
mount_repo_fg "$MNT" --cache-size "$CACHE_MIB"
pid=$MOUNT_PID
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status"; }
echo "mount process $pid: VmHWM $(($(hwm_kib) / 1024)) MiB after mounting"

ls "$MNT/snapshots/latest$SRC" >/dev/null
sleep 0.5 # the thread that raises the read-ahead has ended
before=$(ls "/proc/$pid/task" | sort)
tar cf - -C "$MNT/snapshots/latest$SRC" small | cat >/dev/null || fail "reading the small files through the mount"
after=$(ls "/proc/$pid/task" | sort)
gone=$(comm -23 <(echo "$before") <(echo "$after") | wc -l)
expect_eq "$gone" 0 "threads of the mount process that ended while 3,000 small files were read (of $(echo "$before" | wc -l))"
minflt() { sed 's/.*) //' "/proc/$pid/stat" | cut -d' ' -f8; } # field 10: minor faults
flt0=$(minflt)
t0=$SECONDS
got=$(dd if="$MNT/snapshots/latest$SRC/big1g.bin" bs=1M status=none | sha256sum) ||
        fail "reading big1g.bin through the mount failed"
expect_eq "$got" "$want" "sha256 of big1g.bin read through the mount"
proc_alive "$pid" || fail "the mount process died"
hwm=$(hwm_kib)
faults=$(($(minflt) - flt0))
echo "read 1 GiB through the mount in $((SECONDS - t0)) s; peak RSS (VmHWM) of the mount: $((hwm / 1024)) MiB (limit $LIMIT_MIB MiB); $faults minor faults"
if [[ ${CAIRN_TEST_SANITIZED:-0} == 1 ]]; then
        # ASan keeps freed memory in quarantine: RSS says nothing there
        echo "note: sanitized build, peak RSS not asserted"
else
        ((hwm < LIMIT_MIB * 1024)) || fail "peak RSS $((hwm / 1024)) MiB >= $LIMIT_MIB MiB with --cache-size $CACHE_MIB"
        # evicted blobs' buffers are reused, grown when a blob is larger:
        # 88k faults measured; with a fresh buffer for every blob there is
        # about one per page (251k for the 262,144 pages of 1 GiB)
        ((faults < 131072)) || fail "$faults minor faults reading 1 GiB: blob buffers are not reused"
fi

unmount_repo "$MNT"
echo "ok: mount_memory"
