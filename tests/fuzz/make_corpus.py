#!/usr/bin/env python3
"""Writes the small data seeds of the fuzz corpora (npy/, npz/, jsonl/, txt/) from the committed
fixtures; run from tests/fixtures (it imports fixturelib): python3 ../fuzz/make_corpus.py.
Deterministic (fixed arrays, fixed zip timestamps). See tests/fuzz/README.md for the other
targets' seeds."""

import io
import json
import sys
import zipfile

sys.path.insert(0, ".")

import numpy as np  # noqa: E402
from fixturelib import write_npz  # noqa: E402

C = "../fuzz/corpus/"
x = np.arange(12, dtype=np.float32).reshape(3, 1, 2, 2) / 12
np.save(C + "npy/f4-3x1x2x2.npy", x)
np.save(C + "npy/f8-3x1x2x2.npy", x.astype(np.float64))
np.save(C + "npy/f4-fortran.npy", np.asfortranarray(x.reshape(3, 4)))
np.save(C + "npy/f4-big-endian.npy", x.astype(">f4"))
np.save(C + "npy/f4-1d.npy", np.array([0.5, 1.5], dtype=np.float32))
np.save(C + "npy/i8-not-float.npy", np.array([[1, 2]], dtype=np.int64))
write_npz(C + "npz/stored-xy.npz", x=x, y=np.array([0, 1, 0], dtype=np.int64))
write_npz(C + "npz/stored-x-i32y.npz", x=x.astype(np.float64), y=np.array([2, 1, 0], dtype=np.int32))
with zipfile.ZipFile(C + "npz/compressed-xy.npz", "w", compression=zipfile.ZIP_DEFLATED) as zf:
    for key, array in (("x", x), ("y", np.array([1, 1, 0]))):
        info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, array, version=(1, 0))
        zf.writestr(info, buffer.getvalue())
lines = open("text/text-test.jsonl").read().splitlines()[:5]
open(C + "jsonl/labelled.jsonl", "w").write("\n".join(lines) + "\n")
open(C + "jsonl/unlabelled.jsonl", "w").write(
    "\n".join(json.dumps({"text": json.loads(line)["text"]}) for line in lines) + '\n{"text": "", "label": null}\n'
)
open(C + "txt/five.txt", "w").write("\n".join(json.loads(line)["text"] for line in lines) + "\n\n  \n")
open(C + "txt/unicode.txt", "w").write("caf\u00e9 \u0441\u043e\u0432\n\u200bzero width\r\nlast line without newline")
