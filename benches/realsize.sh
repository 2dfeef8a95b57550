#!/usr/bin/env bash
# Default scans of the realistic-size fixtures (tests/fixtures/large): `probity scan` with the
# default batteries (no --battery), --quiet, under GNU time. For each model it prints the wall
# time, the peak RSS, the exit code and the scan's summary line, against the targets of issue 13:
# OCR (3x48x192) within 60 s, r224 (3x224x224) within 10 min, peak RSS at most 1.5 GB
# (1.5e9 bytes), exit 1 for the backdoored *-patch models and 0 for the clean ones.
#
#   benches/realsize.sh                         # ocr-patch ocr-clean r224-patch r224-clean
#   benches/realsize.sh r224-patch r224-clean   # only these
#
# Environment:
#   PROBITY_BIN       a prebuilt probity binary (default: build target/release/probity with cargo)
#   PROBITY_EP        passed as --ep (cpu, cuda, cuda:N); default: probity's (cpu)
#   PROBITY_ORT_LIB   passed as --ort-lib (e.g. the GPU build: $ORT_LIB from /tmp/gpu/env.sh)
#   PROBITY_THREADS   passed as --threads (default 2)
#   PROBITY_CPUS      run the scans under `taskset -c` with this CPU list (e.g. 0,1), so a large
#                     host can stand in for a 2-core machine
#   PROBITY_SCAN_TIMEOUT  seconds per scan (default none); a scan that runs over exits 124
#   PROBITY_REALSIZE_RESULTS  the results file (default $OUT/realsize.txt when OUT is set, else
#                     target/realsize.txt); each scan's output and reports go next to it, under
#                     <results without .txt>-logs/
#
# Measures with GNU time at /usr/bin/time (`apt-get install -y time`), or python3's rusage where
# there is no GNU time. The results file is written as the scans go, so a run cut short keeps
# what it measured.
set -euo pipefail
cd "$(dirname "$0")/.."

threads=${PROBITY_THREADS:-2}
if [ -n "${OUT:-}" ]; then
    results=${PROBITY_REALSIZE_RESULTS:-$OUT/realsize.txt}
else
    results=${PROBITY_REALSIZE_RESULTS:-${CARGO_TARGET_DIR:-target}/realsize.txt}
fi
logs=${results%.txt}-logs
mkdir -p "$(dirname "$results")" "$logs"

# measure FILE COMMAND...: runs COMMAND, writes "<wall seconds> <peak RSS KiB>" as the last line of
# FILE and exits with COMMAND's status. GNU time where there is one; else python3's rusage (a GPU
# image may lack GNU time but has python3).
if /usr/bin/time -f %e true >/dev/null 2>&1; then
    measure() { local file=$1; shift; /usr/bin/time -f '%e %M' -o "$file" "$@"; }
elif python3 -c 'import resource' 2>/dev/null; then
    measure() {
        python3 -c '
import resource, subprocess, sys, time
started = time.monotonic()
status = subprocess.call(sys.argv[2:])
wall = time.monotonic() - started
with open(sys.argv[1], "w") as f:
    print(f"{wall:.2f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}", file=f)  # KiB on Linux
sys.exit(status if status >= 0 else 128 - status)
' "$@"
    }
else
    echo "benches/realsize.sh needs GNU time at /usr/bin/time (apt-get install -y time) or python3" >&2
    exit 2
fi
if [ -n "${PROBITY_BIN:-}" ]; then
    bin=$PROBITY_BIN
else
    cargo build --release --quiet --bin probity
    bin=${CARGO_TARGET_DIR:-target}/release/probity
fi
[ -x "$bin" ] || { echo "benches/realsize.sh: $bin is not an executable probity" >&2; exit 2; }

global=(--quiet)
[ -z "${PROBITY_ORT_LIB:-}" ] || global+=(--ort-lib "$PROBITY_ORT_LIB")
engine=(--threads "$threads")
[ -z "${PROBITY_EP:-}" ] || engine+=(--ep "$PROBITY_EP")
prefix=()
[ -z "${PROBITY_CPUS:-}" ] || prefix+=(taskset -c "$PROBITY_CPUS")
[ -z "${PROBITY_SCAN_TIMEOUT:-}" ] || prefix+=(timeout "$PROBITY_SCAN_TIMEOUT")

models=("$@")
[ ${#models[@]} -gt 0 ] || models=(ocr-patch ocr-clean r224-patch r224-clean)

say() { echo "$*" | tee -a "$results"; }

: >"$results"
say "probity $("$bin" --version 2>/dev/null | awk '{print $2}') ($bin), ep ${PROBITY_EP:-cpu}, threads $threads, \
cpus ${PROBITY_CPUS:-all $(nproc)}, ort-lib ${PROBITY_ORT_LIB:-${ORT_DYLIB_PATH:-pinned build}}, \
load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%Y-%m-%d %H:%M UTC')"
say ""
say "| model | wall s | target | peak RSS MiB | target <= 1.5 GB | exit | expected | summary |"
say "|---|---:|---|---:|---|---:|---|---|"

for name in "${models[@]}"; do
    case $name in
        ocr-*) data=tests/fixtures/large/ocr-test size=192x48 limit=60 ;;
        r224-*) data=tests/fixtures/large/r224-test size=224x224 limit=600 ;;
        *) echo "benches/realsize.sh: unknown model $name (ocr-patch, ocr-clean, r224-patch, r224-clean)" >&2; exit 2 ;;
    esac
    case $name in
        *-patch) expected=1 ;;
        *) expected=0 ;;
    esac
    model=tests/fixtures/large/$name.onnx
    rm -rf "${logs:?}/$name"
    status=0
    measure "$logs/$name.time" "${prefix[@]}" \
        "$bin" "${global[@]}" scan --model "$model" --data "$data" --image-size "$size" "${engine[@]}" \
        --out "$logs/$name" >"$logs/$name.out" 2>"$logs/$name.err" || status=$?
    # GNU time writes "Command exited with non-zero status N" first when N != 0; the figures last.
    wall=0 kib=0
    read -r wall kib < <(tail -n 1 "$logs/$name.time") || true
    summary=$(head -n 1 "$logs/$name.out")
    [ "$status" -le 1 ] || summary="FAILED: $(tail -n 1 "$logs/$name.err")"
    awk -v m="$name" -v w="$wall" -v k="$kib" -v l="$limit" -v s="$status" -v e="$expected" -v t="$summary" 'BEGIN {
        # A scan that failed (exit 2) or ran over (124) meets nothing.
        done = s <= 1
        printf "| %s | %.1f | <= %d s %s | %.1f | %s | %d | %d %s | %s |\n", m, w, l,
            (done && w <= l ? "met" : "NOT met"), k / 1024, (done && k * 1024 <= 1.5e9 ? "met" : "NOT met"), s, e,
            (s == e ? "met" : "NOT met"), t
    }' | tee -a "$results"
done
say ""
say "load average at the end $(cut -d' ' -f1-3 /proc/loadavg); scan output and reports under $logs"
