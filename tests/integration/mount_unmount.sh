#!/bin/bash
# mount_unmount: how `cairn mount` starts and stops.
# - A missing or non-empty mount point: exit 1, one stderr line
#   "cairn: mount: MOUNTPOINT: ...", nothing mounted (also with --daemon).
# - Foreground, a file held open: `fusermount3 -u` fails (busy) and the mount
#   keeps working; SIGTERM then unmounts it and cairn exits 0 within 5 s,
#   leaving no mount in /proc/mounts.
# - Foreground: SIGINT unmounts and exits 0 within 5 s.
# - Foreground: `fusermount3 -u` makes cairn exit 0.
# - --daemon, with the repository as REPO argument and as -r:
#   `fusermount3 -u` ends the daemon.
source "$(dirname "$0")/lib.sh"

SRC=$TMP/src
MNT=$TMP/mnt
gentree "$SRC" --small 50 --big-mib 2
expect_exit 0 "$CAIRN" init --kdf min
expect_exit 0 "$CAIRN" backup "$SRC"
F=$MNT/snapshots/latest$SRC/big.bin

# --- bad mount points -------------------------------------------------------
mkdir "$TMP/full"
echo keep >"$TMP/full/file"
for opt in "" --daemon; do
        expect_exit 1 timeout 30 "$CAIRN" mount "$TMP/missing" $opt
        expect_err_line "^cairn: mount: $TMP/missing: .+"
        echo "missing mount point ($opt): $(cat "$TMP/err")"
        [[ ! -e $TMP/missing ]] || fail "cairn mount created the missing mount point"
        expect_exit 1 timeout 30 "$CAIRN" mount "$TMP/full" $opt
        expect_err_line "^cairn: mount: $TMP/full: .+"
        echo "non-empty mount point ($opt): $(cat "$TMP/err")"
        is_mounted "$TMP/full" && fail "$TMP/full was mounted"
        expect_eq "$(cat "$TMP/full/file")" keep "the file in the non-empty mount point"
done

# --- foreground: busy, then SIGTERM -------------------------------------------
mount_repo_fg "$MNT"
pid=$MOUNT_PID
sleep 1000 <"$F" &
holder=$!
sleep 0.5
proc_alive "$holder" || fail "could not open $F"
[[ $(readlink "/proc/$holder/fd/0") == "$MNT/"*"$SRC/big.bin" ]] || fail "the holder's stdin is $(readlink "/proc/$holder/fd/0")"

rc=0
fusermount3 -u "$MNT" 2>"$TMP/fusermount.err" || rc=$?
((rc != 0)) || fail "fusermount3 -u succeeded while $F was open"
grep -qi 'busy' "$TMP/fusermount.err" || fail "fusermount3 -u: expected 'busy', got: $(cat "$TMP/fusermount.err")"
echo "fusermount3 -u with an open file: $(cat "$TMP/fusermount.err")"
is_mounted "$MNT" || fail "the mount is gone after a failed fusermount3 -u"
proc_alive "$pid" || fail "cairn mount exited after a failed fusermount3 -u"
cmp "$F" "$SRC/big.bin" || fail "big.bin differs after a failed fusermount3 -u"

t0=$SECONDS
kill -TERM "$pid"
wait_exit "$pid" 5 || fail "cairn mount still running 5 s after SIGTERM (with a file open)"
rc=0
wait "$pid" || rc=$?
expect_eq "$rc" 0 "exit status of cairn mount after SIGTERM"
echo "SIGTERM with a file open: exit 0 after $((SECONDS - t0)) s"
is_mounted "$MNT" && fail "$MNT is still in /proc/mounts after SIGTERM"
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true
expect_eq "$(ls -A "$MNT")" "" "the mount point after SIGTERM"

# --- foreground: SIGINT -------------------------------------------------------
mount_repo_fg "$MNT"
pid=$MOUNT_PID
cmp "$F" "$SRC/big.bin" || fail "big.bin differs (second mount)"
kill -INT "$pid"
wait_exit "$pid" 5 || fail "cairn mount still running 5 s after SIGINT"
rc=0
wait "$pid" || rc=$?
expect_eq "$rc" 0 "exit status of cairn mount after SIGINT"
is_mounted "$MNT" && fail "$MNT is still in /proc/mounts after SIGINT"
expect_eq "$(ls -A "$MNT")" "" "the mount point after SIGINT"

# --- foreground: fusermount3 -u -------------------------------------------------
mount_repo_fg "$MNT"
ls "$MNT/snapshots" >/dev/null || fail "ls \$MNT/snapshots (third mount)"
unmount_repo "$MNT"

# --- daemon, REPO as an argument, then -r; fusermount3 -u ---------------------
repo=$CAIRN_REPOSITORY
for form in arg r; do
        rc=0
        if [[ $form == arg ]]; then
                env -u CAIRN_REPOSITORY timeout 120 "$CAIRN" mount "$repo" "$MNT" --daemon \
                        >"$TMP/mount.out" 2>"$TMP/mount.err" || rc=$?
        else
                env -u CAIRN_REPOSITORY timeout 120 "$CAIRN" -r "$repo" mount "$MNT" --daemon \
                        >"$TMP/mount.out" 2>"$TMP/mount.err" || rc=$?
        fi
        ((rc == 0)) || { _show_mount_output; fail "cairn mount --daemon (repository given as $form) exited $rc"; }
        grep -qxF "mounted $repo at $MNT" "$TMP/mount.out" || {
                _show_mount_output
                fail "no 'mounted $repo at $MNT' line (repository given as $form)"
        }
        is_mounted "$MNT" || fail "$MNT not mounted after cairn mount --daemon"
        MOUNT_PID=$(mount_pid "$MNT")
        MOUNT_IS_JOB=0
        [[ -n $MOUNT_PID ]] || fail "no cairn process serving $MNT"
        cmp "$F" "$SRC/big.bin" || fail "big.bin differs (daemon, repository given as $form)"
        unmount_repo "$MNT"
done

echo "ok: mount_unmount"
