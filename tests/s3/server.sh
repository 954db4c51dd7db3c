#!/usr/bin/env bash
# server.sh — starts and stops one s3rver (the S3 test server, installed by
# setup.sh into $REPO_ROOT/.deps/s3rver) for the S3 integration tests.
#
#   tests/s3/server.sh start DIR PORT [--https CERTDIR] [--bucket NAME]...
#   tests/s3/server.sh stop DIR
#
# start: s3rver on 127.0.0.1:PORT with its objects in DIR/data, log in
# DIR/s3rver.log, pid in DIR/pid; returns once the server answers HTTP (at
# most 30 s), exit 1 if it does not. The buckets `cairn-test` and every
# --bucket NAME exist from the start (--configure-bucket); any other bucket
# must be created by its client. Keys are s3rver's fixed S3RVER / S3RVER,
# and it checks every SigV4 signature (we never pass
# --allow-mismatched-signatures). NODE_OPTIONS=--openssl-legacy-provider,
# since on Node 20 its ListObjectsV2 continuation tokens need a legacy
# cipher (without it every truncated listing answers 500).
# --service-endpoint localhost makes virtual-host requests work without
# DNS: `BUCKET.s3.localhost:PORT` (curl sends *.localhost to loopback).
# --https CERTDIR: TLS with a fresh self-signed certificate for
# IP:127.0.0.1 and DNS:localhost, *.s3.localhost (CERTDIR/cert.pem, the CA
# file a client trusts, and CERTDIR/key.pem), made with the openssl CLI.
#
# stop: SIGTERM to DIR/pid, SIGKILL after 10 s; a no-op when it is not
# running.
set -euo pipefail

REPO_ROOT=${REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
S3RVER_JS=$REPO_ROOT/.deps/s3rver/node_modules/s3rver/bin/s3rver.js

die() {
        echo "tests/s3/server.sh: $*" >&2
        exit 1
}

# running PID: PID exists and is not a zombie.
running() {
        [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null &&
                [[ $(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) != Z ]]
}

# alive PID: running, and an s3rver (a pid from an old pid file may have
# been reused by now).
alive() {
        running "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q 's3rver\.js'
}

# answers URL CAFILE: the server gives any HTTP response at URL.
answers() {
        python3 - "$1" "${2:-}" <<'PY'
import ssl, sys, urllib.request, urllib.error
url, ca = sys.argv[1], sys.argv[2]
ctx = ssl.create_default_context(cafile=ca) if ca else None
try:
    urllib.request.urlopen(url, timeout=2, context=ctx)
except urllib.error.HTTPError:
    pass            # 403 for an anonymous request is still an answer
except Exception:
    sys.exit(1)
PY
}

make_cert() {
        local d=$1
        mkdir -p "$d"
        openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=127.0.0.1" \
                -addext "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:*.s3.localhost" \
                -addext "basicConstraints=critical,CA:TRUE" \
                -keyout "$d/key.pem" -out "$d/cert.pem" >"$d/openssl.log" 2>&1 ||
                { cat "$d/openssl.log" >&2; die "openssl could not make a certificate in $d"; }
}

cmd_start() {
        [[ $# -ge 2 ]] || die "usage: server.sh start DIR PORT [--https CERTDIR] [--bucket NAME]..."
        local dir=$1 port=$2 certdir= scheme=http
        local -a buckets=(cairn-test)
        shift 2
        while [[ $# -gt 0 ]]; do
                case $1 in
                --https) certdir=${2:?--https needs a directory}; scheme=https; shift 2 ;;
                --bucket) buckets+=("${2:?--bucket needs a name}"); shift 2 ;;
                *) die "unknown option $1" ;;
                esac
        done
        [[ -f $S3RVER_JS ]] || die "s3rver is not installed ($S3RVER_JS missing): run tests/s3/setup.sh"
        command -v node >/dev/null || die "node is not installed: run tests/s3/setup.sh"
        mkdir -p "$dir/data"
        dir=$(cd "$dir" && pwd)
        if alive "$(cat "$dir/pid" 2>/dev/null)"; then
                die "an s3rver (pid $(cat "$dir/pid")) already runs for $dir"
        fi

        local -a args=(-d "$dir/data" -a 127.0.0.1 -p "$port" --service-endpoint localhost)
        local b
        for b in "${buckets[@]}"; do
                args+=(--configure-bucket "$b")
        done
        local ca=
        if [[ -n $certdir ]]; then
                make_cert "$certdir"
                certdir=$(cd "$certdir" && pwd)
                ca=$certdir/cert.pem
                args+=(--key "$certdir/key.pem" --cert "$certdir/cert.pem")
        fi

        # Detached from our stdio, so that a caller reading our output (a
        # pipe, system()) is not held open by the server.
        NODE_OPTIONS=--openssl-legacy-provider setsid node "$S3RVER_JS" "${args[@]}" \
                </dev/null >"$dir/s3rver.log" 2>&1 &
        local pid=$!
        echo "$pid" >"$dir/pid"
        echo "$scheme://127.0.0.1:$port" >"$dir/endpoint"

        local i
        for ((i = 0; i < 300; i++)); do
                if ! running "$pid"; then
                        tail -n 20 "$dir/s3rver.log" >&2
                        die "s3rver exited before answering on port $port"
                fi
                if answers "$scheme://127.0.0.1:$port/" "$ca"; then
                        return 0
                fi
                sleep 0.1
        done
        tail -n 20 "$dir/s3rver.log" >&2
        cmd_stop "$dir"
        die "s3rver did not answer on $scheme://127.0.0.1:$port within 30 s"
}

cmd_stop() {
        [[ $# -ge 1 ]] || die "usage: server.sh stop DIR"
        local dir=$1 pid i
        pid=$(cat "$dir/pid" 2>/dev/null) || return 0
        if alive "$pid"; then
                kill -TERM "$pid" 2>/dev/null || true
                for ((i = 0; i < 100; i++)); do
                        alive "$pid" || break
                        sleep 0.1
                done
                if alive "$pid"; then
                        kill -KILL "$pid" 2>/dev/null || true
                fi
        fi
        rm -f "$dir/pid"
}

case ${1:-} in
start) shift; cmd_start "$@" ;;
stop) shift; cmd_stop "$@" ;;
*) die "usage: server.sh start DIR PORT [--https CERTDIR] [--bucket NAME]... | stop DIR" ;;
esac
