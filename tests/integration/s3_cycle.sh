#!/bin/bash
# s3_cycle: the whole life of a repository on S3 (s3rver, signatures
# checked): init creates a missing bucket only when asked
# (--s3-create-bucket), backup of a generated tree (2000 small files, a
# 50 MiB file, every kind of entry), restore and a FUSE mount both equal to
# the source, an unchanged second backup adds next to nothing, forget
# --keep-last 1 --prune, check --read-data, a second restore still equal,
# and no lock left behind in the bucket.
source "$(dirname "$0")/lib.sh"

s3_start
# The metadata cache of the remote repository, this test's own.
export XDG_CACHE_HOME=$TMP/xdg-cache
SRC=$TMP/src
MNT=$TMP/mnt
gentree "$SRC" --small 2000 --big-mib 50

# A bucket the server does not have yet: init without --s3-create-bucket
# fails and creates nothing, with it the bucket and the repository appear.
BUCKET=cairn-cycle
export CAIRN_REPOSITORY=s3:$S3_ENDPOINT/$BUCKET/repo
! s3_bucket_exists "$BUCKET" || fail "bucket $BUCKET exists before the test created it"
expect_fail "$CAIRN" init --kdf min
expect_err_line "$BUCKET"
! s3_bucket_exists "$BUCKET" || fail "init without --s3-create-bucket created bucket $BUCKET"
expect_exit 0 "$CAIRN" init --kdf min --s3-create-bucket
grep -q '^created repository [0-9a-f]* at ' "$TMP/out" || fail "init output: $(cat "$TMP/out")"
s3_bucket_exists "$BUCKET" || fail "init --s3-create-bucket did not create bucket $BUCKET"
[[ -n $(s3_objects "$BUCKET" repo/config) ]] || fail "no repo/config object after init"
# A second init on the same location refuses.
expect_fail "$CAIRN" init --kdf min --s3-create-bucket

# First backup.
expect_exit 0 "$CAIRN" backup --json "$SRC"
first_added=$(pyjson 'd["data_added"]')
total_bytes=$(pyjson 'd["total_bytes"]')
total_files=$(pyjson 'd["total_files"]')
((first_added > 0)) || fail "first backup added $first_added bytes"
expect_eq "$(snapshot_count)" 1 "snapshots after one backup"

# Restore, compared entry by entry.
expect_exit 0 "$CAIRN" --s3-connections 2 restore --json "latest:$SRC" --target "$TMP/dst"
cp "$TMP/out" "$TMP/restore.json"
treecmp "$SRC" "$TMP/dst" --no-atime
# The metadata cache holds the tree packs whole; trees are read from those
# copies. A copy cut short is dropped and fetched again: the listing is
# the same and the copies are whole again.
mapfile -t copies < <(find "$XDG_CACHE_HOME/cairn" -path '*/data/*' -type f)
((${#copies[@]} > 0)) || fail "no tree pack in the metadata cache after a restore"
"$CAIRN" ls -l latest >"$TMP/ls-before" || fail "cairn ls -l failed"
sizes=$(stat -c %s "${copies[@]}")
for f in "${copies[@]}"; do truncate -s $(($(stat -c %s "$f") / 2)) "$f"; done
expect_exit 0 "$CAIRN" ls -l latest
cmp "$TMP/out" "$TMP/ls-before" || fail "ls -l with tree packs cut short in the cache differs"
expect_eq "$(stat -c %s "${copies[@]}")" "$sizes" "sizes of the cached tree packs after the refetch"
# While the restore walked the trees it read the first data packs, as many
# as it has workers (one per connection: 2), each one GET of its blobs (not
# the whole object: the metadata cache keeps whole reads of data/, its tree
# packs, and holds no other pack after the restore).
XDG_CACHE_HOME=$TMP/xdg-trees "$CAIRN" ls latest >/dev/null || fail "cairn ls with a new cache failed"
expect_eq "$(find "$XDG_CACHE_HOME/cairn" -path '*/data/*' -type f -printf '%f\n' | LC_ALL=C sort)" \
        "$(find "$TMP/xdg-trees/cairn" -path '*/data/*' -type f -printf '%f\n' | LC_ALL=C sort)" \
        "packs in the metadata cache after a restore (those an ls caches: the tree packs)"
ndata=$(($(s3_objects "$BUCKET" repo/data/ | wc -l) - ${#copies[@]}))
((ndata > 2)) || fail "only $ndata data packs: the read-ahead cannot be told from reading all"
expect_eq "$(pyjson '"%d %d" % (d["packs_read_ahead"], d["packs_read_again"])' "$TMP/restore.json")" "2 0" \
        "packs_read_ahead and packs_read_again of the whole restore"
# A single small file is far less than half of its pack: nothing read ahead.
one=$(cd "$SRC" && find small -type f | LC_ALL=C sort | sed -n 1p)
expect_exit 0 "$CAIRN" restore --json "latest:$SRC/$one" --target "$TMP/dst-one"
expect_eq "$(pyjson '"%d %d" % (d["packs_read_ahead"], d["files"])')" "0 1" "packs_read_ahead and files of a one-file restore"
cmp "$SRC/$one" "$TMP/dst-one/$(basename "$one")" || fail "the one-file restore of $one differs"

# dump of the big file (ranged reads of several packs).
"$CAIRN" dump "latest:$SRC/big.bin" >"$TMP/dump" || fail "dump big.bin failed"
cmp "$TMP/dump" "$SRC/big.bin" || fail "dump big.bin differs"
rm -f "$TMP/dump"

# The FUSE mount over S3: the whole tree, and random ranges of big.bin.
mount_repo "$MNT"
treecmp "$SRC" "$MNT/snapshots/latest$SRC" --no-atime --no-sparse --nlink
python3 "$READCHECK" ranges "$SRC/big.bin" "$MNT/snapshots/latest$SRC/big.bin" --count 200 ||
        fail "range reads of big.bin through the mount differ from the source"
unmount_repo "$MNT"

# A sequential read of big.bin through a fresh mount reads ahead in large
# ranged GETs (adjacent blobs of a pack in one request, up to 8 MiB): 10-20
# for its 50 MiB here (how the backup interleaved its blobs with the small
# files' varies), where a read-ahead topped up blob by blob took 41-48.
# s3_settled_gets: GETs so far (s3_gets), once the count stopped growing
# (the listing's read-ahead of the first blobs of its files is not counted).
s3_gets() {
        python3 -c 'import json,sys; print(json.loads(sys.argv[1])["requests"].get("GET", 0))' "$(s3_verify_counts)"
}
s3_settled_gets() {
        local a b i
        a=$(s3_gets)
        for ((i = 0; i < 25; i++)); do
                b=$(s3_gets)
                [[ $b == "$a" ]] && break
                a=$b
        done
        echo "$b"
}
mount_repo "$MNT"
ls "$MNT/snapshots/latest$SRC" >/dev/null
gets=$(s3_settled_gets)
cmp "$MNT/snapshots/latest$SRC/big.bin" "$SRC/big.bin" || fail "big.bin through a fresh mount differs"
gets=$(($(s3_settled_gets) - gets))
echo "GETs for a sequential read of big.bin (50 MiB): $gets"
((gets <= 30)) || fail "a sequential read of big.bin through the mount took $gets GETs (more than 30)"
unmount_repo "$MNT"
# A look at its first bytes starts the read-ahead at 16 MiB, not at the
# whole 64 MiB window (which here would be all 50 MiB of it): 4 GETs here,
# 12-13 with the full window from the first read.
mount_repo "$MNT"
ls "$MNT/snapshots/latest$SRC" >/dev/null
gets=$(s3_settled_gets)
head -c 4096 "$MNT/snapshots/latest$SRC/big.bin" | cmp - <(head -c 4096 "$SRC/big.bin") ||
        fail "the first 4 KiB of big.bin through a fresh mount differ"
gets=$(($(s3_settled_gets) - gets))
echo "GETs for the first 4 KiB of big.bin: $gets"
((gets <= 7)) || fail "the first 4 KiB of big.bin through a fresh mount took $gets GETs (more than 7)"
unmount_repo "$MNT"

# Unchanged second backup: almost nothing added, every file from the parent.
expect_exit 0 "$CAIRN" backup --json "$SRC"
added=$(pyjson 'd["data_added"]')
((added * 100 < total_bytes)) || fail "unchanged backup added $added of $total_bytes bytes (>= 1%)"
expect_eq "$(pyjson 'd["files_unmodified"]')" "$total_files" "files_unmodified of an unchanged backup"
expect_eq "$(pyjson 'd["files_new"]')" 0 "files_new of an unchanged backup"
expect_eq "$(snapshot_count)" 2 "snapshots after two backups"
keep=$(snapshot_ids | tail -n 1)

# forget --keep-last 1 --prune: the newest stays, its data still complete.
expect_exit 0 "$CAIRN" forget --keep-last 1 --prune
expect_eq "$(snapshot_count)" 1 "snapshots after forget --keep-last 1"
expect_eq "$(snapshot_ids)" "$keep" "the snapshot forget kept"
nsnap_objects=$(s3_objects "$BUCKET" repo/snapshots/ | wc -l)
expect_eq "$nsnap_objects" 1 "objects under repo/snapshots/ after forget"
expect_check --read-data

expect_exit 0 "$CAIRN" restore "latest:$SRC" --target "$TMP/dst2"
treecmp "$SRC" "$TMP/dst2" --no-atime

# Nothing left locked, nothing written outside the repository's prefix.
locks=$(s3_objects "$BUCKET" repo/locks/)
[[ -z $locks ]] || fail "locks left in the bucket: $locks"
outside=$(s3_objects "$BUCKET" | cut -f1 | grep -v '^repo/' || true)
[[ -z $outside ]] || fail "objects outside the repo/ prefix: $outside"

expect_all_signed_ok
echo "ok: s3_cycle"
