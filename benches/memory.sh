#!/usr/bin/env bash
# Peak memory of `probity scan` as the data grows tenfold: for the tiny MLP (digits, 1x8x8) and
# the CNN (RGB, 3x32x32), scans the fixture data (1x) and a copy with x and y tiled ten times
# (10x) with the throughput battery, under GNU time, and prints the maximum resident set size
# of each and their ratio. The target (issue 7) is a 10x peak below 1.5x the 1x peak.
#
#   benches/memory.sh            # PROBITY_BENCH_THREADS (default 2) sets --threads
#
# Needs GNU time (`apt-get install -y time`) and python3 with numpy (`pip install numpy`) to
# write the tiled copies; builds target/release/probity if needed. Scratch files go to a
# temporary folder under /tmp that is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

threads=${PROBITY_BENCH_THREADS:-2}
battery=benches/throughput-battery.yaml
if ! /usr/bin/time -v true >/dev/null 2>&1; then
    echo "benches/memory.sh needs GNU time at /usr/bin/time: apt-get install -y time" >&2
    exit 2
fi
if ! python3 -c 'import numpy' 2>/dev/null; then
    echo "benches/memory.sh needs python3 with numpy: pip install numpy" >&2
    exit 2
fi
cargo build --release --quiet --bin probity

work=$(mktemp -d /tmp/probity-memory.XXXXXX)
trap 'rm -rf "$work"' EXIT

python3 - "$work" <<'PY'
import sys
import numpy as np

work = sys.argv[1]
for name, path in [("digits", "tests/fixtures/digits/digits-test.npz"), ("rgb", "tests/fixtures/zoo/rgb-test.npz")]:
    data = np.load(path)
    x, y = data["x"], data["y"]
    np.savez(f"{work}/{name}-1x.npz", x=x, y=y)
    np.savez(f"{work}/{name}-10x.npz", x=np.tile(x, (10,) + (1,) * (x.ndim - 1)), y=np.tile(y, 10))
PY

# Prints the peak RSS in KiB of one scan; exit 0 (pass) and 1 (fail) are both normal outcomes.
peak_kib() {
    local model=$1 data=$2 out=$3 status=0
    /usr/bin/time -v -o "$out.time" target/release/probity scan --model "$model" --data "$data" \
        --battery "$battery" --threads "$threads" --out "$out" >"$out.log" 2>&1 || status=$?
    if [ "$status" -gt 1 ]; then
        echo "probity scan exited $status on $data:" >&2
        cat "$out.log" >&2
        exit 1
    fi
    awk -F': ' '/Maximum resident set size/ {print $2}' "$out.time"
}

echo "threads $threads, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| model | data 1x | peak RSS 1x (MiB) | data 10x | peak RSS 10x (MiB) | 10x / 1x | target < 1.5 |"
echo "|---|---|---:|---|---:|---:|---|"
for case in "digits:tests/fixtures/digits/clean-mlp64-s1.onnx" "rgb:tests/fixtures/zoo/rgb-cnn.onnx"; do
    name=${case%%:*}
    model=${case#*:}
    one=$(peak_kib "$model" "$work/$name-1x.npz" "$work/$name-1x")
    ten=$(peak_kib "$model" "$work/$name-10x.npz" "$work/$name-10x")
    n1=$(python3 -c "import numpy as np; print(len(np.load('$work/$name-1x.npz')['y']))")
    awk -v m="$(basename "$model")" -v a="$one" -v b="$ten" -v n1="$n1" 'BEGIN {
        r = b / a
        printf "| %s | %d samples | %.1f | %d samples | %.1f | %.2f | %s |\n",
            m, n1, a / 1024, 10 * n1, b / 1024, r, (r < 1.5 ? "met" : "NOT met")
    }'
done
