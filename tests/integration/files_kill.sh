#!/bin/bash
# files_kill: a backup killed with SIGKILL at any moment leaves a repository
# that, after `cairn unlock`, checks clean and takes the next backup; prune
# then drops what the killed runs left behind, and the last snapshot
# restores exactly.
source "$(dirname "$0")/lib.sh"

SRC=$TMP/src
gentree "$SRC" --small 2000 --big-mib 100
expect_exit 0 "$CAIRN" init --kdf min
expect_exit 0 "$CAIRN" backup "$SRC"

i=0
for delay in 0.2 0.5 1 2; do
        i=$((i + 1))
        # New work for the backup: a changed big file and fresh random data.
        "$GENTREE" --mutate-middle "$SRC/big.bin" --seed "$i" >/dev/null
        head -c $((150 * 1024 * 1024)) /dev/urandom >"$SRC/new-$i.bin"

        "$CAIRN" backup "$SRC" >"$TMP/killed.out" 2>&1 &
        pid=$!
        sleep "$delay"
        if kill -9 "$pid" 2>/dev/null; then
                wait "$pid" 2>/dev/null || true
        else
                wait "$pid" || true
                echo "note: backup finished before the kill after ${delay}s" >&2
        fi

        expect_exit 0 "$CAIRN" unlock
        expect_check
        expect_exit 0 "$CAIRN" backup "$SRC"
        last_snapshot_id >/dev/null
done
expect_eq "$(snapshot_count)" 5 "snapshots (the killed backups wrote none)"

expect_exit 0 "$CAIRN" prune
expect_check --read-data

expect_exit 0 "$CAIRN" restore latest:"$SRC" --target "$TMP/dst"
treecmp "$SRC" "$TMP/dst" --no-atime

echo "ok: files_kill"
