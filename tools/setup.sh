#!/usr/bin/env bash
# Install what cairn needs on Debian 12, then configure and build it.
#   tools/setup.sh          build dependencies, then build into build/
#   tools/setup.sh --test   also what the tests need (and the sanitizer build)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

build_pkgs=(build-essential meson ninja-build pkg-config libsodium-dev libzstd-dev libjansson-dev
            libcurl4-openssl-dev libssl-dev libexpat1-dev libfuse3-dev fuse3 libhiredis-dev libxxhash-dev libmariadb-dev)
test_pkgs=(libcriterion-dev python3 attr libclang-rt-14-dev redis-server redis-tools)

missing=()
for p in "${build_pkgs[@]}" $([ $want_test = 1 ] && echo "${test_pkgs[@]}"); do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
        echo "setup: installing ${missing[*]}"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -f build/build.ninja ]; then
        meson setup build --buildtype=release -Dwerror=true >/dev/null
fi
ninja -C build >/dev/null
echo "setup: built build/tools/cairn"
