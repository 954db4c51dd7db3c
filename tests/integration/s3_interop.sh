#!/bin/bash
# s3_interop: what cairn leaves in the bucket, seen by another S3 client
# (awscli): exactly the objects of the repository layout under the prefix
# — one config, one key, a snapshot object per snapshot, a pack per pack
# that `cairn stats` counts (with the bytes it counts), at least one index,
# no locks — and nothing else; the config is encrypted, the key file is
# the documented JSON. Objects awscli uploads and downloads unchanged
# (a pack copied back) leave the repository intact. Virtual-host style
# (--s3-virtual-host, BUCKET.s3.localhost) reads the same repository.
source "$(dirname "$0")/lib.sh"

s3_start
SRC=$TMP/src
gentree "$SRC" --small 300 --big-mib 20

expect_exit 0 "$CAIRN" init --kdf min --pack-size 4
expect_exit 0 "$CAIRN" backup "$SRC"
expect_exit 0 "$CAIRN" backup "$SRC/text"
"$GENTREE" --mutate-middle "$SRC/big.bin" --seed 7 >/dev/null
expect_exit 0 "$CAIRN" backup "$SRC"

expect_exit 0 "$CAIRN" stats --json
packs=$(pyjson 'd["packs"]')
pack_bytes=$(pyjson 'd["pack_bytes"]')
snaps=$(snapshot_count)
expect_eq "$snaps" 3 "snapshots"

s3_objects "$S3_BUCKET" >"$TMP/objects"
python3 - "$TMP/objects" "$packs" "$pack_bytes" "$snaps" <<'PY' || fail "bucket contents do not match the repository"
import re, sys
path, packs, pack_bytes, snaps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
H = "[0-9a-f]{64}"
kinds = {"config": [], "keys": [], "data": [], "index": [], "snapshots": [], "locks": [], "other": []}
sizes = {}
for line in open(path):
    key, size = line.rstrip("\n").split("\t")
    sizes[key] = int(size)
    if key == "repo/config":
        kinds["config"].append(key)
    elif re.fullmatch(r"repo/keys/" + H, key):
        kinds["keys"].append(key)
    elif re.fullmatch(r"repo/index/" + H, key):
        kinds["index"].append(key)
    elif re.fullmatch(r"repo/snapshots/" + H, key):
        kinds["snapshots"].append(key)
    elif re.fullmatch(r"repo/locks/" + H, key):
        kinds["locks"].append(key)
    elif (m := re.fullmatch(r"repo/data/([0-9a-f]{2})/(" + H + ")", key)) and m.group(2).startswith(m.group(1)):
        kinds["data"].append(key)
    else:
        kinds["other"].append(key)
print("bucket: " + ", ".join("%s %d" % (k, len(v)) for k, v in kinds.items()))
bad = []
want = {"config": 1, "keys": 1, "data": packs, "snapshots": snaps, "locks": 0, "other": 0}
for k, n in want.items():
    if len(kinds[k]) != n:
        bad.append("%d %s objects, expected %d: %s" % (len(kinds[k]), k, n, kinds[k][:5]))
if not kinds["index"]:
    bad.append("no index object")
data_bytes = sum(sizes[k] for k in kinds["data"])
if data_bytes != pack_bytes:
    bad.append("packs in the bucket hold %d bytes, cairn stats says %d" % (data_bytes, pack_bytes))
if any(sizes[k] == 0 for k in sizes):
    bad.append("empty objects: %s" % [k for k in sizes if sizes[k] == 0])
if bad:
    sys.exit("\n".join(bad))
PY
# awscli's own recursive listing agrees on the count.
nls=$(s3aws s3 ls --recursive "s3://$S3_BUCKET/" | wc -l)
expect_eq "$nls" "$(wc -l <"$TMP/objects")" "objects listed by aws s3 ls --recursive"

# The snapshot objects are named by the snapshot ids.
ids=$(snapshot_ids | sort)
names=$(grep -o '^repo/snapshots/[0-9a-f]*' "$TMP/objects" | sed 's|.*/||' | sort)
expect_eq "$names" "$ids" "snapshot object names"

# config: encrypted, so neither JSON nor readable text.
s3aws s3 cp --only-show-errors "s3://$S3_BUCKET/repo/config" "$TMP/config" || fail "aws s3 cp config failed"
python3 - "$TMP/config" <<'PY' || fail "repo/config is not encrypted"
import json, sys
b = open(sys.argv[1], "rb").read()
try:
    json.loads(b)
    sys.exit("config parses as JSON")
except ValueError:
    pass
for word in (b'"version"', b"chunker", b"compression", b"repo_id", b"{\""):
    if word in b:
        sys.exit("config contains %r in clear" % word)
if len(b) < 40 + 16:
    sys.exit("config is only %d bytes" % len(b))
printable = sum(32 <= c < 127 for c in b) / len(b)
if printable > 0.9:
    sys.exit("config is %.0f%% printable" % (printable * 100))
PY
# The key file is JSON (KDF parameters, salt, the sealed master key), and
# does not contain the password.
key=$(grep -o '^repo/keys/[0-9a-f]*' "$TMP/objects")
s3aws s3 cp --only-show-errors "s3://$S3_BUCKET/$key" "$TMP/keyfile" || fail "aws s3 cp $key failed"
python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); assert d["kdf"] == "argon2id" and d["salt"] and d["data"], d' \
        "$TMP/keyfile" || fail "$key is not the documented key JSON"
expect_no_secret "correct horse battery staple" "$TMP/keyfile" "$TMP/config"

# A pack downloaded and uploaded again by awscli is byte for byte the same
# object: the repository still checks with every byte read.
pack=$(grep -o '^repo/data/[0-9a-f]*/[0-9a-f]*' "$TMP/objects" | head -n 1)
s3aws s3 cp --only-show-errors "s3://$S3_BUCKET/$pack" "$TMP/pack" || fail "aws s3 cp $pack failed"
s3aws s3 cp --only-show-errors "$TMP/pack" "s3://$S3_BUCKET/$pack" || fail "aws s3 cp back to $pack failed"
expect_check --read-data

# Listings of more than one page: S3 answers at most 1000 keys a
# ListObjectsV2 request, and cairn asks for the next page with the
# continuation token. 1010 stray packs (named as packs, in no index) put
# beside the repository's own by awscli: check names every one of them,
# prune deletes exactly those, and the bucket holds the repository's
# objects again, no more and no fewer (the index aside: prune writes it
# anew). Each command lists data/ in two
# pages: the server logs one request with a continuation token for each.
python3 - "$TMP/stray/repo/data" <<'PY' || fail "could not make the stray packs"
import hashlib, os, sys
for i in range(1010):
    h = hashlib.sha256(b"stray %d" % i).hexdigest()
    os.makedirs(os.path.join(sys.argv[1], h[:2]), exist_ok=True)
    with open(os.path.join(sys.argv[1], h[:2], h), "wb") as f:
        f.write(b"not a pack %d\n" % i)
PY
s3_objects "$S3_BUCKET" >"$TMP/objects-before"
s3aws s3 cp --only-show-errors --recursive "$TMP/stray/" "s3://$S3_BUCKET/" || fail "aws s3 cp of the stray packs failed"
expect_eq "$(s3_objects "$S3_BUCKET" repo/data/ | wc -l)" "$((packs + 1010))" "packs in the bucket with the stray ones"
continued() { sed 's/\x1b\[[0-9;]*m//g' "$S3_DIR/s3rver.log" | grep -c 'continuation-token=' || true; }
before=$(continued)
expect_exit 0 "$CAIRN" check
expect_eq "$(grep -c "not referenced by any index" "$TMP/out" "$TMP/err" | awk -F: "{n += \$2} END {print n}")" 1010 "stray packs reported by check"
expect_eq "$(($(continued) - before))" 1 "continued listings during check"
before=$(continued)
expect_exit 0 "$CAIRN" prune --json
expect_eq "$(pyjson 'd["packs_unindexed"]')" 1010 "stray packs deleted by prune"
expect_eq "$(($(continued) - before))" 1 "continued listings during prune"
s3_objects "$S3_BUCKET" >"$TMP/objects-after"
grep -v '^repo/index/' "$TMP/objects-before" >"$TMP/objects-before.noindex"
grep -v '^repo/index/' "$TMP/objects-after" >"$TMP/objects-after.noindex"
cmp -s "$TMP/objects-before.noindex" "$TMP/objects-after.noindex" ||
        { diff "$TMP/objects-before.noindex" "$TMP/objects-after.noindex" | head >&2
          fail "the bucket after prune is not what it was before the stray packs"; }
expect_check --read-data

# Virtual-host style: the bucket in the host name. s3rver takes
# BUCKET.s3.localhost as the bucket (server.sh --service-endpoint
# localhost) and curl sends *.localhost to the loopback address.
(
        export CAIRN_REPOSITORY=s3:http://s3.localhost:$S3_PORT/$S3_BUCKET/repo
        expect_exit 0 "$CAIRN" --s3-virtual-host snapshots --json
        expect_eq "$(pyjson 'len(d)')" 3 "snapshots listed with --s3-virtual-host"
        expect_exit 0 "$CAIRN" restore --s3-virtual-host "latest:$SRC/text" --target "$TMP/vhost"
        treecmp "$SRC/text" "$TMP/vhost" --no-atime
)

# And a second repository under another prefix of the same bucket stays
# apart from the first.
(
        export CAIRN_REPOSITORY=s3:$S3_ENDPOINT/$S3_BUCKET/other/place
        expect_exit 0 "$CAIRN" init --kdf min
        expect_exit 0 "$CAIRN" backup "$SRC/text"
        expect_eq "$(snapshot_count)" 1 "snapshots in the second repository"
)
expect_eq "$(snapshot_count)" 3 "snapshots in the first repository after the second was made"
n_other=$(s3_objects "$S3_BUCKET" other/place/ | wc -l)
((n_other >= 5)) || fail "only $n_other objects under other/place/"

expect_all_signed_ok
echo "ok: s3_interop"
