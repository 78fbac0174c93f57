"""PyTorch side of `autopeft-bench train` (tests/bench/bench_train.c starts it): the same model
shape, PEFT configuration, batch and training step (forward, backward, gradient clipping,
AdamW, dropout on) in PyTorch 1.13 with the reference model of tests/reference/bert_torch.py.

    bench_train.py SHAPE CONFIG THREADS STEPS WARMUP
SHAPE: mini | base; CONFIG: sa (serial adapter 48 in all layers) | mix (serial 48 + parallel 96
+ prefix 12 in the top half of the layers); THREADS: torch.set_num_threads (OpenMP and
oneDNN; OpenBLAS's own threads come from OPENBLAS_NUM_THREADS in the environment). Prints one
JSON line: milliseconds of each timed step (after WARMUP untimed steps: PyTorch's second step
is still slow after the first), the OpenBLAS core in use, the thread count.
"""
import ctypes
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import bert_torch as bt  # noqa: E402

SHAPES = {
    "mini": (dict(hidden=256, layers=6, heads=4, intermediate=1024), 32),
    "base": (dict(hidden=768, layers=12, heads=12, intermediate=3072), 8),
}
LENGTH = 128


def config(name, layers):
    if name == "sa":
        return {"sa": 48}, None
    top = [l >= layers // 2 for l in range(layers)]
    return {"sa": 48, "pa": 96, "pt": 12}, {m: top for m in bt.MODULES}


def openblas_core():
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return "unknown"


def main():
    shape, conf, threads, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    warmup = int(sys.argv[5])
    torch.set_num_threads(threads)
    dims, batch = SHAPES[shape]
    sizes, masks = config(conf, dims["layers"])
    cfg = bt.Config(vocab=30522, positions=512, labels=2, sizes=sizes, masks=masks, **dims)
    gen = torch.Generator().manual_seed(0)
    p = bt.init_backbone(cfg, gen)
    bt.init_head(cfg, gen, p)
    bt.init_peft(cfg, gen, p)
    names = bt.trainable_names(cfg, p)
    for n in names:
        p[n].requires_grad_(True)
    groups = [{"params": [p[n] for n in names if bt.decays(n)], "weight_decay": 0.01},
              {"params": [p[n] for n in names if not bt.decays(n)], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=1e-4)
    ids = torch.randint(1, cfg.vocab, (batch, LENGTH), generator=gen)
    types = torch.zeros_like(ids)
    lengths = torch.full((batch,), LENGTH)
    labels = torch.randint(0, 2, (batch,), generator=gen)
    times = []
    for k in range(warmup + steps):
        t = time.perf_counter()
        loss = bt.loss_fn(cfg, bt.forward(cfg, p, ids, types, lengths, train=True), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p[n] for n in names], 1.0)
        opt.step()
        opt.zero_grad()
        if k >= warmup:
            times.append((time.perf_counter() - t) * 1e3)
    print(json.dumps({"ms": times, "core": openblas_core(), "threads": torch.get_num_threads(),
                      "loss": float(loss)}))


if __name__ == "__main__":
    main()
