"""Reference last-layer hidden states of bert-mini-mlm on SST-2 dev sentences, for the loading
exactness test (tests/unit/worker/inputs/test_checkpoint_parity.c).

PyTorch (float64, the plain BertModel of bert_torch.py on a padded batch) reads the same
model.safetensors with its own reader (numpy, below: no code shared with the C loader), and
the sentences are tokenised by tokenizer_reference.py. The fixture keeps, to stay small:
  - each sentence's length and a hash of its ids (the C tokenizer must give the same);
  - the [CLS] row of every sentence, all 256 dimensions;
  - every token at every 8th dimension;
  - every token and dimension of the first FULL sentences.
Written to tests/reference/fixtures/hidden_bert_mini.{json,bin} (float32). Run by
`make reference` when ../shared is present (skipped otherwise).

    /usr/bin/python3 tests/reference/hidden_reference.py [SHARED_DIR]
"""
import hashlib
import json
import os
import struct
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bert_torch  # noqa: E402
import tokenizer_reference as tr  # noqa: E402

SENTENCES = 64
MAX_LENGTH = 64
STRIDE = 8
FULL = 4
OUT = os.path.join(HERE, "fixtures")

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, t in header.items():
        if name == "__metadata__" or t["dtype"] not in DTYPES:
            continue
        b, e = t["data_offsets"]
        a = np.frombuffer(data[base + b:base + e], dtype=DTYPES[t["dtype"]]).reshape(t["shape"])
        out[name] = torch.from_numpy(a.astype(np.float64))
    return out


def main():
    shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "..", "shared")
    model_dir = os.path.join(shared, "models", "bert-mini-mlm")
    dev = os.path.join(shared, "data", "glue", "SST-2", "dev.tsv")
    if not os.path.exists(model_dir) or not os.path.exists(dev):
        print("hidden_reference: %s not found; fixture not regenerated" % shared)
        return
    with open(os.path.join(model_dir, "config.json")) as f:
        hf = json.load(f)
    st_path = os.path.join(model_dir, "model.safetensors")
    with open(st_path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    raw = read_safetensors(st_path)
    p = {}
    for name, t in raw.items():
        if name.startswith("bert."):
            name = name[5:]
        if name.startswith("embeddings.") or name.startswith("encoder."):
            p[name] = t
    cfg = bert_torch.Config(hidden=hf["hidden_size"], layers=hf["num_hidden_layers"],
                            heads=hf["num_attention_heads"], intermediate=hf["intermediate_size"],
                            vocab=hf["vocab_size"], positions=hf["max_position_embeddings"],
                            type_vocab=hf["type_vocab_size"], eps=hf["layer_norm_eps"])
    vocab = tr.Vocab(os.path.join(model_dir, "vocab.txt"))
    with open(dev, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f.read().split("\n")[1:] if line]
    sentences = [r[0] for r in rows[:SENTENCES]]
    enc = [tr.encode(s, None, vocab, MAX_LENGTH) for s in sentences]
    B, T = len(enc), max(len(ids) for ids, _ in enc)
    ids = torch.zeros(B, T, dtype=torch.long)
    types = torch.zeros(B, T, dtype=torch.long)
    lengths = torch.tensor([len(i) for i, _ in enc])
    for b, (i, t) in enumerate(enc):
        ids[b, :len(i)] = torch.tensor(i)
        types[b, :len(t)] = torch.tensor(t)

    # BertModel's encoder (bert_torch.forward without the head), in float64, no dropout.
    pos = torch.arange(T).unsqueeze(0).expand(B, T)
    e = (p["embeddings.word_embeddings.weight"][ids] + p["embeddings.position_embeddings.weight"][pos]
         + p["embeddings.token_type_embeddings.weight"][types])
    x = torch.nn.functional.layer_norm(e, (cfg.hidden,), p["embeddings.LayerNorm.weight"],
                                       p["embeddings.LayerNorm.bias"], cfg.eps)
    valid = (torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)).double()
    mask_add = ((1.0 - valid) * torch.finfo(torch.float64).min).view(B, 1, 1, T)
    with torch.no_grad():
        for l in range(cfg.layers):
            x = bert_torch.layer_forward(cfg, p, l, x, mask_add, False)

    cls = x[:, 0, :]
    strided = torch.cat([x[b, :lengths[b], ::STRIDE] for b in range(B)])
    full = torch.cat([x[b, :lengths[b], :] for b in range(FULL)])
    chunks, manifest = [], {}
    off = 0
    for name, t in (("cls", cls), ("strided", strided), ("full", full)):
        a = t.numpy().astype(np.float32)
        chunks.append(a.tobytes())
        manifest[name] = {"offset": off, "shape": list(a.shape)}
        off += a.size
    root = {
        "about": "bert-mini-mlm last-layer hidden states, PyTorch float64 (hidden_reference.py)",
        "model_sha256": digest,
        "max_length": MAX_LENGTH, "stride": STRIDE, "full": FULL,
        # Not the sentences or their ids (the GLUE files stay out of the repository): each
        # sentence's length and the FNV-1a 64 hash of its ids (tokenizer_reference.example_hash).
        "lengths": [len(i) for i, _ in enc],
        "id_hashes": ["%016x" % tr.example_hash(tr.FNV_OFFSET, i, t) for i, t in enc],
        "tensors": manifest,
        "data": "hidden_bert_mini.bin",
    }
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "hidden_bert_mini.json"), "w") as f:
        json.dump(root, f, indent=1)
    with open(os.path.join(OUT, "hidden_bert_mini.bin"), "wb") as f:
        for c in chunks:
            f.write(c)
    print("hidden_reference: %d sentences, %d tokens, %d floats (%.0f kB)"
          % (B, int(lengths.sum()), off, off * 4 / 1024))


if __name__ == "__main__":
    main()
