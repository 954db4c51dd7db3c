#!/usr/bin/env bash
# Install what the tests need, build, and run every test: the Criterion unit
# tests (also under ASan+UBSan) and the integration tests, which start real
# programs themselves (all also with cairn under ASan+UBSan, the restore and
# backup ones under TSan). The last line is "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

tools/setup.sh --test || { echo "0 passed, 1 failed"; exit 1; }

if [ ! -f build-asan/build.ninja ]; then
        meson setup build-asan --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false \
                -Dwerror=true >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
fi
ninja -C build-asan >/dev/null || { echo "asan build failed"; echo "0 passed, 1 failed"; exit 1; }
# ThreadSanitizer: only the cairn binary, for the restore and backup scripts below
if [ ! -f build-tsan/build.ninja ]; then
        meson setup build-tsan --buildtype=debugoptimized -Db_sanitize=thread -Dwerror=true >/dev/null ||
                { echo "0 passed, 1 failed"; exit 1; }
fi
ninja -C build-tsan tools/cairn >/dev/null || { echo "tsan build failed"; echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# run one Criterion binary; add its synthesis to the totals
run() {
        local label=$1
        shift
        echo "=== $label"
        local t0=$SECONDS
        "$@" 2>&1 | tee "$log"
        local rc=${PIPESTATUS[0]}
        echo "=== $label: $((SECONDS - t0)) s" # where the suite's time goes
        local line
        line=$(grep -a 'Synthesis: Tested:' "$log" | tail -1)
        if [ -z "$line" ]; then
                echo "$label: no Criterion summary (exit $rc)"
                failed=$((failed + 1))
                return
        fi
        local p f c
        p=$(sed -E 's/.*Passing: ([0-9]+).*/\1/' <<<"$line")
        f=$(sed -E 's/.*Failing: ([0-9]+).*/\1/' <<<"$line")
        c=$(sed -E 's/.*Crashing: ([0-9]+).*/\1/' <<<"$line")
        passed=$((passed + p))
        failed=$((failed + f + c))
        if [ "$rc" -ne 0 ] && [ "$f" = 0 ] && [ "$c" = 0 ]; then
                failed=$((failed + 1))
        fi
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in build/tests/test_*; do
        case $t in *integration*) continue ;; esac
        [ -f "$t" ] && [ -x "$t" ] || continue
        run "unit $(basename "$t")" "$t"
done
for t in build-asan/tests/test_*; do
        case $t in *integration*) continue ;; esac
        [ -f "$t" ] && [ -x "$t" ] || continue
        run "unit+asan $(basename "$t")" "$t"
done

export GENTREE_BIN=$root/build/tools/cairn-gentree
CAIRN_BIN=$root/build/tools/cairn run "integration" build/tests/test_integration --jobs 1
# the same scripts with the sanitized binary: the threaded pipeline under ASan+UBSan
# (memory ceilings mean nothing under ASan's quarantine: CAIRN_TEST_SANITIZED
# tells the scripts to skip those assertions, and only those)
CAIRN_TEST_SANITIZED=1 CAIRN_BIN=$root/build-asan/tools/cairn run "integration+asan" build/tests/test_integration --jobs 1
# and the threaded restore (files created while workers write; metadata
# applied by the worker that finishes a file; files named incomplete by the
# worker that cannot read their data) and backup under TSan; a data race
# report makes cairn exit 66, so the script's expect_exit fails
CAIRN_TEST_SANITIZED=1 CAIRN_BIN=$root/build-tsan/tools/cairn run "integration+tsan" build/tests/test_integration \
        --jobs 1 --filter 'files/@(files_roundtrip|files_errors|files_corrupt)'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
