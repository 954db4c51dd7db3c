#!/bin/bash
# redis_rdb: the point-in-time RDB through the replication protocol, in
# both framings a master may use (diskless "$EOF:<mark>" and on-disk
# "$<len>"), stored as redis/dump.rdb; `restore redis-rdb` places it in a
# data directory, where a fresh redis-server loads the same dataset
# (DEBUG DIGEST). --mode both stores the RDB and the logical files in one
# snapshot. Refusals: an existing dump.rdb without --force, a damaged
# copy, an RDB given to `restore redis`, a logical-only backup.
source "$(dirname "$0")/lib.sh"
command -v redis-server >/dev/null || fail "redis-server is not installed (tools/setup.sh --test)"
GEN="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/redisgen.py"

redis_start SRC "$TMP/src" --repl-diskless-sync yes --repl-diskless-sync-delay 0
python3 "$GEN" "$SRC" --small 50000 --big-mib 100 || fail "dataset generator failed"
src_digest=$(redis-cli -p "$SRC" DEBUG DIGEST)
expect_exit 0 "$CAIRN" init --kdf min

# 1. Diskless: "$EOF:<mark>" framing.
expect_exit 0 "$CAIRN" backup redis "redis://127.0.0.1:$SRC" --mode rdb --tag diskless
"$CAIRN" dump latest:/redis/meta.json >"$TMP/meta1.json"
expect_eq "$(pyjson 'd["rdb"]["framing"]' "$TMP/meta1.json")" eof-mark "framing of a diskless master"
expect_eq "$(pyjson '"dbs" in d' "$TMP/meta1.json")" False "logical files in an rdb-only backup"
"$CAIRN" dump latest:/redis/dump.rdb >"$TMP/dump1.rdb"
expect_eq "$(stat -c %s "$TMP/dump1.rdb")" "$(pyjson 'd["rdb"]["size"]' "$TMP/meta1.json")" "dump.rdb size"
expect_eq "$(head -c 5 "$TMP/dump1.rdb")" REDIS "RDB magic"
mkdir "$TMP/data1"
expect_exit 0 "$CAIRN" restore redis-rdb latest:/redis --to "$TMP/data1"
cmp "$TMP/dump1.rdb" "$TMP/data1/dump.rdb" || fail "placed dump.rdb differs from the stored one"
redis_start L1 "$TMP/data1" --dbfilename dump.rdb
expect_eq "$(redis-cli -p "$L1" DEBUG DIGEST)" "$src_digest" "DEBUG DIGEST of the diskless RDB"

# 2. On disk: "$<len>" framing; restored from a FUSE mount.
redis-cli -p "$SRC" CONFIG SET repl-diskless-sync no >/dev/null
expect_exit 0 "$CAIRN" backup redis "redis://127.0.0.1:$SRC" --mode both --tag disk
"$CAIRN" dump latest:/redis/meta.json >"$TMP/meta2.json"
expect_eq "$(pyjson 'd["rdb"]["framing"]' "$TMP/meta2.json")" length "framing of an on-disk master"
expect_eq "$(pyjson 'd["dbs"]["0"]["keys"]' "$TMP/meta2.json")" 25006 "logical db0 keys beside the RDB"
mount_repo "$TMP/mnt"
mkdir "$TMP/data2"
expect_exit 0 "$CAIRN" restore redis-rdb "$TMP/mnt/snapshots/latest/redis" --to "$TMP/data2"
grep -q "dump.rdb: .* bytes, verified" "$TMP/out" || fail "restore said: $(cat "$TMP/out")"
redis_start L2 "$TMP/data2" --dbfilename dump.rdb
expect_eq "$(redis-cli -p "$L2" DEBUG DIGEST)" "$src_digest" "DEBUG DIGEST of the on-disk RDB"
# the logical half of the same snapshot
redis_start D2 "$TMP/d2"
expect_exit 0 "$CAIRN" restore redis "$TMP/mnt/snapshots/latest/redis" --to "redis://127.0.0.1:$D2"
expect_eq "$(redis-cli -p "$D2" DEBUG DIGEST)" "$src_digest" "DEBUG DIGEST of the logical half"

# 3. Refusals, each leaving what was there.
before=$(sha256sum <"$TMP/data2/dump.rdb")
expect_exit 1 "$CAIRN" restore redis-rdb latest:/redis --to "$TMP/data2"
expect_err_line "dump.rdb exists: .*use --force to replace it"
expect_eq "$(sha256sum <"$TMP/data2/dump.rdb")" "$before" "dump.rdb after the refusal"
expect_exit 0 "$CAIRN" restore redis-rdb latest:/redis --to "$TMP/data2" --force
expect_exit 1 "$CAIRN" restore redis "$TMP/mnt/snapshots/latest/redis/dump.rdb" --to "redis://127.0.0.1:$D2"
expect_err_line "converting an RDB file into commands is not supported: use 'cairn restore redis-rdb"
mkdir -p "$TMP/bad" "$TMP/data3"
cp "$TMP/dump1.rdb" "$TMP/bad/dump.rdb"
cp "$TMP/meta1.json" "$TMP/bad/meta.json"
printf 'X' | dd of="$TMP/bad/dump.rdb" bs=1 seek=1000 conv=notrunc status=none
expect_exit 1 "$CAIRN" restore redis-rdb "$TMP/bad" --to "$TMP/data3"
expect_err_line "dump.rdb: [0-9]+ bytes, BLAKE2b .*; the backup recorded [0-9]+ bytes"
expect_eq "$(ls -A "$TMP/data3")" "" "data directory after a failed copy"
expect_exit 0 "$CAIRN" backup redis "redis://127.0.0.1:$SRC" --tag logical-only
expect_exit 1 "$CAIRN" restore redis-rdb latest:/redis --to "$TMP/data3"
expect_err_line "the backup has no RDB"
expect_exit 2 "$CAIRN" backup redis "redis://127.0.0.1:$SRC" --mode rdb --match 'k*'
fusermount3 -u "$TMP/mnt"
echo "ok: redis_rdb"
