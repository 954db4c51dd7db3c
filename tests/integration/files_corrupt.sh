#!/bin/bash
# files_corrupt: one flipped byte in any pack is found by check --read-data,
# which names the pack; with the byte put back the repository checks clean.
# A restore from a repository that lost a pack, or holds it cut short or
# with a flipped byte, restores every file it can read and names the rest;
# a directory whose tree is lost is named and the rest restored; with an
# index file lost, what it listed is named, and of a file, what is known.
source "$(dirname "$0")/lib.sh"

SRC=$TMP/src
gentree "$SRC" --small 500 --big-mib 40
expect_exit 0 "$CAIRN" init --kdf min
expect_exit 0 "$CAIRN" backup "$SRC"
expect_check --read-data

mapfile -t packs < <(find "$CAIRN_REPOSITORY" -path '*/data/*' -type f | sort)
(( ${#packs[@]} >= 2 )) || fail "expected several packs, found ${#packs[@]}"
for pack in "${packs[@]}"; do
        id=$(basename "$pack")
        sum=$(sha256sum <"$pack")
        flip_middle "$pack"
        expect_fail "$CAIRN" check --read-data
        grep -qF "${id:0:8}" "$TMP/out" "$TMP/err" || {
                _show_output
                fail "check --read-data did not name the damaged pack $id"
        }
        flip_middle "$pack"
        expect_eq "$(sha256sum <"$pack")" "$sum" "pack $id after restoring the byte"
        expect_check
done
expect_check --read-data

# A restore goes on past data the repository lost: each file with a blob
# that cannot be read is named (with why) and left incomplete, every other
# file is restored exactly, exit 3. The largest pack is a data pack.
pack=$(find "$CAIRN_REPOSITORY/data" -type f -printf '%s %p\n' | sort -n | tail -n 1 | cut -d' ' -f2-)
rel=${pack#"$CAIRN_REPOSITORY/"}
cp -p "$pack" "$TMP/pack.saved"
# the pack is gone
rm "$pack"
expect_exit 3 "$CAIRN" restore "latest:$SRC" --target "$TMP/lost"
expect_incomplete_restore "$SRC" "$TMP/lost" "^$CAIRN_REPOSITORY/$rel: no such object\$"
# a pack cut in half: only the files with blobs past the cut are named
# (ten files of one blob each, in one pack of their own)
(
        export CAIRN_REPOSITORY=$TMP/repo-ten
        mkdir -p "$TMP/ten"
        for i in 0 1 2 3 4 5 6 7 8 9; do head -c 100000 /dev/urandom >"$TMP/ten/f$i"; done
        expect_exit 0 "$CAIRN" init --kdf min
        expect_exit 0 "$CAIRN" backup "$TMP/ten"
        tpack=$(find "$CAIRN_REPOSITORY/data" -type f -printf '%s %p\n' | sort -n | tail -n 1 | cut -d' ' -f2-)
        truncate -s $(($(stat -c %s "$tpack") / 2)) "$tpack"
        expect_exit 3 "$CAIRN" restore "latest:$TMP/ten" --target "$TMP/short" --verify
        expect_incomplete_restore "$TMP/ten" "$TMP/short" \
                "^$CAIRN_REPOSITORY/${tpack#"$CAIRN_REPOSITORY/"}: object shorter than expected\$"
        cut=$(grep -c 'the file is incomplete' "$TMP/err")
        ((cut >= 4 && cut <= 6)) || fail "$cut of ten files named with half their pack"
)
# a lost tree: the directory is named, left empty and without its metadata,
# everything else restored. Two backups: the second writes the trees of
# what changed (the root, b/) into a new tree pack; a/'s tree stays in the
# first backup's, the smallest pack it wrote (its data pack holds 600 KB).
(
        export CAIRN_REPOSITORY=$TMP/repo-trees
        mkdir -p "$TMP/trees/a/deep" "$TMP/trees/b"
        for f in a/1 a/deep/2 b/3; do head -c 200000 /dev/urandom >"$TMP/trees/$f"; done
        expect_exit 0 "$CAIRN" init --kdf min
        expect_exit 0 "$CAIRN" backup "$TMP/trees"
        first=$(find "$CAIRN_REPOSITORY/data" -type f -printf '%s %p\n' | sort -n)
        echo "a new file" >"$TMP/trees/b/4"
        expect_exit 0 "$CAIRN" backup "$TMP/trees"
        tpack=$(head -n 1 <<<"$first" | cut -d' ' -f2-)
        (( $(wc -l <<<"$first") == 2 )) || fail "the first backup wrote $(wc -l <<<"$first") packs, not 2"
        rm "$tpack"
        expect_exit 3 "$CAIRN" restore "latest:$TMP/trees" --target "$TMP/trees-out"
        expect_eq "$(cat "$TMP/err")" "cairn: restore: $TMP/trees-out/a: the directory's contents are unknown (run 'cairn check --read-data'): $tpack: no such object
cairn: restore: 1 directory incomplete: the repository lacks some of their data (named above; everything else is restored)" \
                "stderr of a restore with a lost tree"
        expect_eq "$(find "$TMP/trees-out/a" | wc -l) $(stat -c %a "$TMP/trees-out/a")" "1 700" "entries and mode of the directory whose tree is lost"
        treecmp "$TMP/trees" "$TMP/trees-out" --no-atime --ignore a
)
# a lost index file: what it listed is unknown. Two backups; the second
# changed the first 1000 bytes of b/head.bin and the last 1000 of
# b/tail.bin (8 MiB each, several chunks) and added b/new. With the first
# backup's index gone, a/ (its tree listed there) is named and left empty,
# head.bin gets its new first chunk at the start and tail.bin its new last
# chunk at the end, zeros elsewhere, both named; b/new is exact.
(
        export CAIRN_REPOSITORY=$TMP/repo-index
        S=$TMP/idx
        mkdir -p "$S/a" "$S/b"
        head -c 300000 /dev/urandom >"$S/a/1"
        head -c $((8 << 20)) /dev/urandom >"$S/b/head.bin"
        head -c $((8 << 20)) /dev/urandom >"$S/b/tail.bin"
        expect_exit 0 "$CAIRN" init --kdf min
        expect_exit 0 "$CAIRN" backup "$S"
        first=$(ls "$CAIRN_REPOSITORY/index")
        (( $(wc -l <<<"$first") == 1 )) || fail "the first backup wrote $(wc -l <<<"$first") index files, not 1"
        python3 - "$S/b/head.bin" "$S/b/tail.bin" <<'PY'
import os, sys
for path, at in ((sys.argv[1], 0), (sys.argv[2], (8 << 20) - 1000)):
    with open(path, "r+b") as f:
        f.seek(at)
        f.write(os.urandom(1000))
PY
        echo "new" >"$S/b/new"
        expect_exit 0 "$CAIRN" backup "$S"
        rm "$CAIRN_REPOSITORY/index/$first"
        expect_exit 3 "$CAIRN" restore "latest:$S" --target "$TMP/idx-out" --json
        expect_eq "$(pyjson '"%d %d %d" % (d["files_incomplete"], d["dirs_incomplete"], d["errors"])')" "2 1 3" \
                "files_incomplete, dirs_incomplete and errors in restore --json"
        python3 - "$S" "$TMP/idx-out" "$TMP/err" <<'PY' || fail "restore with a lost index file"
import re, sys
src, out, err = sys.argv[1], sys.argv[2], open(sys.argv[3]).read()
hint = re.escape("(zeros in place of what is missing; run 'cairn check --read-data')")
want = [re.escape("cairn: restore: %s/a: the directory's contents are unknown (run 'cairn check --read-data'): " % out)
        + r"blob [0-9a-f]{64} is not in the index \(run 'cairn check'\)",
        re.escape("cairn: restore: %s/b/head.bin: the file is incomplete " % out) + hint
        + r": blob [0-9a-f]{16} is not in the repository's index",
        re.escape("cairn: restore: %s/b/tail.bin: the file is incomplete " % out) + hint
        + r": blob [0-9a-f]{16} is not in the repository's index",
        re.escape("cairn: restore: 2 files and 1 directory incomplete: the repository lacks some of their "
                  "data (named above; everything else is restored)")]
lines = err.splitlines()
if len(lines) != len(want) or not all(re.fullmatch(w, l) for w, l in zip(want, lines)):
    sys.exit("stderr:\n" + err)
for name, keep, zero in (("head.bin", slice(0, 1000), slice(-4096, None)),
                         ("tail.bin", slice(-1000, None), slice(0, 4096))):
    a, b = open("%s/b/%s" % (src, name), "rb").read(), open("%s/b/%s" % (out, name), "rb").read()
    if len(a) != len(b) or a[keep] != b[keep] or b[zero] != bytes(4096):
        sys.exit("%s: %d bytes (want %d), the changed chunk %s, the lost end %s" % (
            name, len(b), len(a), "kept" if a[keep] == b[keep] else "lost",
            "zeros" if b[zero] == bytes(4096) else "not zeros"))
print("lost index: a/ named, head.bin and tail.bin named with their known chunks in place")
PY
        treecmp "$S" "$TMP/idx-out" --no-atime --ignore a --ignore head.bin --ignore tail.bin
)
# one byte flipped: the blob fails authentication (also with --verify,
# which skips the files already named)
cp "$TMP/pack.saved" "$pack"
flip_middle "$pack"
expect_exit 3 "$CAIRN" restore "latest:$SRC" --target "$TMP/flipped" --verify
expect_incomplete_restore "$SRC" "$TMP/flipped" \
        "^$rel: the blob at offset [0-9]+ is damaged \\(it fails authentication or does not decompress\\)\$"
cp "$TMP/pack.saved" "$pack"
expect_exit 0 "$CAIRN" restore "latest:$SRC" --target "$TMP/whole"
treecmp "$SRC" "$TMP/whole" --no-atime
expect_check --read-data

echo "ok: files_corrupt"
