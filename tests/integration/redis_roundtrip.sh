#!/bin/bash
# redis_roundtrip: a logical Redis backup (every type, streams with a
# consumer group, binary keys and values, TTLs, dbs 0 and 3, ~20,000 keys,
# a 20 MiB value) restores into fresh servers with the same DEBUG DIGEST
# and TTLs within 10 s: from SNAPSHOT:/redis, from a FUSE mount of the
# snapshot, and through `redis-cli --pipe` of the dumped db files. A wrong
# password or a server that is gone fails with exit 1, one line, no snapshot.
source "$(dirname "$0")/lib.sh"
command -v redis-server >/dev/null || fail "redis-server is not installed (tools/setup.sh --test)"
GEN="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/redisgen.py"

redis_start SRC "$TMP/src"
python3 "$GEN" "$SRC" || fail "dataset generator failed"
src_digest=$(redis-cli -p "$SRC" DEBUG DIGEST)
expect_eq "$(redis-cli -p "$SRC" -n 0 DBSIZE)" 100006 "source db0 size"
expect_eq "$(redis-cli -p "$SRC" -n 3 DBSIZE)" 60000 "source db3 size"
expect_eq "$(redis-cli -p "$SRC" -n 7 DBSIZE)" 40000 "source db7 size"

expect_exit 0 "$CAIRN" init --kdf min
expect_exit 0 "$CAIRN" backup redis "redis://127.0.0.1:$SRC" --tag r1
expect_eq "$(snapshot_count)" 1 "snapshots"
"$CAIRN" snapshots --json >"$TMP/snaps.json"
expect_eq "$(pyjson 'd[0]["kind"]' "$TMP/snaps.json")" redis "snapshot kind"
expect_eq "$(pyjson 'd[0]["summary"]["redis"]["3"]["keys"]' "$TMP/snaps.json")" 60000 "summary key count"
"$CAIRN" dump latest:/redis/meta.json >"$TMP/meta.json"
expect_eq "$(pyjson 'd["dbs"]["0"]["keys"]' "$TMP/meta.json")" 100006 "meta.json db0 keys"
expect_eq "$(pyjson 'd["dbs"]["3"]["keys"]' "$TMP/meta.json")" 60000 "meta.json db3 keys"
expect_eq "$(pyjson 'd["dbs"]["7"]["keys"]' "$TMP/meta.json")" 40000 "meta.json db7 keys"

# 1. From the repository into a fresh server.
redis_start DST1 "$TMP/dst1"
expect_exit 0 "$CAIRN" restore redis latest:/redis --to "redis://127.0.0.1:$DST1"
expect_eq "$(redis-cli -p "$DST1" DEBUG DIGEST)" "$src_digest" "DEBUG DIGEST"
python3 "$GEN" ttlcmp "$SRC" "$DST1" || fail "TTLs differ after restore"

# 2. redis-cli --pipe of the dumped .resp files.
redis_start DST2 "$TMP/dst2"
for db in 0 3 7; do
        "$CAIRN" dump "latest:/redis/db$db.resp" >"$TMP/db$db.resp" || fail "cairn dump db$db.resp"
        redis-cli -p "$DST2" --pipe <"$TMP/db$db.resp" >"$TMP/pipe$db.out" 2>&1 || fail "redis-cli --pipe db$db"
        grep -q "errors: 0" "$TMP/pipe$db.out" || fail "redis-cli --pipe db$db: $(cat "$TMP/pipe$db.out")"
done
expect_eq "$(redis-cli -p "$DST2" DEBUG DIGEST)" "$src_digest" "DEBUG DIGEST"

# 3. From a FUSE mount of the snapshot, over a server with other data (--flush).
redis_start DST3 "$TMP/dst3"
redis-cli -p "$DST3" SET stray 1 >/dev/null
redis-cli -p "$DST3" -n 3 SET stray 1 >/dev/null
mount_repo "$TMP/mnt"
expect_exit 0 "$CAIRN" restore redis "$TMP/mnt/snapshots/latest/redis" --to "redis://127.0.0.1:$DST3" --flush
expect_eq "$(redis-cli -p "$DST3" DEBUG DIGEST)" "$src_digest" "DEBUG DIGEST"
fusermount3 -u "$TMP/mnt"

# 4. A tampered backup fails the verification.
redis_start DST4 "$TMP/dst4"
mkdir -p "$TMP/bad"
cp "$TMP/db0.resp" "$TMP/db3.resp" "$TMP/bad/"
sed 's/"keys": 60000/"keys": 59990/' "$TMP/meta.json" >"$TMP/bad/meta.json"
expect_exit 1 "$CAIRN" restore redis "$TMP/bad" --to "redis://127.0.0.1:$DST4"
expect_err_line "db3: verification failed: 6000 keys on the server \\(backup: 5999\\)"

# 5. Failures: wrong password, nothing listening; no snapshot either way.
redis_start AUTH "$TMP/auth" --requirepass s3cret
expect_exit 1 "$CAIRN" backup redis "redis://:wrong@127.0.0.1:$AUTH"
expect_err_line "^cairn: backup: redis redis://127.0.0.1:$AUTH: WRONGPASS"
grep -q ":wrong" "$TMP/err" && fail "the password was printed: $(cat "$TMP/err")"
echo s3cret >"$TMP/redis-pw"
expect_exit 0 "$CAIRN" backup redis "redis://127.0.0.1:$AUTH" --redis-password-file "$TMP/redis-pw"
expect_eq "$(snapshot_count)" 2 "snapshots"
gone=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
expect_exit 1 "$CAIRN" backup redis "redis://127.0.0.1:$gone"
expect_err_line "^cairn: backup: redis redis://127.0.0.1:$gone: Connection refused"
expect_eq "$(snapshot_count)" 2 "snapshots after the failed backups"
"$CAIRN" snapshots --json | grep -q s3cret && fail "the password is in a snapshot"
echo "ok: redis_roundtrip"
