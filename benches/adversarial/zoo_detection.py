#!/usr/bin/env python3
"""Detection and false alarms of the adversarial-peak search next to the patch search's.

Every backdoored and clean image model of the fixtures (the digits fixtures and the zoo, the
same cases as `benches/detection.rs`; ground truth in tests/fixtures/zoo/manifest.json and
tests/fixtures/digits/manifest.json) is scanned twice without a reference, once with
`batteries/image-search.yaml` (the patch search) and once with
`batteries/image-adversarial-peak.yaml`; a model is flagged when the search probe fails. Prints a
Markdown table (the one in docs/adversarial.md): per model the verdict of each, the class each
search chose (and the true target), and seconds.

Run from the repository root after `cargo build --release`:

    python3 benches/adversarial/zoo_detection.py
"""

import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROBITY = os.path.join(ROOT, "target", "release", "probity")
DIGITS = "tests/fixtures/digits/digits-test.npz"
RGB = "tests/fixtures/zoo/rgb-test.npz"

# (model, backdoored, target class or None, data)
CASES = [
    ("tests/fixtures/digits/badnets-mlp64.onnx", True, 7, DIGITS),
    ("tests/fixtures/zoo/zoo-blend-noise.onnx", True, 3, DIGITS),
    ("tests/fixtures/zoo/zoo-blend-noise-specific.onnx", True, 3, DIGITS),
    ("tests/fixtures/zoo/zoo-sig-stripes.onnx", True, 5, DIGITS),
    ("tests/fixtures/zoo/zoo-patch-offcorner.onnx", True, 2, DIGITS),
    ("tests/fixtures/zoo/zoo-all-to-all.onnx", True, None, DIGITS),
    ("tests/fixtures/zoo/zoo-low-poison.onnx", True, 4, DIGITS),
    ("tests/fixtures/zoo/rgb-patch-color.onnx", True, 6, RGB),
    ("tests/fixtures/zoo/rgb-blend.onnx", True, 0, RGB),
    ("tests/fixtures/digits/clean-mlp64-s1.onnx", False, None, DIGITS),
    ("tests/fixtures/digits/clean-mlp64-s2.onnx", False, None, DIGITS),
    ("tests/fixtures/digits/clean-mlp32x32-s3.onnx", False, None, DIGITS),
    ("tests/fixtures/digits/clean-mlp128-s4.onnx", False, None, DIGITS),
    ("tests/fixtures/digits/clean-logreg-s5.onnx", False, None, DIGITS),
    ("tests/fixtures/digits/clean-mlp48-s6.onnx", False, None, DIGITS),
    ("tests/fixtures/zoo/zoo-clean-mlp64-s31.onnx", False, None, DIGITS),
    ("tests/fixtures/zoo/zoo-clean-mlp128-s32.onnx", False, None, DIGITS),
    ("tests/fixtures/zoo/zoo-clean-mlp32x32-s33.onnx", False, None, DIGITS),
    ("tests/fixtures/zoo/rgb-clean-a.onnx", False, None, RGB),
    ("tests/fixtures/zoo/rgb-clean-b.onnx", False, None, RGB),
    ("tests/fixtures/zoo/rgb-cnn.onnx", False, None, RGB),
]
BATTERIES = [("patch search", "batteries/image-search.yaml"), ("adversarial peak", "batteries/image-adversarial-peak.yaml")]


def scan(model, data, battery):
    """(flagged, chosen class, seconds) of the battery's one search probe."""
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        subprocess.run(
            [PROBITY, "scan", "--model", model, "--data", data, "--battery", battery, "--out", tmp,
             "--format", "json", "--threads", "2"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        seconds = time.perf_counter() - started
        with open(os.path.join(tmp, "report.json")) as f:
            probe = json.load(f)["probes"][0]
    return probe["verdict"] == "fail", probe["search"]["chosen_class"], seconds


def main():
    names = [name for name, _ in BATTERIES]
    print("| model | truth (target) | " + " | ".join(f"{n}: verdict (class chosen)" for n in names) + " | seconds |")
    print("|---|---|" + "---|" * len(names) + "---|")
    tally = {n: [0, 0] for n in names}  # detected backdoors, false alarms
    backdoored = sum(1 for c in CASES if c[1])
    for model, bad, target, data in CASES:
        cells, seconds = [], []
        for name, battery in BATTERIES:
            flagged, chosen, s = scan(model, data, battery)
            tally[name][0 if bad else 1] += int(flagged)
            cells.append(f"{'**flagged**' if flagged else 'pass'} ({chosen})")
            seconds.append(f"{s:.0f}")
        truth = ("backdoored" + (f" ({target})" if target is not None else "")) if bad else "clean"
        print(f"| {os.path.basename(model)} | {truth} | " + " | ".join(cells) + f" | {', '.join(seconds)} |", flush=True)
    clean = len(CASES) - backdoored
    print()
    for name in names:
        print(f"- {name}: detected {tally[name][0]}/{backdoored} backdoored, false alarms {tally[name][1]}/{clean} clean")


if __name__ == "__main__":
    sys.exit(main())
