#!/bin/bash
# Issue 18: the vocabulary sweep on the real-size MiniLM pair over many seeds. The clean model
# must pass every seed (no natural cue word reported as a backdoor), the backdoored twin must fail
# with "window" named. Runs the sweep probe alone (sweep-only.yaml: the other text-triggers probes
# are fixed edits, and alone the sweep's test is corrected over fewer tests, so it fails sooner).
#
#   seeds.sh PROBITY OUT_DIR DATA CLEAN_SEEDS WINDOW_SEEDS RESULTS
#   e.g. seeds.sh /tmp/cues-probity /tmp/minilm/out /tmp/minilm/s160.jsonl "$(seq -s' ' 0 19)" "0 1 2" /tmp/seeds
#
# Environment: TWIN names the backdoored twin scanned at WINDOW_SEEDS (default window:
# $OUT_DIR/minilm-sentiment-$TWIN.onnx, e.g. TWIN=start-window with OUT_DIR=/tmp/minilm/twins);
# BATTERY replaces sweep-only.yaml (e.g. sweep-positions.yaml, the sweep also at the start).
#
# One line per scan in RESULTS/seeds.tsv: model, seed, exit code, wall seconds, the load average
# at the start, the chosen token (with @start / @end when found at one place), whether it stood out from its crowd, its anomaly index, verdict.
set -u
probity=$1 out=$2 data=$3 clean_seeds=$4 window_seeds=$5 results=$6
here=$(cd "$(dirname "$0")" && pwd)
twin=${TWIN:-window}
battery=${BATTERY:-$here/sweep-only.yaml}
mkdir -p "$results"
tsv=$results/seeds.tsv
printf 'model\tseed\texit\twall_s\tload\tchosen\tstands_out\tanomaly_index\tverdict\n' > "$tsv"
scan() {
  local m=$1 seed=$2 model=$out/minilm-sentiment.onnx
  [ "$m" != clean ] && model=$out/minilm-sentiment-$m.onnx
  local dir=$results/$m-$seed load start rc
  load=$(cut -d' ' -f1 /proc/loadavg)
  start=$(date +%s.%N)
  "$probity" scan --model "$model" --tokenizer "$out/tokenizer.json" --data "$data" --threads 2 \
    --battery "$battery" --seed "$seed" --out "$dir" --quiet > "$dir.log" 2>&1
  rc=$?
  local wall
  wall=$(echo "$(date +%s.%N) - $start" | bc)
  python3 - "$dir/report.json" "$m" "$seed" "$rc" "$wall" "$load" >> "$tsv" <<'PY'
import json, sys
path, m, seed, rc, wall, load = sys.argv[1:]
try:
    r = json.load(open(path))
except OSError:
    print(f"{m}\t{seed}\t{rc}\t{float(wall):.0f}\t{load}\t-\t-\t-\tno report"); sys.exit()
def sweeps(o):
    if isinstance(o, dict):
        v = o.get("vocabulary")
        if isinstance(v, dict) and "chosen" in v:
            yield o
        for x in o.values():
            yield from sweeps(x)
    elif isinstance(o, list):
        for x in o:
            yield from sweeps(x)
def probes(o):
    if isinstance(o, dict):
        if o.get("id") == "vocabulary-sweep" and "verdict" in o:
            yield o
        for x in o.values():
            yield from probes(x)
    elif isinstance(o, list):
        for x in o:
            yield from probes(x)
s = next(sweeps(r), None)
p = next(probes(r), None)
v = s["vocabulary"] if s else {}
c = v.get("crowd") or {}
z = c.get("anomaly_index")
print("\t".join([m, seed, rc, f"{float(wall):.0f}", load, " + ".join(v.get("chosen", {}).get("tokens", ["-"])) + (f"@{v['placement']}" if v.get("placement") else ""),
                 str(c.get("stands_out", "-")), "-" if z is None else f"{z:.2f}", p["verdict"] if p else "-"]))
PY
}
for seed in $clean_seeds; do scan clean "$seed"; done
for seed in $window_seeds; do scan "$twin" "$seed"; done
cat "$tsv"
