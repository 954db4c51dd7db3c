#!/bin/bash
# files_forget: forget --keep-last/--keep-tag keeps exactly the right
# snapshots, prune shrinks the repository, everything left checks clean and
# restores exactly.
source "$(dirname "$0")/lib.sh"

SRC=$TMP/src
MiB=$((1024 * 1024))
gentree "$SRC" --small 300 --big-mib 8
mkdir "$SRC/extra"
expect_exit 0 "$CAIRN" init --kdf min

# Five snapshots; each holds 20 MiB of random data no other one has.
tags=(keep a b c d)
ids=()
for i in 0 1 2 3 4; do
        rm -f "$SRC"/extra/*
        head -c $((20 * MiB)) /dev/urandom >"$SRC/extra/unique-$i.bin"
        if ((i == 0)); then
                cp -a --sparse=always "$SRC" "$TMP/src0" # the state of the first snapshot
        fi
        expect_exit 0 "$CAIRN" backup --tag "${tags[i]}" "$SRC"
        ids+=("$(last_snapshot_id)")
        sleep 1 # distinct snapshot times
done
expect_eq "$(snapshot_count)" 5 "snapshots"

# --dry-run removes nothing.
expect_exit 0 "$CAIRN" forget --keep-last 2 --keep-tag keep --dry-run
expect_eq "$(snapshot_count)" 5 "snapshots after forget --dry-run"

expect_exit 0 "$CAIRN" forget --keep-last 2 --keep-tag keep
expect_eq "$(snapshot_count)" 3 "snapshots after forget --keep-last 2 --keep-tag keep"
expect_eq "$(snapshot_ids | sort | tr '\n' ' ')" \
        "$(printf '%s\n' "${ids[0]}" "${ids[3]}" "${ids[4]}" | sort | tr '\n' ' ')" \
        "remaining snapshot ids"
expect_eq "$(pyjson '" ".join(sorted(t for s in d for t in (s.get("tags") or [])))' "$TMP/snaps.json")" \
        "c d keep" "remaining tags"

before=$(repo_bytes)
expect_exit 0 "$CAIRN" prune
after=$(repo_bytes)
((before - after > 30 * MiB)) || fail "prune freed only $((before - after)) bytes of $before (two 20 MiB snapshots forgotten)"
expect_check --read-data

# The oldest remaining snapshot, by id prefix, is exact.
expect_exit 0 "$CAIRN" restore "${ids[0]:0:10}:$SRC" --target "$TMP/dst0"
treecmp "$TMP/src0" "$TMP/dst0" --no-atime

# forget --prune in one go, keeping only the newest.
before=$(repo_bytes)
expect_exit 0 "$CAIRN" forget --keep-last 1 --prune
expect_eq "$(snapshot_ids)" "${ids[4]}" "snapshot left after forget --keep-last 1 --prune"
after=$(repo_bytes)
((before - after > 30 * MiB)) || fail "forget --prune freed only $((before - after)) bytes"
expect_check --read-data
expect_exit 0 "$CAIRN" restore latest:"$SRC" --target "$TMP/dst4"
treecmp "$SRC" "$TMP/dst4" --no-atime

# Two backups of another path, most often within one second: keep-last
# keeps the later one (it kept the earlier when their times were compared
# to the second; the unit test retention::last_is_by_the_exact_time pins it)
mkdir "$TMP/quick"
echo one >"$TMP/quick/f"
expect_exit 0 "$CAIRN" backup "$TMP/quick"
expect_exit 0 "$CAIRN" backup "$TMP/quick"
q2=$(last_snapshot_id)
expect_exit 0 "$CAIRN" forget --keep-last 1
expect_eq "$(snapshot_ids | sort)" "$(printf '%s\n' "${ids[4]}" "$q2" | sort)" "snapshots after two quick backups and forget --keep-last 1"

echo "ok: files_forget"
