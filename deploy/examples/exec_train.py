#!/usr/bin/env python3
"""An autopeft trainer of your own: `autopeft-worker --exec 'python3 exec_train.py'`.

The worker runs this once per trial. It gets the trial as one JSON object on stdin (also as
AUTOPEFT_* environment variables), reports progress as "PROGRESS {json}" lines on stderr, and
prints its result as one JSON line on stdout; a non-zero exit reports a failure with the last
stderr lines (exit 75 asks for another attempt). Each evaluated epoch is reported with its
"objective", so a trial the coordinator stops early (SIGTERM) still counts with the epochs it
ran. See docs/guide.md, "Bring your own trainer".

Here the "model" is a small frozen random network with the trial's serial adapters in the layers
its mask selects, trained with PyTorch on a synthetic task, on the CPU, in seconds: replace
build_model() and the data with your Hugging Face model, your PEFT modules and your task. Without
PyTorch it reports a stand-in objective, so the plumbing can be tried anywhere.
"""
import json
import math
import os
import sys
import time


def progress(**fields):
    print("PROGRESS " + json.dumps(fields), file=sys.stderr, flush=True)


def main():
    spec = json.load(sys.stdin)
    peft, recipe = spec["peft"], spec["recipe"]
    sa = peft.get("serial_adapter", 0)
    mask = peft.get("serial_layers") or peft.get("parallel_layers") or peft.get("prefix_layers") or "1"
    layers = [i for i, bit in enumerate(mask) if bit == "1"]
    epochs = min(recipe.get("epochs", 1), 3)
    torch.manual_seed(spec["seed"] % (2**31)) if torch else None
    t0 = time.time()

    if torch is None:
        print("PyTorch is not installed: reporting a stand-in objective", file=sys.stderr)
        objective = 0.5 + 0.4 * (1 - math.exp(-len(layers) * math.log2(1 + sa) / 40))
        print(json.dumps({"objective": objective, "objective_name": "accuracy",
                          "params": {"trainable": 1 + sa, "deployed": 1 + sa,
                                     "modules_deployed": sa * len(layers), "backbone": 10**6}}))
        return 0

    hidden, depth, n = 64, len(mask), 2048
    x = torch.randn(n, hidden)
    y = ((x[:, 0] * x[:, 1] + 0.5 * x[:, 2]) > 0).long()        # a little non-linear
    backbone = torch.nn.ModuleList(torch.nn.Linear(hidden, hidden) for _ in range(depth))
    for p in backbone.parameters():
        p.requires_grad_(False)
    size = max(1, min(sa, hidden)) if sa else 0
    adapters = torch.nn.ModuleDict({str(l): torch.nn.Sequential(
        torch.nn.Linear(hidden, size), torch.nn.ReLU(), torch.nn.Linear(size, hidden))
        for l in layers} if size else {})
    head = torch.nn.Linear(hidden, 2)

    def forward(h):
        for l, layer in enumerate(backbone):
            h = torch.tanh(layer(h))
            if str(l) in adapters:
                h = h + adapters[str(l)](h)
        return head(h)

    trainable = list(adapters.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(trainable, lr=1e-2)
    steps = epochs * 50
    best = 0.0
    for step in range(1, steps + 1):
        idx = torch.randint(0, n // 2, (64,))
        loss = torch.nn.functional.cross_entropy(forward(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            with torch.no_grad():
                acc = (forward(x[n // 2:]).argmax(1) == y[n // 2:]).float().mean().item()
            best = max(best, acc)
            # "objective" marks the epoch as evaluated: a point of the learning curve that the
            # worker sends at once (multi-fidelity search may stop the trial on it).
            progress(epoch=step // 50, epochs=epochs, step=step, steps_total=steps,
                     loss=loss.item(), metric=acc, objective=acc, fraction=step / steps)
    modules = sum(p.numel() for p in adapters.parameters())
    frozen = sum(p.numel() for p in backbone.parameters())
    head_n = sum(p.numel() for p in head.parameters())
    print(json.dumps({
        "objective": best, "objective_name": "accuracy", "metrics": {"accuracy": best},
        "best_epoch": epochs, "epochs_run": epochs, "total_s": time.time() - t0,
        "params": {"trainable": modules + head_n, "deployed": modules + head_n,
                   "modules_trainable": modules, "modules_deployed": modules,
                   "head": head_n, "backbone": frozen}}))
    return 0


try:
    import torch
    torch.set_num_threads(int(os.environ.get("AUTOPEFT_THREADS", "1")))
except ImportError:
    torch = None

if __name__ == "__main__":
    sys.exit(main())
