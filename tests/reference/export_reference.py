"""The reference for `autopeft export` (tests/integration/test_cli_export.c): a BERT rebuilt
from the base checkpoint and the exported files alone, following each library's own definition
of the modules, whose dev logits must be autopeft's (`autopeft eval --peft SAVED --logits`).

    export_reference.py --model BASE --inputs DATA.safetensors --format FORMAT --export DIR

BASE is the base model's folder (config.json, model.safetensors), DATA the data.safetensors of
`autopeft train --write-inputs` (dev.ids, dev.types, dev.offsets: every dev example end to end,
so no tokenizer is needed), DIR what `autopeft export --format FORMAT` wrote. Prints
{"logits": [[...], ...]} on stdout, one row per dev example, computed in float64.

Nothing of autopeft's code or of bert_torch.py is used: the formats are read as the libraries
read them, and the modules compute what the libraries' code computes:

  adapters  (adapter-hub/adapters 1.2: methods/bottleneck.py, methods/modeling.py Adapter and
            ParallelAdapter, methods/lora.py, methods/prefix_tuning.py FlatPrefixTuning,
            heads/base.py PredictionHead): each bottleneck config of the ConfigUnion is matched
            to a location (mh_adapter: the attention output; output_adapter: the FFN output) and
            a layer (not in leave_out) as ModelAdaptersConfig.match does, two matches being an
            error; pre_forward / forward / post_forward honour original_ln_before/after,
            residual_before_ln, is_parallel and scaling; LoRA adds
            dropout(x) A^T B^T * alpha / r to the matrices of attn_matrices; flat prefixes come
            from control_trans viewed as [P, n_layers * 2, heads, head_dim]; the flex head is
            rebuilt from head_config.json.
  peft      (huggingface/peft: tuners/lora/layer.py Linear, tuners_utils.check_target_module_exists,
            utils/save_and_load.py): LoRA on the modules whose name ends in a target and whose
            layer index (layers_pattern) is in layers_to_transform, scaled lora_alpha / r (or
            / sqrt(r) with use_rslora); modules_to_save replace the base model's weights.
  safetensors  autopeft's own placement as docs/export.md states it, from autopeft_config.json.
"""
import argparse
import json
import math
import re
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I32": torch.int32, "I64": torch.int64,
          "F16": torch.float16, "BF16": torch.bfloat16}


def read_safetensors(path):
    """{name: tensor} of a safetensors file (its own small reader: Debian has no safetensors)."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        begin, end = t["data_offsets"]
        buf = bytearray(data[base + begin:base + end])
        x = torch.frombuffer(buf, dtype=DTYPES[t["dtype"]]) if buf else torch.zeros(0)
        out[name] = x.reshape(t["shape"]).clone()
    return out


def gelu(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


ACTS = {"relu": torch.relu, "tanh": torch.tanh, "gelu": gelu, "swish": lambda x: x * torch.sigmoid(x),
        "silu": lambda x: x * torch.sigmoid(x)}


class Base:
    """The frozen backbone: config.json and model.safetensors, names without "bert."."""

    def __init__(self, folder):
        with open(folder + "/config.json") as f:
            c = json.load(f)
        self.d, self.layers = c["hidden_size"], c["num_hidden_layers"]
        self.heads, self.eps = c["num_attention_heads"], c.get("layer_norm_eps", 1e-12)
        if c.get("hidden_act", "gelu") != "gelu":
            raise SystemExit("only hidden_act gelu is implemented")
        self.w = {}
        for k, v in read_safetensors(folder + "/model.safetensors").items():
            self.w[k[5:] if k.startswith("bert.") else k] = v.double()

    def ln(self, x, name):
        return torch.nn.functional.layer_norm(x, (self.d,), self.w[name + ".weight"],
                                              self.w[name + ".bias"], self.eps)

    def lin(self, x, name):
        return x @ self.w[name + ".weight"].t() + self.w[name + ".bias"]


class Hooks:
    """What a method adds; the defaults add nothing (plain BERT)."""

    def delta(self, l, proj, x):          # LoRA: added to query / value
        return None

    def prefix(self, l):                  # (keys [P, d], values [P, d]) or None
        return None

    def attn_out(self, l, o, x_in, ln):   # the attention sublayer's output
        return ln(o + x_in)

    def ffn_out(self, l, h, x, ln):       # the layer's output
        return ln(h + x)

    def head(self, base, hidden):         # logits from the last hidden states
        raise NotImplementedError


def encode(base, hooks, ids, types):
    """One example (no padding, no batch): logits."""
    n, d, H = len(ids), base.d, base.heads
    hd = d // H
    w = base.w
    x = (w["embeddings.word_embeddings.weight"][ids] +
         w["embeddings.position_embeddings.weight"][torch.arange(n)] +
         w["embeddings.token_type_embeddings.weight"][types])
    x = base.ln(x, "embeddings.LayerNorm")
    for l in range(base.layers):
        pre = "encoder.layer.%d." % l
        proj = {}
        for p in ("query", "key", "value"):
            proj[p] = base.lin(x, pre + "attention.self." + p)
            extra = hooks.delta(l, p, x)
            if extra is not None:
                proj[p] = proj[p] + extra
        k, v = proj["key"], proj["value"]
        kv = hooks.prefix(l)
        if kv is not None:
            k, v = torch.cat([kv[0], k]), torch.cat([kv[1], v])
        q = proj["query"].view(n, H, hd).transpose(0, 1)
        k = k.view(-1, H, hd).transpose(0, 1)
        v = v.view(-1, H, hd).transpose(0, 1)
        a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd), dim=-1) @ v
        o = base.lin(a.transpose(0, 1).reshape(n, d), pre + "attention.output.dense")
        x1 = hooks.attn_out(l, o, x, lambda t: base.ln(t, pre + "attention.output.LayerNorm"))
        h = base.lin(gelu(base.lin(x1, pre + "intermediate.dense")), pre + "output.dense")
        x = hooks.ffn_out(l, h, x1, lambda t: base.ln(t, pre + "output.LayerNorm"))
    return hooks.head(base, x)


def bert_head(w, hidden):
    """BertForSequenceClassification's: pooler tanh on [CLS], then the classifier."""
    pooled = torch.tanh(hidden[0] @ w["pooler.dense.weight"].t() + w["pooler.dense.bias"])
    return pooled @ w["classifier.weight"].t() + w["classifier.bias"]


# ---- adapters ------------------------------------------------------------------------------

class Bottleneck:
    """adapters' Adapter / ParallelAdapter at one location of one layer."""

    def __init__(self, cfg, weights, key, d):
        for flag, want in (("ln_before", False), ("ln_after", False), ("use_gating", False),
                           ("phm_layer", False)):
            if cfg.get(flag, False) != want:
                raise SystemExit("%s=%s is not implemented here" % (flag, cfg[flag]))
        self.cfg = cfg
        self.act = ACTS[cfg["non_linearity"].lower()]
        self.dw = weights[key + "adapter_down.0.weight"]
        self.db = weights[key + "adapter_down.0.bias"]
        self.uw = weights[key + "adapter_up.weight"]
        self.ub = weights[key + "adapter_up.bias"]
        # BottleneckLayer.add_adapter: down_sample = int(hidden_size // reduction_factor)
        down = max(1, int(d // cfg["reduction_factor"]))
        if self.dw.shape[0] != down:
            raise SystemExit("%s: %d rows, but reduction_factor %r gives %d" %
                             (key, self.dw.shape[0], cfg["reduction_factor"], down))
        self.scaling = float(cfg["scaling"])

    def __call__(self, hidden, input_tensor, ln):
        """bottleneck_layer_forward with this single adapter active."""
        c = self.cfg
        h_in = hidden
        if c["is_parallel"]:                                   # ParallelAdapter.pre_forward
            hidden, residual = input_tensor, input_tensor
        else:                                                  # Adapter.pre_forward
            rb = c["residual_before_ln"]
            residual = hidden if rb is True else None
            if c["original_ln_before"]:
                hidden = hidden + input_tensor
                if rb == "post_add":
                    residual = hidden
                hidden = ln(hidden)
            if not rb:
                residual = hidden
        up = (self.act(hidden @ self.dw.t() + self.db) @ self.uw.t() + self.ub) * self.scaling
        if c["is_parallel"]:                                   # ParallelAdapter forward / post
            out = up + h_in
            return ln(out + input_tensor) if c["original_ln_after"] else out + input_tensor
        out = up + residual                                    # Adapter forward / post_forward
        return ln(out + input_tensor) if c["original_ln_after"] else out


class AdaptersHooks(Hooks):
    def __init__(self, folder, base):
        with open(folder + "/adapter_config.json") as f:
            full = json.load(f)
        name, cfg = full["name"], full["config"]
        configs = cfg["configs"] if cfg.get("architecture") == "union" else [cfg]
        w = {k: v.double() for k, v in read_safetensors(folder + "/adapter.safetensors").items()}
        self.sites, self.lora, self.kv = {}, {}, {}
        d = base.d
        for loc, site in (("mh_adapter", "attention.output"), ("output_adapter", "output")):
            for l in range(base.layers):
                found = [c for c in configs if c.get("architecture") in (None, "bottleneck")
                         and l not in c.get("leave_out", []) and c.get(loc, False)]
                if len(found) > 1:
                    raise SystemExit("layer %d: more than one adapter at %s" % (l, loc))
                if found:
                    key = "bert.encoder.layer.%d.%s.adapters.%s." % (l, site, name)
                    self.sites[(loc, l)] = Bottleneck(found[0], w, key, d)
        for c in configs:
            if c.get("architecture") == "lora":
                if c["composition_mode"] != "add" or c.get("use_gating") or not c["selfattn_lora"]:
                    raise SystemExit("only additive self-attention LoRA is implemented")
                for l in range(base.layers):
                    if l in c["leave_out"]:
                        continue
                    for m, p in (("q", "query"), ("k", "key"), ("v", "value")):
                        if m in c["attn_matrices"]:
                            pre = "bert.encoder.layer.%d.attention.self.%s.loras.%s." % (l, p, name)
                            self.lora[(l, p)] = (w[pre + "lora_A"], w[pre + "lora_B"],
                                                 c["alpha"] / c["r"])
            elif c.get("architecture") == "prefix_tuning":
                if not c["flat"] or c.get("use_gating"):
                    raise SystemExit("only flat, ungated prefixes are implemented")
                layers = [l for l in range(base.layers) if l not in c["leave_out"]]
                P = c["prefix_length"]
                ct = w["bert.prefix_tuning.prefix_tunings.%s.self_prefix.control_trans" % name]
                # FlatPrefixTuning.forward: view(P, n_layers * 2, heads, head_dim), permute to
                # (n_layers * 2, heads, P, head_dim), split in pairs: (keys, values) per layer.
                kv = ct.view(P, len(layers) * 2, base.heads, d // base.heads)
                for i, l in enumerate(layers):
                    self.kv[l] = (kv[:, 2 * i].reshape(P, d), kv[:, 2 * i + 1].reshape(P, d))
        with open(folder + "/head_config.json") as f:
            self.head_cfg = json.load(f)["config"]
        hw = {k: v.double() for k, v in read_safetensors(folder + "/model_head.safetensors").items()}
        self.head_w = {k[len("heads.%s." % name):]: v for k, v in hw.items()}

    def delta(self, l, proj, x):
        if (l, proj) not in self.lora:
            return None
        a, b, s = self.lora[(l, proj)]
        return (x @ a.t() @ b.t()) * s

    def prefix(self, l):
        return self.kv.get(l)

    def attn_out(self, l, o, x_in, ln):
        site = self.sites.get(("mh_adapter", l))
        return site(o, x_in, ln) if site else ln(o + x_in)

    def ffn_out(self, l, h, x, ln):
        site = self.sites.get(("output_adapter", l))
        return site(h, x, ln) if site else ln(h + x)

    def head(self, base, hidden):
        """PredictionHead.build: per layer a Dropout, then Linear(d, d) + activation, the last a
        Linear(d, num_labels); module i's weights are "i.weight"."""
        c = self.head_cfg
        if c["head_type"] != "classification" or c.get("use_pooler"):
            raise SystemExit("only a classification head on [CLS] is implemented")
        x, i = hidden[0], 0
        for l_id in range(c["layers"]):
            i += 1                                            # Dropout
            x = x @ self.head_w["%d.weight" % i].t() + self.head_w["%d.bias" % i]
            i += 1
            if l_id < c["layers"] - 1 and c["activation_function"]:
                x = ACTS[c["activation_function"]](x)
                i += 1
        return x


# ---- peft ----------------------------------------------------------------------------------

class PeftHooks(Hooks):
    def __init__(self, folder, base):
        with open(folder + "/adapter_config.json") as f:
            c = json.load(f)
        if c["peft_type"] != "LORA" or c.get("bias", "none") != "none" or c.get("use_dora"):
            raise SystemExit("only plain LoRA is implemented")
        w = {k: v.double() for k, v in read_safetensors(folder + "/adapter_model.safetensors").items()}
        scale = c["lora_alpha"] / (math.sqrt(c["r"]) if c.get("use_rslora") else c["r"])
        targets, layers = c["target_modules"], c.get("layers_to_transform")
        pattern = c.get("layers_pattern") or r"[^.]*"
        self.lora = {}
        for l in range(base.layers):
            for p in ("query", "key", "value"):
                key = "bert.encoder.layer.%d.attention.self.%s" % (l, p)
                if not any(key == t or key.endswith("." + t) for t in targets):
                    continue
                m = re.match(r".*?\.%s\.(\d+)\." % pattern, key)
                if layers and (m is None or int(m.group(1)) not in layers):
                    continue
                pre = "base_model.model." + key
                self.lora[(l, p)] = (w[pre + ".lora_A.weight"], w[pre + ".lora_B.weight"], scale)
        # modules_to_save: their saved weights replace the base model's (the head here).
        self.head_w = dict(base.w)
        for k, v in w.items():
            if ".lora_" not in k:
                k = k[len("base_model.model."):]
                self.head_w[k[5:] if k.startswith("bert.") else k] = v

    def delta(self, l, proj, x):
        if (l, proj) not in self.lora:
            return None
        a, b, s = self.lora[(l, proj)]
        return (x @ a.t() @ b.t()) * s

    def head(self, base, hidden):
        return bert_head(self.head_w, hidden)


# ---- autopeft's own layout -----------------------------------------------------------------

class AutopeftHooks(Hooks):
    """docs/export.md: out = LN2(x + h' + SA(LN2(x + h')) + 4 PA(x)), h' = h + HA_ffn(h);
    LN1(x_in + o + HA_attn(o)); LoRA (alpha / r) x A^T B^T on query and value; flat prefixes."""

    def __init__(self, folder, base):
        with open(folder + "/autopeft_config.json") as f:
            self.cfg = json.load(f)
        self.w = {k: v.double() for k, v in read_safetensors(folder + "/model.safetensors").items()}
        mods = self.cfg["modules"]
        self.on = {m: set(mods[m]["layers"]) if m in mods else set()
                   for m in ("sa", "pa", "pt", "lora", "ha")}
        self.scale = self.cfg["lora_scale"]
        if self.cfg["full_finetune"]:
            for k, v in self.w.items():
                if k.startswith("bert."):
                    base.w[k[5:]] = v

    def mlp(self, x, what):
        w = self.w
        down = torch.relu(x @ w[what + ".down.weight"].t() + w[what + ".down.bias"])
        return down @ w[what + ".up.weight"].t() + w[what + ".up.bias"]

    def delta(self, l, proj, x):
        if l not in self.on["lora"] or proj == "key":
            return None
        m = "peft.layer.%d.lora.%s." % (l, proj[0])
        return (x @ self.w[m + "a"].t() @ self.w[m + "b"].t()) * self.scale

    def prefix(self, l):
        if l not in self.on["pt"]:
            return None
        return self.w["peft.layer.%d.prefix.key" % l], self.w["peft.layer.%d.prefix.value" % l]

    def attn_out(self, l, o, x_in, ln):
        if l in self.on["ha"]:
            o = o + self.mlp(o, "peft.layer.%d.ha.attn" % l)
        return ln(x_in + o)

    def ffn_out(self, l, h, x, ln):
        pre = "peft.layer.%d." % l
        if l in self.on["ha"]:
            h = h + self.mlp(h, pre + "ha.ffn")
        y = x + h
        if l in self.on["sa"]:
            y = y + self.mlp(ln(x + h), pre + "sa")
        if l in self.on["pa"]:
            y = y + 4 * self.mlp(x, pre + "pa")
        return ln(y)

    def head(self, base, hidden):
        w = {"pooler.dense.weight": self.w["bert.pooler.dense.weight"],
             "pooler.dense.bias": self.w["bert.pooler.dense.bias"],
             "classifier.weight": self.w["classifier.weight"],
             "classifier.bias": self.w["classifier.bias"]}
        return bert_head(w, hidden)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--inputs", required=True)
    ap.add_argument("--format", required=True, choices=("adapters", "peft", "safetensors"))
    ap.add_argument("--export", required=True)
    a = ap.parse_args()
    base = Base(a.model)
    hooks = {"adapters": AdaptersHooks, "peft": PeftHooks,
             "safetensors": AutopeftHooks}[a.format](a.export, base)
    data = read_safetensors(a.inputs)
    ids, types, off = data["dev.ids"].long(), data["dev.types"].long(), data["dev.offsets"].long()
    logits = []
    with torch.no_grad():
        for i in range(len(off) - 1):
            s, e = int(off[i]), int(off[i + 1])
            logits.append([float(z) for z in encode(base, hooks, ids[s:e], types[s:e])])
    json.dump({"logits": logits}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
