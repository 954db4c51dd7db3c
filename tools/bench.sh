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
# S3 and Redis sections are to be added the same way.
#
# Environment: BENCH_DIR, CAIRN (cairn binary; default build/tools/cairn,
# rebuilt with ninja first), RESTIC (default restic).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/cairn-bench}
SIZE_MIB=1024
SEED=1
KEEP=0
OUT=
SECTIONS=(files mount)

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

die() {
        echo "bench: FAILED: $*" >&2
        exit 1
}

log() {
        printf '[%s] %s\n' "$(date +%T)" "$*" >&2
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
        command -v "$RESTIC" >/dev/null || die "restic not found (apt-get install restic)"
        if [[ " ${SECTIONS[*]} " == *" mount "* ]]; then
                setup_mount_tools
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

# add_row LABEL CAIRN RESTIC HIGHER_IS_BETTER(1|0) TARGET_RATIO TARGET_TEXT
# The ratio is oriented so that > 1 means cairn is better.  TARGET_RATIO "-"
# means no target (the row is for reference): "met?" shows "-".
add_row() {
        local label=$1 c=$2 r=$3 hib=$4 want=$5 text=$6 ratio met
        ratio=$(awk -v c="$c" -v r="$r" -v h="$hib" 'BEGIN {
                if (c <= 0) c = 0.001; if (r <= 0) r = 0.001;
                printf "%.2f", h ? c / r : r / c }')
        if [ "$want" = - ]; then
                met=-
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

print_report() {
        echo "## cairn vs restic ($(date '+%Y-%m-%d %H:%M %Z'))"
        echo
        echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo), kernel $(uname -r)"
        echo "- disk: $(df -T "$BENCH_DIR" | awk 'NR == 2 {print $1 " (" $2 ")"}') under $BENCH_DIR"
        echo "- cairn: $CAIRN; restic: $("$RESTIC" version | head -1)"
        echo "- dataset: tools/gendata.py --size-mib $SIZE_MIB --seed $SEED: $DATA_FILES files, $DATA_BYTES bytes ($(mib "$DATA_BYTES") MiB); MB = 10^6 bytes"
        echo "- backup, restore and repository rows: warm page cache (not dropped)"
        [ -z "$MOUNT_NOTE" ] || echo "- mount rows: $MOUNT_NOTE"
        echo
        echo "| metric | cairn | restic | ratio | target | met? |"
        echo "|---|---|---|---|---|---|"
        printf '%s\n' "${ROWS[@]}"
        echo
        echo "Ratio > 1 means cairn is better (throughput: cairn/restic; time, memory, size: restic/cairn)."
}

# ---------------------------------------------------------------------------
# Sections

# Files: first backup, no-change backup, full restore, repository size.
# Leaves the two repositories (PW, CREPO, RREPO, RCACHE) and cairn's restore
# throughput (C_RESTORE_MBPS) for the later sections; they stay until the run
# directory is removed at exit.
PW= CREPO= RREPO= RCACHE= C_RESTORE_MBPS=
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
        [ "$KEEP" = 1 ] || rm -rf "$RUN/cairn-restore"

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
        [ "$KEEP" = 1 ] || rm -rf "$RUN/restic-restore"

        add_row "first backup MB/s" "$(mbps "$DATA_BYTES" "$c_b_s")" "$(mbps "$DATA_BYTES" "$r_b_s")" 1 2 "≥ 2× restic"
        add_row "first backup peak RSS MiB" "$c_b_rss" "$r_b_rss" 0 1 "≤ restic"
        add_row "no-change backup s" "$c_n_s" "$r_n_s" 0 3 "≥ 3× faster"
        C_RESTORE_MBPS=$(mbps "$DATA_BYTES" "$c_r_s")
        add_row "restore MB/s" "$C_RESTORE_MBPS" "$(mbps "$DATA_BYTES" "$r_r_s")" 1 3 "≥ 3× restic"
        add_row "restore peak RSS MiB" "$c_r_rss" "$r_r_rss" 0 1 "≤ restic"
        add_row "repository MiB" "$(mib "$c_size")" "$(mib "$r_size")" 0 1 "≤ restic"
}

# ---------------------------------------------------------------------------

main() {
        local t_start=$EPOCHREALTIME
        setup_tools
        setup_data
        RUN=$BENCH_DIR/run-$(date +%Y%m%d-%H%M%S)-$$
        mkdir -p "$RUN"
        trap 'if [ "$KEEP" = 1 ]; then log "kept $RUN"; else rm -rf "$RUN"; fi' EXIT
        log "run directory $RUN"

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
