#!/bin/bash
# redis_cluster: a 3-master Redis Cluster (redis-cli --cluster create on
# loopback) is backed up master by master (logical and RDB), with the slot
# map recorded; the routed restore into a fresh cluster gives every master
# the same DEBUG DIGEST as its counterpart, also when the restorer starts
# from a wrong slot map and must follow MOVED replies; each master's RDB
# is placed in a data directory with --node.
source "$(dirname "$0")/lib.sh"
command -v redis-server >/dev/null || fail "redis-server is not installed (tools/setup.sh --test)"
GEN="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/redisgen.py"

redis_cluster_start SRC "$TMP/src" 3 --repl-diskless-sync-delay 0
read -r -a src <<<"$SRC"
python3 "$GEN" --cluster "${src[0]}" || fail "dataset generator failed"
python3 "$GEN" digests "${src[0]}" >"$TMP/src.digests"
expect_eq "$(wc -l <"$TMP/src.digests")" 3 "source masters"
expect_eq "$(python3 "$GEN" counts --cluster "${src[0]}")" "db0 30006" "source key count"

expect_exit 0 "$CAIRN" init --kdf min
expect_exit 0 "$CAIRN" backup redis "redis://127.0.0.1:${src[1]}" --mode both --tag cluster
"$CAIRN" dump latest:/redis/meta.json >"$TMP/meta.json"
expect_eq "$(pyjson 'd["cluster"]' "$TMP/meta.json")" True "meta.json cluster"
expect_eq "$(pyjson 'len(d["nodes"])' "$TMP/meta.json")" 3 "meta.json masters"
expect_eq "$(pyjson 'd["dbs"]["0"]["keys"]' "$TMP/meta.json")" 30006 "meta.json total keys"
expect_eq "$(pyjson 'sum(n["dbs"]["0"]["keys"] for n in d["nodes"].values())' "$TMP/meta.json")" 30006 \
        "keys summed over the masters"
expect_eq "$(pyjson '" ".join("%d-%d" % tuple(n["slots"][0]) for n in sorted(d["nodes"].values(), key=lambda n: n["slots"][0][0]))' "$TMP/meta.json")" \
        "0-5460 5461-10922 10923-16383" "slot map"
for p in "${src[@]}"; do
        "$CAIRN" ls "latest:/redis/127.0.0.1:$p" >"$TMP/ls.$p" || fail "cairn ls of master $p"
        grep -q 'db0.resp' "$TMP/ls.$p" && grep -q 'dump.rdb' "$TMP/ls.$p" || fail "master $p: $(cat "$TMP/ls.$p")"
done
"$CAIRN" snapshots --json >"$TMP/snaps.json"
expect_eq "$(pyjson 'd[0]["summary"]["redis_masters"]' "$TMP/snaps.json")" 3 "summary masters"

# 1. Routed restore into a fresh cluster: each master as its source counterpart.
redis_cluster_start DST "$TMP/dst" 3
read -r -a dst <<<"$DST"
expect_exit 0 "$CAIRN" restore redis latest:/redis --to "redis://127.0.0.1:${dst[2]}"
grep -q "restored 30006 keys .* into a cluster of 3 masters; verified" "$TMP/out" || fail "restore said: $(cat "$TMP/out")"
python3 "$GEN" digests "${dst[0]}" >"$TMP/dst.digests"
diff "$TMP/src.digests" "$TMP/dst.digests" >&2 || fail "masters' digests differ after the routed restore"
python3 "$GEN" ttlcmp --cluster "${src[0]}" "${dst[0]}" || fail "TTLs differ after the routed restore"

# 2. The same from a wrong slot map (every slot on one master): MOVED is followed.
redis_cluster_start DST2 "$TMP/dst2" 3
read -r -a dst2 <<<"$DST2"
CAIRN_TEST_REDIS_MISROUTE=1 expect_exit 0 "$CAIRN" --json restore redis latest:/redis --to "redis://127.0.0.1:${dst2[0]}"
# the 8 MiB value went as SET, sent again where MOVED pointed
expect_eq "$(pyjson 'd["strings_as_set"]')" 1 "big strings sent as SET"
# (MSET takes the keys of one slot: into a cluster small strings go as RESTOREs)
expect_eq "$(pyjson 'd["strings_batched"]')" 0 "strings sent in MSETs into a cluster"
python3 "$GEN" digests "${dst2[0]}" >"$TMP/dst2.digests"
diff "$TMP/src.digests" "$TMP/dst2.digests" >&2 || fail "masters' digests differ after following MOVED"

# 3. Each master's RDB into its own data directory; a server started on it
#    (cluster mode off) holds that master's keys.
i=0
for p in "${src[@]}"; do
        i=$((i + 1))
        mkdir -p "$TMP/rdb$i"
        expect_exit 0 "$CAIRN" restore redis-rdb latest:/redis --node "127.0.0.1:$p" --to "$TMP/rdb$i"
        want=$(pyjson "d['nodes']['127.0.0.1:$p']['dbs']['0']['keys']" "$TMP/meta.json")
        redis_start R "$TMP/rdb$i" --dbfilename dump.rdb
        expect_eq "$(redis-cli -p "$R" DBSIZE)" "$want" "keys of master $p loaded from its RDB"
        expect_eq "$(redis-cli -p "$R" DEBUG DIGEST)" "$(redis-cli -p "$p" DEBUG DIGEST)" "digest of master $p's RDB"
done
expect_exit 1 "$CAIRN" restore redis-rdb latest:/redis --to "$TMP/rdb1"
expect_err_line "is a cluster backup: name the master with --node HOST:PORT"

# 4. A standalone backup with several databases cannot go into a cluster.
redis_start ONE "$TMP/one"
redis-cli -p "$ONE" -n 2 SET k v >/dev/null
expect_exit 0 "$CAIRN" backup redis "redis://127.0.0.1:$ONE"
expect_exit 1 "$CAIRN" restore redis latest:/redis --to "redis://127.0.0.1:${dst[0]}"
expect_err_line "SELECT is not allowed in cluster mode"
echo "ok: redis_cluster"
