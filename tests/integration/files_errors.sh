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

# --- an unreadable file (exit 3, "cairn: backup: PATH: Permission denied")
# is not tested: the tests run as root, who reads any file whatever its
# mode, and there is no FUSE-free way to make a file unreadable to root.

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
