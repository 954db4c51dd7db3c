#!/bin/bash
# files_options: the options a user reaches for — --exclude, --tag, --host,
# --one-file-system, restore --include/--exclude, snapshot filters — and
# the password commands (key add/list/remove/passwd), each checked against
# exact file lists and counts.
source "$(dirname "$0")/lib.sh"

SRC=$TMP/src
mkdir -p "$SRC/keep" "$SRC/skip" "$SRC/other"
printf 'a\n' >"$SRC/keep/a.txt"
printf 'b\n' >"$SRC/keep/b.log"
printf 'c\n' >"$SRC/skip/c.txt"
printf 'd\n' >"$SRC/other/d.txt"
# another file system inside the tree
mkdir "$SRC/mnt"
mount -t tmpfs -o size=1m tmpfs "$SRC/mnt"
printf 'e\n' >"$SRC/mnt/e.txt"

expect_exit 0 "$CAIRN" init --kdf min

# --exclude by name and by path, --tag, --host
expect_exit 0 "$CAIRN" backup --exclude '*.log' --exclude "$SRC/skip" --tag t1,t2 --host hostA "$SRC"
"$CAIRN" ls latest >"$TMP/ls1"
grep -qx "$SRC/keep/a.txt" "$TMP/ls1" || fail "a.txt missing"
! grep -q 'b.log' "$TMP/ls1" || fail "--exclude '*.log' kept b.log"
! grep -q "$SRC/skip" "$TMP/ls1" || fail "--exclude $SRC/skip kept it"
grep -qx "$SRC/mnt/e.txt" "$TMP/ls1" || fail "without --one-file-system the tmpfs contents are backed up"
expect_exit 0 "$CAIRN" snapshots --json
expect_eq "$(pyjson 'd[0]["host"] + " " + ",".join(d[0]["tags"])')" "hostA t1,t2" "host and tags"

# --one-file-system: the mount point is kept, empty
expect_exit 0 "$CAIRN" backup --one-file-system --host hostB "$SRC"
"$CAIRN" ls latest >"$TMP/ls2"
grep -qx "$SRC/mnt" "$TMP/ls2" || fail "--one-file-system dropped the mount point itself"
! grep -q "$SRC/mnt/e.txt" "$TMP/ls2" || fail "--one-file-system crossed into the tmpfs"
umount "$SRC/mnt"

# filters: latest per host, by tag
id_a=$("$CAIRN" snapshots --json --host hostA | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
expect_exit 0 "$CAIRN" ls latest --host hostA
grep -qx "$SRC/mnt/e.txt" "$TMP/out" || fail "latest --host hostA is not the first snapshot"
expect_exit 0 "$CAIRN" snapshots --json --tag t2
expect_eq "$(pyjson '" ".join(s["id"] for s in d)')" "$id_a" "snapshots --tag t2"

# restore --include / --exclude
expect_exit 0 "$CAIRN" restore "latest:$SRC" --target "$TMP/r1" --include '*.txt' --exclude 'd.txt' --host hostB
expect_eq "$(cd "$TMP/r1" && find . -type f | sort | tr '\n' ' ')" "./keep/a.txt ./skip/c.txt " "files restored with --include '*.txt' --exclude d.txt"

# an included directory below directories that are not: they are made
# (before, its mkdir failed with "No such file or directory", exit 3)
mkdir -p "$TMP/nest/src/a/b/d2"
echo "deep" >"$TMP/nest/src/a/b/d2/f"
echo "other" >"$TMP/nest/src/a/other"
expect_exit 0 "$CAIRN" backup "$TMP/nest/src"
expect_exit 0 "$CAIRN" restore "latest:$TMP/nest/src" --target "$TMP/nest/dst" --include d2
expect_eq "$(cd "$TMP/nest/dst" && find . | sort | tr '\n' ' ')" ". ./a ./a/b ./a/b/d2 ./a/b/d2/f " "entries restored with --include d2"
cmp "$TMP/nest/src/a/b/d2/f" "$TMP/nest/dst/a/b/d2/f" || fail "d2/f restored wrong"

# passwords: add a second, open with it, remove the first, passwd
printf 'second password\n' >"$TMP/pw2"
printf 'third password\n' >"$TMP/pw3"
expect_exit 0 "$CAIRN" key add --new-password-file "$TMP/pw2" --kdf min
expect_exit 0 "$CAIRN" key list --json
expect_eq "$(pyjson 'len(d)')" 2 "keys after key add"
expect_exit 0 "$CAIRN" --password-file "$TMP/pw2" snapshots
# the key in use cannot be removed; another one can
inuse=$(CAIRN_PASSWORD_FILE=$TMP/pw2 "$CAIRN" key list | awk '/^\*/ {print substr($1, 2)}')
expect_exit 1 "$CAIRN" --password-file "$TMP/pw2" key remove "$inuse"
expect_err_line "in use"
other=$(CAIRN_PASSWORD_FILE=$TMP/pw2 "$CAIRN" key list --json | python3 -c "import json,sys; print([k['id'] for k in json.load(sys.stdin) if not k['id'].startswith('$inuse')][0])")
expect_exit 0 "$CAIRN" --password-file "$TMP/pw2" key remove "$other"
expect_exit 1 "$CAIRN" snapshots
expect_err_line "wrong password"
expect_exit 0 "$CAIRN" --password-file "$TMP/pw2" key passwd --new-password-file "$TMP/pw3" --kdf min
expect_exit 1 "$CAIRN" --password-file "$TMP/pw2" snapshots
expect_exit 0 "$CAIRN" --password-file "$TMP/pw3" key list --json
expect_eq "$(pyjson 'len(d)')" 1 "keys after passwd"

echo "ok: files_options"
