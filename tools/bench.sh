#!/usr/bin/env bash
# bench.sh: measure cairn beside restic on the same machine and disk.
#
#   tools/bench.sh [--size-mib N] [--seed N] [--keep] [--out FILE]
#
# Work happens under ${BENCH_DIR:-/var/tmp/cairn-bench}:
#   data-s<seed>-m<size>/         the dataset from tools/gendata.py, made once
#                                 and reused (cached by seed and size)
#   data-s<seed>-m<size>.sha256   its sha256sum list, for restore checks
#   run-<date>-<pid>/             repositories, restores, logs of this run;
#                                 removed at the end unless --keep
#
# Every measured step runs after `sync` under /usr/bin/time -f '%e %M'; the
# wall seconds are taken from bash's EPOCHREALTIME around it (the same span
# as %e, with millisecond resolution) and the peak RSS from %M.  In `files`
# the page cache is not dropped (warm-cache figures); in `mount` it is
# dropped before every measurement (cold-cache figures).
#
# Each section is one function `section_NAME` that runs its measurements and
# adds rows to the result table with add_row; `SECTIONS` lists the ones run.
#   files  backup, no-change backup, restore, repository size; it makes the
#          repositories the later sections read
#   mount  reads through `cairn mount` and `restic mount` (FUSE): tar of the
#          whole dataset, dd of big-random.bin, fio 4 KiB random reads, the
#          mount process's peak RSS; needs root (drop_caches), /dev/fuse,
#          fusermount3 (Debian fuse3) and fio (installed if missing)
#   s3     s3rver 3.7.1 over https (self-signed certificate, tests/s3/), a
#          fresh one for each tool in each round:
#          backup, restore and a cold-cache dd of big-random.bin through
#          each tool's mount of its S3 repository, and the number of HTTP
#          requests each backup and restore made (from s3rver's log); then
#          s3rver alone: curl PUTs cairn's packs into a fresh one and GETs
#          them back (the ceiling any client can reach there); needs
#          what mount needs, plus node/npm (tests/s3/setup.sh installs
#          s3rver into .deps/ if missing) and curl
#   redis  dump and restore of BENCH_REDIS_KEYS small keys and of
#          BENCH_REDIS_BIG_MIB MiB of 8 MiB values, each in its own
#          redis-server started here: cairn backup redis (logical, and
#          --mode rdb) beside redis-cli --rdb, cairn restore redis beside
#          redis-cli --pipe of the same RESP file, every restore checked
#          with DBSIZE and DEBUG DIGEST; needs redis-server and redis-cli
#          (Debian redis-server, installed if missing), not the dataset
#          nor restic
#
# Environment: BENCH_DIR, CAIRN (cairn binary; default build/tools/cairn,
# rebuilt with ninja first), RESTIC (default restic), BENCH_SECTIONS (default
# "files mount s3 redis"), BENCH_REDIS_KEYS (default 1000000),
# BENCH_REDIS_BIG_MIB (default 1024, a multiple of 8), BENCH_REDIS_ROUNDS
# (default 3: rounds of the three Redis restores, the fastest of each kept),
# BENCH_S3_ROUNDS (default 2: rounds of the S3 measurements, each tool on a
# fresh s3rver of its own in each, the fastest of each kept).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/cairn-bench}
SIZE_MIB=1024
SEED=1
KEEP=0
OUT=
S3RVER_VERSION=3.7.1 # what tests/s3/setup.sh installs
S3RVER_JS=$ROOT/.deps/s3rver/node_modules/s3rver/bin/s3rver.js
read -r -a SECTIONS <<<"${BENCH_SECTIONS:-files mount s3 redis}" # BENCH_SECTIONS="s3" runs one
REDIS_KEYS=${BENCH_REDIS_KEYS:-1000000}
REDIS_BIG_MIB=${BENCH_REDIS_BIG_MIB:-1024}
REDIS_ROUNDS=${BENCH_REDIS_ROUNDS:-3}
S3_ROUNDS=${BENCH_S3_ROUNDS:-2}

usage() {
        sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
        exit "${1:-0}"
}

while [ $# -gt 0 ]; do
        case $1 in
        --size-mib) SIZE_MIB=${2:?--size-mib needs a value}; shift 2 ;;
        --size-mib=*) SIZE_MIB=${1#*=}; shift ;;
        --seed) SEED=${2:?--seed needs a value}; shift 2 ;;
        --seed=*) SEED=${1#*=}; shift ;;
        --keep) KEEP=1; shift ;;
        --out) OUT=${2:?--out needs a file}; shift 2 ;;
        --out=*) OUT=${1#*=}; shift ;;
        -h|--help) usage 0 ;;
        *) echo "bench: unknown argument: $1" >&2; usage 2 >&2 ;;
        esac
done
[[ $SIZE_MIB =~ ^[0-9]+$ && $SEED =~ ^[0-9]+$ ]] ||
        { echo "bench: --size-mib and --seed take integers" >&2; exit 2; }
[[ $REDIS_KEYS =~ ^[1-9][0-9]*$ && $REDIS_BIG_MIB =~ ^[1-9][0-9]*$ && $((REDIS_BIG_MIB % 8)) = 0 ]] ||
        { echo "bench: BENCH_REDIS_KEYS takes a positive integer, BENCH_REDIS_BIG_MIB a positive multiple of 8" >&2; exit 2; }

die() {
        echo "bench: FAILED: $*" >&2
        exit 1
}

log() {
        printf '[%s] %s\n' "$(date +%T)" "$*" >&2
}

# want_section NAME: NAME is among the sections run.
want_section() {
        [[ " ${SECTIONS[*]} " == *" $1 "* ]]
}

# uses_dataset: a section run reads the gendata.py dataset (and restic).
uses_dataset() {
        want_section files || want_section mount || want_section s3
}

free_port() {
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---------------------------------------------------------------------------
# Tools

setup_tools() {
        if [ ! -x /usr/bin/time ]; then
                log "installing the Debian 'time' package"
                DEBIAN_FRONTEND=noninteractive apt-get -y install time >/dev/null ||
                        { apt-get update >/dev/null &&
                          DEBIAN_FRONTEND=noninteractive apt-get -y install time >/dev/null; } ||
                        die "could not install /usr/bin/time"
        fi
        if [ -z "${CAIRN:-}" ]; then
                CAIRN=$ROOT/build/tools/cairn
                if command -v ninja >/dev/null && [ -d "$ROOT/build" ]; then
                        ninja -C "$ROOT/build" >/dev/null || die "ninja -C build failed"
                fi
        fi
        [ -x "$CAIRN" ] || die "no cairn binary at $CAIRN (build with ninja -C build)"
        RESTIC=${RESTIC:-restic}
        if uses_dataset; then
                command -v "$RESTIC" >/dev/null || die "restic not found (apt-get install restic)"
        fi
        if want_section mount || want_section s3 || want_section redis; then
                setup_mount_tools
        fi
        if want_section redis && ! { command -v redis-server && command -v redis-cli; } >/dev/null; then
                log "installing the Debian 'redis-server' package (redis-server, redis-cli)"
                DEBIAN_FRONTEND=noninteractive apt-get -y install redis-server >/dev/null ||
                        { apt-get update >/dev/null &&
                          DEBIAN_FRONTEND=noninteractive apt-get -y install redis-server >/dev/null; } ||
                        die "could not install redis-server"
        fi
        if want_section s3; then
                log "s3: tests/s3/setup.sh (s3rver $S3RVER_VERSION, awscli, openssl; installs only what is missing)"
                bash "$ROOT/tests/s3/setup.sh" || die "tests/s3/setup.sh failed"
                [ -f "$S3RVER_JS" ] || die "no s3rver at $S3RVER_JS after tests/s3/setup.sh"
        fi
}

# The mount section needs fio, fusermount3 (cairn, and our unmounts) and
# `fusermount` (restic 0.14 mounts through bazil.org/fuse, which runs
# `fusermount` for both mount and unmount).  On Debian 12 the `fuse3`
# package ships both: /bin/fusermount3 and the symlink
# /bin/fusermount -> fusermount3 (fusermount3 speaks the same _FUSE_COMMFD
# protocol, and restic mounts and unmounts fine through it).  Debian's fuse2
# package `fuse` (2.9.9) must not be installed beside it: fuse3 declares
# "Breaks: fuse, Replaces: fuse, Provides: fuse", so apt would remove fuse3.
# So: install fuse3 if fusermount3 is missing, and make the fusermount ->
# fusermount3 symlink ourselves only if some other setup lacks it.
setup_mount_tools() {
        local pkgs=()
        command -v fio >/dev/null || pkgs+=(fio)
        command -v fusermount3 >/dev/null || pkgs+=(fuse3)
        ! want_section s3 || command -v curl >/dev/null || pkgs+=(curl) # the s3rver-alone rows
        if [ ${#pkgs[@]} -gt 0 ]; then
                log "installing Debian packages: ${pkgs[*]}"
                DEBIAN_FRONTEND=noninteractive apt-get -y install "${pkgs[@]}" >/dev/null ||
                        { apt-get update >/dev/null &&
                          DEBIAN_FRONTEND=noninteractive apt-get -y install "${pkgs[@]}" >/dev/null; } ||
                        die "could not install ${pkgs[*]}"
        fi
        if ! command -v fusermount >/dev/null; then
                log "no fusermount: linking it to fusermount3 (restic mount needs it)"
                ln -s fusermount3 "$(dirname "$(command -v fusermount3)")/fusermount" ||
                        die "could not make the fusermount -> fusermount3 symlink"
        fi
        [ -c /dev/fuse ] || die "no /dev/fuse"
        [ -w /proc/sys/vm/drop_caches ] || die "cannot write /proc/sys/vm/drop_caches (the mount section needs root)"
}

# ---------------------------------------------------------------------------
# Dataset (cached by seed and size)

DATA= # set by setup_data, when a section uses the dataset

setup_data() {
        mkdir -p "$BENCH_DIR"
        BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
        DATA=$BENCH_DIR/data-s$SEED-m$SIZE_MIB
        DATA_SUMS=$DATA.sha256
        if [ ! -f "$DATA.ok" ] || [ ! -d "$DATA" ] || [ ! -f "$DATA_SUMS" ]; then
                log "generating dataset: $SIZE_MIB MiB, seed $SEED -> $DATA"
                rm -rf "$DATA" "$DATA.tmp" "$DATA.ok" "$DATA_SUMS"
                local t0=$EPOCHREALTIME
                python3 "$ROOT/tools/gendata.py" "$DATA.tmp" --size-mib "$SIZE_MIB" --seed "$SEED" ||
                        die "gendata.py failed"
                mv "$DATA.tmp" "$DATA"
                tree_sums "$DATA" >"$DATA_SUMS"
                log "dataset ready in $(elapsed "$t0") s"
                touch "$DATA.ok"
        else
                log "using cached dataset $DATA"
        fi
        DATA_BYTES=$(find "$DATA" -type f -printf '%s\n' | awk '{s += $1} END {printf "%d", s}')
        DATA_FILES=$(find "$DATA" -type f | wc -l)
}

# sha256 list of every file under DIR (relative names, sorted), then the
# sorted list of directories, so missing or extra entries show too.
tree_sums() {
        (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum &&
                find . -type d | LC_ALL=C sort)
}
export -f tree_sums

# verify_tree NAME DIR: DIR (a restored tree or a mounted snapshot) must
# hold exactly the dataset.  Runs under a timeout so a hung mount fails.
verify_tree() {
        local name=$1 dir=$2 rc=0
        [ -d "$dir" ] || die "$name: no directory $dir"
        timeout -k 10 1800 bash -c 'tree_sums "$1"' _ "$dir" >"$RUN/$name.sha256" || rc=$?
        [ $rc -eq 0 ] || die "$name: could not read the tree $dir (exit $rc; 124: timed out after 1800 s)"
        if ! cmp -s "$DATA_SUMS" "$RUN/$name.sha256"; then
                echo "bench: $name: tree differs from the dataset:" >&2
                diff "$DATA_SUMS" "$RUN/$name.sha256" | head -20 >&2
                KEEP=1
                die "$name: wrong tree (sums kept in $RUN/$name.sha256)"
        fi
        log "$name: tree verified ($DATA_FILES files, sha256 of every file)"
}

# ---------------------------------------------------------------------------
# Measurement

elapsed() {
        awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.3f", b - a}'
}

# measure NAME CMD...: run CMD after sync; sets SECS (wall) and RSS_MIB
# (peak resident set); output goes to $RUN/NAME.log; fails loudly.
measure() {
        local name=$1; shift
        sync
        local t0=$EPOCHREALTIME rc=0
        /usr/bin/time -f '%e %M' -o "$RUN/$name.time" "$@" >"$RUN/$name.log" 2>&1 || rc=$?
        SECS=$(elapsed "$t0")
        if [ $rc -ne 0 ]; then
                echo "bench: $name failed (exit $rc): $*" >&2
                echo "---- last lines of $RUN/$name.log ----" >&2
                tail -20 "$RUN/$name.log" >&2
                KEEP=1
                die "$name"
        fi
        local e m
        read -r e m < <(tail -1 "$RUN/$name.time")
        RSS_MIB=$(awk -v k="$m" 'BEGIN {printf "%.1f", k / 1024}')
        STEPS+=("$(printf '%-24s %9.3f s (time: %s s)  %8.1f MiB peak RSS' "$name" "$SECS" "$e" "$RSS_MIB")")
        log "$name: $SECS s, peak RSS $RSS_MIB MiB"
}

mbps() {
        awk -v b="$1" -v s="$2" 'BEGIN {if (s < 0.001) s = 0.001; printf "%.1f", b / s / 1e6}'
}

mib() {
        awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'
}

# ---------------------------------------------------------------------------
# Result table

ROWS=()
STEPS=()
MOUNT_NOTE=
S3_NOTE=
REDIS_NOTE=

# add_row LABEL CAIRN RESTIC HIGHER_IS_BETTER(1|0) TARGET_RATIO TARGET_TEXT
# The ratio is oriented so that > 1 means cairn is better.  TARGET_RATIO "-"
# means no target (the row is for reference): "met?" shows "-".  A target
# ">X" is strict: met when the unrounded ratio is above X (">1" for "fewer
# than restic").  A target "abs:N" is on the cairn value itself, not the
# ratio: met when it is at least N (at most N when lower is better).
add_row() {
        local label=$1 c=$2 r=$3 hib=$4 want=$5 text=$6 ratio met
        ratio=$(awk -v c="$c" -v r="$r" -v h="$hib" 'BEGIN {
                if (c <= 0) c = 0.001; if (r <= 0) r = 0.001;
                printf "%.2f", h ? c / r : r / c }')
        if [ "$want" = - ]; then
                met=-
        elif [[ $want == abs:* ]]; then
                met=$(awk -v c="$c" -v h="$hib" -v w="${want#abs:}" 'BEGIN {
                        print ((h ? c + 0 >= w + 0 : c + 0 <= w + 0) ? "yes" : "no") }')
        elif [[ $want == '>'* ]]; then
                met=$(awk -v c="$c" -v r="$r" -v h="$hib" -v w="${want#>}" 'BEGIN {
                        if (c <= 0) c = 0.001; if (r <= 0) r = 0.001;
                        x = h ? c / r : r / c; print (x > w + 0) ? "yes" : "no" }')
        else
                met=$(awk -v x="$ratio" -v w="$want" 'BEGIN {print (x + 0 >= w + 0) ? "yes" : "no"}')
        fi
        ROWS+=("| $label | $c | $r | ${ratio}× | $text | $met |")
}

# add_self_row LABEL CAIRN_CELL RATIO TARGET_RATIO TARGET_TEXT: a row that
# compares cairn with itself (restic column "-"); RATIO > 1 is better.
add_self_row() {
        local label=$1 c=$2 ratio=$3 want=$4 text=$5 met
        met=$(awk -v x="$ratio" -v w="$want" 'BEGIN {print (x + 0 >= w + 0) ? "yes" : "no"}')
        ROWS+=("| $label | $c | - | ${ratio}× | $text | $met |")
}

# The peer column is restic for the dataset sections, redis-cli for redis.
print_report() {
        local peer=restic
        if ! uses_dataset; then peer=redis-cli; elif want_section redis; then peer="restic / redis-cli"; fi
        echo "## cairn vs $peer ($(date '+%Y-%m-%d %H:%M %Z'))"
        echo
        echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo), kernel $(uname -r)"
        echo "- disk: $(df -T "$BENCH_DIR" | awk 'NR == 2 {print $1 " (" $2 ")"}') under $BENCH_DIR"
        echo "- cairn: $CAIRN${DATA:+; restic: $("$RESTIC" version | head -1)}"
        if [ -n "$DATA" ]; then
                echo "- dataset: tools/gendata.py --size-mib $SIZE_MIB --seed $SEED: $DATA_FILES files, $DATA_BYTES bytes ($(mib "$DATA_BYTES") MiB); MB = 10^6 bytes"
                echo "- backup, restore and repository rows: warm page cache (not dropped); every restore into a new directory, restored trees deleted only when the run ends (ext4 allocates inodes slowly just after a mass deletion)"
        fi
        [ -z "$MOUNT_NOTE" ] || echo "- mount rows: $MOUNT_NOTE"
        [ -z "$S3_NOTE" ] || echo "- s3 rows: $S3_NOTE"
        [ -z "$REDIS_NOTE" ] || echo "- redis rows: $REDIS_NOTE"
        echo
        echo "| metric | cairn | $peer | ratio | target | met? |"
        echo "|---|---|---|---|---|---|"
        printf '%s\n' "${ROWS[@]}"
        echo
        if [ -n "$DATA" ]; then
                echo "Ratio > 1 means cairn is better (throughput: cairn/restic; time, memory, size: restic/cairn)${REDIS_NOTE:+; redis rows: cairn/redis-cli}."
        else
                echo "Ratio > 1 means cairn is better (cairn/redis-cli)."
        fi
}

# ---------------------------------------------------------------------------
# Sections

# Files: first backup, no-change backup, full restore, repository size.
# Leaves the two repositories (PW, CREPO, RREPO, RCACHE) and cairn's restore
# throughput (C_RESTORE_MBPS) for the later sections; they stay until the run
# directory is removed at exit.
PW='' CREPO='' RREPO='' RCACHE='' C_RESTORE_MBPS=''
section_files() {
        PW=$RUN/password
        printf 'bench-password-%s\n' "$RANDOM$RANDOM" >"$PW"
        CREPO=$RUN/cairn-repo RREPO=$RUN/restic-repo RCACHE=$RUN/restic-cache
        local pw=$PW crepo=$CREPO rrepo=$RREPO
        local cx=("$CAIRN" -r "$crepo" --password-file "$pw" -q)
        local rx=("$RESTIC" -r "$rrepo" --password-file "$pw" --cache-dir "$RCACHE")

        log "files: init repositories"
        "${cx[@]}" init --kdf interactive >"$RUN/cairn-init.log" 2>&1 ||
                { cat "$RUN/cairn-init.log" >&2; die "cairn init"; }
        "${rx[@]}" init >"$RUN/restic-init.log" 2>&1 ||
                { cat "$RUN/restic-init.log" >&2; die "restic init"; }

        # Both tools back up from a warm page cache: read the dataset once
        # first (an earlier run's mount section dropped the caches, and
        # whichever tool went first would otherwise pay for the disk).
        log "files: warming the page cache with the dataset"
        tar cf - -C "$DATA" . | cat >/dev/null

        # cairn
        measure cairn-backup "${cx[@]}" backup "$DATA"
        local c_b_s=$SECS c_b_rss=$RSS_MIB
        measure cairn-backup-nochange "${cx[@]}" backup "$DATA"
        local c_n_s=$SECS
        mkdir "$RUN/cairn-restore"
        measure cairn-restore "${cx[@]}" restore "latest:$DATA" --target "$RUN/cairn-restore"
        local c_r_s=$SECS c_r_rss=$RSS_MIB
        verify_tree cairn "$RUN/cairn-restore"
        local c_size
        c_size=$(du -sb "$crepo" | cut -f1)
        # Restored trees stay until the run ends (with $RUN): on ext4 a
        # restore just after the deletion of a restored tree ran 2-4x
        # slower (allocating inodes, ext4 skips those deleted in the last
        # seconds: find_inode_bit/recently_deleted took 40% of a restore's
        # time), so each restore's time depended on what ran before it.

        # restic
        measure restic-backup "${rx[@]}" backup --compression auto "$DATA"
        local r_b_s=$SECS r_b_rss=$RSS_MIB
        measure restic-backup-nochange "${rx[@]}" backup --compression auto "$DATA"
        local r_n_s=$SECS
        mkdir "$RUN/restic-restore"
        measure restic-restore "${rx[@]}" restore latest --target "$RUN/restic-restore"
        local r_r_s=$SECS r_r_rss=$RSS_MIB
        verify_tree restic "$RUN/restic-restore$DATA"
        local r_size
        r_size=$(du -sb "$rrepo" | cut -f1)

        add_row "first backup MB/s" "$(mbps "$DATA_BYTES" "$c_b_s")" "$(mbps "$DATA_BYTES" "$r_b_s")" 1 2 "≥ 2× restic"
        add_row "first backup peak RSS MiB" "$c_b_rss" "$r_b_rss" 0 1 "≤ restic"
        add_row "no-change backup s" "$c_n_s" "$r_n_s" 0 3 "≥ 3× faster"
        C_RESTORE_MBPS=$(mbps "$DATA_BYTES" "$c_r_s")
        add_row "restore MB/s" "$C_RESTORE_MBPS" "$(mbps "$DATA_BYTES" "$r_r_s")" 1 3 "≥ 3× restic"
        add_row "restore peak RSS MiB" "$c_r_rss" "$r_r_rss" 0 1 "≤ restic"
        add_row "repository MiB" "$(mib "$c_size")" "$(mib "$r_size")" 0 1 "≤ restic"
        # every stored byte is sealed and opened: both implementations of
        # the AEAD timed (repo/crypto.c uses libcrypto's from 4 KiB on)
        selftest_row aead "XChaCha20-Poly1305"
}

# ---------------------------------------------------------------------------
# FUSE mounts: bookkeeping, so that a failure anywhere (die, Ctrl-C) still
# unmounts every mount of this run and ends its process (by PID).

MOUNT_DIRS=()   # mountpoints made by this run ("" once cleanly unmounted)
MOUNT_PIDS=()   # the mount process of each, same index ("" if not known)
CAIRN_EXE=

# alive PID: the process exists and is not a zombie.
alive() {
        local st
        st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
        [ -n "$st" ] && [ "$st" != Z ]
}

# serves PID MNT: PID is alive and has MNT among its arguments (guards
# against killing a recycled PID).
serves() {
        alive "$1" && tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | grep -qxF -- "$2"
}

# is_mounted MNT: MNT is in the mount table (read from /proc/mounts, so a
# hung file system cannot block the check).
is_mounted() {
        awk -v m="$1" '$2 == m {f = 1} END {exit !f}' /proc/mounts
}

# pid_of_mount EXE MNT: the process running EXE with MNT among its arguments
# (how the detached `cairn mount --daemon` is found).
pid_of_mount() {
        local exe=$1 mnt=$2 d
        for d in /proc/[0-9]*; do
                [ "$(readlink "$d/exe" 2>/dev/null)" = "$exe" ] || continue
                serves "${d#/proc/}" "$mnt" || continue
                echo "${d#/proc/}"
                return 0
        done
        return 1
}

# unmount MNT PID: `fusermount3 -u` (a few tries), then wait up to 15 s for
# the mount process to end.  Falls back to a lazy unmount and to
# SIGTERM/SIGKILL of PID; returns 1 if any fallback was needed.
unmount() {
        local mnt=$1 pid=$2 i forced=0
        if is_mounted "$mnt"; then
                for i in 1 2 3 4 5; do
                        fusermount3 -u "$mnt" 2>>"$RUN/unmount.log" && break
                        sleep 1
                done
                if is_mounted "$mnt"; then
                        forced=1
                        log "fusermount3 -u $mnt failed; lazy unmount"
                        fusermount3 -uz "$mnt" 2>>"$RUN/unmount.log" || true
                fi
        fi
        if [ -n "$pid" ]; then
                for ((i = 0; i < 150; i++)); do
                        serves "$pid" "$mnt" || break
                        sleep 0.1
                done
                if serves "$pid" "$mnt"; then
                        forced=1
                        log "mount process $pid still running 15 s after the unmount; killing it"
                        kill -TERM "$pid" 2>/dev/null || true
                        sleep 2
                        if serves "$pid" "$mnt"; then kill -KILL "$pid" 2>/dev/null || true; fi
                fi
                wait "$pid" 2>/dev/null || true # reaps restic, our child
        fi
        return $forced
}

cleanup_mounts() {
        local i mnt pid
        for i in "${!MOUNT_DIRS[@]}"; do
                mnt=${MOUNT_DIRS[$i]} pid=${MOUNT_PIDS[$i]}
                [ -n "$mnt" ] || continue
                if [ -z "$pid" ] && [ -n "$CAIRN_EXE" ]; then
                        pid=$(pid_of_mount "$CAIRN_EXE" "$mnt") || pid=
                fi
                log "cleanup: unmounting $mnt${pid:+ (pid $pid)}"
                unmount "$mnt" "$pid" || true
                MOUNT_DIRS[i]=
        done
}

drop_caches() {
        sync
        echo 3 >/proc/sys/vm/drop_caches || die "could not drop the page cache"
}

# start_mount TOOL NAME REPO [OPTION...]: mount REPO with TOOL (cairn or
# restic; password $PW, OPTIONs are more global options, such as a cache
# dir) at $RUN/NAME-mnt with a new process, so its in-memory caches are
# empty, and wait until the dataset shows under snapshots/latest.  Log in
# $RUN/NAME-mount.log.  MOUNT_WANT, if set, names the file (relative to the
# mount point) to wait for instead.  Sets MNT, MOUNT_PID and MOUNT_IDX.
start_mount() {
        local tool=$1 name=$2 repo=$3 log=$RUN/$2-mount.log rc=0 i want t0=$EPOCHREALTIME
        shift 3
        mkdir -p "$RUN/$name-mnt"
        MNT=$(cd "$RUN/$name-mnt" && pwd -P) # as /proc/mounts shows it
        MOUNT_IDX=${#MOUNT_DIRS[@]}
        MOUNT_DIRS+=("$MNT")
        MOUNT_PIDS+=("")
        case $tool in
        cairn)
                timeout -k 5 300 "$CAIRN" -r "$repo" --password-file "$PW" "$@" mount "$MNT" --daemon \
                        >"$log" 2>&1 || rc=$?
                if [ $rc -ne 0 ]; then
                        tail -20 "$log" >&2
                        die "cairn mount --daemon failed (exit $rc; 124: not detached within 300 s)"
                fi
                grep -qxF "mounted $repo at $MNT" "$log" ||
                        { cat "$log" >&2; die "cairn mount: no 'mounted $repo at $MNT' line"; }
                MOUNT_PID=$(pid_of_mount "$CAIRN_EXE" "$MNT") ||
                        die "cairn mount: no daemon process serving $MNT after 'mounted'"
                ;;
        restic)
                "$RESTIC" -r "$repo" --password-file "$PW" "$@" mount "$MNT" \
                        >"$log" 2>&1 &
                MOUNT_PID=$!
                ;;
        esac
        MOUNT_PIDS[MOUNT_IDX]=$MOUNT_PID
        want=$MNT/${MOUNT_WANT:-snapshots/latest$DATA/big-random.bin}
        for ((i = 0; i < 600; i++)); do
                alive "$MOUNT_PID" ||
                        { tail -20 "$log" >&2; die "$tool mount (pid $MOUNT_PID) ended before the snapshot showed"; }
                if is_mounted "$MNT"; then
                        rc=0
                        timeout -k 2 10 test -f "$want" || rc=$?
                        [ $rc -eq 0 ] && break
                        [ $rc -lt 124 ] || die "$tool mount: stat of $want hung (no answer in 10 s)"
                fi
                sleep 0.5
        done
        [ $i -lt 600 ] || die "$tool mount: $want did not show within 300 s"
        log "$name: mounted at $MNT in $(elapsed "$t0") s (pid $MOUNT_PID)"
}

# end_mount TOOL WHAT: unmount the mount start_mount made; cairn's must end
# cleanly (die naming WHAT), restic's may need forcing.
end_mount() {
        if ! unmount "$MNT" "$MOUNT_PID"; then
                [ "$1" != cairn ] ||
                        die "cairn $2 did not end cleanly after 'fusermount3 -u $MNT' (see $RUN/unmount.log)"
                log "restic mount needed forcing to end"
        fi
        MOUNT_DIRS[MOUNT_IDX]=
        log "$1: unmounted"
}

# mount_dd NAME FILE: after dropping the page cache, dd the mounted
# big-random.bin FILE to /dev/null with bs=1M (measured as NAME, under a
# timeout); checks dd read the whole file.  Sets M_DD (MB/s).
mount_dd() {
        local name=$1 big=$2 big_bytes
        big_bytes=$(stat -c %s "$DATA/big-random.bin")
        drop_caches
        measure "$name" timeout -k 10 900 dd if="$big" of=/dev/null bs=1M
        grep -q "^$big_bytes bytes" "$RUN/$name.log" ||
                { cat "$RUN/$name.log" >&2; die "$name: dd did not read $big_bytes bytes"; }
        M_DD=$(mbps "$big_bytes" "$SECS")
}

# mount_reads TOOL: on the fresh mount MNT (process MOUNT_PID), each after
# dropping the page cache: tar of the dataset, dd of big-random.bin, fio 4 KiB
# random reads; then the process's peak RSS, then every byte checked.  Sets
# M_TAR M_DD (MB/s), M_IOPS, M_P99 (ms), M_RSS (MiB).  Every read runs under
# a timeout, so a hung mount fails the run instead of stalling it.
mount_reads() {
        local tool=$1 dir=$MNT/snapshots/latest$DATA
        local big=$MNT/snapshots/latest$DATA/big-random.bin big_bytes fio_bytes out
        big_bytes=$(stat -c %s "$DATA/big-random.bin")
        fio_bytes=$((big_bytes < 314572800 ? big_bytes : 314572800)) # 300M, or less when smaller

        # `| cat`: GNU tar writing straight to /dev/null skips reading files.
        drop_caches
        measure "$tool-mount-tar" timeout -k 10 1800 \
                bash -c 'set -o pipefail; cd "$1" && tar cf - . | cat >/dev/null' _ "$dir"
        M_TAR=$(mbps "$DATA_BYTES" "$SECS")

        mount_dd "$tool-mount-dd" "$big"

        # fio's --invalidate=1 drops the file's pages at its start; during the
        # 20 s run, pages read once stay in the (FUSE) page cache, so later
        # reads may hit it, for both tools alike.
        drop_caches
        measure "$tool-mount-fio" timeout -k 10 300 \
                fio --name=rand --filename="$big" --rw=randread --bs=4k --ioengine=psync \
                --direct=0 --size="$fio_bytes" --runtime=20 --time_based --numjobs=1 \
                --invalidate=1 --output-format=json --output="$RUN/$tool-fio.json"
        out=$(python3 - "$RUN/$tool-fio.json" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
job = json.loads(text[text.index("{"):])["jobs"][0]
if job["error"] or job["read"]["io_bytes"] <= 0:
    sys.exit("fio: error %s, %s bytes read" % (job["error"], job["read"]["io_bytes"]))
r = job["read"]
print("%.0f %.3f" % (r["iops"], r["clat_ns"]["percentile"]["99.000000"] / 1e6))
PY
) || die "$tool mount: could not read fio's results in $RUN/$tool-fio.json"
        read -r M_IOPS M_P99 <<<"$out"
        log "$tool-mount-fio: $M_IOPS IOPS, p99 $M_P99 ms"

        alive "$MOUNT_PID" || die "$tool mount process $MOUNT_PID died during the measurements"
        M_RSS=$(awk '/^VmHWM:/ {printf "%.1f", $2 / 1024}' "/proc/$MOUNT_PID/status")
        [ -n "$M_RSS" ] || die "$tool mount: no VmHWM in /proc/$MOUNT_PID/status"
        log "$tool mount: peak RSS (VmHWM) $M_RSS MiB"

        verify_tree "$tool-mount" "$dir"
}

# Mount: reads through each tool's FUSE mount of the repositories that
# section files made, cold caches (see mount_reads and MOUNT_NOTE).
section_mount() {
        if [ -z "$CREPO" ] || [ ! -d "$CREPO" ] || [ ! -d "$RREPO" ]; then
                die "mount: needs the repositories of section files (put files before mount in SECTIONS)"
        fi
        CAIRN_EXE=$(readlink -f "$CAIRN")
        local tool c_tar c_dd c_iops c_p99 c_rss r_tar r_dd r_iops r_p99 r_rss

        # The reference for "mount reads at 80% of restore": cairn restore
        # under the same conditions as the mount reads, a cold page cache.
        drop_caches
        mkdir "$RUN/cairn-restore-cold"
        measure cairn-restore-cold "$CAIRN" -r "$CREPO" --password-file "$PW" -q restore "latest:$DATA" \
                --target "$RUN/cairn-restore-cold"
        local c_cold
        c_cold=$(mbps "$DATA_BYTES" "$SECS")
        for tool in cairn restic; do
                log "mount: $tool"
                case $tool in
                cairn) start_mount cairn cairn "$CREPO" ;;
                restic) start_mount restic restic "$RREPO" --cache-dir "$RCACHE" ;;
                esac
                mount_reads "$tool"
                end_mount "$tool" mount
                case $tool in
                cairn) c_tar=$M_TAR c_dd=$M_DD c_iops=$M_IOPS c_p99=$M_P99 c_rss=$M_RSS ;;
                restic) r_tar=$M_TAR r_dd=$M_DD r_iops=$M_IOPS r_p99=$M_P99 r_rss=$M_RSS ;;
                esac
        done

        MOUNT_NOTE="kernel page cache cold: \`sync; echo 3 > /proc/sys/vm/drop_caches\` before each of tar, dd, fio; each repository freshly mounted once (new process, empty in-memory caches; cairn \`mount --daemon\`, default --cache-size; restic \`mount\` with its on-disk metadata cache from the backups) and tar, dd, fio run in that order on it; tar = \`tar cf - . | cat >/dev/null\` of the dataset dir (MB/s of file bytes), dd = big-random.bin bs=1M, fio = 4 KiB psync randread over big-random.bin, --invalidate=1, 20 s, 1 job (later reads may hit the FUSE page cache); peak RSS = VmHWM of the mount process after the three"
        add_row "mount tar MB/s" "$c_tar" "$r_tar" 1 5 "≥ 5× restic"
        add_row "mount dd MB/s" "$c_dd" "$r_dd" 1 3 "≥ 3× restic"
        add_row "mount 4K random IOPS" "$c_iops" "$r_iops" 1 5 "≥ 5× restic"
        add_row "mount 4K p99 ms" "$c_p99" "$r_p99" 0 - "- (reference)"
        add_row "mount peak RSS MiB" "$c_rss" "$r_rss" 0 - "- (reference)"
        add_self_row "cairn mount tar ÷ cairn restore (both cold)" "$c_tar vs $c_cold MB/s" \
                "$(awk -v a="$c_tar" -v b="$c_cold" 'BEGIN {printf "%.2f", a / b}')" 0.8 "≥ 0.8× restore"
        add_self_row "cairn mount dd ÷ cairn restore (both cold)" "$c_dd vs $c_cold MB/s" \
                "$(awk -v a="$c_dd" -v b="$c_cold" 'BEGIN {printf "%.2f", a / b}')" 0.8 "≥ 0.8× restore"
}

# ---------------------------------------------------------------------------
# S3: s3rver (tests/s3/server.sh) over https, one for each tool in turn.
#
# Request counts come from s3rver's own log, not from a proxy.  Over https a
# pass-through proxy sees TLS connections, not requests (tests/s3/
# faultproxy.py speaks plain HTTP only), and restic cannot use plain http
# with s3rver 3.7.1 (see /work/shared/NOTES.md), so a proxy would mean
# different paths for the two tools.  s3rver's first middleware is
# koa-logger, which logs one "info:" line per HTTP request when its answer
# is finished, closed early or failed.  s3rver cuts the first 16 characters
# of that line (the method and the start of the path go), but the line
# still ends in "<time>ms|s <length>|-|" (the length is empty for 204),
# which none of its other info lines (e.g. 'Stored object "..." in bucket
# "..." successfully') does; s3_log_requests counts those lines.  Checked
# against faultproxy.py over plain http (cairn init, backup, two restores:
# 54 requests by the proxy's count, 54 log lines).  The count for a command
# is the growth of that number over the command; only one client runs at a
# time.

S3_DIR=       # the s3rver's directory (data, log, pid), stopped at exit

# s3_log_requests: HTTP requests s3rver has logged so far.
s3_log_requests() {
        sed 's/\x1b\[[0-9;]*m//g' "$S3_DIR/s3rver.log" |
                grep -cE '^info: .* [0-9][0-9,]*m?s (-|[0-9.]+[kmgtp]?b)?$' || true
}

# s3_settled_requests: s3_log_requests once it stopped growing (a request's
# line is written when its answer is finished, an instant after the client
# may have read it).
s3_settled_requests() {
        local a b i
        a=$(s3_log_requests)
        for ((i = 0; i < 20; i++)); do
                sleep 0.25
                b=$(s3_log_requests)
                [ "$b" = "$a" ] && break
                a=$b
        done
        echo "$b"
}

# measure_s3 NAME CMD...: measure, and set REQS to the requests s3rver
# logged during CMD.
measure_s3() {
        local before
        before=$(s3_settled_requests)
        measure "$@"
        REQS=$(($(s3_settled_requests) - before))
        STEPS[${#STEPS[@]} - 1]+="  $REQS S3 requests"
        log "$1: $REQS S3 requests"
}

s3_stop() {
        [ -n "$S3_DIR" ] || return 0
        log "stopping s3rver ($S3_DIR)"
        "$ROOT/tests/s3/server.sh" stop "$S3_DIR" || true
        S3_DIR=
}

# selftest_row NAME LABEL: cairn selftest-NAME times the libcrypto and the
# libsodium implementation of one job (same bytes checked); a row with both.
selftest_row() {
        local out a b
        out=$("$CAIRN" --json "selftest-$1" 256) || die "cairn selftest-$1"
        a=$(python3 -c 'import json,sys; print(round(json.load(sys.stdin)["libcrypto_mb_s"]))' <<<"$out")
        b=$(python3 -c 'import json,sys; print(round(json.load(sys.stdin)["libsodium_mb_s"]))' <<<"$out")
        add_self_row "$2 MB/s, libcrypto (used) vs libsodium $b" "$a" \
                "$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", a / b}')" 1 "faster of the two"
}

# s3_tool_round TOOL ROUND: on an s3rver of its own, started fresh (one that
# holds more objects, or has served more, gets slower: the other tool's
# data would slow whichever ran second), TOOL's init (bucket made by the
# tool), first backup, full restore (checked file by file), then a fresh
# mount of the repository and a cold-cache dd of big-random.bin. Sets
# R_B R_R (MB/s of backup and restore), R_DD (dd MB/s), R_BQ R_RQ (requests
# of backup and restore). The restored tree stays until the run ends (see
# the files section); the server's objects go with it.
s3_tool_round() {
        local tool=$1 round=$2 port
        port=$(free_port) || die "s3: no free port"
        S3_DIR=$RUN/s3rver-$tool-$round
        log "s3 round $round: starting s3rver for $tool over https on 127.0.0.1:$port"
        "$ROOT/tests/s3/server.sh" start "$S3_DIR" "$port" --https "$RUN/s3-cert" \
                >"$RUN/s3rver-start-$tool-$round.log" 2>&1 ||
                { cat "$RUN/s3rver-start-$tool-$round.log" >&2; die "s3: could not start s3rver (tests/s3/server.sh)"; }
        local ca=$RUN/s3-cert/cert.pem
        [ -f "$ca" ] || die "s3: no certificate $ca"

        local repo=s3:https://127.0.0.1:$port/$tool-bench/repo
        # Absolute paths only: `cairn mount --daemon` changes to / (a relative
        # --cacert fails every new TLS connection of the daemon).
        local opt=(--cacert "$ca" --cache-dir "$RUN/$tool-s3-cache-$round")
        local x r=-$round dst=$RUN/$tool-s3-restore-$round
        case $tool in
        cairn) x=("$CAIRN" -r "$repo" --password-file "$PW" -q "${opt[@]}") ;;
        restic) x=("$RESTIC" -r "$repo" --password-file "$PW" "${opt[@]}") ;;
        esac

        log "s3 round $round: $tool init"
        case $tool in
        cairn) "${x[@]}" --s3-create-bucket init --kdf interactive ;;
        restic) "${x[@]}" init ;;
        esac >"$RUN/$tool-s3-init$r.log" 2>&1 || { cat "$RUN/$tool-s3-init$r.log" >&2; KEEP=1; die "$tool init on S3"; }

        log "s3 round $round: warming the page cache with the dataset"
        tar cf - -C "$DATA" . | cat >/dev/null

        mkdir "$dst"
        case $tool in
        cairn)
                measure_s3 "cairn-s3-backup$r" "${x[@]}" backup "$DATA"
                R_B=$(mbps "$DATA_BYTES" "$SECS") R_BQ=$REQS
                measure_s3 "cairn-s3-restore$r" "${x[@]}" restore "latest:$DATA" --target "$dst"
                R_R=$(mbps "$DATA_BYTES" "$SECS") R_RQ=$REQS
                verify_tree "cairn-s3$r" "$dst"
                ;;
        restic)
                measure_s3 "restic-s3-backup$r" "${x[@]}" backup --compression auto "$DATA"
                R_B=$(mbps "$DATA_BYTES" "$SECS") R_BQ=$REQS
                measure_s3 "restic-s3-restore$r" "${x[@]}" restore latest --target "$dst"
                R_R=$(mbps "$DATA_BYTES" "$SECS") R_RQ=$REQS
                verify_tree "restic-s3$r" "$dst$DATA"
                ;;
        esac

        # Mount: dd of big-random.bin, cold page cache, then a byte check.
        log "s3 round $round: $tool mount"
        start_mount "$tool" "$tool-s3$r" "$repo" "${opt[@]}"
        local big=$MNT/snapshots/latest$DATA/big-random.bin
        mount_dd "$tool-s3-mount-dd$r" "$big"
        timeout -k 10 900 cmp "$DATA/big-random.bin" "$big" >"$RUN/$tool-s3-mount-cmp$r.log" 2>&1 ||
                { cat "$RUN/$tool-s3-mount-cmp$r.log" >&2; KEEP=1; die "$tool S3 mount: big-random.bin differs from the dataset's"; }
        log "$tool-s3-mount$r: big-random.bin verified (cmp)"
        R_DD=$M_DD
        end_mount "$tool" "mount of S3"
        s3_stop
        # cairn's packs, as s3rver stored them, for s3_floor_round
        if [ "$tool" = cairn ] && [ ! -d "$RUN/floor-objects" ]; then
                local d=$RUN/s3rver-$tool-$round/data/cairn-bench f k
                while IFS= read -r -d '' f; do
                        k=${f#"$d/"}
                        mkdir -p "$(dirname "$RUN/floor-objects/${k%._S3rver_object}")"
                        mv "$f" "$RUN/floor-objects/${k%._S3rver_object}"
                done < <(find "$d/repo/data" -name '*._S3rver_object' -print0)
                # their payload hashes, once for every floor round
                (cd "$RUN/floor-objects" && find . -type f | LC_ALL=C sort | xargs -r sha256sum) >"$RUN/floor.sha256" ||
                        die "s3 floor: sha256sum of cairn's packs"
        fi
        # its objects stay until the run ends, as the restored trees do: a
        # deletion here would slow the file creations of the next restore
        # (see wait_inodes)
}

# s3_floor_round ROUND: what s3rver alone allows, on a fresh server: curl
# stores cairn's packs (kept from its first round) with 16 parallel PUTs,
# then reads them back with 16 parallel GETs, each signed (SigV4 by curl)
# and doing nothing else (payload hashes computed once, before any clock,
# bodies to /dev/null).  No client can move these bytes through this
# server faster, so F_PUT and F_GET (dataset MB/s: the dataset's bytes over
# the time for its packs) bound the s3 backup and restore rows.
s3_floor_round() {
        local round=$1 port r=-$1 ca=$RUN/s3-cert/cert.pem
        port=$(free_port) || die "s3: no free port"
        S3_DIR=$RUN/s3rver-floor-$round
        log "s3 round $round: starting s3rver for the floor over https on 127.0.0.1:$port"
        "$ROOT/tests/s3/server.sh" start "$S3_DIR" "$port" --https "$RUN/s3-cert" \
                >"$RUN/s3rver-start-floor-$round.log" 2>&1 ||
                { cat "$RUN/s3rver-start-floor-$round.log" >&2; die "s3: could not start s3rver (tests/s3/server.sh)"; }
        local base=https://127.0.0.1:$port/floor empty
        empty=$(sha256sum </dev/null | cut -d' ' -f1)
        # per transfer: curl's options do not carry over "next"; the keys
        # go in the config file, not on the command line
        local common="cacert = \"$ca\"
aws-sigv4 = \"aws:amz:us-east-1:s3\"
user = \"$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY\"
fail
silent
show-error"
        printf '%s\nurl = "%s"\nrequest = PUT\nheader = "x-amz-content-sha256: %s"\noutput = "/dev/null"\n' \
                "$common" "$base" "$empty" >"$RUN/floor-mb$r.cfg"
        curl -K "$RUN/floor-mb$r.cfg" >"$RUN/floor-mb$r.log" 2>&1 ||
                { cat "$RUN/floor-mb$r.log" >&2; die "s3 floor: could not create the bucket"; }
        local put=$RUN/floor-put$r.cfg get=$RUN/floor-get$r.cfg k sum sep=
        : >"$put"
        : >"$get"
        while read -r sum k; do
                k=${k#./}
                printf '%s%s\nurl = "%s/%s"\nupload-file = "%s"\nheader = "x-amz-content-sha256: %s"\noutput = "/dev/null"\n' \
                        "$sep" "$common" "$base" "$k" "$RUN/floor-objects/$k" "$sum" >>"$put"
                printf '%s%s\nurl = "%s/%s"\nheader = "x-amz-content-sha256: %s"\noutput = "/dev/null"\n' \
                        "$sep" "$common" "$base" "$k" "$empty" >>"$get"
                sep=$'next\n'
        done <"$RUN/floor.sha256"
        [ -n "$sep" ] || die "s3 floor: no packs of cairn's kept"
        measure_s3 "s3rver-put-floor$r" curl --parallel --parallel-max 16 -K "$put"
        F_PUT=$(mbps "$DATA_BYTES" "$SECS")
        measure_s3 "s3rver-get-floor$r" curl --parallel --parallel-max 16 -K "$get"
        F_GET=$(mbps "$DATA_BYTES" "$SECS")
        s3_stop # its objects stay until the run ends (see s3_tool_round)
}

# S3: S3_ROUNDS rounds of s3_tool_round for each tool, each on a fresh
# s3rver, the fastest of each measurement kept.
section_s3() {
        # The PUT payload hash runs over every uploaded byte: both SHA-256
        # implementations timed here; backend-s3 uses libcrypto's.
        selftest_row sha256 "SHA-256"
        CAIRN_EXE=$(readlink -f "$CAIRN")
        if [ -z "$PW" ]; then # when section files did not run
                PW=$RUN/password
                printf 'bench-password-%s\n' "$RANDOM$RANDOM" >"$PW"
        fi
        # The server's fixed keys; nothing else of this machine's AWS setup.
        local -x AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
        unset AWS_SESSION_TOKEN AWS_PROFILE AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE

        local round cb= cr= rb= rr= cdd= rdd= cbq= crq= rbq= rrq= fput= fget=
        local tool
        for ((round = 1; round <= S3_ROUNDS; round++)); do
                # each tool on its own fresh server; who goes first alternates
                for tool in $( ((round % 2)) && echo cairn restic || echo restic cairn); do
                        s3_tool_round "$tool" "$round"
                        case $tool in
                        cairn) cb=$(larger "$cb" "$R_B") cr=$(larger "$cr" "$R_R") cdd=$(larger "$cdd" "$R_DD")
                                # requests: the most any round made
                                cbq=$(larger "$cbq" "$R_BQ") crq=$(larger "$crq" "$R_RQ") ;;
                        restic) rb=$(larger "$rb" "$R_B") rr=$(larger "$rr" "$R_R") rdd=$(larger "$rdd" "$R_DD")
                                rbq=$(larger "$rbq" "$R_BQ") rrq=$(larger "$rrq" "$R_RQ") ;;
                        esac
                done
                s3_floor_round "$round"
                fput=$(larger "$fput" "$F_PUT") fget=$(larger "$fget" "$F_GET")
        done

        S3_NOTE="s3rver $S3RVER_VERSION (Node $(node --version)) on 127.0.0.1 over https with a self-signed certificate (both tools \`--cacert\`), its objects on the same disk, a bucket made by the tool's init; default parallelism (cairn \`--s3-connections\` 16, restic s3.connections 5); each tool's metadata cache in the run dir (cairn \`--cache-dir\`, restic \`--cache-dir\`), filled by its own backup and used by restore and mount; backup from a warm page cache, restore after the backup (not dropped); mount dd = big-random.bin bs=1M through a fresh mount of the S3 repository (cairn \`mount --daemon\`, restic \`mount\`) after \`echo 3 > drop_caches\`; $S3_ROUNDS rounds; in each, each tool's init, backup, restore and mount on an s3rver of its own, freshly started with no objects (one that holds more, or has served more, gets slower), the tools' order alternating between rounds; the fastest of each measurement kept; requests = HTTP requests s3rver logged during the command (one access-log line per request; counted at the server since over https a proxy sees only connections), all methods and answers (errors, 404s) included, the most of any round; s3rver alone = after the tools in each round, a fresh s3rver to which curl $(curl --version | head -1 | cut -d' ' -f2) PUTs the packs of cairn's first backup (16 parallel, each signed with its payload's SHA-256, hashed before the clock starts) and then GETs them back to /dev/null, the fastest round kept: no client moves the same bytes through this server faster, so the ratio in those rows (s3rver alone ÷ restic) is the most any client could reach"
        add_row "s3 backup MB/s" "$cb" "$rb" 1 2 "≥ 2× restic"
        add_row "s3 restore MB/s" "$cr" "$rr" 1 2 "≥ 2× restic"
        add_row "s3 mount dd MB/s" "$cdd" "$rdd" 1 2 "≥ 2× restic"
        add_row "s3rver alone: PUT of cairn's packs (curl), dataset MB/s" "$fput" "$rb" 1 - "- (reference: the ceiling of s3 backup)"
        add_row "s3rver alone: GET of cairn's packs (curl), dataset MB/s" "$fget" "$rr" 1 - "- (reference: the ceiling of s3 restore)"
        add_row "s3 backup requests" "$cbq" "$rbq" 0 - "- (reference)"
        add_row "s3 restore requests" "$crq" "$rrq" 0 '>1' "fewer than restic"
}

# ---------------------------------------------------------------------------
# Redis: our own redis-server instances on loopback, each in
# $RUN/redis-NAME/ (its port, pid file, log and data), stopped at exit.
# Each dataset lives in its own source server; every restore goes into a
# fresh, empty server, stopped once checked (the big dataset's copies are
# a GiB of memory each).

REDIS_DIRS=() # the directories of the servers this run started

# redis_start NAME [ARGS...]: start a redis-server (more ARGS for its
# command line) in $RUN/redis-NAME on a free port; wait until it answers
# PING (after loading a dump.rdb found there).  Sets REDIS_PORT.
redis_start() {
        local name=$1 dir=$RUN/redis-$1 port i
        shift
        port=$(free_port) || die "redis $name: no free port"
        mkdir -p "$dir"
        echo "$port" >"$dir/port"
        REDIS_DIRS+=("$dir")
        redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
                --enable-debug-command yes --daemonize yes --pidfile "$dir/redis.pid" \
                --logfile "$dir/redis.log" "$@" >"$dir/start.log" 2>&1 ||
                { cat "$dir/start.log" >&2; die "redis $name: redis-server did not start"; }
        for ((i = 0; i < 600; i++)); do
                [ "$(redis-cli -p "$port" PING 2>/dev/null)" = PONG ] && break
                sleep 0.1
        done
        [ $i -lt 600 ] ||
                { tail -5 "$dir/redis.log" >&2; die "redis $name: no PONG on port $port within 60 s"; }
        REDIS_PORT=$port
}

# redis_stop NAME|DIR: SHUTDOWN NOSAVE, then wait (10 s) for the process of
# its pid file to end, SIGKILL after that.  A server that is already gone
# removed its pid file; a stale one names a process that must still be a
# redis-server on this port (its title) before it is signalled.
redis_stop() {
        local dir=$1 port pid i
        [[ $dir == /* ]] || dir=$RUN/redis-$1
        [ -f "$dir/redis.pid" ] || return 0
        port=$(cat "$dir/port") pid=$(cat "$dir/redis.pid")
        redis-cli -p "$port" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
        for ((i = 0; i < 100; i++)); do
                redis_is "$pid" "$port" || return 0
                sleep 0.1
        done
        log "redis-server $pid (port $port) still running 10 s after SHUTDOWN; killing it"
        kill -KILL "$pid" 2>/dev/null || true
}

# redis_is PID PORT: PID is alive and a redis-server of 127.0.0.1:PORT.
redis_is() {
        alive "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qE "^(/[^ ]*/)?redis-server 127\.0\.0\.1:$2( |\$)"
}

redis_stop_all() {
        local dir
        for dir in "${REDIS_DIRS[@]}"; do
                redis_stop "$dir"
        done
}

# redis_fill PORT small N | PORT big COUNT SIZE: write a dataset into db 0
# of the server at PORT with redis-cli --pipe.  small: N keys, by i % 20:
# 0-13 strings of 100 bytes (3 and 10 with a TTL of a day), 14-15 hashes
# of 5 fields, 16-17 lists, 18 sets and 19 sorted sets of 5 members of 20
# bytes; the bytes are slices at random offsets of 4 MiB of base64 of
# seeded random bytes.  big: COUNT strings of SIZE random bytes
# (os.urandom: incompressible, no two chunks alike).
redis_fill() {
        local port=$1 log=$RUN/redis-fill-$2.log rc=0
        shift
        python3 - "$@" <<'PY' | redis-cli -p "$port" --pipe >"$log" 2>&1 || rc=$?
import base64, os, random, sys

out = sys.stdout.buffer


def cmd(*args):
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


if sys.argv[1] == "small":
    rnd = random.Random(1)
    pool = base64.b64encode(rnd.randbytes(3 << 20))
    top = len(pool) - 100
    buf = []
    for i in range(int(sys.argv[2])):
        o, k = rnd.randrange(top), i % 20
        m = [pool[o + 20 * j:o + 20 * j + 20] for j in range(5)] if k >= 14 else None
        if k < 14:
            key = b"s:%d" % i
            ttl = (b"EX", b"86400") if k in (3, 10) else ()
            buf.append(cmd(b"SET", key, pool[o:o + 100], *ttl))
        elif k < 16:
            buf.append(cmd(b"HSET", b"h:%d" % i, *[x for j in range(5) for x in (b"f%d" % j, m[j])]))
        elif k < 18:
            buf.append(cmd(b"RPUSH", b"l:%d" % i, *m))
        elif k == 18:
            buf.append(cmd(b"SADD", b"t:%d" % i, *m))
        else:
            buf.append(cmd(b"ZADD", b"z:%d" % i, *[x for j in range(5) for x in (b"%d" % (o + j), m[j])]))
        if len(buf) >= 4096:
            out.write(b"".join(buf))
            buf = []
    out.write(b"".join(buf))
else:
    size = int(sys.argv[3])
    for i in range(int(sys.argv[2])):
        key = b"big:%04d" % i
        out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n" % (len(key), key, size))
        out.write(os.urandom(size))
        out.write(b"\r\n")
PY
        [ $rc -eq 0 ] && grep -q '^errors: 0,' "$log" ||
                { cat "$log" >&2; die "redis: filling the $1 dataset failed (exit $rc)"; }
}

# redis_check NAME PORT: db 0 of the server at PORT holds what the source
# held (REDIS_SRC_KEYS keys, DEBUG DIGEST REDIS_SRC_DIGEST; the digest
# covers every key, value and whether it has a TTL) and nothing is in any
# other database.
redis_check() {
        local name=$1 port=$2 keys digest
        keys=$(redis-cli -p "$port" DBSIZE) digest=$(redis-cli -p "$port" DEBUG DIGEST)
        if [ "$keys" != "$REDIS_SRC_KEYS" ] || [ "$digest" != "$REDIS_SRC_DIGEST" ] ||
                [ "$(redis-cli -p "$port" INFO keyspace | grep -c '^db[0-9]')" != 1 ]; then
                redis-cli -p "$port" INFO keyspace >&2
                KEEP=1
                die "$name: the server holds $keys keys, digest $digest; the source $REDIS_SRC_KEYS keys, digest $REDIS_SRC_DIGEST"
        fi
        log "$name: verified ($keys keys, DEBUG DIGEST equal to the source's)"
}

# warm_memory TAG: touch, in a process that then exits, twice the memory
# the restore of dataset TAG makes the target server allocate (small: 1 GiB;
# big: 2 x BENCH_REDIS_BIG_MIB), so that it finds that much free memory the
# kernel has already backed.  This VM hands freed memory back to its host
# (virtio-balloon free page reporting), and touching such memory again
# costs ~0.2 GB/s of page zeroing here (measured 2026-12-03: DEBUG POPULATE
# of 1 GiB took 5.1 s, a 1 GiB restore 6.8 s into a server on such memory
# and 2.1-2.8 s after a warm-up).  Without it a restore's time depended on
# what ran before it: the first restore after `cairn dump` wrote 1 GiB took
# 6.0 s where the same restore took 2.2-2.4 s by hand.
warm_memory() {
        local mib=1024
        [ "$1" = big ] && mib=$((2 * REDIS_BIG_MIB))
        python3 -c 'import sys; b = bytearray(int(sys.argv[1]) << 20); b[::4096] = b"\1" * len(b[::4096])' "$mib" ||
                die "warm_memory: could not touch $mib MiB"
}

# larger BEST X: the larger of two numbers (BEST may be empty): the faster
# of two rates, the more of two request counts.
larger() {
        awk -v a="$1" -v b="$2" 'BEGIN {print (a == "" || b + 0 > a + 0) ? b : a}'
}

# redis_repo NAME: a fresh cairn repository $RUN/redis-NAME-repo; sets RCX
# to the cairn command line for it.
redis_repo() {
        RCX=("$CAIRN" -r "$RUN/redis-$1-repo" --password-file "$PW" -q)
        "${RCX[@]}" init --kdf interactive >"$RUN/redis-$1-init.log" 2>&1 ||
                { cat "$RUN/redis-$1-init.log" >&2; die "cairn init (redis $1)"; }
}

# snapshot_of LOG: the snapshot_id of the --json output in LOG.
snapshot_of() {
        python3 -c 'import json, sys; t = open(sys.argv[1]).read(); print(json.loads(t[t.index("{"):])["snapshot_id"])' "$1" ||
                { cat "$1" >&2; die "no snapshot_id in the --json output in $1"; }
}

# rate AMOUNT UNIT SECS: keys/s (UNIT keys) or MB/s (UNIT MB, AMOUNT bytes).
rate() {
        if [ "$2" = MB ]; then mbps "$1" "$3"; else awk -v n="$1" -v s="$3" 'BEGIN {if (s < 0.001) s = 0.001; printf "%.0f", n / s}'; fi
}

# redis_dataset TAG LABEL: the measurements on one dataset (TAG small or
# big, see redis_fill), three rows labelled "redis LABEL: ...".
redis_dataset() {
        local tag=$1 label=$2 src amount unit expect
        case $tag in
        small) amount=$REDIS_KEYS unit=keys expect=$REDIS_KEYS ;;
        big) amount=$((REDIS_BIG_MIB << 20)) unit=MB expect=$((REDIS_BIG_MIB / 8)) ;;
        esac
        # No 5 s wait for more replicas before the (diskless) RDB transfer
        # that --rdb and --mode rdb ask for.
        redis_start "$tag-src" --repl-diskless-sync-delay 0
        src=$REDIS_PORT
        log "redis $tag: filling the source server (port $src)"
        local t0=$EPOCHREALTIME
        case $tag in
        small) redis_fill "$src" small "$REDIS_KEYS" ;;
        big) redis_fill "$src" big "$expect" $((8 << 20)) ;;
        esac
        REDIS_SRC_KEYS=$(redis-cli -p "$src" DBSIZE)
        [ "$REDIS_SRC_KEYS" = "$expect" ] || die "redis $tag: the source holds $REDIS_SRC_KEYS keys, not $expect"
        REDIS_SRC_DIGEST=$(redis-cli -p "$src" DEBUG DIGEST)
        log "redis $tag: $REDIS_SRC_KEYS keys, $(redis-cli -p "$src" INFO memory | sed -n 's/^used_memory_human:\(.*\)\r$/\1/p') in $(elapsed "$t0") s"
        local url=redis://127.0.0.1:$src

        # Dumps: cairn logical, redis-cli --rdb, cairn --mode rdb; each
        # cairn backup into a repository of its own (the RDB holds the big
        # values as the logical dump does, and must not dedup against it).
        redis_repo "$tag-logical"
        local lx=("${RCX[@]}") snap
        measure "redis-$tag-cairn-dump" "${lx[@]}" --json backup redis "$url"
        local c_dump
        c_dump=$(rate "$amount" $unit "$SECS")
        snap=$(snapshot_of "$RUN/redis-$tag-cairn-dump.log")

        local rdb=$RUN/redis-$tag-peer.rdb p_rdb
        measure "redis-$tag-rediscli-rdb" redis-cli -p "$src" --rdb "$rdb"
        p_rdb=$(rate "$amount" $unit "$SECS")
        [ "$(head -c 5 "$rdb")" = REDIS ] || die "redis-cli --rdb: $rdb is no RDB file"
        local rdb_bytes
        rdb_bytes=$(stat -c %s "$rdb")
        [ "$KEEP" = 1 ] || rm -f "$rdb"

        redis_repo "$tag-rdb"
        local c_rdb rsnap
        measure "redis-$tag-cairn-rdb" "${RCX[@]}" --json backup redis "$url" --mode rdb
        c_rdb=$(rate "$amount" $unit "$SECS")
        rsnap=$(snapshot_of "$RUN/redis-$tag-cairn-rdb.log")
        # cairn's RDB must load into a fresh server as the source's data.
        mkdir -p "$RUN/redis-$tag-rdbload"
        "${RCX[@]}" dump "$rsnap:/redis/dump.rdb" >"$RUN/redis-$tag-rdbload/dump.rdb" ||
                die "cairn dump $rsnap:/redis/dump.rdb"
        log "redis $tag: cairn's dump.rdb $(stat -c %s "$RUN/redis-$tag-rdbload/dump.rdb") bytes, redis-cli's $rdb_bytes"
        redis_start "$tag-rdbload" --dbfilename dump.rdb
        redis_check "redis-$tag-cairn-rdb (loaded)" "$REDIS_PORT"
        redis_stop "$tag-rdbload"
        [ "$KEEP" = 1 ] || rm -rf "$RUN/redis-$tag-rdb-repo" "$RUN/redis-$tag-rdbload/dump.rdb"
        redis_stop "$tag-src"

        # Restores, each into a fresh empty server: cairn from the
        # repository; cairn from a fresh mount of it (the path the issue
        # names: FROM inside the mounted tree; the repository was opened,
        # and its key derived, by the mount beforehand); redis-cli --pipe of
        # the same db0.resp, taken out of the snapshot beforehand (untimed).
        # REDIS_ROUNDS rounds of the three, the fastest of each counted, and
        # warm_memory before every one: see warm_memory for why.
        local resp=$RUN/redis-$tag-db0.resp c_rest= p_rest= c_mnt= round
        "${lx[@]}" dump "$snap:/redis/db0.resp" >"$resp" || die "cairn dump $snap:/redis/db0.resp"
        for ((round = 1; round <= REDIS_ROUNDS; round++)); do
                redis_start "$tag-dst-cairn-$round"
                warm_memory "$tag"
                measure "redis-$tag-cairn-restore-$round" "${lx[@]}" restore redis "$snap:/redis" \
                        --to "redis://127.0.0.1:$REDIS_PORT"
                c_rest=$(larger "$c_rest" "$(rate "$amount" $unit "$SECS")")
                redis_check "redis-$tag-cairn-restore-$round" "$REDIS_PORT"
                redis_stop "$tag-dst-cairn-$round"

                MOUNT_WANT=snapshots/latest/redis/meta.json start_mount cairn "redis-$tag-$round" \
                        "$RUN/redis-$tag-logical-repo"
                redis_start "$tag-dst-mnt-$round"
                warm_memory "$tag"
                measure "redis-$tag-cairn-restore-mnt-$round" "$CAIRN" -q restore redis "$MNT/snapshots/latest/redis" \
                        --to "redis://127.0.0.1:$REDIS_PORT"
                c_mnt=$(larger "$c_mnt" "$(rate "$amount" $unit "$SECS")")
                redis_check "redis-$tag-cairn-restore-mnt-$round" "$REDIS_PORT"
                redis_stop "$tag-dst-mnt-$round"
                unmount "$MNT" "$MOUNT_PID" ||
                        die "cairn mount did not end cleanly after 'fusermount3 -u $MNT' (see $RUN/unmount.log)"
                MOUNT_DIRS[MOUNT_IDX]=

                redis_start "$tag-dst-pipe-$round"
                warm_memory "$tag"
                measure "redis-$tag-rediscli-pipe-$round" bash -c 'redis-cli -p "$1" --pipe <"$2"' _ "$REDIS_PORT" "$resp"
                grep -q '^errors: 0,' "$RUN/redis-$tag-rediscli-pipe-$round.log" ||
                        { cat "$RUN/redis-$tag-rediscli-pipe-$round.log" >&2; KEEP=1; die "redis-cli --pipe of $resp: errors"; }
                p_rest=$(larger "$p_rest" "$(rate "$amount" $unit "$SECS")")
                redis_check "redis-$tag-rediscli-pipe-$round" "$REDIS_PORT"
                redis_stop "$tag-dst-pipe-$round"
        done
        [ "$KEEP" = 1 ] || rm -rf "$resp" "$RUN/redis-$tag-logical-repo"

        if [ $unit = keys ]; then
                add_row "redis $label: logical dump keys/s (redis-cli --rdb)" "$c_dump" "$p_rdb" 1 abs:100000 "≥ 100,000 keys/s"
        else
                add_row "redis $label: logical dump MB/s (redis-cli --rdb)" "$c_dump" "$p_rdb" 1 - "- (reference)"
        fi
        add_row "redis $label: --mode rdb dump $unit/s (redis-cli --rdb)" "$c_rdb" "$p_rdb" 1 - "- (reference)"
        add_row "redis $label: restore $unit/s (redis-cli --pipe)" "$c_rest" "$p_rest" 1 1 "≥ redis-cli --pipe"
        add_row "redis $label: restore from the mount $unit/s (redis-cli --pipe)" "$c_mnt" "$p_rest" 1 1 "≥ redis-cli --pipe"
}

# Redis: the small-keys dataset, then the big-values one (see redis_fill),
# each dumped and restored by cairn and by redis-cli (see REDIS_NOTE).
section_redis() {
        if [ -z "$PW" ]; then # when section files did not run
                PW=$RUN/password
                printf 'bench-password-%s\n' "$RANDOM$RANDOM" >"$PW"
        fi
        CAIRN_EXE=$(readlink -f "$CAIRN")
        local keys=$REDIS_KEYS big
        if ((keys % 1000000 == 0)); then keys="$((keys / 1000000))M"; elif ((keys % 1000 == 0)); then keys="$((keys / 1000))k"; fi
        if ((REDIS_BIG_MIB % 1024 == 0)); then big="$((REDIS_BIG_MIB / 1024)) GiB"; else big="$REDIS_BIG_MIB MiB"; fi
        redis_dataset small "$keys keys"
        redis_dataset big "$big values"
        REDIS_NOTE="$(redis-server --version | sed 's/^Redis server v=\([^ ]*\).*/redis-server \1/') servers on 127.0.0.1 (\`--save '' --appendonly no\`, debug commands on), all data in db 0, one source server per dataset (\`repl-diskless-sync-delay 0\`: no wait before the RDB transfer); $keys keys = $REDIS_KEYS keys of ~100 bytes (70% strings, a tenth of all keys with a TTL, 10% hashes, 10% lists, 5% sets, 5% sorted sets of 5 members of 20 bytes; base64 text), $big = $((REDIS_BIG_MIB / 8)) strings of 8 MiB of random bytes (MB/s = 10^6 bytes of values per second); dump: \`cairn backup redis\` (logical: SCAN + DUMP + PTTL into redis/db0.resp; \`--mode rdb\`: redis/dump.rdb over the replication protocol), each into a fresh local repository, beside \`redis-cli --rdb FILE\` (an RDB file on the same disk, the peer of both dump rows; keys/s = keys ÷ its seconds); restore: into a fresh empty server each, \`cairn restore redis SNAPSHOT:/redis\` (reading the repository) and \`cairn restore redis MNT/snapshots/latest/redis\` (reading a fresh \`cairn mount --daemon\` of that repository, started and its key derived before the timing) beside \`redis-cli --pipe < db0.resp\` (the same RESP file, taken out with \`cairn dump\` beforehand, untimed, warm page cache); $REDIS_ROUNDS rounds of the three restores, the fastest of each kept, each after touching twice the memory its server will take in a process that exits (this VM hands freed memory to its host, and memory touched again costs ~0.2 GB/s of page zeroing: without it a restore's time depended on what ran before it); every restore, and cairn's dump.rdb loaded into a fresh server, checked by DBSIZE and DEBUG DIGEST against the source"
}

# ---------------------------------------------------------------------------

# Unmount first (a mount inside $RUN must not be walked by rm -rf), then stop
# the S3 server the mounts read from.
on_exit() {
        set +e
        cleanup_mounts
        s3_stop
        redis_stop_all
        if [ "$KEEP" = 1 ]; then log "kept $RUN"; else rm -rf "$RUN"; fi
}

# wait_inodes: on ext4 without a journal, creating files within about 6
# minutes of a mass deletion on the same file system is slow: the allocator
# skips each recently deleted inode, again for every new file
# (recently_deleted under ext4_create; a restore of the dataset took 7.2 s
# against 3.3 s, and a deletion of a few hundred files was enough), so the
# restores would measure the deletion, not the tool. Probe: create 1000
# empty files in the run directory, next to the restores' targets; while
# that takes 0.25 s or more (0.02-0.05 s otherwise), wait 30 s and probe
# again, 6.5 minutes at the most. The probes stay until the run ends:
# deleting them would bring the slowness back.
wait_inodes() {
        local i t
        for ((i = 1; i <= 14; i++)); do
                t=$(python3 -c '
import os, sys, time
d = sys.argv[1]
os.mkdir(d)
t = time.monotonic()
for n in range(1000):
    os.close(os.open(os.path.join(d, str(n)), os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600))
print("%.3f" % (time.monotonic() - t))' "$RUN/inode-probe-$i")
                if awk -v t="$t" 'BEGIN { exit !(t < 0.25) }'; then
                        log "creating 1000 files took $t s: going on"
                        return 0
                fi
                if ((i == 14)); then
                        log "creating 1000 files still took $t s after 6.5 minutes: going on (restores may be slow)"
                        return 0
                fi
                log "creating 1000 files took $t s (ext4 skips inodes deleted in the last minutes): waiting 30 s"
                sleep 30
        done
}

main() {
        local t_start=$EPOCHREALTIME
        setup_tools
        if uses_dataset; then
                setup_data
        else
                mkdir -p "$BENCH_DIR"
                BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
        fi
        RUN=$BENCH_DIR/run-$(date +%Y%m%d-%H%M%S)-$$
        mkdir -p "$RUN"
        trap on_exit EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        log "run directory $RUN"
        wait_inodes

        local s
        for s in "${SECTIONS[@]}"; do
                "section_$s"
        done

        local report
        report=$(print_report)
        echo
        echo "$report"
        echo
        echo "Steps:"
        printf '  %s\n' "${STEPS[@]}"
        echo "Total bench time: $(elapsed "$t_start") s"
        if [ -n "$OUT" ]; then
                printf '%s\n' "$report" >"$OUT"
                log "table written to $OUT"
        fi
}

main
