#!/usr/bin/python3
"""The PyTorch trainer (worker/torch/autopeft_torch_train.py) against the built-in C trainer on
SST-2 with bert-mini-mlm (../shared): for each configuration and seed, both train from the same
inputs (`autopeft train --write-inputs`: the same subsets, batch order and initial weights;
dropout masks differ), and the bench prints each one's dev accuracy and steps per second,
measured in this run, then

    BENCH torch configs=K within_spread=J c_over_torch_steps=R

within_spread: configurations whose mean accuracies differ by no more than the larger of the
two trainers' seed spreads (max - min); c_over_torch_steps: median of the C trainer's steps/s
over PyTorch's. `make bench-torch` runs it (TORCH_ARGS: --seeds, --train, --epochs, --threads).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CONFIGS = ["sa=64 layers=111111", "pa=64 pt=8 layers=000111", "lora=8 ha=16 layers=111111"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", default="1e-3")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    model = os.path.join(a.shared, "models", "bert-mini-mlm")
    data = os.path.join(a.shared, "data", "glue")
    if not os.path.isdir(model) or not os.path.isdir(data):
        sys.exit("bench-torch: %s and %s are needed" % (model, data))
    autopeft = os.path.join(ROOT, "build", "bin", "autopeft")
    script = os.path.join(ROOT, "worker", "torch", "autopeft_torch_train.py")
    work = os.path.join(ROOT, "build", "bench-torch")
    os.makedirs(work, exist_ok=True)
    core = subprocess.run([autopeft, "--version"], capture_output=True, text=True).stdout.strip()
    print("bench-torch: SST-2, bert-mini-mlm, %d train examples, full dev, %d epochs, lr %s, "
          "%d threads; %s" % (a.train, a.epochs, a.lr, a.threads, core), flush=True)
    rows, ratios, within = [], [], 0
    for config in CONFIGS:
        acc = {"c": [], "torch": []}
        for seed in range(1, a.seeds + 1):
            flags = ["--model", model, "--task", "sst2", "--data", data, "--peft", config,
                     "--max-train-examples", str(a.train), "--epochs", str(a.epochs),
                     "--lr", a.lr, "--seed", str(seed), "--threads", str(a.threads),
                     "--quiet"]
            inputs = os.path.join(work, "inputs")
            subprocess.run(["rm", "-rf", inputs], check=True)
            subprocess.run([autopeft, "train"] + flags + ["--write-inputs", inputs], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            c = json.loads(subprocess.run([autopeft, "train"] + flags, check=True,
                                          capture_output=True, text=True).stdout)
            t = json.loads(subprocess.run(["/usr/bin/python3", script, "--inputs", inputs,
                                           "--threads", str(a.threads)], check=True,
                                          capture_output=True, text=True).stdout.splitlines()[-1])
            c_sps = c["steps"] / c["timings"]["train_s"]
            t_sps = t["timings"]["steps_per_s"]
            acc["c"].append(c["objective"]["value"])
            acc["torch"].append(t["objective"])
            ratios.append(c_sps / t_sps)
            print("  %-26s seed %d: accuracy C %.4f  PyTorch %.4f   steps/s C %.2f  PyTorch %.2f"
                  "  (%.1fx)" % (config, seed, acc["c"][-1], acc["torch"][-1], c_sps, t_sps,
                                 c_sps / t_sps), flush=True)
        spread = max(max(v) - min(v) for v in acc.values())
        diff = abs(statistics.mean(acc["c"]) - statistics.mean(acc["torch"]))
        within += diff <= spread
        rows.append((config, statistics.mean(acc["c"]), statistics.mean(acc["torch"]), diff,
                     spread))
    print("  %-26s %8s %8s %8s %8s" % ("config", "C mean", "PT mean", "|diff|", "spread"))
    for r in rows:
        print("  %-26s %8.4f %8.4f %8.4f %8.4f" % r)
    print("BENCH torch configs=%d within_spread=%d c_over_torch_steps=%.2f" %
          (len(rows), within, statistics.median(ratios)))


if __name__ == "__main__":
    main()
