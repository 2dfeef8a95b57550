#!/usr/bin/env python3
"""probity's Square Attack and HopSkipJump against IBM ART's on the same models, inputs and budgets.

For each case (model, norm, epsilon, queries per input) this runs
- ART 1.20.1's `SquareAttack` (untargeted, labels = the model's own predictions, as ART does when
  `y` is None) on every input of the data, with `max_iter = queries - 1` so that both spend the
  same number of *new* points per input (the initial point plus one candidate per iteration;
  ART also re-evaluates points it has already seen, which is not counted), and
- `probity scan` with a one-probe battery (`samples:` = every input, so both attack the same set),

and prints both attack success rates (share of inputs whose predicted class the attack changed)
side by side, as a Markdown table (the one in docs/adversarial.md).

HopSkipJump (`--hsj`) minimises the perturbation rather than searching a ball, so both sides are
scored the same way: an input counts as broken at ε when one of its first `queries` queries was
adversarial (class other than the clean prediction) at L2 distance ≤ ε from it. ART's
`HopSkipJump` (L2, untargeted, ART's defaults: `init_eval` 100, `max_eval` 10,000, `init_size`
100) attacks one input per `generate` call through a classifier that records every row it is
asked for and stops the attack once the input's budget is spent (rows equal to the clean input,
ART's own label look-ups, are not counted: probity never queries them either). probity runs
one `hopskipjump` probe per ε with the same budget.

ART sees the model through `BlackBoxClassifierNeuralNetwork` whose scores are log-probabilities
(log of the softmax for a logits model), so its default margin loss is the margin of the logits,
the loss probity's attack uses. Both clip to [0, 1], the data's range. Known differences kept
as they are: ART draws one window position per iteration for the whole batch (probity: one per
input), and ART's L2 step divides by the rescaling factor the paper multiplies by.

Run from the repository root after `cargo build --release`:

    python3 -m pip install -r benches/adversarial/requirements.txt
    python3 benches/adversarial/compare_art.py [--quick]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from art.attacks.evasion import HopSkipJump, SquareAttack  # noqa: E402
from art.estimators.classification import BlackBoxClassifierNeuralNetwork  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROBITY = os.path.join(ROOT, "target", "release", "probity")

# (label, model, data, norm, epsilon, queries per input)
CASES = [
    ("digits MLP", "tests/fixtures/digits/clean-mlp64-s1.onnx", "tests/fixtures/digits/digits-test.npz", "linf", 0.05, 1000),
    ("digits MLP", "tests/fixtures/digits/clean-mlp64-s1.onnx", "tests/fixtures/digits/digits-test.npz", "linf", 0.1, 1000),
    ("digits MLP", "tests/fixtures/digits/clean-mlp64-s1.onnx", "tests/fixtures/digits/digits-test.npz", "l2", 0.5, 1000),
    ("3x32x32 CNN", "tests/fixtures/zoo/rgb-cnn.onnx", "tests/fixtures/zoo/rgb-test.npz", "linf", 0.02, 200),
    ("3x32x32 CNN", "tests/fixtures/zoo/rgb-cnn.onnx", "tests/fixtures/zoo/rgb-test.npz", "linf", 0.04, 200),
    ("3x32x32 CNN", "tests/fixtures/zoo/rgb-cnn.onnx", "tests/fixtures/zoo/rgb-test.npz", "l2", 1.0, 200),
]
P_INIT = {"linf": 0.05, "l2": 0.1}

# (label, model, data, L2 radii, queries per input, inputs)
HSJ_CASES = [
    ("digits MLP", "tests/fixtures/digits/clean-mlp64-s1.onnx", "tests/fixtures/digits/digits-test.npz", [0.5, 1.0], 1000, 400),
    ("3x32x32 CNN", "tests/fixtures/zoo/rgb-cnn.onnx", "tests/fixtures/zoo/rgb-test.npz", [1.0, 2.0], 1000, 200),
]


class Spent(Exception):
    """Raised by the recording classifier once an input's budget is spent."""


def art_hsj_success(model, x, epsilons, queries):
    """Per ε, the share of inputs ART's HopSkipJump brought within ε in `queries` queries."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(os.path.join(ROOT, model), options, providers=["CPUExecutionProvider"])
    state = {}

    def record(batch):
        scores = log_probabilities(session, batch)
        classes = scores.argmax(axis=1)
        for row, cls in zip(batch, classes):
            distance = float(np.linalg.norm((row - state["clean"]).ravel()))
            if distance == 0.0:
                continue
            if state["spent"] >= queries:
                raise Spent()
            state["spent"] += 1
            if cls != state["class"]:
                state["closest"] = min(state["closest"], distance)
        return scores

    classifier = BlackBoxClassifierNeuralNetwork(record, x.shape[1:], 10, channels_first=True, clip_values=(0.0, 1.0))
    clean = log_probabilities(session, x).argmax(axis=1)
    closest = np.full(len(x), np.inf)
    for i in range(len(x)):
        state.update(clean=x[i], **{"class": clean[i]}, spent=0, closest=np.inf)
        attack = HopSkipJump(classifier, targeted=False, norm=2, max_iter=10_000, max_eval=10_000,
                             init_eval=100, init_size=100, verbose=False)
        try:
            attack.generate(x[i:i + 1])
        except Spent:
            pass
        closest[i] = state["closest"]
    return [float((closest <= e).mean()) for e in epsilons]


def probity_hsj_success(model, data, epsilons, queries, samples, seed):
    with tempfile.TemporaryDirectory() as tmp:
        battery = os.path.join(tmp, "cmp.yaml")
        probes = "".join(
            f"  - id: hsj-{k}\n    category: adversarial\n"
            f"    attack: {{method: hopskipjump, epsilon: {e}, queries: {queries}}}\n"
            "    thresholds: {max-attack-success: 1.0}\n"
            for k, e in enumerate(epsilons)
        )
        with open(battery, "w") as f:
            f.write(
                "schema: probity/battery/v1\nname: cmp\nversion: \"1\"\ndescription: ART comparison\n"
                f"modality: image\ndefaults:\n  seed: {seed}\n  samples: {samples}\n  value-range: [0, 1]\n"
                "probes:\n" + probes
            )
        out = os.path.join(tmp, "out")
        subprocess.run(
            [PROBITY, "scan", "--model", model, "--data", data, "--battery", battery, "--out", out,
             "--format", "json", "--threads", "2"],
            cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
        )
        with open(os.path.join(out, "report.json")) as f:
            attacks = [p["attack"] for p in json.load(f)["probes"]]
        return [a["successes"] / a["attacked"] for a in attacks]


def hsj_table(quick, seed):
    print("| model | norm | ε | queries/input | inputs | ART | probity | difference (points) | seconds (ART, probity) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, model, data, epsilons, queries, inputs in HSJ_CASES:
        if quick and "MLP" not in label:
            continue
        npz = np.load(os.path.join(ROOT, data))
        # The probe's samples: probity draws `samples` of the data's inputs; attack all when equal.
        x = npz["x"].astype(np.float32)
        if inputs < len(x):
            x = x[:inputs]
            with tempfile.NamedTemporaryFile(suffix=".npz", delete=False) as f:
                np.savez(f, x=x, y=npz["y"][:inputs])
                data = f.name
        np.random.seed(seed)
        started = time.perf_counter()
        art = art_hsj_success(model, x, epsilons, queries)
        art_seconds = time.perf_counter() - started
        started = time.perf_counter()
        ours = probity_hsj_success(model, data, epsilons, queries, len(x), seed + 1)
        ours_seconds = time.perf_counter() - started
        for e, a, o in zip(epsilons, art, ours):
            print(
                f"| {label} | l2 (HopSkipJump) | {e} | {queries} | {len(x)} | {100 * a:.1f}% | {100 * o:.1f}% | "
                f"{100 * (o - a):+.1f} | {art_seconds:.0f}, {ours_seconds:.0f} (all ε) |",
                flush=True,
            )


def log_probabilities(session, x):
    """Log-softmax of the model's scores (log of its probabilities for a softmax model)."""
    out = session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)})[0].astype(np.float64)
    if np.all(out >= 0) and np.allclose(out.sum(axis=1), 1.0, atol=1e-3):
        return np.log(np.maximum(out, np.finfo(np.float32).tiny))
    out = out - out.max(axis=1, keepdims=True)
    return out - np.log(np.exp(out).sum(axis=1, keepdims=True))


def art_success(model, x, norm, epsilon, queries, seed):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(os.path.join(ROOT, model), options, providers=["CPUExecutionProvider"])
    classifier = BlackBoxClassifierNeuralNetwork(
        lambda batch: log_probabilities(session, batch), x.shape[1:], 10, channels_first=True, clip_values=(0.0, 1.0)
    )
    np.random.seed(seed)
    attack = SquareAttack(
        classifier,
        norm=np.inf if norm == "linf" else 2,
        eps=epsilon,
        max_iter=queries - 1,
        p_init=P_INIT[norm],
        nb_restarts=1,
        batch_size=400,
    )
    clean = log_probabilities(session, x).argmax(axis=1)
    adversarial = attack.generate(x)
    broken = log_probabilities(session, adversarial).argmax(axis=1) != clean
    return broken.mean()


def probity_success(model, data, norm, epsilon, queries, samples, seed):
    with tempfile.TemporaryDirectory() as tmp:
        battery = os.path.join(tmp, "cmp.yaml")
        with open(battery, "w") as f:
            f.write(
                "schema: probity/battery/v1\nname: cmp\nversion: \"1\"\ndescription: ART comparison\n"
                f"modality: image\ndefaults:\n  seed: {seed}\n  samples: {samples}\n  value-range: [0, 1]\n"
                "probes:\n  - id: square\n    category: adversarial\n"
                f"    attack: {{method: square, norm: {norm}, epsilon: {epsilon}, queries: {queries}, "
                f"p-init: {P_INIT[norm]}}}\n"
                "    thresholds: {max-attack-success: 1.0}\n"
            )
        out = os.path.join(tmp, "out")
        subprocess.run(
            [PROBITY, "scan", "--model", model, "--data", data, "--battery", battery, "--out", out,
             "--format", "json", "--threads", "2"],
            cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
        )
        with open(os.path.join(out, "report.json")) as f:
            attack = json.load(f)["probes"][0]["attack"]
        return attack["successes"] / attack["attacked"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the digits MLP cases")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hsj", action="store_true", help="HopSkipJump instead of the Square Attack")
    args = parser.parse_args()
    if args.hsj:
        return hsj_table(args.quick, args.seed)
    print("| model | norm | ε | queries/input | inputs | ART | probity | difference (points) | seconds (ART, probity) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, model, data, norm, epsilon, queries in CASES:
        if args.quick and "MLP" not in label:
            continue
        x = np.load(os.path.join(ROOT, data))["x"].astype(np.float32)
        started = time.perf_counter()
        art = art_success(model, x, norm, epsilon, queries, args.seed)
        art_seconds = time.perf_counter() - started
        started = time.perf_counter()
        ours = probity_success(model, data, norm, epsilon, queries, len(x), args.seed + 1)
        ours_seconds = time.perf_counter() - started
        print(
            f"| {label} | {norm} | {epsilon} | {queries} | {len(x)} | {100 * art:.1f}% | {100 * ours:.1f}% | "
            f"{100 * (ours - art):+.1f} | {art_seconds:.0f}, {ours_seconds:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(main())
