#!/usr/bin/env python3
"""The peer of a probity scan: the same battery written the way a user would without probity.

Python, onnxruntime and vectorised numpy: load the model and the .npz, classify the clean inputs,
then for each probe build the patched / blended / perturbed inputs for all its samples at once,
classify them, take the argmax and count the predictions that flipped; for a trigger probe do the
same for its matched control (the same footprint filled with fresh uniform noise per sample).
Timing covers everything after the session and the data are loaded, like probity's
`runner::scan`; the median of --repetitions runs is printed as model queries per second.

The battery comes as JSON: the validated battery that benches/throughput.rs serialises from
benches/throughput-battery.yaml (it writes target/throughput-battery.json). Supported transforms:
patch (solid, colour or checkerboard content at a named or fixed position), blend (noise or
stripes), gaussian-noise and brightness-contrast. Randomness uses numpy's generator, not
probity's ChaCha8 streams, so random content differs; deterministic probes (solid and
checkerboard patches, stripes, brightness) see exactly probity's inputs and flip the same
predictions.

    python3 benches/peer_scan.py --model M.onnx --data D.npz --battery-json B.json \
        [--threads 2] [--batch-size 64] [--repetitions 5]

Needs `pip install onnxruntime==1.31.1 numpy`. The last line printed is a JSON object
(queries, median_seconds, queries_per_second, flips per probe) that the Rust bench reads.
"""

import argparse
import json
import statistics
import time

import numpy as np
import onnxruntime as ort


def pixels(extent, side):
    """An extent ({"pixels": n} or {"fraction": f}) in pixels, as probity rounds it."""
    if "pixels" in extent:
        return int(extent["pixels"])
    # Rust's f64::round rounds halves away from zero; Python's round() would round to even.
    return min(max(int(np.floor(extent["fraction"] * side + 0.5)), 1), side)


def anchor(position, w, h, width, height):
    room_x, room_y = width - w, height - h
    named = {
        "top-left": (0, 0),
        "top-right": (room_x, 0),
        "bottom-left": (0, room_y),
        "bottom-right": (room_x, room_y),
        "top": (room_x // 2, 0),
        "bottom": (room_x // 2, room_y),
        "left": (0, room_y // 2),
        "right": (room_x, room_y // 2),
        "center": (room_x // 2, room_y // 2),
    }
    if isinstance(position, dict) and "at" in position:
        return position["at"]["x"], position["at"]["y"]
    if position not in named:
        raise SystemExit(f"peer_scan.py: unsupported patch position {position!r}")
    return named[position]


def patch_content(content, channels, h, w):
    """The patch's intensities in [0, 1], shaped [C, h, w]."""
    if "solid" in content:
        return np.full((channels, h, w), content["solid"], dtype=np.float32)
    if "color" in content:
        return np.broadcast_to(np.asarray(content["color"], np.float32)[:, None, None], (channels, h, w))
    if "checkerboard" in content:
        board = content["checkerboard"]
        cell = board["cell"]
        ys, xs = np.indices((h, w))
        high = ((ys // cell + xs // cell) % 2).astype(bool)
        plane = np.where(high, board["high"], board["low"]).astype(np.float32)
        return np.broadcast_to(plane, (channels, h, w))
    raise SystemExit(f"peer_scan.py: unsupported patch content {content!r}")


def blend_pattern(pattern, shape):
    """The full-image blend pattern in [0, 1], shaped [C, H, W]."""
    channels, height, width = shape
    if "noise" in pattern:
        return np.random.default_rng(pattern["noise"]["seed"]).random(shape, dtype=np.float32)
    if "stripes" in pattern:
        stripes = pattern["stripes"]
        vertical = stripes["orientation"] == "vertical"
        length = width if vertical else height
        phase = 2 * np.pi * stripes["frequency"] * np.arange(length) / length
        line = (0.5 + 0.5 * np.sin(phase)).astype(np.float32)
        plane = np.broadcast_to(line[None, :] if vertical else line[:, None], (height, width))
        return np.broadcast_to(plane, shape)
    raise SystemExit(f"peer_scan.py: unsupported blend pattern {pattern!r}")


class Probe:
    """Builds a probe's inputs (and its control's) for a batch of clean samples."""

    def __init__(self, spec, lo, hi, shape):
        self.spec = spec
        self.kind = spec["kind"]
        self.lo, self.hi = lo, hi  # [C, 1, 1]
        channels, height, width = shape
        if self.kind == "patch":
            self.w = pixels(spec["width"], width)
            self.h = pixels(spec["height"], height)
            self.x, self.y = anchor(spec["position"], self.w, self.h, width, height)
            self.levels = self.level(patch_content(spec["content"], channels, self.h, self.w))
        elif self.kind == "blend":
            self.alpha = np.float32(spec["alpha"])
            self.levels = self.level(blend_pattern(spec["pattern"], shape))
        elif self.kind not in ("gaussian-noise", "brightness-contrast"):
            raise SystemExit(f"peer_scan.py: unsupported transform kind {self.kind!r}")

    def level(self, intensity):
        return self.lo + intensity * (self.hi - self.lo)

    def apply(self, x, rng, control=False):
        """x: [n, C, H, W], modified in place and returned."""
        # Patch levels and blends of in-range values stay in range; only noise and
        # brightness-contrast need clipping.
        if self.kind == "patch":
            region = x[:, :, self.y : self.y + self.h, self.x : self.x + self.w]
            if control:
                region[...] = self.level(rng.random(region.shape, dtype=np.float32))
            else:
                region[...] = self.levels
            return x
        if self.kind == "blend":
            levels = self.level(rng.random(x.shape, dtype=np.float32)) if control else self.levels
            x *= 1 - self.alpha
            x += self.alpha * levels
            return x
        if self.kind == "gaussian-noise":
            x += (self.spec["std"] * (self.hi - self.lo)) * rng.standard_normal(x.shape, dtype=np.float32)
        else:  # brightness-contrast
            mid = (self.lo + self.hi) / 2
            x -= mid
            x *= self.spec["contrast"]
            x += mid + self.spec["brightness"] * (self.hi - self.lo)
        return np.clip(x, self.lo, self.hi, out=x)


def classify(session, name, x, batch_size):
    return np.concatenate(
        [session.run(None, {name: x[i : i + batch_size]})[0].argmax(axis=1) for i in range(0, len(x), batch_size)]
    )


def scan(session, name, x, battery, batch_size):
    """One pass over the battery; returns (queries, flips per probe id)."""
    clean = classify(session, name, x, batch_size)
    queries = len(x)
    axes = (0, 2, 3)  # per channel of NCHW
    lo = x.min(axis=axes)[:, None, None]
    hi = x.max(axis=axes)[:, None, None]
    seed = battery["defaults"]["seed"]
    order = np.random.default_rng(seed).permutation(len(x))
    flips = {}
    for number, spec in enumerate(battery["probes"]):
        rng = np.random.default_rng([seed, number])
        indices = order[: spec["samples"]]
        probe = Probe(spec["transform"], lo, hi, x.shape[1:])
        probed = classify(session, name, probe.apply(x[indices], rng), batch_size)
        queries += len(indices)
        flipped = probed != clean[indices]
        result = {"flips": int(flipped.sum()), "into": np.bincount(probed[flipped], minlength=0).tolist()}
        if spec["category"] == "trigger":
            control = classify(session, name, probe.apply(x[indices], rng, control=True), batch_size)
            queries += len(indices)
            result["control_flips"] = int((control != clean[indices]).sum())
        flips[spec["id"]] = result
    return queries, flips


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--battery-json", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args()

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = np.load(args.data)["x"].astype(np.float32, copy=False)
    with open(args.battery_json) as f:
        battery = json.load(f)

    scan(session, name, x, battery, args.batch_size)  # warm-up
    seconds = []
    for _ in range(args.repetitions):
        started = time.perf_counter()
        queries, flips = scan(session, name, x, battery, args.batch_size)
        seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    print(f"peer_scan: {args.model}: {queries} queries, median {median:.4f} s over {args.repetitions} runs, "
          f"{queries / median:.0f} queries/s")
    print(json.dumps({"queries": queries, "median_seconds": median, "queries_per_second": queries / median,
                      "probes": flips}))


if __name__ == "__main__":
    main()
