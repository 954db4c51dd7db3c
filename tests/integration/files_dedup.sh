#!/bin/bash
# files_dedup: a second backup of unchanged data adds (almost) nothing and
# reads no file again; changing 1 MiB in the middle of a 100 MiB file adds
# only the few chunks around the change.
source "$(dirname "$0")/lib.sh"

SRC=$TMP/src
gentree "$SRC" --small 2000 --big-mib 100
expect_exit 0 "$CAIRN" init --kdf min

expect_exit 0 "$CAIRN" backup --json "$SRC"
first_added=$(pyjson 'd["data_added"]')
total_bytes=$(pyjson 'd["total_bytes"]')
total_files=$(pyjson 'd["total_files"]')
(( first_added > 0 )) || fail "first backup added $first_added bytes"

# Unchanged: nothing new, every file taken from the parent.
expect_exit 0 "$CAIRN" backup --json "$SRC"
added=$(pyjson 'd["data_added"]')
(( added * 100 < total_bytes )) || fail "unchanged backup added $added of $total_bytes bytes (>= 1%)"
expect_eq "$(pyjson 'd["files_unmodified"]')" "$total_files" "files_unmodified of an unchanged backup"
# nothing the backup itself touched (directory atimes, symlink atimes that
# readlink sets) may make a tree differ from the parent's
# (so nothing else may read the tree between the two backups: find would)
expect_eq "$(pyjson 'd["dirs_changed"]')" 0 "dirs_changed of an unchanged backup"
# and every directory's tree is the parent's blob, taken without encoding it
ndirs=$(pyjson 'd["dirs_unmodified"]')
(( ndirs > 40 )) || fail "unchanged backup walked $ndirs directories"
expect_eq "$(pyjson 'd["trees_reused"]')" "$ndirs" "trees_reused of an unchanged backup"
"$CAIRN" snapshots --json >"$TMP/snaps.json" || fail "cairn snapshots --json failed"
expect_eq "$(pyjson 'len({s["tree"] for s in d})' "$TMP/snaps.json")" 1 "root trees of the two snapshots"
nfiles=$(find "$SRC" -type f -printf . | wc -c)
expect_eq "$total_files" "$nfiles" "total_files of the first backup"
expect_eq "$(pyjson 'd["files_new"]')" 0 "files_new of an unchanged backup"
expect_eq "$(pyjson 'd["files_changed"]')" 0 "files_changed of an unchanged backup"

# 1 MiB changed in the middle of big.bin: a few new chunks, not 100 MiB.
"$GENTREE" --mutate-middle "$SRC/big.bin" --seed 99 >/dev/null
before=$(repo_bytes)
expect_exit 0 "$CAIRN" backup --json "$SRC"
added=$(pyjson 'd["data_added"]')
# The chunker's gear table comes from the repository's random seed, so the
# chunk sizes differ from run to run (0.5-8 MiB): a byte bound of 6 MiB
# was crossed (6.3 MB for 3 chunks), and so was a bound of 5 chunks (7 in
# one of 15 runs: after the change the cuts fall in step with the old ones
# only when a new cut lands on an old one, and the minimum size can skip
# old cuts for a few chunks). Of the 100 chunks of the file, a change must
# cost a few, far below the file.
blobs=$(pyjson 'd["data_blobs"]')
(( blobs >= 1 && blobs <= 16 )) || fail "1 MiB change added $blobs chunks ($added bytes), expected 1 to 16"
(( added < 20 * 1024 * 1024 )) || fail "1 MiB change added $added bytes (>= 20 MiB)"
(( added >= 1024 * 1024 / 2 )) || fail "1 MiB random change added only $added bytes"
expect_eq "$(pyjson 'd["files_changed"]')" 1 "files_changed after mutating big.bin"
expect_eq "$(pyjson 'd["files_unmodified"]')" $((total_files - 1)) "files_unmodified after mutating big.bin"
grown=$(( $(repo_bytes) - before ))
(( grown < added + 2 * 1024 * 1024 )) || fail "repository grew by $grown bytes for $added bytes of new chunks"
expect_eq "$(snapshot_count)" 3 "snapshots after the change to big.bin"

# A mode change three levels down: the trees of its three ancestors are
# encoded again (one of their nodes changed), its own and every other
# directory's are the parent's. (find reads the directories first: it would
# change their atimes after the chmod, and atimes are in the trees.)
deep=$(cd "$SRC" && find . -mindepth 3 -maxdepth 3 -type d | sort | head -1)
[[ -n $deep ]] || fail "gentree made no directory three levels down"
expect_exit 0 "$CAIRN" backup --json "$SRC"
expect_eq "$(pyjson 'd["trees_reused"]')" "$ndirs" "trees_reused after find"
chmod 0700 "$SRC/$deep"
expect_exit 0 "$CAIRN" backup --json "$SRC"
expect_eq "$(pyjson 'd["dirs_changed"]')" 3 "dirs_changed after a chmod of $deep"
expect_eq "$(pyjson 'd["trees_reused"]')" $((ndirs - 3)) "trees_reused after a chmod of $deep"

expect_exit 0 "$CAIRN" restore "latest:$SRC" --target "$TMP/dst"
treecmp "$SRC" "$TMP/dst" --no-atime
expect_check

echo "ok: files_dedup"
