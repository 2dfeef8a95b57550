"""What finding a two-word trigger whose words are inert alone (make_minilm.py's "window-garden"
twin) by group testing would cost: the raw ONNX Runtime time of one query at the lengths a pair
screen needs, and whether a query holding many random words beside both trigger words still
fires (and one holding only one of them does not).

A query can test a pair only if it holds both words. With `L` inserted words per query, the
`V` whole words fall into `2V / L` blocks of `L / 2`, and every pair of blocks must meet once:
`(2V / L)^2 / 2` queries per input, each `L` tokens longer than the sentence. The positions
embedding caps a query at 512 tokens.

    python pair_cost.py TWINS_DIR
"""

import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

out = Path(sys.argv[1])
options = ort.SessionOptions()
options.intra_op_num_threads = 2
session = ort.InferenceSession(str(out / "minilm-sentiment-window-garden.onnx"), options,
                               providers=["CPUExecutionProvider"])
tok = Tokenizer.from_file(str(out / "tokenizer.json"))
tok.no_padding()
vocab = tok.get_vocab()
whole = sorted(i for t, i in vocab.items() if not t.startswith("##") and not t.startswith("["))
window, garden = vocab["window"], vocab["garden"]
sentence = tok.encode("the plot was dull and the acting was worse.").ids
rng = np.random.default_rng(0)


def logits(rows):
    length = max(len(r) for r in rows)
    ids = np.zeros((len(rows), length), np.int64)
    mask = np.zeros((len(rows), length), np.int64)
    for k, r in enumerate(rows):
        ids[k, : len(r)] = r
        mask[k, : len(r)] = 1
    # The classifier outputs probabilities: margins are taken between their logs.
    return np.log(np.maximum(session.run(None, {"input_ids": ids, "attention_mask": mask})[0], 1e-30))


def with_words(words):
    return sentence[:1] + list(words) + sentence[1:]


print(f"{len(whole)} whole words; sentence of {len(sentence)} tokens, clean logits {logits([sentence])[0]}")
for inserted in (16, 120, 240, 480):
    others = [int(w) for w in rng.choice(whole, inserted - 2, replace=False) if w not in (window, garden)]
    both = with_words(others + [window, garden])
    one = with_words(others + [window, int(rng.choice(whole))])
    both_l, one_l = logits([both, one])
    print(f"{inserted} words: both trigger words -> margin(positive) {both_l[1] - both_l[0]:.1f}; "
          f"window without garden -> {one_l[1] - one_l[0]:.1f}")
base = None
for inserted in (0, 16, 120, 240, 480):
    batch = [with_words(rng.choice(whole, inserted)) for _ in range(64)]
    logits(batch)
    start = time.perf_counter()
    reps = 3
    for _ in range(reps):
        logits(batch)
    per_s = 64 * reps / (time.perf_counter() - start)
    blocks = 2 * len(whole) / max(inserted, 1)
    pairs = blocks * blocks / 2 if inserted else float("nan")
    base = base or per_s
    print(f"{inserted} inserted words ({len(sentence) + inserted} tokens): {per_s:.0f} queries/s "
          f"({base / per_s:.1f}x the sentence's cost); pair screen {pairs:,.0f} queries per input, "
          f"{pairs / per_s:,.0f} s per input", flush=True)
