"""Raw ONNX Runtime on the text fixture's sentences through the MiniLM classifier that
make_minilm.py writes: queries per second with every batch padded to the tokenizer's 128
positions, padded to the batch's longest sentence, and grouped by length as probity feeds them
(sentences sorted by token count, each batch of one length, at most BATCH rows: no padding),
2 intra-op threads, as probity runs it.

    python raw_ort.py OUT_DIR [BATCH]
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

out = Path(sys.argv[1])
batch = int(sys.argv[2]) if len(sys.argv) > 2 else 64
options = ort.SessionOptions()
options.intra_op_num_threads = 2
session = ort.InferenceSession(str(out / "minilm-sentiment.onnx"), options, providers=["CPUExecutionProvider"])
tok = Tokenizer.from_file(str(out / "tokenizer.json"))
tok.no_padding()
fixture = Path(__file__).resolve().parents[2] / "tests/fixtures/text/text-test.jsonl"
texts = [json.loads(l)["text"] for l in fixture.read_text().splitlines() if l.strip()]
seqs = [e.ids[:128] for e in tok.encode_batch(texts)]


def batches(mode):
    if mode != "grouped":
        return [seqs[i : i + batch] for i in range(0, len(seqs), batch)]
    ordered = sorted(seqs, key=len)
    out = []
    for length in sorted({len(s) for s in ordered}):
        same = [s for s in ordered if len(s) == length]
        out += [same[i : i + batch] for i in range(0, len(same), batch)]
    return out


def run(mode):
    n = 0
    start = time.perf_counter()
    for _ in range(3):
        for part in batches(mode):
            length = 128 if mode == "fixed" else max(len(s) for s in part)
            ids = np.zeros((len(part), length), np.int64)
            mask = np.zeros((len(part), length), np.int64)
            for r, s in enumerate(part):
                ids[r, : len(s)] = s
                mask[r, : len(s)] = 1
            session.run(None, {"input_ids": ids, "attention_mask": mask})
            n += len(part)
    return n / (time.perf_counter() - start)


WHAT = {"fixed": "padded to 128", "longest": "padded to the longest", "grouped": "grouped by length"}
run("longest")  # warm-up
for mode in ("fixed", "longest", "grouped"):
    print(f"batch {batch}, {WHAT[mode]}: {run(mode):.0f} queries/s")
