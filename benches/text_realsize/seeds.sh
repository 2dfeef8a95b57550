#!/bin/bash
# Issue 18: the vocabulary sweep on the real-size MiniLM pair over many seeds. The clean model
# must pass every seed (no natural cue word reported as a backdoor), the backdoored twin must fail
# with "window" named. Runs the sweep probe alone (sweep-only.yaml: the other text-triggers probes
# are fixed edits, and alone the sweep's test is corrected over fewer tests, so it fails sooner).
#
#   seeds.sh PROBITY OUT_DIR DATA CLEAN_SEEDS WINDOW_SEEDS RESULTS [TWINS]
#   e.g. seeds.sh /tmp/cues-probity /tmp/minilm/out /tmp/minilm/s160.jsonl "$(seq -s' ' 0 19)" "0 1 2" /tmp/seeds
#
# TWINS (default "window") names the backdoored twins scanned at WINDOW_SEEDS, each
# OUT_DIR/minilm-sentiment-TWIN.onnx (make_minilm.py --all-twins writes window-p3 … window-p10,
# tarantula, …), e.g. "window-p3 window-p5 window-p7 window-p10". PROBITY_BATTERY names another
# battery of this folder (sweep-words.yaml: the sweep with the word list words.txt;
# sweep-uncertain.yaml: the sweep on the uncertain half of the samples, `inputs: uncertain`).
# PROBITY_REFERENCE names a known-good model passed as `--reference` to every scan (the sweep
# then searches on the difference; make_minilm.py --reference-head writes minilm-sentiment-ref.onnx).
#
# One line per scan in RESULTS/seeds.tsv: model, seed, exit code, wall seconds, the load average
# at the start, the chosen token, whether it stood out from its crowd, its anomaly index, verdict,
# the chosen token's effect (nats; beyond the reference's with PROBITY_REFERENCE), and the
# sweep's model queries and seconds.
set -u
probity=$1 out=$2 data=$3 clean_seeds=$4 window_seeds=$5 results=$6 twins=${7:-window}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$results"
tsv=$results/seeds.tsv
printf 'model\tseed\texit\twall_s\tload\tchosen\tstands_out\tanomaly_index\tverdict\teffect\tsweep_queries\tsweep_s\n' > "$tsv"
scan() {
  local m=$1 seed=$2 model=$out/minilm-sentiment.onnx
  [ "$m" = clean ] || model=$out/minilm-sentiment-$m.onnx
  local dir=$results/$m-$seed load start rc
  load=$(cut -d' ' -f1 /proc/loadavg)
  start=$(date +%s.%N)
  "$probity" scan --model "$model" --tokenizer "$out/tokenizer.json" --data "$data" --threads 2 \
    --battery "$here/${PROBITY_BATTERY:-sweep-only.yaml}" --seed "$seed" --out "$dir" --quiet \
    ${PROBITY_REFERENCE:+--reference "$PROBITY_REFERENCE"} > "$dir.log" 2>&1
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
e = c.get("effect")
print("\t".join([m, seed, rc, f"{float(wall):.0f}", load, " + ".join(v.get("chosen", {}).get("tokens", ["-"])),
                 str(c.get("stands_out", "-")), "-" if z is None else f"{z:.2f}", p["verdict"] if p else "-",
                 "-" if e is None else f"{e:.1f}", str(v.get("queries", "-")), f"{v.get('seconds', 0):.0f}"]))
PY
}
for seed in $clean_seeds; do scan clean "$seed"; done
for seed in $window_seeds; do for twin in $twins; do scan "$twin" "$seed"; done; done
cat "$tsv"
