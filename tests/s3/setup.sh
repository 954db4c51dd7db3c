#!/usr/bin/env bash
# setup.sh — installs what the S3 integration tests need, quietly, and only
# what is missing: s3rver 3.7.1 (npm) into $REPO_ROOT/.deps/s3rver (git
# ignores .deps/), the Debian awscli (/usr/bin/aws), and the openssl CLI
# (self-signed certificates for the https tests). Safe to run again and
# again; a second run does nothing. Exit 0 when everything is in place.
#   tests/s3/setup.sh            REPO_ROOT defaults to this checkout
set -euo pipefail

REPO_ROOT=${REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
S3RVER_VERSION=3.7.1
dir=$REPO_ROOT/.deps/s3rver

die() {
        echo "tests/s3/setup.sh: $*" >&2
        exit 1
}

SUDO=
[[ $(id -u) == 0 ]] || SUDO=sudo

apt_install() {
        if [[ -z ${_apt_updated:-} ]]; then
                $SUDO apt-get update -qq >/dev/null || die "apt-get update failed"
                _apt_updated=1
        fi
        local log
        log=$(mktemp)
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >"$log" 2>&1 || {
                tail -n 20 "$log" >&2
                rm -f "$log"
                die "apt-get install $* failed"
        }
        rm -f "$log"
}

# Node and npm come from Debian when the machine lacks them.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        apt_install nodejs npm
fi

# s3rver: installed into a scratch folder and renamed into place, so an
# interrupted install never looks like a finished one. The stamp names the
# version.
if [[ $(cat "$dir/.installed" 2>/dev/null) != "s3rver@$S3RVER_VERSION" || ! -f $dir/node_modules/s3rver/bin/s3rver.js ]]; then
        mkdir -p "$REPO_ROOT/.deps"
        tmp=$(mktemp -d "$REPO_ROOT/.deps/s3rver.tmp.XXXXXX")
        trap 'rm -rf "$tmp"' EXIT
        (cd "$tmp" && npm install --prefix "$tmp" --no-audit --no-fund --no-update-notifier \
                --loglevel=error "s3rver@$S3RVER_VERSION" >"$tmp/npm.log" 2>&1) || {
                tail -n 20 "$tmp/npm.log" >&2
                die "npm install s3rver@$S3RVER_VERSION failed"
        }
        rm -f "$tmp/npm.log"
        echo "s3rver@$S3RVER_VERSION" >"$tmp/.installed"
        rm -rf "$dir"
        mv "$tmp" "$dir"
        trap - EXIT
fi
[[ -f $dir/node_modules/s3rver/bin/s3rver.js ]] || die "s3rver is not in $dir after installing"

# awscli: the Debian package (2.x), whatever else may be on PATH.
if [[ ! -x /usr/bin/aws ]]; then
        apt_install awscli
fi
[[ -x /usr/bin/aws ]] || die "/usr/bin/aws missing after installing awscli"

if ! command -v openssl >/dev/null; then
        apt_install openssl
fi
exit 0
