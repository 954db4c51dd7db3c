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

# Each round gives the backup fresh work — a changed big file and 512 MiB
# of new random data (the previous round's removed) — so that it is still
# running when the SIGKILL arrives. A fast machine may finish a round
# before the later kills; that round then counts as a normal backup, but
# at least one backup must really have been killed.
expected=1
killed=0
i=0
for delay in 0.2 0.5 1 2; do
        i=$((i + 1))
        "$GENTREE" --mutate-middle "$SRC/big.bin" --seed "$i" >/dev/null
        rm -f "$SRC"/new-*.bin
        head -c $((512 * 1024 * 1024)) /dev/urandom >"$SRC/new-$i.bin"

        "$CAIRN" backup "$SRC" >"$TMP/killed.out" 2>&1 &
        pid=$!
        sleep "$delay"
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        n=$(snapshot_count)
        if ((n == expected)); then
                killed=$((killed + 1))
        elif ((n == expected + 1)); then
                echo "note: the backup finished within ${delay}s, before the kill" >&2
                expected=$n
        else
                fail "$n snapshots after a killed backup, expected $expected or $((expected + 1))"
        fi

        expect_exit 0 "$CAIRN" unlock
        expect_check
        expect_exit 0 "$CAIRN" backup "$SRC"
        last_snapshot_id >/dev/null
        expected=$((expected + 1))
done
((killed > 0)) || fail "every backup finished before its kill; nothing was tested"
expect_eq "$(snapshot_count)" "$expected" "snapshots (killed backups write none)"

expect_exit 0 "$CAIRN" prune
expect_check --read-data

expect_exit 0 "$CAIRN" restore latest:"$SRC" --target "$TMP/dst"
treecmp "$SRC" "$TMP/dst" --no-atime

echo "ok: files_kill"
