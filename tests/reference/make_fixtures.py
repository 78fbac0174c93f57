"""Writes the engine's PyTorch parity fixtures: tests/reference/fixtures/engine.json (manifest)
and engine.bin (little-endian float32), read by tests/unit/worker/engine/test_engine.c.

One tiny random BERT (hidden 32, 3 layers, 4 heads, intermediate 64, vocab 100) is shared by
every case; each case adds a head and PEFT modules (every value random, so that no gradient is
trivially zero), a batch of 4 sequences of lengths 16, 9, 5, 12 (padded here, packed by the
engine), and what PyTorch computes in float64 from the float32 values: logits, loss, the
gradient of every trainable tensor and, for the "steps" case, the losses and parameters of 5
AdamW steps with warmup, linear decay and gradient clipping. Dropout is off.

Regenerate with `make reference` (Debian's python3-torch); the output is deterministic.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_torch as bt  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
SHAPE = dict(hidden=32, layers=3, heads=4, intermediate=64, vocab=100, positions=32, type_vocab=2)
EPS = 1e-12
LENGTHS = [16, 9, 5, 12]
BOTTLENECK = 24


class Writer:
    def __init__(self):
        self.chunks, self.offset = [], 0

    def add(self, t):
        t = t.detach().to(torch.float32).contiguous()
        self.chunks.append(t.numpy().tobytes())
        ref = {"offset": self.offset, "shape": list(t.shape)}
        self.offset += t.numel()
        return ref

    def table(self, tensors):
        return {n: self.add(t) for n, t in sorted(tensors.items())}


def f32(t):
    """The value the C engine sees: rounded to float32, then computed on in float64."""
    return t.to(torch.float32).to(torch.float64)


def backbone(gen):
    cfg = bt.Config(**SHAPE)
    p = bt.init_backbone(cfg, gen, std=0.1)
    for n in p:
        if n.endswith("LayerNorm.weight"):
            p[n] = 1.0 + 0.1 * torch.randn(p[n].shape, generator=gen)
        elif n.endswith(".bias"):
            p[n] = 0.05 * torch.randn(p[n].shape, generator=gen)
    return {n: f32(t) for n, t in p.items()}


def batch(gen, labels):
    B, T = len(LENGTHS), max(LENGTHS)
    ids = torch.randint(1, SHAPE["vocab"], (B, T), generator=gen)
    types = torch.zeros(B, T, dtype=torch.long)
    for b, n in enumerate(LENGTHS):
        ids[b, n:] = 0
        types[b, n // 2:n] = 1
    if labels > 1:
        y = torch.randint(0, labels, (B,), generator=gen)
    else:
        y = torch.randn(B, generator=gen, dtype=torch.float64)
    return ids, types, torch.tensor(LENGTHS), y


def case_params(cfg, gen, base):
    p = dict(base)
    bt.init_head(cfg, gen, p)
    bt.init_peft(cfg, gen, p)
    for n in bt.trainable_names(cfg, p):
        if n not in base:   # head and modules: random everywhere (PA up, LoRA B included)
            p[n] = 0.2 * torch.randn(p[n].shape, generator=gen)
    return {n: f32(t) for n, t in p.items()}


def mask_text(m):
    return "".join("1" if b else "0" for b in m)


def run_case(w, name, gen, base, labels, sizes, masks=None, flat=False, full_ft=False,
             lora_alpha=None, steps=None):
    cfg = bt.Config(**SHAPE, labels=labels, eps=EPS, sizes=sizes, masks=masks,
                    prefix_bottleneck=BOTTLENECK, prefix_flat=flat, lora_alpha=lora_alpha,
                    full_ft=full_ft, hidden_dropout=0.0, attn_dropout=0.0)
    p = case_params(cfg, gen, base)
    ids, types, lengths, y = batch(gen, labels)
    names = bt.trainable_names(cfg, p)
    init = {n: p[n].clone() for n in names}
    for n in names:
        p[n].requires_grad_(True)
    logits = bt.forward(cfg, p, ids, types, lengths)
    loss = bt.loss_fn(cfg, logits, y)
    loss.backward()
    case = {
        "name": name, "labels": labels,
        "sizes": {m: cfg.sizes[m] for m in bt.MODULES},
        "masks": {m: mask_text(cfg.masks[m]) for m in bt.MODULES},
        "prefix_bottleneck": BOTTLENECK, "prefix_flat": flat, "full_finetune": full_ft,
        "lora_alpha": cfg.lora_alpha,
        "lengths": LENGTHS,
        "inputs": w.table({"ids": ids.double(), "types": types.double(), "labels": y.double()}),
        "params": w.table(init),
        "logits": w.add(logits), "loss": w.add(loss.reshape(1)),
        "grads": w.table({n: p[n].grad for n in names}),
    }
    if steps:
        for n in names:
            p[n].grad = None
        groups = [{"params": [p[n] for n in names if bt.decays(n)], "weight_decay": steps["weight_decay"]},
                  {"params": [p[n] for n in names if not bt.decays(n)], "weight_decay": 0.0}]
        opt = torch.optim.AdamW(groups, lr=steps["lr"], betas=(steps["beta1"], steps["beta2"]),
                                eps=steps["eps"])
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, bt.linear_schedule(steps["warmup_steps"], steps["total_steps"]))
        losses, norms = [], []
        for _ in range(steps["count"]):
            loss = bt.loss_fn(cfg, bt.forward(cfg, p, ids, types, lengths), y)
            loss.backward()
            norms.append(torch.nn.utils.clip_grad_norm_([p[n] for n in names], steps["max_grad_norm"]))
            opt.step()
            sched.step()
            opt.zero_grad()
            losses.append(loss.detach())
        case["steps"] = dict(steps, losses=w.add(torch.stack(losses)), norms=w.add(torch.stack(norms)),
                             final=w.table({n: p[n] for n in names}))
    return case


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(20240601)
    w = Writer()
    base = backbone(gen)
    L = SHAPE["layers"]
    odd = {"sa": [True, False, True], "pa": [False, True, True], "pt": [True, True, False],
           "lora": [False, True, False]}
    top_two = [False, True, True]
    cases = [
        run_case(w, "head", gen, base, 2, {}),
        run_case(w, "sa", gen, base, 2, {"sa": 8}),
        run_case(w, "pa", gen, base, 2, {"pa": 6}),
        run_case(w, "pt", gen, base, 2, {"pt": 4}),
        run_case(w, "pt_flat", gen, base, 2, {"pt": 3}, flat=True),
        run_case(w, "lora", gen, base, 2, {"lora": 4}, lora_alpha=8.0),
        run_case(w, "mix_regression", gen, base, 1, {"sa": 4, "pa": 8, "pt": 2, "lora": 2},
                 masks=odd, lora_alpha=4.0),
        run_case(w, "mix_top", gen, base, 3, {"sa": 8, "pa": 4, "pt": 3},
                 masks={m: top_two for m in bt.MODULES}),
        run_case(w, "full", gen, base, 2, {}, full_ft=True),
        run_case(w, "steps", gen, base, 3, {"sa": 4, "pa": 4, "pt": 2, "lora": 2},
                 masks={m: top_two for m in bt.MODULES}, lora_alpha=4.0,
                 steps=dict(count=5, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01,
                            max_grad_norm=0.5, warmup_steps=2, total_steps=6)),
        # Houlsby's adapters: alone; in a bottom layer whose backward stops at the attention
        # output, beside sa, pa and LoRA; in the [CLS]-only top layer; under full fine-tuning
        run_case(w, "ha", gen, base, 2, {"ha": 6}),
        run_case(w, "ha_mix_regression", gen, base, 1, {"ha": 4, "sa": 4, "pa": 6, "lora": 2},
                 masks={"ha": [True, False, True], "sa": [False, True, True],
                        "pa": [True, True, False], "lora": [False, False, True]}, lora_alpha=4.0),
        run_case(w, "ha_top", gen, base, 3, {"ha": 5, "sa": 3},
                 masks={m: [False, False, True] for m in bt.MODULES}),
        run_case(w, "ha_full", gen, base, 2, {"ha": 3}, full_ft=True),
    ]
    manifest = {
        "format": 1,
        "generator": "tests/reference/make_fixtures.py (PyTorch %s, float64)" % torch.__version__,
        "shape": dict(SHAPE, layers=L), "layer_norm_eps": EPS,
        "backbone": w.table(base),
        "cases": cases,
        "data": "engine.bin",
    }
    with open(os.path.join(OUT, "engine.bin"), "wb") as f:
        for c in w.chunks:
            f.write(c)
    with open(os.path.join(OUT, "engine.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    print("make_fixtures: %d cases, %d floats (%.0f kB) in %s" % (len(cases), w.offset, w.offset * 4 / 1024, OUT))


if __name__ == "__main__":
    main()
