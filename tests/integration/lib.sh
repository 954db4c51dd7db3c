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
        # Servers a script started outside its job table (s3_start), last first.
        local i
        for ((i = ${#_lib_cleanup_hooks[@]} - 1; i >= 0; i--)); do
                ${_lib_cleanup_hooks[i]} >/dev/null 2>&1 || true
        done
        if [[ ${KEEP_TMP:-0} == 1 ]]; then
                echo "kept $TMP" >&2
        else
                rm -rf "$TMP"
        fi
        exit "$rc"
}
_lib_cleanup_hooks=()
trap _lib_cleanup EXIT

# on_cleanup CMD...: run CMD (word-split) when the script exits, after the
# background jobs are killed and the mounts detached, before $TMP goes.
on_cleanup() {
        _lib_cleanup_hooks+=("$*")
}

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

# flip_middle FILE: xor the byte in the middle of FILE with 0xff (a damaged
# pack); run twice, it puts the byte back.
flip_middle() {
        python3 - "$1" <<'PY'
import os, sys
with open(sys.argv[1], "r+b") as f:
    off = os.fstat(f.fileno()).st_size // 2
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 0xFF]))
PY
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

# expect_incomplete_restore SRC DST REASON: the last command was a restore
# of SRC (latest:SRC) into DST that could not read some of the repository's
# data: on stderr, one line for each file it could not complete, naming
# the file and REASON (a regex over what follows), and a last line
# counting them; at least one such file; each has its size, mode 0600 and
# the restore's own mtime (not the snapshot's metadata); every other entry
# is exact (treecmp, atimes aside; other names of an incomplete file's
# inode aside too). Paths are compared as bytes, any name works.
expect_incomplete_restore() {
        python3 - "$1" "$2" "$3" "$TMP/err" "$TREECMP" <<'PY' || { _show_output; fail "restore of $1 into $2 was not incomplete as it should be"; }
import os, re, stat, sys, time
src, dst, reason = os.fsencode(sys.argv[1]), os.fsencode(sys.argv[2]), os.fsencode(sys.argv[3])
err = open(sys.argv[4], "rb").read()
sys.path.insert(0, os.path.dirname(sys.argv[5]))
import treecmp
MARK = b": the file is incomplete (zeros in place of what is missing; run 'cairn check --read-data'): "
m = re.search(rb"^cairn: restore: (\d+) files? incomplete: the repository lacks some of their data "
              rb"\(named above; everything else is restored\)\n\Z", err, re.M)
if not m:
    sys.exit("no final count of incomplete files on stderr")
count = int(m.group(1))
files = {}
for top, dirs, names in os.walk(dst):
    for n in names:
        p = os.path.join(top, n)
        st = os.lstat(p)
        if stat.S_ISREG(st.st_mode):
            files[p] = st
named = [p for p in files if b"cairn: restore: " + p + MARK in err]
reasons = re.findall(re.escape(MARK) + rb"([^\n]*)\n", err)
if not named or len(named) != count or len(reasons) != count or err.count(b"cairn: ") != count + 1:
    sys.exit("%d files named incomplete, %d reasons, the count says %d, %d messages"
             % (len(named), len(reasons), count, err.count(b"cairn: ")))
bad = [r for r in reasons if not re.search(reason, r)]
if bad:
    sys.exit("reasons that do not match %r: %r" % (reason, bad[:3]))
inodes = set()
for p in named:
    s, d = os.lstat(src + p[len(dst):]), files[p]
    if d.st_size != s.st_size or stat.S_IMODE(d.st_mode) != 0o600 or d.st_mtime_ns == s.st_mtime_ns:
        sys.exit("%r: size %d (want %d), mode %o (want 600), mtime %d (the snapshot's: %d)"
                 % (p, d.st_size, s.st_size, stat.S_IMODE(d.st_mode), d.st_mtime_ns, s.st_mtime_ns))
    inodes.add(d.st_ino)
ignore = set(os.path.relpath(p, dst) for p, st in files.items() if st.st_ino in inodes)
n, diffs = treecmp.compare(src, dst, False, ignore)
if diffs:
    sys.exit("besides the incomplete files:\n" + "\n".join(diffs[:20]))
print("incomplete: %d files named (%s...), %d other entries identical" % (count, named[0][-40:], n))
PY
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

# --- S3 (s3rver, awscli, the fault proxy) ---------------------------------
# s3_start runs tests/s3/setup.sh (installs s3rver and awscli when missing:
# a missing or broken S3 server is a failure, never a skip), starts an
# s3rver on a free loopback port with data under $TMP and, in front of it,
# tests/s3/faultproxy.py --verify-sigv4: s3rver 3.7.1 accepts any V4
# signature from a known key id, the proxy checks each one (sigv4.py) and
# answers a wrong one 403 SignatureDoesNotMatch as S3 does, so cairn and
# awscli always go through it. CAIRN_REPOSITORY becomes
# s3:http://127.0.0.1:PORT/cairn-test/repo (PORT the proxy's), with the
# server's keys in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. Everything
# stops when the script exits. Bucket `cairn-test` exists from the start
# (--bucket adds more); others must be created by their client.
S3_TESTS="$(cd "$(dirname "${BASH_SOURCE[0]}")/../s3" && pwd)"
FAULTPROXY=$S3_TESTS/faultproxy.py
S3_BUCKET=cairn-test
S3_KEY_ID=S3RVER
S3_SECRET=S3RVER
AWS_BIN=/usr/bin/aws

# free_port: a TCP port on 127.0.0.1 nobody listens on right now.
free_port() {
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# _proxy_kill PID: SIGTERM PID if it still is one of our proxies (a pid
# can be reused once the proxy has exited).
_proxy_kill() {
        local cmd
        cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 0
        [[ $cmd == *"$FAULTPROXY"* ]] || return 0
        kill -TERM "$1" 2>/dev/null || true
}

# _proxy_launch NAME OPTION...: start faultproxy.py in the background
# (stopped at exit) with upstream s3rver, stats in $TMP/NAME.stats.json, log in $TMP/NAME.log;
# sets _PID and _PORT once it listens.
_proxy_launch() {
        local name=$1 i
        shift
        rm -f "$TMP/$name.port"
        python3 "$FAULTPROXY" --upstream "127.0.0.1:$S3RVER_PORT" --ready-file "$TMP/$name.port" \
                --stats "$TMP/$name.stats.json" --log "$TMP/$name.log" "$@" >"$TMP/$name.out" 2>&1 &
        _PID=$!
        # Out of the job table (no "Killed" notice at exit), stopped by pid.
        disown "$_PID"
        on_cleanup _proxy_kill "$_PID"
        for ((i = 0; i < 100; i++)); do
                [[ -s $TMP/$name.port ]] && break
                proc_alive "$_PID" || { cat "$TMP/$name.out" >&2; fail "faultproxy.py ($name) exited"; }
                sleep 0.1
        done
        [[ -s $TMP/$name.port ]] || fail "faultproxy.py ($name) not ready after 10 s"
        _PORT=$(cat "$TMP/$name.port")
}

# s3_start [--https] [--bucket NAME]...: start the server (see above). Sets
# S3_PORT (what clients use), S3RVER_PORT (s3rver itself), S3_DIR (its
# data, log and pid), S3_ENDPOINT (http(s)://127.0.0.1:S3_PORT) and
# S3_VERIFY_STATS (the checking proxy's counts). With --https s3rver speaks
# TLS with a fresh self-signed certificate (S3_CACERT, to trust) and
# clients talk to it directly: the checking proxy does not do TLS. Exports
# the AWS variables for cairn and awscli, with every other AWS setting of
# this machine (config, profile, token, region) cleared.
s3_start() {
        local -a extra=()
        local scheme=http
        S3_CACERT=
        while (($#)); do
                case $1 in
                --https) scheme=https; S3_CACERT=$TMP/s3-certs/cert.pem; extra+=(--https "$TMP/s3-certs"); shift ;;
                --bucket) extra+=(--bucket "$2"); shift 2 ;;
                *) fail "s3_start: unknown option $1" ;;
                esac
        done
        bash "$S3_TESTS/setup.sh" || fail "tests/s3/setup.sh could not install s3rver / awscli"
        [[ -x $AWS_BIN ]] || fail "awscli ($AWS_BIN) missing after tests/s3/setup.sh"
        python3 "$S3_TESTS/sigv4.py" --self-test >/dev/null || fail "tests/s3/sigv4.py fails its self-test"
        S3_DIR=$TMP/s3rver
        local try
        for try in 1 2 3; do
                S3RVER_PORT=$(free_port)
                if bash "$S3_TESTS/server.sh" start "$S3_DIR" "$S3RVER_PORT" "${extra[@]}" 2>"$TMP/s3rver-start.err"; then
                        break
                fi
                ((try < 3)) || { cat "$TMP/s3rver-start.err" >&2; fail "s3rver did not start"; }
        done
        on_cleanup bash "$S3_TESTS/server.sh" stop "$S3_DIR"
        if [[ $scheme == https ]]; then
                S3_PORT=$S3RVER_PORT
                S3_VERIFY_PID=
                S3_VERIFY_STATS=
        else
                _proxy_launch verify --verify-sigv4
                S3_VERIFY_PID=$_PID
                S3_PORT=$_PORT
                S3_VERIFY_STATS=$TMP/verify.stats.json
        fi
        S3_ENDPOINT=$scheme://127.0.0.1:$S3_PORT
        unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE AWS_REGION AWS_ENDPOINT_URL AWS_CA_BUNDLE
        export AWS_ACCESS_KEY_ID=$S3_KEY_ID AWS_SECRET_ACCESS_KEY=$S3_SECRET
        export AWS_DEFAULT_REGION=us-east-1
        # awscli: no machine config, no pager, no metadata-service lookups.
        export AWS_CONFIG_FILE=$TMP/aws-config AWS_SHARED_CREDENTIALS_FILE=$TMP/aws-credentials
        : >"$AWS_CONFIG_FILE"
        : >"$AWS_SHARED_CREDENTIALS_FILE"
        export AWS_PAGER= AWS_EC2_METADATA_DISABLED=true AWS_MAX_ATTEMPTS=3
        export CAIRN_REPOSITORY=s3:$S3_ENDPOINT/$S3_BUCKET/repo
}

# s3_verify_counts: the signature-checking proxy's counts so far (JSON).
s3_verify_counts() {
        [[ -n ${S3_VERIFY_PID:-} ]] || { echo '{}'; return; }
        kill -USR1 "$S3_VERIFY_PID" 2>/dev/null || true
        sleep 0.2
        cat "$S3_VERIFY_STATS"
}

# s3_stop: stop the server and its checking proxy now (both also stop by
# themselves at exit).
s3_stop() {
        if [[ -n ${S3_VERIFY_PID:-} ]]; then
                _proxy_kill "$S3_VERIFY_PID"
                wait_exit "$S3_VERIFY_PID" 10 || true
                S3_VERIFY_PID=
        fi
        bash "$S3_TESTS/server.sh" stop "$S3_DIR" || fail "could not stop s3rver"
}

# s3aws ARGS...: awscli against the test server, JSON output.
s3aws() {
        local -a ca=()
        [[ -z ${S3_CACERT:-} ]] || ca=(--ca-bundle "$S3_CACERT")
        "$AWS_BIN" --endpoint-url "$S3_ENDPOINT" "${ca[@]}" --output json "$@"
}

# s3_objects BUCKET [PREFIX]: every object as "KEY<TAB>SIZE", one a line,
# sorted, from awscli's ListObjectsV2 (100 keys a page, so that the paging
# with continuation tokens is used too). Empty when there are none.
s3_objects() {
        local -a pfx=()
        [[ -z ${2:-} ]] || pfx=(--prefix "$2")
        s3aws s3api list-objects-v2 --bucket "$1" "${pfx[@]}" --page-size 100 >"$TMP/s3list.json" ||
                fail "aws s3api list-objects-v2 --bucket $1 failed"
        python3 - "$TMP/s3list.json" <<'PY'
import json, sys
text = open(sys.argv[1]).read().strip()
d = json.loads(text) if text else {}
for o in sorted(d.get("Contents") or [], key=lambda o: o["Key"]):
    print("%s\t%d" % (o["Key"], o["Size"]))
PY
}

# s3_bucket_exists BUCKET: status 0 when the server has the bucket.
s3_bucket_exists() {
        s3aws s3api head-bucket --bucket "$1" >/dev/null 2>&1
}

# expect_no_secret SECRET FILE...: SECRET appears in none of the FILEs.
expect_no_secret() {
        local secret=$1 f
        shift
        for f in "$@"; do
                if grep -qF -- "$secret" "$f"; then
                        fail "the secret key appears in $f"
                fi
        done
}

# faultproxy_start [OPTION...]: another tests/s3/faultproxy.py in front of
# s3rver, also checking signatures, with the given options (--fail-rate R,
# --fail-all, --fail-match REGEX, ...), in the background. Sets
# PROXY_PID, PROXY_PORT, PROXY_STATS (its JSON counts, complete once it
# stops) and PROXY_REPOSITORY, the repository URL through it.
faultproxy_start() {
        local n=${_proxy_n:-0}
        _proxy_n=$((n + 1))
        _proxy_launch "proxy$n" --verify-sigv4 "$@"
        PROXY_PID=$_PID
        PROXY_PORT=$_PORT
        PROXY_STATS=$TMP/proxy$n.stats.json
        PROXY_REPOSITORY=s3:http://127.0.0.1:$PROXY_PORT/$S3_BUCKET/repo
}

# faultproxy_stop: SIGTERM the proxy, wait for it, print its counts.
faultproxy_stop() {
        _proxy_kill "$PROXY_PID"
        wait_exit "$PROXY_PID" 10 || fail "faultproxy.py (pid $PROXY_PID) did not stop"
        wait "$PROXY_PID" 2>/dev/null || true
        [[ -s $PROXY_STATS ]] || fail "faultproxy.py wrote no counts to $PROXY_STATS"
        echo "proxy counts: $(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1])), sort_keys=True))' "$PROXY_STATS")"
}

# expect_all_signed_ok: the checking proxy rejected no request so far (for
# scripts that never send a bad signature on purpose).
expect_all_signed_ok() {
        local c
        c=$(s3_verify_counts)
        python3 -c 'import json,sys; d = json.loads(sys.argv[1]); r = d.get("rejected") or {}
sys.exit("rejected requests: %s (see the verify log)" % r if r else 0)' "$c" ||
                { tail -n 5 "$TMP/verify.log" >&2; fail "the S3 server rejected requests"; }
        echo "signatures: $(python3 -c 'import json,sys; d = json.loads(sys.argv[1]); print("%d requests, %d verified" % (d.get("total", 0), d.get("verified", 0)))' "$c")"
}

# --- Redis (redis-server from Debian) --------------------------------------
# _redis_stop PID: SIGTERM PID if it still is a redis-server (a pid can be
# reused once the server has exited), SIGKILL after 5 s.
_redis_stop() {
        local cmd
        cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 0
        [[ $cmd == *redis-server* ]] || return 0
        kill -TERM "$1" 2>/dev/null || true
        wait_exit "$1" 5 || kill -KILL "$1" 2>/dev/null || true
}

# redis_start VAR DIR [ARGS...]: start a redis-server on a free loopback
# port with its data in DIR (created), persistence off and DEBUG enabled;
# the port goes into VAR. The server is shut down when the script exits.
redis_start() {
        local var=$1 dir=$2 port
        shift 2
        mkdir -p "$dir"
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
        redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
                --enable-debug-command yes --daemonize yes --pidfile "$dir/redis.pid" \
                --logfile "$dir/redis.log" "$@" >/dev/null || fail "redis-server on port $port did not start"
        local i
        for ((i = 0; i < 100; i++)); do
                [[ -s $dir/redis.pid ]] && redis-cli -p "$port" ping 2>&1 | grep -qE 'PONG|NOAUTH' && break
                sleep 0.1
        done
        [[ -s $dir/redis.pid ]] || fail "redis-server on port $port wrote no pid file"
        on_cleanup _redis_stop "$(cat "$dir/redis.pid")"
        printf -v "$var" '%s' "$port"
}

# _cluster_ports N [TAKEN...]: N loopback ports below 55000, one a line,
# such that each port and its cluster bus port (port + 10000) are free
# right now and none of them is, or is the bus port of, another one or a
# TAKEN port.
_cluster_ports() {
        python3 - "$@" <<'PY'
import random, socket, sys
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()
taken, out = set(), []
for p in map(int, sys.argv[2:]):
    taken |= {p - 10000, p, p + 10000}
while len(out) < int(sys.argv[1]):
    p = random.randrange(15000, 45000)  # bus ports stay below 55000 too
    if {p, p + 10000} & taken or not (free(p) and free(p + 10000)):
        continue
    taken |= {p - 10000, p, p + 10000}
    out.append(p)
print("\n".join(map(str, out)))
PY
}

# redis_cluster_start VAR DIR N [ARGS...]: start N (>= 3) redis-servers in
# cluster mode on free loopback ports (each port and its bus port + 10000
# free, below 55000), node i with its data, nodes.conf, log and pid file in
# DIR/node<i>, persistence off, DEBUG enabled, node timeout 5 s, ARGS added
# to each; join them with `redis-cli --cluster create` (masters only, the
# slots split evenly) and wait (20 s at most) until every node says
# cluster_state:ok and knows all N. VAR gets the ports, space-separated,
# node 1 first (any one is a fine entry point). The servers are stopped
# when the script exits.
redis_cluster_start() {
        local var=$1 dir=$2 n=$3
        shift 3
        [[ $n =~ ^[0-9]+$ ]] && ((n >= 3)) || fail "redis_cluster_start: a cluster needs at least 3 masters, not '$n'"
        mkdir -p "$dir"
        local -a ports=() addrs=()
        local i try port node
        for ((i = 1; i <= n; i++)); do
                node=$dir/node$i
                mkdir -p "$node"
                for try in 1 2 3; do
                        # Another process may take the port between the check and the bind.
                        port=$(_cluster_ports 1 "${ports[@]}")
                        rm -f "$node/redis.pid" "$node/redis.log" "$node/nodes.conf"
                        redis-server --port "$port" --bind 127.0.0.1 --dir "$node" --save '' --appendonly no \
                                --cluster-enabled yes --cluster-config-file "$node/nodes.conf" \
                                --cluster-node-timeout 5000 --enable-debug-command yes \
                                --daemonize yes --pidfile "$node/redis.pid" --logfile "$node/redis.log" \
                                "$@" >/dev/null || fail "redis-server (cluster node $i, port $port) did not start"
                        local j
                        for ((j = 0; j < 100; j++)); do
                                [[ -s $node/redis.pid ]] && redis-cli -p "$port" ping 2>&1 | grep -qE 'PONG|NOAUTH' && break
                                grep -q 'Address already in use' "$node/redis.log" 2>/dev/null && break
                                sleep 0.1
                        done
                        if [[ -s $node/redis.pid ]]; then
                                on_cleanup _redis_stop "$(cat "$node/redis.pid")"
                                redis-cli -p "$port" ping 2>&1 | grep -qE 'PONG|NOAUTH' && break
                                tail -n 5 "$node/redis.log" >&2
                                fail "redis-server (cluster node $i, port $port) does not answer PING after 10 s"
                        fi
                        grep -q 'Address already in use' "$node/redis.log" 2>/dev/null || {
                                tail -n 5 "$node/redis.log" >&2 || true
                                fail "redis-server (cluster node $i, port $port) wrote no pid file"
                        }
                        ((try < 3)) || fail "redis-server (cluster node $i): ports in use, 3 tries"
                done
                ports+=("$port")
                addrs+=("127.0.0.1:$port")
        done
        redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes \
                >"$dir/create.log" 2>&1 || {
                tail -n 20 "$dir/create.log" >&2
                fail "redis-cli --cluster create ${addrs[*]} failed"
        }
        local ok deadline=$((SECONDS + 20))
        while :; do
                ok=1
                for port in "${ports[@]}"; do
                        redis-cli -p "$port" cluster info 2>/dev/null | tr -d '\r' >"$dir/info.$port"
                        grep -qx 'cluster_state:ok' "$dir/info.$port" &&
                                grep -qx "cluster_known_nodes:$n" "$dir/info.$port" || { ok=0; break; }
                done
                ((ok || SECONDS >= deadline)) && break
                sleep 0.1
        done
        ((ok)) || {
                cat "$dir/info.$port" >&2
                fail "redis cluster ${addrs[*]}: node $port not cluster_state:ok with $n nodes after 20 s"
        }
        printf -v "$var" '%s' "${ports[*]}"
}

# run_rss VAR CMD...: run CMD (stdout to $TMP/out, stderr to $TMP/err),
# fail unless it exits 0; VAR gets its peak RSS in MiB (ru_maxrss of the
# child, so no time(1) is needed).
run_rss() {
        local var=$1 mib
        shift
        mib=$(python3 -c '
import resource, subprocess, sys
rc = subprocess.run(sys.argv[3:], stdout=open(sys.argv[1], "wb"), stderr=open(sys.argv[2], "wb")).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024 if rc == 0 else "exit %d" % rc)' \
                "$TMP/out" "$TMP/err" "$@")
        [[ $mib =~ ^[0-9]+$ ]] || { _show_output; fail "'$*' failed: $mib"; }
        printf -v "$var" '%s' "$mib"
}
