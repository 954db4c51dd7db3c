#!/bin/bash
# files_errors: each user error fails cleanly — non-zero exit, one line on
# stderr that names the problem — and leaves no snapshot behind.
source "$(dirname "$0")/lib.sh"

SRC=$TMP/src
gentree "$SRC" --small 50 --big-mib 1
expect_exit 0 "$CAIRN" init --kdf min
expect_exit 0 "$CAIRN" backup "$SRC"

# --- wrong password, from a file (env and flag) and from CAIRN_PASSWORD
echo "not the password" >"$TMP/wrongpw"
CAIRN_PASSWORD_FILE=$TMP/wrongpw expect_fail "$CAIRN" snapshots
expect_err_line 'wrong password'
expect_fail "$CAIRN" --password-file "$TMP/wrongpw" snapshots
expect_err_line 'wrong password'
(
        unset CAIRN_PASSWORD_FILE
        export CAIRN_PASSWORD="not the password"
        expect_fail "$CAIRN" snapshots
        expect_err_line 'wrong password'
)

# --- missing repository: the message names the path
expect_fail "$CAIRN" -r "$TMP/no-such-repo" snapshots
expect_err_line "no-such-repo"
CAIRN_REPOSITORY=$TMP/no-such-repo-2 expect_fail "$CAIRN" backup "$SRC"
expect_err_line "no-such-repo-2"
[[ ! -e $TMP/no-such-repo-2 ]] || fail "a failed backup created the repository"

# --- nonexistent backup path: named, no snapshot written
count=$(snapshot_count)
expect_exit 1 "$CAIRN" backup "$TMP/does-not-exist"
expect_err_line "does-not-exist"
expect_eq "$(snapshot_count)" "$count" "snapshots after backing up a missing path"

# --- unknown snapshot id
expect_fail "$CAIRN" ls 0000000000
expect_err_line "0000000000"

# --- ambiguous id prefix: back up until two snapshot ids share a first
# hex digit (17 snapshots make it certain).
prefix=
for _ in $(seq 17); do
        prefix=$(snapshot_ids | cut -c1 | sort | uniq -d | head -n 1)
        [[ -z $prefix ]] || break
        expect_exit 0 "$CAIRN" backup -q "$SRC"
done
[[ -n $prefix ]] || fail "no two snapshot ids share a first digit"
expect_fail "$CAIRN" ls "$prefix"
AMBIGUOUS='[Aa]mbiguous|[Mm]ultiple|more than one|several'
expect_err_line "$AMBIGUOUS"
expect_fail "$CAIRN" restore "$prefix" --target "$TMP/never"
expect_err_line "$AMBIGUOUS"
[[ ! -e $TMP/never ]] || fail "restore of an ambiguous id created its target"

# --- a target that exists and is a file: refused, the file untouched (the
# snapshot's root metadata went onto it: mode and mtime, exit 3)
echo "not a directory" >"$TMP/afile"
chmod 640 "$TMP/afile"
touch -d '2001-02-03 04:05:06' "$TMP/afile"
before=$(stat -c '%a %Y %s' "$TMP/afile")
expect_exit 1 "$CAIRN" restore latest --target "$TMP/afile"
expect_err_line "^cairn: restore: $TMP/afile: the target exists and is not a directory \\(give a directory for --target\\)\$"
expect_eq "$(stat -c '%a %Y %s' "$TMP/afile") $(cat "$TMP/afile")" "$before not a directory" "the file given as target"

# --- in the target, a file where the snapshot has a directory, and a
# symlink to a directory outside: both left as they are, each named, the
# directories' contents not restored there (the symlink would have led the
# restore out of the target), everything else restored; exit 3
mkdir -p "$TMP/way/src/d" "$TMP/way/src/e" "$TMP/way/dst" "$TMP/way/outside"
echo "in d" >"$TMP/way/src/d/f"
echo "in e" >"$TMP/way/src/e/g"
echo "top" >"$TMP/way/src/top"
expect_exit 0 "$CAIRN" backup "$TMP/way/src"
echo "precious" >"$TMP/way/dst/d"
touch -d '2001-02-03 04:05:06' "$TMP/way/dst/d"
ln -s "$TMP/way/outside" "$TMP/way/dst/e"
before=$(stat -c '%a %Y' "$TMP/way/dst/d")
expect_exit 3 "$CAIRN" restore "latest:$TMP/way/src" --target "$TMP/way/dst"
expect_eq "$(sort "$TMP/err")" "cairn: restore: $TMP/way/dst/d: exists and is not a directory: left as it is, and the directory's contents not restored
cairn: restore: $TMP/way/dst/e: exists and is not a directory: left as it is, and the directory's contents not restored" \
        "stderr of a restore with a file and a symlink in the way"
expect_eq "$(stat -c '%a %Y' "$TMP/way/dst/d") $(cat "$TMP/way/dst/d") $(ls -A "$TMP/way/outside" | wc -l)" \
        "$before precious 0" "the file in the way, and the directory the symlink points to"
cmp "$TMP/way/src/top" "$TMP/way/dst/top" || fail "top not restored beside the entries in the way"
# a file in the target that is another name (hard link) of a file outside
# it is replaced, not written through (O_TRUNC wrote into the shared inode)
mkdir -p "$TMP/way/dst3"
echo "outside, linked" >"$TMP/way/outside-file"
ln "$TMP/way/outside-file" "$TMP/way/dst3/top"
expect_exit 0 "$CAIRN" restore "latest:$TMP/way/src" --target "$TMP/way/dst3"
expect_eq "$(cat "$TMP/way/outside-file") $(stat -c %h "$TMP/way/outside-file")" "outside, linked 1" \
        "the file outside the target that was linked into it"
cmp "$TMP/way/src/top" "$TMP/way/dst3/top" || fail "top not restored over the linked file"
# and with --include, the parents the restore makes for an included file
# are not gone through either
mkdir -p "$TMP/way/dst2"
ln -s "$TMP/way/outside" "$TMP/way/dst2/e"
expect_exit 3 "$CAIRN" restore "latest:$TMP/way/src" --target "$TMP/way/dst2" --include g
expect_err_line "^cairn: restore: $TMP/way/dst2/e: exists and is not a directory: left as it is, and the directory's contents not restored\$"
expect_eq "$(ls -A "$TMP/way/outside" | wc -l)" 0 "entries in the directory the symlink points to, after --include g"

# --- exclusive lock held: backup refuses with a message about the lock
count=$(snapshot_count)
"$CAIRN" lock --exclusive --hold 60 >"$TMP/lock.out" 2>&1 &
lockpid=$!
# The holder prints "locked" once the lock is in the repository.
for _ in $(seq 100); do
        grep -qx locked "$TMP/lock.out" && break
        kill -0 "$lockpid" 2>/dev/null || { cat "$TMP/lock.out" >&2; fail "cairn lock --exclusive --hold exited"; }
        sleep 0.1
done
grep -qx locked "$TMP/lock.out" || fail "cairn lock --exclusive --hold did not take the lock"
expect_fail "$CAIRN" backup "$SRC"
expect_err_line "locked"
expect_eq "$(snapshot_count)" "$count" "snapshots after a backup refused by a lock"
kill "$lockpid" 2>/dev/null || true
wait "$lockpid" 2>/dev/null || true
expect_exit 0 "$CAIRN" unlock
expect_exit 0 "$CAIRN" backup "$SRC"

# --- an unreadable file: root reads everything, so this part runs cairn as
# nobody (setpriv) on a repository nobody owns. Exit 3, the file named on
# stderr, and a snapshot of everything else.
chmod 711 "$TMP"
NB=$TMP/nobody
mkdir -p "$NB/src/sub"
echo "readable" >"$NB/src/ok.txt"
echo "secret" >"$NB/src/sub/secret.txt"
printf 'nobody password\n' >"$NB/pw"
chown -R 65534:65534 "$NB"
chown 0:0 "$NB/src/sub/secret.txt"
chmod 600 "$NB/src/sub/secret.txt"
as_nobody() {
        setpriv --reuid=65534 --regid=65534 --clear-groups \
                env CAIRN_REPOSITORY="$NB/repo" CAIRN_PASSWORD_FILE="$NB/pw" HOME="$NB" "$@"
}
expect_exit 0 as_nobody "$CAIRN" init --kdf min
expect_exit 3 as_nobody "$CAIRN" backup "$NB/src"
grep -qx "cairn: backup: $NB/src/sub/secret.txt: Permission denied" "$TMP/err" ||
        fail "unreadable file not reported as expected: $(cat "$TMP/err")"
grep -q "^snapshot [0-9a-f]\{64\} saved$" "$TMP/out" || fail "exit 3 but no snapshot saved"
as_nobody "$CAIRN" ls latest:"$NB/src" >"$TMP/nb.ls"
expect_eq "$(cat "$TMP/nb.ls")" "$NB/src
$NB/src/ok.txt
$NB/src/sub" "entries of the snapshot with an unreadable file"

# --- restore where some files cannot be created: each one named on stderr,
# exit 3, everything else restored byte for byte. Files are created while
# the contents are read, so this checks that a skipped file's blobs are not
# written and that the other name of a hard link still gets its bytes.
mkdir -p "$TMP/cc/src/d"
head -c $((3 * 1024 * 1024)) /dev/urandom >"$TMP/cc/src/d/big.bin"
head -c 700000 /dev/urandom >"$TMP/cc/src/d/blocked.bin"
echo "first name" >"$TMP/cc/src/d/h1"
ln "$TMP/cc/src/d/h1" "$TMP/cc/src/d/h2"
echo "last" >"$TMP/cc/src/d/z.txt"
expect_exit 0 "$CAIRN" backup "$TMP/cc/src"
mkdir -p "$TMP/cc/dst/d/blocked.bin/x" "$TMP/cc/dst/d/h1/x"
expect_exit 3 "$CAIRN" restore "latest:$TMP/cc/src" --target "$TMP/cc/dst"
expect_eq "$(sort "$TMP/err")" "cairn: restore: $TMP/cc/dst/d/blocked.bin: Is a directory
cairn: restore: $TMP/cc/dst/d/h1: Is a directory" "stderr of a restore with two files that cannot be created"
for f in big.bin h2 z.txt; do
        cmp "$TMP/cc/src/d/$f" "$TMP/cc/dst/d/$f" || fail "restored d/$f differs"
done
expect_eq "$(stat -c %h "$TMP/cc/dst/d/h2")" 1 "links of h2 when its first name could not be made"
expect_eq "$(ls "$TMP/cc/dst/d/blocked.bin" "$TMP/cc/dst/d/h1" | tr '\n' ' ')" \
        "$TMP/cc/dst/d/blocked.bin: x  $TMP/cc/dst/d/h1: x " "the directories in the way"
# The same with --verify: the files that were not made are not verified.
mkdir -p "$TMP/cc/dst2/d/blocked.bin/x" "$TMP/cc/dst2/d/h1/x"
expect_exit 3 "$CAIRN" restore "latest:$TMP/cc/src" --target "$TMP/cc/dst2" --verify
expect_eq "$(sort "$TMP/err")" "cairn: restore: $TMP/cc/dst2/d/blocked.bin: Is a directory
cairn: restore: $TMP/cc/dst2/d/h1: Is a directory" "stderr of a restore --verify with two files that cannot be created"
cmp "$TMP/cc/src/d/h2" "$TMP/cc/dst2/d/h2" || fail "restored d/h2 differs (--verify)"

# --- a full disk: the repository on an 8 MiB tmpfs, a 20 MiB backup. One
# line naming the problem, no snapshot, and the repository still checks.
mkdir "$TMP/small"
mount -t tmpfs -o size=8m tmpfs "$TMP/small"
head -c $((20 * 1024 * 1024)) /dev/urandom >"$TMP/big.bin"
CAIRN_REPOSITORY=$TMP/small/repo expect_exit 0 "$CAIRN" init --kdf min
CAIRN_REPOSITORY=$TMP/small/repo expect_exit 1 "$CAIRN" backup "$TMP/big.bin"
expect_err_line "No space left on device"
expect_eq "$(ls "$TMP/small/repo/snapshots" | wc -l)" 0 "snapshots after a full disk"
[[ -z $(find "$TMP/small/repo" -name '*.tmp-*') ]] || fail "a failed write left a temporary file"
CAIRN_REPOSITORY=$TMP/small/repo expect_exit 0 "$CAIRN" check --read-data
umount "$TMP/small"

# --- a damaged config: named, with what to do
cp "$CAIRN_REPOSITORY/config" "$TMP/config.bak"
printf 'x' | dd of="$CAIRN_REPOSITORY/config" bs=1 seek=40 conv=notrunc status=none
expect_fail "$CAIRN" snapshots
expect_err_line "config"
cp "$TMP/config.bak" "$CAIRN_REPOSITORY/config"

# --- a failing command fails the backup and writes no snapshot
count=$(snapshot_count)
expect_fail "$CAIRN" backup --stdin-from-command -- false
expect_eq "$(snapshot_count)" "$count" "snapshots after --stdin-from-command -- false"
[[ -s $TMP/err ]] || fail "a failed --stdin-from-command printed no error"

# --- a command's output is stored and dumped back byte for byte
expect_exit 0 "$CAIRN" backup --stdin-filename s.bin --stdin-from-command -- \
        sh -c "head -c 5000000 /dev/urandom | tee '$TMP/s.bin'"
last_snapshot_id >/dev/null
expect_eq "$(snapshot_count)" $((count + 1)) "snapshots after --stdin-from-command"
expect_eq "$(stat -c %s "$TMP/s.bin")" 5000000 "size of the command's output"
"$CAIRN" dump latest:/s.bin >"$TMP/s.dump" || fail "dump latest:/s.bin failed"
cmp "$TMP/s.bin" "$TMP/s.dump" || fail "dump of the stream differs from the command's output"

# --- an unknown option is an error that names it
expect_fail "$CAIRN" backup --no-such-option "$SRC"
grep -q -- '--no-such-option' "$TMP/err" || fail "unknown option not named: $(cat "$TMP/err")"

expect_check --read-data

echo "ok: files_errors"
