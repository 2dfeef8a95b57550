#!/bin/bash
# Issue 18's throughput target: probity's text queries per second against raw ONNX Runtime on the
# same token tensors at the batches' natural lengths (target: probity >= 0.8x raw). Runs
# raw_ort.py (the fixture's 400 sentences through the MiniLM classifier, 2 threads) and probity's
# scan of the same sentences with text-robustness.yaml (1,200 queries: the clean pass and two
# probes), both at BATCH, and prints both figures, the ratios, and the CPU seconds and load.
#
#   ratio.sh PROBITY OUT_DIR [BATCH] [PYTHON]
#   e.g. ratio.sh target/release/probity /tmp/minilm/twins 64 /work/venv-fixtures/bin/python
set -eu
probity=$1 out=$2 batch=${3:-64} python=${4:-python3}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
scan=$(mktemp -d)
echo "load at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
"$python" "$here/raw_ort.py" "$out" "$batch" | tee "$scan/raw.txt"
/usr/bin/time -f '%U %S %e' -o "$scan/time.txt" "$probity" scan --model "$out/minilm-sentiment.onnx" \
  --tokenizer "$out/tokenizer.json" --data "$root/tests/fixtures/text/text-test.jsonl" \
  --battery "$root/batteries/text-robustness.yaml" --batch-size "$batch" --threads 2 --out "$scan/report" --quiet \
  > "$scan/scan.log" 2>&1 || true
"$python" - "$scan" <<'PY'
import json, re, sys
scan = sys.argv[1]
report = json.load(open(f"{scan}/report/report.json"))
qps = report["queries"] / report["elapsed_seconds"]
user, sys_, wall = map(float, open(f"{scan}/time.txt").read().split())
raw = {m.group(1): float(m.group(2)) for m in re.finditer(r", (.*): (\d+) queries/s", open(f"{scan}/raw.txt").read())}
print(f"probity: {report['queries']} queries in {report['elapsed_seconds']:.2f} s: {qps:.0f} queries/s "
      f"(process: {wall:.1f} s wall, {user + sys_:.1f} s CPU)")
for what, rate in raw.items():
    print(f"probity / raw ONNX Runtime {what}: {qps / rate:.2f}")
PY
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf "$scan"
