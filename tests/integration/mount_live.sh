#!/bin/bash
# mount_live: snapshots taken while the repository is mounted appear in the
# mount without remounting, within 10 s: under snapshots/ (with `latest`
# moving to the new one), ids/, hosts/, tags/<tag>/ and kinds/stdin/, with
# the new contents readable, while the old snapshot still shows the old
# contents. Snapshots sharing a second get "-2", "-3" suffixes.
source "$(dirname "$0")/lib.sh"

SRC=$TMP/src
MNT=$TMP/mnt
gentree "$SRC" --small 300 --big-mib 8
host=$(hostname)

expect_exit 0 "$CAIRN" init --kdf min
expect_exit 0 "$CAIRN" backup "$SRC"
snap1=$(last_snapshot_id)
name1=$(snapshot_names "$snap1")
old_big=$(sha256sum <"$SRC/big.bin")
old_t13=$(sha256sum <"$SRC/text/t_00000013.txt")

mount_repo "$MNT"
expect_eq "$(readlink "$MNT/snapshots/latest")" "$name1" "snapshots/latest before"
expect_eq "$(ls -A "$MNT/tags")" "" "tags/ before any tagged backup"
[[ ! -e $MNT/kinds/stdin ]] || fail "kinds/stdin exists before any stdin backup"

# wait_for WHAT CMD...: CMD succeeds within 10 s.
wait_for() {
        local what=$1 i t0=$SECONDS
        shift
        for ((i = 0; i < 100; i++)); do
                if "$@" >/dev/null 2>&1; then
                        echo "$what: after $((SECONDS - t0)) s"
                        return 0
                fi
                sleep 0.1
        done
        fail "$what: not within 10 s"
}
link_is() { [[ $(readlink "$1") == "$2" ]]; }

# A changed tree, backed up with a tag while mounted.
sleep 1
"$GENTREE" --mutate-middle "$SRC/big.bin" --seed 7 >/dev/null
printf 'new file, second snapshot\n' >"$SRC/new-file"
printf 'changed\n' >"$SRC/text/t_00000013.txt"
rm "$SRC/text/t_00000001.txt"
expect_exit 0 "$CAIRN" backup --tag live "$SRC"
snap2=$(last_snapshot_id)
name2=$(snapshot_names "$snap2")
[[ $name2 != "$name1" ]] || fail "two snapshots with one name $name1"

wait_for "snapshots/latest -> the new snapshot" link_is "$MNT/snapshots/latest" "$name2"
expect_eq "$(ls "$MNT/snapshots")" "$(printf '%s\n' "$name1" "$name2" latest | sort)" "ls snapshots/"
expect_eq "$(ls "$MNT/ids")" "$(printf '%s\n' "${snap1:0:8}" "${snap2:0:8}" | sort)" "ls ids/"
treecmp "$SRC" "$MNT/snapshots/latest$SRC" --no-atime --no-sparse --nlink
cmp "$SRC/new-file" "$MNT/ids/${snap2:0:8}$SRC/new-file" || fail "new-file through ids/"
[[ ! -e $MNT/snapshots/latest$SRC/text/t_00000001.txt ]] || fail "a removed file is in the new snapshot"

# The old snapshot is unchanged.
expect_eq "$(sha256sum <"$MNT/snapshots/$name1$SRC/big.bin")" "$old_big" "big.bin in the old snapshot"
expect_eq "$(sha256sum <"$MNT/snapshots/$name1$SRC/text/t_00000013.txt")" "$old_t13" "t_00000013.txt in the old snapshot"
[[ -f $MNT/snapshots/$name1$SRC/text/t_00000001.txt ]] || fail "t_00000001.txt missing from the old snapshot"
[[ ! -e $MNT/snapshots/$name1$SRC/new-file ]] || fail "new-file shows in the old snapshot"

# tags/live/ and hosts/.
wait_for "tags/live/latest" link_is "$MNT/tags/live/latest" "$name2"
expect_eq "$(ls "$MNT/tags")" "live" "ls tags/"
expect_eq "$(ls "$MNT/tags/live")" "$(printf '%s\n' "$name2" latest | sort)" "ls tags/live/"
cmp "$SRC/new-file" "$MNT/tags/live/latest$SRC/new-file" || fail "new-file through tags/live/latest"
expect_eq "$(ls "$MNT/hosts/$host")" "$(printf '%s\n' "$name1" "$name2" latest | sort)" "ls hosts/$host/"
expect_eq "$(readlink "$MNT/hosts/$host/latest")" "$name2" "hosts/$host/latest"

# Stream backups: two in quick succession (often within one second, which
# gives the second a "-2" name), one under another host name and tag.
printf 'one\n' | "$CAIRN" backup --stdin --stdin-filename one.txt >"$TMP/out" 2>"$TMP/err" || fail "stdin backup 1"
snap3=$(last_snapshot_id)
printf 'two\n' | "$CAIRN" backup --stdin --stdin-filename two.txt --host other-host --tag streams \
        >"$TMP/out" 2>"$TMP/err" || fail "stdin backup 2"
snap4=$(last_snapshot_id)
name3=$(snapshot_names "$snap3")
name4=$(snapshot_names "$snap4")
echo "stream snapshots: $name3 $name4"

wait_for "snapshots/latest -> the last stream snapshot" link_is "$MNT/snapshots/latest" "$name4"
expect_eq "$(ls "$MNT/snapshots")" "$(printf '%s\n' "$(snapshot_names)" latest | sort)" "ls snapshots/ (all)"
expect_eq "$(cat "$MNT/snapshots/$name3/one.txt")" "one" "one.txt"
expect_eq "$(cat "$MNT/snapshots/latest/two.txt")" "two" "two.txt"
expect_eq "$(ls "$MNT/kinds")" "$(printf '%s\n' files stdin)" "ls kinds/"
expect_eq "$(readlink "$MNT/kinds/stdin/latest")" "$name4" "kinds/stdin/latest"
expect_eq "$(readlink "$MNT/kinds/files/latest")" "$name2" "kinds/files/latest"
expect_eq "$(ls "$MNT/kinds/stdin")" "$(printf '%s\n' "$name3" "$name4" latest | sort)" "ls kinds/stdin/"
expect_eq "$(ls "$MNT/hosts")" "$(printf '%s\n' "$host" other-host | sort)" "ls hosts/"
# (read at the tag check above: its dentry may live a view timeout (1 s)
# longer than snapshots/latest's)
wait_for "hosts/$host/latest after the stream backups" link_is "$MNT/hosts/$host/latest" "$name3"
expect_eq "$(readlink "$MNT/hosts/other-host/latest")" "$name4" "hosts/other-host/latest"
expect_eq "$(ls "$MNT/tags")" "$(printf '%s\n' live streams | sort)" "ls tags/ (two tags)"
expect_eq "$(cat "$MNT/tags/streams/latest/two.txt")" "two" "tags/streams/latest/two.txt"
expect_eq "$(readlink "$MNT/tags/live/latest")" "$name2" "tags/live/latest after the stream backups"
expect_eq "$(ls "$MNT/ids" | wc -l)" 4 "entries in ids/"

unmount_repo "$MNT"
echo "ok: mount_live"
