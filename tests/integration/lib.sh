# lib.sh — helpers sourced by the integration scripts in this folder.
#
# Each script is self-contained: `source "$(dirname "$0")/lib.sh"`, build
# its data under $TMP with $GENTREE, drive $CAIRN against the repository in
# $CAIRN_REPOSITORY, compare with $TREECMP, and end with `echo "ok: NAME"`.
# The Criterion runner (test_integration.c) sets CAIRN_BIN and GENTREE_BIN;
# by hand:
#   CAIRN_BIN=build/tools/cairn GENTREE_BIN=build/tools/cairn-gentree \
#     bash tests/integration/files_roundtrip.sh
# KEEP_TMP=1 keeps the scratch directory; CAIRN_TEST_TMP chooses its parent.
# The scripts need root (device nodes, foreign owners in the test trees).

set -euo pipefail

fail() {
        echo "FAIL: $*" >&2
        exit 1
}

[[ -n ${CAIRN_BIN:-} ]] || fail "CAIRN_BIN is not set (path to the cairn binary)"
[[ -n ${GENTREE_BIN:-} ]] || fail "GENTREE_BIN is not set (path to cairn-gentree)"
[[ -x $CAIRN_BIN ]] || fail "CAIRN_BIN=$CAIRN_BIN is not an executable"
[[ -x $GENTREE_BIN ]] || fail "GENTREE_BIN=$GENTREE_BIN is not an executable"
CAIRN=$CAIRN_BIN
GENTREE=$GENTREE_BIN
TREECMP="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/treecmp.py"
[[ $(id -u) == 0 ]] || fail "the integration tests must run as root"

TMP=$(mktemp -d "${CAIRN_TEST_TMP:-/tmp}/cairn-test.XXXXXX")
_lib_cleanup() {
        local rc=$?
        # Background jobs a script left running (lock holders, killed backups).
        local p
        for p in $(jobs -p); do
                kill -9 "$p" 2>/dev/null || true
        done
        wait 2>/dev/null || true
        # Anything a script mounted under $TMP (tmpfs, FUSE), deepest first.
        local m
        for m in $(awk -v t="$TMP" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r); do
                umount -l "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null || true
        done
        if [[ ${KEEP_TMP:-0} == 1 ]]; then
                echo "kept $TMP" >&2
        else
                rm -rf "$TMP"
        fi
        exit "$rc"
}
trap _lib_cleanup EXIT

unset CAIRN_PASSWORD
export CAIRN_REPOSITORY=$TMP/repo
export CAIRN_PASSWORD_FILE=$TMP/pw
printf 'correct horse battery staple\n' >"$CAIRN_PASSWORD_FILE"

# expect_eq ACTUAL EXPECTED "what"
expect_eq() {
        [[ $1 == "$2" ]] || fail "$3: got '$1', expected '$2'"
}

# _show_output: the saved output of the last expect_exit, for a failure.
_show_output() {
        echo "--- stdout (tail) ---" >&2
        tail -n 20 "$TMP/out" >&2 || true
        echo "--- stderr (tail) ---" >&2
        tail -n 20 "$TMP/err" >&2 || true
}

# expect_exit CODE cmd...: run cmd, stdout to $TMP/out, stderr to $TMP/err,
# and insist on exit status CODE.
expect_exit() {
        local want=$1 rc=0
        shift
        "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
        if [[ $rc != "$want" ]]; then
                _show_output
                fail "'$*' exited $rc, expected $want"
        fi
}

# expect_fail cmd...: like expect_exit, but any ordinary failure (1..125)
# will do; a crash (signal) or success does not.
expect_fail() {
        local rc=0
        "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
        if ((rc == 0 || rc > 125)); then
                _show_output
                fail "'$*' exited $rc, expected an error exit"
        fi
}

# expect_err_line REGEX: stderr of the last expect_exit is exactly one
# line, it starts with "cairn: " and matches REGEX (bash ERE).
expect_err_line() {
        local lines
        mapfile -t lines <"$TMP/err"
        if ((${#lines[@]} != 1)); then
                _show_output
                fail "expected one line on stderr, got ${#lines[@]}"
        fi
        [[ ${lines[0]} == "cairn: "* ]] || fail "stderr line does not start with 'cairn: ': ${lines[0]}"
        [[ ${lines[0]} =~ $1 ]] || fail "stderr line does not match /$1/: ${lines[0]}"
}

# repo_bytes: size of the repository in bytes.
repo_bytes() {
        du -sb "$CAIRN_REPOSITORY" | cut -f1
}

# pyjson EXPR [FILE]: evaluate a Python expression over the JSON document in
# FILE (default $TMP/out), bound to `d`, and print the result. The document
# is the whole file, or else the last line that parses (a --json object
# after other output).
pyjson() {
        python3 - "$1" "${2:-$TMP/out}" <<'EOF'
import json, sys
expr, path = sys.argv[1], sys.argv[2]
text = open(path, encoding="utf-8", errors="surrogateescape").read()
try:
    d = json.loads(text)
except ValueError:
    d = None
    for line in reversed(text.splitlines()):
        try:
            d = json.loads(line)
            break
        except ValueError:
            pass
    if d is None:
        sys.exit("pyjson: no JSON in %s: %r" % (path, text[:200]))
v = eval(expr, {"d": d})
print(json.dumps(v) if isinstance(v, (dict, list)) else v)
EOF
}

# snapshot_count: how many snapshots the repository holds.
snapshot_count() {
        "$CAIRN" snapshots --json >"$TMP/snaps.json" || fail "cairn snapshots --json failed"
        pyjson 'len(d)' "$TMP/snaps.json"
}

# snapshot_ids: full ids of all snapshots, one a line, oldest first.
snapshot_ids() {
        "$CAIRN" snapshots --json >"$TMP/snaps.json" || fail "cairn snapshots --json failed"
        pyjson '"\n".join(s["id"] for s in sorted(d, key=lambda s: s["time"]))' "$TMP/snaps.json"
}

# last_snapshot_id: the id from "snapshot <id> saved" in $TMP/out.
last_snapshot_id() {
        local line
        line=$(tail -n 1 "$TMP/out")
        [[ $line =~ ^snapshot\ ([0-9a-f]{64})\ saved$ ]] || fail "no 'snapshot <id> saved' line: $line"
        echo "${BASH_REMATCH[1]}"
}

# expect_check [--read-data]: cairn check passes and says so.
expect_check() {
        expect_exit 0 "$CAIRN" check "$@"
        grep -q 'no errors were found' "$TMP/out" "$TMP/err" ||
                fail "cairn check $* did not say 'no errors were found'"
}

# treecmp A B [options]: trees identical, or fail with the differences.
treecmp() {
        python3 "$TREECMP" "$@" >"$TMP/treecmp.out" 2>&1 || {
                cat "$TMP/treecmp.out" >&2
                fail "trees differ: $1 $2"
        }
        tail -n 1 "$TMP/treecmp.out"
}

# gentree DIR [options]: generate a test tree, quietly.
gentree() {
        "$GENTREE" "$@" >"$TMP/gentree.out" || fail "cairn-gentree $* failed"
}
