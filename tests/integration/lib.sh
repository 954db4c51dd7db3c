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

# --- FUSE mounts (cairn mount) --------------------------------------------
# The helpers take the mount point as given; it must be an absolute path
# without spaces (it is matched against /proc/mounts), e.g. $TMP/mnt.
# The cleanup above detaches whatever is still mounted under $TMP.
READCHECK="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/readcheck.py"

# is_mounted DIR: DIR is a mount point (listed in /proc/mounts).
is_mounted() {
        awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/mounts
}

# proc_alive PID: PID exists and is not a zombie.
proc_alive() {
        local st
        st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
        [[ -n $st && ${st:0:1} != Z ]]
}

# wait_exit PID SECONDS: PID has exited (or is a zombie) within SECONDS;
# status 1 if it is still running. For a job of this shell, `wait PID`
# afterwards gives its exit status.
wait_exit() {
        local i
        for ((i = 0; i < $2 * 10; i++)); do
                proc_alive "$1" || return 0
                sleep 0.1
        done
        ! proc_alive "$1"
}

# mount_pid DIR: pid of the cairn process whose command line has DIR as an
# argument (the daemon of `cairn mount DIR --daemon`); empty if none.
mount_pid() {
        local exe d a x
        exe=$(readlink -f "$CAIRN")
        for d in /proc/[0-9]*; do
                [[ $(readlink "$d/exe" 2>/dev/null) == "$exe" ]] || continue
                mapfile -d '' -t a <"$d/cmdline" 2>/dev/null || continue
                for x in "${a[@]:1}"; do
                        if [[ $x == "$1" ]]; then
                                echo "${d#/proc/}"
                                return 0
                        fi
                done
        done
}

_show_mount_output() {
        echo "--- cairn mount stdout ---" >&2
        tail -n 20 "$TMP/mount.out" >&2 || true
        echo "--- cairn mount stderr ---" >&2
        tail -n 20 "$TMP/mount.err" >&2 || true
}

# mount_repo DIR [OPTION...]: run `cairn mount DIR --daemon OPTION...`
# (DIR created if missing); it must exit 0 once the mount is ready, having
# printed "mounted $CAIRN_REPOSITORY at DIR", and DIR must be mounted.
# Sets MOUNT_PID to the daemon's pid (empty if it cannot be found).
mount_repo() {
        local dir=$1 rc=0
        shift
        mkdir -p "$dir"
        timeout 120 "$CAIRN" mount "$dir" --daemon "$@" >"$TMP/mount.out" 2>"$TMP/mount.err" || rc=$?
        if ((rc != 0)); then
                _show_mount_output
                fail "'cairn mount $dir --daemon $*' exited $rc"
        fi
        grep -qxF "mounted $CAIRN_REPOSITORY at $dir" "$TMP/mount.out" || {
                _show_mount_output
                fail "cairn mount --daemon did not print 'mounted $CAIRN_REPOSITORY at $dir'"
        }
        is_mounted "$dir" || fail "cairn mount --daemon returned but $dir is not in /proc/mounts"
        MOUNT_PID=$(mount_pid "$dir")
        MOUNT_IS_JOB=0
}

# mount_repo_fg DIR [OPTION...]: start `cairn mount DIR OPTION...` in the
# foreground as a background job of this shell, with SIGINT and SIGTERM at
# their defaults (as from a terminal; bash would ignore SIGINT in a
# background job), stdout in $TMP/mount.out, stderr in $TMP/mount.err.
# Waits (60 s at most) for the "mounted" line and the mount; sets
# MOUNT_PID to the job's pid.
mount_repo_fg() {
        local dir=$1 i
        shift
        mkdir -p "$dir"
        env --default-signal=INT,TERM "$CAIRN" mount "$dir" "$@" >"$TMP/mount.out" 2>"$TMP/mount.err" &
        MOUNT_PID=$!
        MOUNT_IS_JOB=1
        for ((i = 0; i < 600; i++)); do
                if grep -qxF "mounted $CAIRN_REPOSITORY at $dir" "$TMP/mount.out" && is_mounted "$dir"; then
                        return 0
                fi
                if ! proc_alive "$MOUNT_PID"; then
                        local rc=0
                        wait "$MOUNT_PID" || rc=$?
                        _show_mount_output
                        fail "'cairn mount $dir $*' exited ($rc) before the mount was ready"
                fi
                sleep 0.1
        done
        _show_mount_output
        is_mounted "$dir" && fail "$dir is mounted but no 'mounted $CAIRN_REPOSITORY at $dir' line on stdout after 60 s"
        fail "cairn mount $dir $*: not mounted after 60 s"
}

# unmount_repo DIR: `fusermount3 -u DIR` succeeds, DIR leaves
# /proc/mounts, and the mount process ($MOUNT_PID from the last
# mount_repo / mount_repo_fg) exits within 10 s — with status 0 when it was
# started by mount_repo_fg.
unmount_repo() {
        local dir=$1 pid=${MOUNT_PID:-} rc=0
        fusermount3 -u "$dir" 2>"$TMP/fusermount.err" ||
                fail "fusermount3 -u $dir failed: $(cat "$TMP/fusermount.err")"
        is_mounted "$dir" && fail "$dir is still mounted after fusermount3 -u"
        if [[ -n $pid ]]; then
                wait_exit "$pid" 10 || fail "cairn mount (pid $pid) still running 10 s after fusermount3 -u"
                if [[ ${MOUNT_IS_JOB:-0} == 1 ]]; then
                        wait "$pid" || rc=$?
                        ((rc == 0)) || { _show_mount_output; fail "cairn mount exited $rc after fusermount3 -u"; }
                fi
        fi
        MOUNT_PID=
}

# snapshot_names: the /snapshots/<time> names the mount must show, oldest
# first: each snapshot's time to the second in UTC ("YYYY-MM-DDTHH:MM:SSZ"),
# a later one in the same second with "-2", "-3", ... appended. With
# "ID" as $1, only the name of the snapshot with that (full) id.
snapshot_names() {
        "$CAIRN" snapshots --json >"$TMP/snaps.json" || fail "cairn snapshots --json failed"
        python3 - "$TMP/snaps.json" "${1:-}" <<'PY'
import json, sys
def key(s):  # "YYYY-MM-DDTHH:MM:SS[.fraction]Z", fraction of any length
    t = s["time"].rstrip("Z")
    frac = t[20:] if len(t) > 19 else ""
    return (t[:19], int((frac + "000000000")[:9]))
snaps = sorted(json.load(open(sys.argv[1])), key=key)
want = sys.argv[2]
used = {}
for s in snaps:
    base = s["time"][:19] + "Z"
    n = used.get(base, 0) + 1
    used[base] = n
    name = base if n == 1 else "%s-%d" % (base, n)
    if not want:
        print(name)
    elif s["id"] == want:
        print(name)
PY
}
