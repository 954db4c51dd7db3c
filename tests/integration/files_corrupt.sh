#!/bin/bash
# files_corrupt: one flipped byte in any pack is found by check --read-data,
# which names the pack; with the byte put back the repository checks clean.
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

echo "ok: files_corrupt"
