#!/usr/bin/env python3
"""autopeft-torch-train: autopeft's trials trained by PyTorch, on a GPU where there is one.

    autopeft-worker --exec autopeft-torch-train            # a worker whose trials run here
    autopeft-torch-train --inputs DIR [--trace FILE]       # one trial from `autopeft inputs`

It trains what the built-in C trainer trains (docs/torch.md): the BERT checkpoint of the trial,
frozen, with the configuration's serial, parallel and Houlsby adapters, prefixes and LoRA in the
layers their masks select, and the task head; the same examples in the same batches, from the
same initial weights, with the same recipe. None of that is derived here: under --exec the trial
JSON on stdin goes to `$AUTOPEFT_BIN inputs`, which writes the tokenised subsets, every epoch's
batch order, the initial weights, the resolved schedule and the exact parameter counts
(docs/training.md, "For other trainers"); this program trains on them.

Numerics follow Hugging Face's BertForSequenceClassification (post-LN layers, erf GELU, pooler
tanh on [CLS], cross-entropy or MSE) and the engine's modules (worker/engine/peft.h), in a layer
with FFN input x and FFN output h:

    out = LN2(x + h + SA(LN2(x + h)) + 4 PA(x)),   SA, PA = up(relu(down(.)))

Houlsby's adapters act on each sublayer's output o after its dropout (o + HA(o)); LoRA adds
(alpha / r) x A^T B^T to the query and value projections; prefixes are P keys and values per
layer from tanh(E W1^T + b1) W2_l^T + b2_l (keys the first d outputs) or stored flat.
AdamW (no decay on biases and LayerNorm weights), the linear warmup/decay stepped after the
optimiser, global-norm clipping, evaluation after every epoch, the first best epoch, patience.

Exit status: 0 done (the result as one JSON line on stdout), 1 the trial failed (the reason on
stderr), 2 bad usage, 75 a failure another attempt may not have (CUDA out of memory), 130
interrupted. SIGTERM stops at the next step and reports the epochs evaluated so far.

Only the Python standard library and PyTorch are needed (Debian 12: python3-torch).
"""
import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

EX_FAILED, EX_USAGE, EX_TEMPFAIL, EX_INTERRUPTED = 1, 2, 75, 130
PROG = "autopeft-torch-train"
INPUTS_FORMAT, INPUTS_VERSION = "autopeft-inputs", 1
MODULES = ("sa", "pa", "pt", "lora", "ha")
HEADER_MAX = 100 << 20          # safetensors header bytes we accept
PROGRESS_EVERY_S = 2.0

torch = None                    # imported in main(), so that --help works without it
F = None


class TrialError(Exception):
    """A trial that cannot be trained; retryable when another attempt may succeed."""

    def __init__(self, message, retryable=False):
        super().__init__(message)
        self.retryable = retryable


def progress(**fields):
    print("PROGRESS " + json.dumps(fields), file=sys.stderr, flush=True)


# ---- safetensors ------------------------------------------------------------------------------

ST_DTYPES = {"F64": ("float64", 8), "F32": ("float32", 4), "F16": ("float16", 2),
             "BF16": ("bfloat16", 2), "I64": ("int64", 8), "I32": ("int32", 4),
             "I16": ("int16", 2), "I8": ("int8", 1), "U8": ("uint8", 1), "BOOL": ("bool", 1)}


def read_safetensors(path, want=None):
    """The tensors of a safetensors file (those named in want, when given) and its metadata.

    The layout: an 8-byte little-endian header length, a JSON header {name: {dtype, shape,
    data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the data."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise TrialError("%s: cannot read: %s" % (path, e.strerror))
    if len(data) < 8:
        raise TrialError("%s: %d bytes: too short for a safetensors file" % (path, len(data)))
    n = int.from_bytes(data[:8], "little")
    if n > HEADER_MAX or 8 + n > len(data):
        raise TrialError("%s: header of %d bytes does not fit the file (%d bytes)" %
                         (path, n, len(data)))
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise TrialError("%s: the header is not JSON: %s" % (path, e))
    if not isinstance(header, dict):
        raise TrialError("%s: the header is not a JSON object" % path)
    meta = header.pop("__metadata__", None) or {}
    body = memoryview(data)[8 + n:]
    out = {}
    for name, t in header.items():
        if want is not None and name not in want:
            continue
        try:
            dtype, size = ST_DTYPES[t["dtype"]]
            shape = [int(d) for d in t["shape"]]
            begin, end = (int(x) for x in t["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise TrialError("%s: tensor \"%s\": a dtype of %s, a shape and data_offsets are "
                             "needed, found %s" % (path, name, "/".join(ST_DTYPES), t))
        count = math.prod(shape)
        if min(shape, default=0) < 0 or not 0 <= begin <= end <= len(body) or \
                end - begin != count * size:
            raise TrialError("%s: tensor \"%s\": shape %s of %s does not match bytes %d..%d of "
                             "%d" % (path, name, shape, t["dtype"], begin, end, len(body)))
        raw = bytearray(body[begin:end])
        if dtype == "bfloat16":
            x = torch.frombuffer(raw, dtype=torch.int16).to(torch.int32) << 16 if count else \
                torch.zeros(0, dtype=torch.int32)
            x = x.view(torch.float32).to(torch.bfloat16)
        elif count:
            x = torch.frombuffer(raw, dtype=getattr(torch, dtype))
        else:
            x = torch.zeros(0, dtype=getattr(torch, dtype))
        out[name] = x.reshape(shape)
    return out, meta


def write_safetensors(path, tensors, metadata):
    """tensors: name -> float32 tensor, in the order given; metadata: str -> str."""
    header, chunks, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        b = t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(b)]}
        chunks.append(b)
        offset += len(b)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)


# ---- the trial's inputs -----------------------------------------------------------------------

def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        raise TrialError("%s: cannot read: %s" % (path, e.strerror))
    except ValueError as e:
        raise TrialError("%s: not JSON: %s" % (path, e))


def need(obj, key, kind, where):
    """obj[key] of the given type, or a TrialError naming where it was looked for."""
    v = obj.get(key) if isinstance(obj, dict) else None
    if kind is float and isinstance(v, int) and not isinstance(v, bool):
        v = float(v)
    if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
        raise TrialError("%s: \"%s\" must be %s, found %s" %
                         (where, key, {int: "an integer", float: "a number", str: "a string",
                                       bool: "true or false", dict: "an object",
                                       list: "an array"}[kind], json.dumps(v)))
    return v


class Inputs:
    """What `autopeft inputs` wrote into a folder, checked."""

    def __init__(self, folder):
        where = os.path.join(folder, "inputs.json")
        j = load_json(where)
        if j.get("format") != INPUTS_FORMAT or j.get("version") != INPUTS_VERSION:
            raise TrialError("%s: format %s version %s; this trainer reads %s version %d" %
                             (where, json.dumps(j.get("format")), json.dumps(j.get("version")),
                              INPUTS_FORMAT, INPUTS_VERSION))
        self.folder, self.json = folder, j
        self.config = need(j, "config", str, where)
        self.full_finetune = need(j, "full_finetune", bool, where)
        mods = need(j, "modules", dict, where)
        for m in mods:
            if m not in MODULES:
                raise TrialError("%s: module \"%s\" is not one this trainer has (%s)" %
                                 (where, m, ", ".join(MODULES)))
        self.sizes = {m: 0 for m in MODULES}
        self.layers = {m: set() for m in MODULES}
        for m, v in mods.items():
            self.sizes[m] = need(v, "size", int, where + ": modules." + m)
            self.layers[m] = set(need(v, "layers", list, where + ": modules." + m))
        self.lora_scale = need(j, "lora_scale", float, where)
        self.prefix_mlp = need(j, "prefix_mlp", bool, where)
        self.model = need(j, "model", dict, where)
        self.task = need(j, "task", dict, where)
        self.recipe = need(j, "recipe", dict, where)
        self.params = need(j, "params", dict, where)
        for k in ("hidden", "layers", "heads", "intermediate", "labels"):
            need(self.model, k, int, where + ": model")
        for k in ("epochs", "batch_size", "eval_batch_size", "warmup_steps", "total_steps",
                  "patience", "seed"):
            need(self.recipe, k, int, where + ": recipe")
        for k in ("learning_rate", "weight_decay", "max_grad_norm"):
            need(self.recipe, k, float, where + ": recipe")
        for k in ("layer_norm_eps", "hidden_dropout", "attention_dropout", "classifier_dropout"):
            need(self.model, k, float, where + ": model")
        self.precision = self.recipe.get("precision", "fp32")
        self.labels = self.model["labels"]
        self.regression = need(self.task, "regression", bool, where + ": task")
        self.objective = need(self.task, "objective", str, where + ": task")
        self.metrics = need(self.task, "metrics", list, where + ": task")
        if self.model["hidden"] % self.model["heads"]:
            raise TrialError("%s: hidden %d is not a multiple of heads %d" %
                             (where, self.model["hidden"], self.model["heads"]))
        data_path = os.path.join(folder, "data.safetensors")
        self.data, _ = read_safetensors(data_path)
        self.train = self.split("train", data_path)
        self.dev = self.split("dev", data_path)
        order = self.data.get("order")
        n = self.train["n"]
        E = self.recipe["epochs"]
        if order is None or list(order.shape) != [E, n]:
            raise TrialError("%s: \"order\" must be int32 [%d, %d] (epochs, train examples)" %
                             (data_path, E, n))
        self.order = order.long()
        self.init, _ = read_safetensors(os.path.join(folder, "init.safetensors"))

    def split(self, name, path):
        d = self.data
        ids, types, offsets = (d.get(name + "." + k) for k in ("ids", "types", "offsets"))
        key = name + (".targets" if self.regression else ".labels")
        y = d.get(key)
        if ids is None or types is None or offsets is None or y is None:
            raise TrialError("%s: %s.ids, %s.types, %s.offsets and %s are needed" %
                             (path, name, name, name, key))
        n = y.shape[0]
        if offsets.shape[0] != n + 1 or ids.shape != types.shape or \
                int(offsets[-1]) != ids.shape[0] or (n and int(offsets[0]) != 0):
            raise TrialError("%s: the %s split's offsets, ids and labels do not agree" %
                             (path, name))
        lengths = (offsets[1:] - offsets[:-1]).long()
        if n and int(lengths.min()) < 1:
            raise TrialError("%s: an example of the %s split has no token" % (path, name))
        T = int(lengths.max()) if n else 1
        if T > self.model.get("positions", T):
            raise TrialError("%s: a %s example has %d tokens, the model %d positions" %
                             (path, name, T, self.model["positions"]))
        # padded [n, T]: row i holds example i's tokens, then zeros
        col = torch.arange(T).unsqueeze(0)
        valid = col < lengths.unsqueeze(1)
        starts = offsets[:-1].long().unsqueeze(1)
        flat = (starts + col).clamp(max=max(ids.shape[0] - 1, 0))
        pad_ids = torch.where(valid, ids.long()[flat], torch.zeros((), dtype=torch.long))
        pad_types = torch.where(valid, types.long()[flat], torch.zeros((), dtype=torch.long))
        if int(pad_ids.max()) >= self.model.get("vocab", 1 << 62) or int(pad_ids.min()) < 0:
            raise TrialError("%s: a %s token id is outside the vocabulary" % (path, name))
        y = y.float() if self.regression else y.long()
        if not self.regression and n and (int(y.min()) < 0 or int(y.max()) >= self.labels):
            raise TrialError("%s: a %s label is outside 0..%d" % (path, name, self.labels - 1))
        return {"n": n, "ids": pad_ids, "types": pad_types, "lengths": lengths, "y": y}


# ---- the model --------------------------------------------------------------------------------

def backbone_names(layers):
    names = ["embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
             "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight",
             "embeddings.LayerNorm.bias"]
    for l in range(layers):
        pre = "encoder.layer.%d." % l
        for n in ("attention.self.query", "attention.self.key", "attention.self.value",
                  "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense",
                  "output.dense", "output.LayerNorm"):
            names += [pre + n + ".weight", pre + n + ".bias"]
    return names


def backbone_shapes(m):
    d, i = m["hidden"], m["intermediate"]
    s = {"embeddings.word_embeddings.weight": [m["vocab"], d],
         "embeddings.position_embeddings.weight": [m["positions"], d],
         "embeddings.token_type_embeddings.weight": [m["type_vocab"], d]}
    for n in backbone_names(m["layers"]):
        if n in s:
            continue
        if n.endswith("intermediate.dense.weight"):
            s[n] = [i, d]
        elif n.endswith("intermediate.dense.bias"):
            s[n] = [i]
        elif n.endswith("output.dense.weight") and "attention" not in n:
            s[n] = [d, i]
        elif n.endswith(".weight") and "LayerNorm" not in n:
            s[n] = [d, d]
        else:
            s[n] = [d]
    return s


def load_backbone(inp):
    """The frozen encoder from the model folder's model.safetensors, by Hugging Face name (a
    "bert." prefix and the old gamma/beta LayerNorm names accepted; the MLM head ignored)."""
    folder = inp.model.get("dir")
    if not isinstance(folder, str):
        raise TrialError("inputs.json: model.dir must name the model folder")
    cfg_path = os.path.join(folder, "config.json")
    if os.path.exists(cfg_path):
        mt = load_json(cfg_path).get("model_type", "bert")
        if mt != "bert":
            raise TrialError("%s: model_type \"%s\": this trainer runs BERT checkpoints only" %
                             (cfg_path, mt))
    path = os.path.join(folder, "model.safetensors")
    if not os.path.exists(path):
        raise TrialError("%s: no model.safetensors (this trainer reads safetensors checkpoints)"
                         % folder)
    raw, _ = read_safetensors(path)
    by_name = {}
    for n, t in raw.items():
        k = n[5:] if n.startswith("bert.") else n
        k = k.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta",
                                                                    "LayerNorm.bias")
        by_name[k] = t
    if any(n.startswith("roberta.") for n in raw):
        raise TrialError("%s: a RoBERTa checkpoint: this trainer runs BERT checkpoints only" %
                         path)
    out = {}
    for n, shape in backbone_shapes(inp.model).items():
        t = by_name.get(n)
        if t is None:
            raise TrialError("%s: tensor \"%s\" is missing" % (path, n))
        if list(t.shape) != shape:
            raise TrialError("%s: tensor \"%s\" has shape %s, the model's config %s" %
                             (path, n, list(t.shape), shape))
        out[n] = t.float()
    return out


class Model:
    """BERT for sequence classification with the trial's modules, as functions of a dict of
    tensors under the engine's names: frozen backbone, trainable head and modules."""

    def __init__(self, inp, device, dtype):
        self.inp, m = inp, inp.model
        self.dtype = dtype
        self.d, self.L, self.H = m["hidden"], m["layers"], m["heads"]
        self.eps = m["layer_norm_eps"]
        self.p_hidden, self.p_attn = m["hidden_dropout"], m["attention_dropout"]
        self.p_cls = m["classifier_dropout"]
        self.sizes, self.layers = inp.sizes, inp.layers
        self.lora_scale = inp.lora_scale
        self.t = {}
        backbone = load_backbone(inp)
        for n, x in backbone.items():
            self.t[n] = x.to(device, dtype)
        self.trainable = {}
        for n, x in inp.init.items():
            if inp.full_finetune is False and n in backbone:
                raise TrialError("init.safetensors: backbone tensor \"%s\" without full "
                                 "fine-tuning" % n)
            if n in backbone and list(x.shape) != list(backbone[n].shape):
                raise TrialError("init.safetensors: \"%s\" has shape %s, the checkpoint %s" %
                                 (n, list(x.shape), list(backbone[n].shape)))
            p = torch.nn.Parameter(x.to(device, dtype).clone())
            self.trainable[n] = p
            self.t[n] = p
        self.check_tensors()

    def on(self, module, layer):
        return self.sizes[module] > 0 and layer in self.layers[module]

    def expected(self):
        """name -> shape of every trainable tensor the configuration asks for."""
        d, bn, labels = self.d, self.inp.json.get("prefix_bottleneck", 0), self.inp.labels
        e = {"pooler.dense.weight": [d, d], "pooler.dense.bias": [d],
             "classifier.weight": [labels, d], "classifier.bias": [labels]}
        P = self.sizes["pt"]
        if self.prefix_mlp_used():
            e.update({"peft.prefix.embedding": [P, d], "peft.prefix.dense.weight": [bn, d],
                      "peft.prefix.dense.bias": [bn]})
        for l in range(self.L):
            pre = "peft.layer.%d." % l

            def lin(name, out_f, in_f):
                e[pre + name + ".weight"] = [out_f, in_f]
                e[pre + name + ".bias"] = [out_f]
            for m, sites in (("sa", ["sa"]), ("pa", ["pa"]), ("ha", ["ha.attn", "ha.ffn"])):
                if self.on(m, l):
                    r = self.sizes[m]
                    for s in sites:
                        lin(s + ".down", r, d)
                        lin(s + ".up", d, r)
            if self.on("lora", l):
                r = self.sizes["lora"]
                for s in ("q", "v"):
                    e[pre + "lora.%s.a" % s] = [r, d]
                    e[pre + "lora.%s.b" % s] = [d, r]
            if self.on("pt", l):
                if self.inp.prefix_mlp:
                    lin("prefix.out", 2 * d, bn)
                else:
                    e[pre + "prefix.key"] = [P, d]
                    e[pre + "prefix.value"] = [P, d]
        if self.inp.full_finetune:
            e.update({n: list(self.t[n].shape) for n in backbone_names(self.L)})
        return e

    def prefix_mlp_used(self):
        return self.inp.prefix_mlp and any(self.on("pt", l) for l in range(self.L))

    def check_tensors(self):
        """init.safetensors holds exactly the configuration's tensors, and they hold exactly
        the floats autopeft counts."""
        e = self.expected()
        have = {n: list(p.shape) for n, p in self.trainable.items()}
        missing = sorted(set(e) - set(have))
        extra = sorted(set(have) - set(e))
        if missing or extra:
            raise TrialError("init.safetensors does not hold configuration \"%s\": missing %s, "
                             "unexpected %s" % (self.inp.config, missing[:4], extra[:4]))
        for n in e:
            if e[n] != have[n]:
                raise TrialError("init.safetensors: \"%s\" has shape %s, configuration \"%s\" "
                                 "needs %s" % (n, have[n], self.inp.config, e[n]))
        counts = self.counts()
        for k in ("trainable", "deployed", "head"):
            if counts[k] != self.inp.params.get(k):
                raise TrialError("the model's %s parameters are %d, autopeft counts %s for "
                                 "\"%s\"" % (k, counts[k], self.inp.params.get(k),
                                             self.inp.config))

    def counts(self):
        n = {k: p.numel() for k, p in self.trainable.items()}
        head = sum(v for k, v in n.items() if k.startswith(("pooler.", "classifier.")))
        trainable = sum(n.values())
        deployed = trainable
        if self.prefix_mlp_used():
            mlp = sum(v for k, v in n.items()
                      if k.startswith("peft.prefix.") or ".prefix.out." in k)
            flat = sum(2 * self.sizes["pt"] * self.d for l in range(self.L) if self.on("pt", l))
            deployed = trainable - mlp + flat
        return {"trainable": trainable, "deployed": deployed, "head": head}

    # forward ------------------------------------------------------------------------------

    def prefix_kv(self, t):
        """layer -> (keys [P, d], values [P, d]); the MLP's hidden computed once."""
        out = {}
        layers = [l for l in range(self.L) if self.on("pt", l)]
        if not layers:
            return out
        if self.inp.prefix_mlp:
            hid = torch.tanh(F.linear(t["peft.prefix.embedding"], t["peft.prefix.dense.weight"],
                                      t["peft.prefix.dense.bias"]))
            for l in layers:
                pre = "peft.layer.%d.prefix.out" % l
                kv = F.linear(hid, t[pre + ".weight"], t[pre + ".bias"])
                out[l] = (kv[:, :self.d], kv[:, self.d:])
        else:
            for l in layers:
                pre = "peft.layer.%d.prefix." % l
                out[l] = (t[pre + "key"], t[pre + "value"])
        return out

    @staticmethod
    def adapter(t, pre, x):
        h = F.relu(F.linear(x, t[pre + ".down.weight"], t[pre + ".down.bias"]))
        return F.linear(h, t[pre + ".up.weight"], t[pre + ".up.bias"])

    def layer(self, t, l, x, mask, kv, train):
        B, T, d = x.shape
        H, dh = self.H, d // self.H
        pre, peft = "encoder.layer.%d." % l, "peft.layer.%d." % l

        def lin(name, y):
            return F.linear(y, t[pre + name + ".weight"], t[pre + name + ".bias"])
        q = lin("attention.self.query", x)
        k = lin("attention.self.key", x)
        v = lin("attention.self.value", x)
        if self.on("lora", l):
            s = self.lora_scale
            q = q + s * F.linear(F.linear(x, t[peft + "lora.q.a"]), t[peft + "lora.q.b"])
            v = v + s * F.linear(F.linear(x, t[peft + "lora.v.a"]), t[peft + "lora.v.b"])
        if l in kv:
            pk, pv = kv[l]
            P = pk.shape[0]
            k = torch.cat([pk.to(k.dtype).unsqueeze(0).expand(B, P, d), k], dim=1)
            v = torch.cat([pv.to(v.dtype).unsqueeze(0).expand(B, P, d), v], dim=1)
            mask = torch.cat([mask.new_zeros(B, 1, 1, P), mask], dim=-1)
        S = k.shape[1]
        qh = q.view(B, T, H, dh).transpose(1, 2)
        kh = k.view(B, S, H, dh).transpose(1, 2)
        vh = v.view(B, S, H, dh).transpose(1, 2)
        scores = torch.matmul(qh, kh.transpose(-1, -2)) / math.sqrt(dh) + mask
        probs = F.dropout(torch.softmax(scores.to(self.dtype), dim=-1).to(vh.dtype), self.p_attn,
                          train)
        ctx = torch.matmul(probs, vh).transpose(1, 2).reshape(B, T, d)
        o = F.dropout(lin("attention.output.dense", ctx), self.p_hidden, train)
        if self.on("ha", l):
            o = o + self.adapter(t, peft + "ha.attn", o)
        ln1 = pre + "attention.output.LayerNorm"
        a = F.layer_norm(o + x, (d,), t[ln1 + ".weight"], t[ln1 + ".bias"], self.eps)
        h = F.dropout(lin("output.dense", F.gelu(lin("intermediate.dense", a))), self.p_hidden,
                      train)
        if self.on("ha", l):
            h = h + self.adapter(t, peft + "ha.ffn", h)
        ln2 = (d,), t[pre + "output.LayerNorm.weight"], t[pre + "output.LayerNorm.bias"], self.eps
        z = a + h
        if self.on("sa", l):
            z = z + self.adapter(t, peft + "sa", F.layer_norm(a + h, *ln2))
        if self.on("pa", l):
            z = z + 4.0 * self.adapter(t, peft + "pa", a)
        return F.layer_norm(z, *ln2)

    def forward(self, ids, types, lengths, train):
        """ids, types: [B, T] padded; lengths: [B]. Logits [B, labels] (float32)."""
        t = self.t
        B, T = ids.shape
        pos = torch.arange(T, device=ids.device).unsqueeze(0).expand(B, T)
        e = (t["embeddings.word_embeddings.weight"][ids] +
             t["embeddings.position_embeddings.weight"][pos] +
             t["embeddings.token_type_embeddings.weight"][types])
        x = F.dropout(F.layer_norm(e, (self.d,), t["embeddings.LayerNorm.weight"],
                                   t["embeddings.LayerNorm.bias"], self.eps), self.p_hidden, train)
        valid = torch.arange(T, device=ids.device).unsqueeze(0) < lengths.unsqueeze(1)
        mask = torch.zeros(B, 1, 1, T, device=ids.device, dtype=self.dtype)
        mask = mask.masked_fill(~valid.view(B, 1, 1, T), torch.finfo(self.dtype).min)
        kv = self.prefix_kv(t)
        for l in range(self.L):
            x = self.layer(t, l, x, mask, kv, train)
        pooled = torch.tanh(F.linear(x[:, 0], t["pooler.dense.weight"], t["pooler.dense.bias"]))
        pooled = F.dropout(pooled, self.p_cls, train)
        return F.linear(pooled, t["classifier.weight"], t["classifier.bias"]).to(self.dtype)

    def deployed(self):
        """The deployment form's tensors under autopeft's saved names (as `autopeft train
        --save`: prefixes flat, their MLP dropped; "bert." before backbone and pooler names)."""
        with torch.no_grad():
            kv = self.prefix_kv(self.t) if self.inp.prefix_mlp else {}
            out = {}
            for n, p in self.trainable.items():
                if n.startswith("peft.prefix.") or ".prefix.out." in n:
                    if n.endswith("prefix.out.weight"):
                        l = int(n.split(".")[2])
                        out["peft.layer.%d.prefix.key" % l] = kv[l][0]
                        out["peft.layer.%d.prefix.value" % l] = kv[l][1]
                    continue
                bert = n.startswith(("embeddings.", "encoder.", "pooler."))
                out[("bert." if bert else "") + n] = p
            return out


# ---- metrics (worker/inputs/metrics.c) --------------------------------------------------------

def metric_values(pred, gold, labels, regression):
    if regression:
        return {"pearson": pearson(pred, gold), "spearman": pearson(ranks(pred), ranks(gold))}
    n = len(gold)
    out = {"accuracy": sum(p == g for p, g in zip(pred, gold)) / n if n else 0.0,
           "mcc": mcc(pred, gold, labels)}
    if labels == 2:
        tp = sum(p == 1 and g == 1 for p, g in zip(pred, gold))
        fp = sum(p == 1 and g != 1 for p, g in zip(pred, gold))
        fn = sum(p != 1 and g == 1 for p, g in zip(pred, gold))
        out["f1"] = 2.0 * tp / (2 * tp + fp + fn) if tp else 0.0
    return out


def mcc(pred, gold, k):
    t, p = [0] * k, [0] * k
    c, s = 0, len(gold)
    for a, b in zip(pred, gold):
        t[b] += 1
        p[a] += 1
        c += a == b
    tp = sum(x * y for x, y in zip(t, p))
    den = float(s * s - sum(x * x for x in p)) * float(s * s - sum(x * x for x in t))
    return (c * s - tp) / math.sqrt(den) if den > 0 else 0.0


def pearson(x, y):
    n = len(x)
    if not n:
        return 0.0
    mx, my = sum(x) / n, sum(y) / n
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    if sxx <= 0 or syy <= 0:
        return 0.0
    return max(-1.0, min(1.0, sxy / (math.sqrt(sxx) * math.sqrt(syy))))


def ranks(v):
    """1..n, ties sharing the mean of their ranks."""
    order = sorted(range(len(v)), key=lambda i: (v[i], i))
    out = [0.0] * len(v)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return out


# ---- training ---------------------------------------------------------------------------------

class Stop:
    """SIGTERM (the coordinator stops or cancels the trial) and SIGINT, seen between steps."""

    def __init__(self):
        self.signal = 0
        signal.signal(signal.SIGTERM, self.set)
        signal.signal(signal.SIGINT, self.set)

    def set(self, signum, frame):
        self.signal = signum


def fmt(x):
    return float("%.9g" % x)


def rows_of(logits):
    """[[label logits] per example], 9 significant digits (a float32 round trip)."""
    return [[fmt(v) for v in row] for row in logits.detach().float().cpu().tolist()]


class Trainer:
    def __init__(self, inp, args, stop):
        self.inp, self.args, self.stop = inp, args, stop
        self.device = pick_device(args.device)
        self.precision = args.precision or inp.precision
        self.amp = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}.get(
            self.precision, "bad")
        if self.amp == "bad":
            raise TrialError("recipe precision \"%s\": fp32, bf16 or fp16" % self.precision)
        if self.amp is torch.float16 and self.device.type != "cuda":
            raise TrialError("precision fp16 needs a CUDA device; this trial runs on %s (bf16 "
                             "works on the CPU)" % self.device.type)
        torch.manual_seed(inp.recipe["seed"] & 0x7FFFFFFFFFFFFFFF)
        t0 = time.time()
        self.dtype = torch.float64 if args.float64 else torch.float32
        self.model = Model(inp, self.device, self.dtype)
        self.load_s = time.time() - t0
        self.train_split = {k: (v.to(self.device) if hasattr(v, "to") else v)
                            for k, v in inp.train.items()}
        self.dev_split = {k: (v.to(self.device) if hasattr(v, "to") else v)
                          for k, v in inp.dev.items()}
        r = inp.recipe
        params = list(self.model.trainable.items())
        decay = [p for n, p in params if not (n.endswith(".bias") or "LayerNorm" in n)]
        rest = [p for n, p in params if n.endswith(".bias") or "LayerNorm" in n]
        self.params = [p for _, p in params]
        self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": r["weight_decay"]},
                                      {"params": rest, "weight_decay": 0.0}],
                                     lr=r["learning_rate"], betas=(0.9, 0.999), eps=1e-8)
        warm, total = r["warmup_steps"], r["total_steps"]

        def factor(step):
            if step < warm:
                return step / max(1, warm)
            return max(0.0, (total - step) / max(1, total - warm))
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, factor)
        self.scaler = torch.cuda.amp.GradScaler() if self.amp is torch.float16 else None
        self.trace = open(args.trace, "w") if args.trace else None
        self.steps = 0
        self.history = []

    def autocast(self):
        if self.amp is None:
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=self.amp)

    def batch(self, split, rows):
        T = int(split["lengths"][rows].max())
        return (split["ids"][rows, :T], split["types"][rows, :T], split["lengths"][rows],
                split["y"][rows])

    def loss_of(self, logits, y):
        if self.inp.regression:
            return F.mse_loss(logits[:, 0], y.to(logits.dtype))
        return F.cross_entropy(logits, y)

    def step(self, epoch, rows_cpu):
        rows = rows_cpu.to(self.device)
        ids, types, lengths, y = self.batch(self.train_split, rows)
        with self.autocast():
            logits = self.model.forward(ids, types, lengths, train=True)
        loss = self.loss_of(logits, y)
        value = float(loss)
        if not math.isfinite(value):
            raise TrialError("training diverged in epoch %d, step %d (loss %s); a lower "
                             "learning rate may help" % (epoch, self.steps + 1, value))
        lr = self.opt.param_groups[0]["lr"]
        self.opt.zero_grad(set_to_none=True)
        clip = self.inp.recipe["max_grad_norm"]
        if self.scaler:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.opt)
            if clip > 0:
                torch.nn.utils.clip_grad_norm_(self.params, clip)
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            loss.backward()
            if clip > 0:
                torch.nn.utils.clip_grad_norm_(self.params, clip)
            self.opt.step()
        self.sched.step()
        self.steps += 1
        if self.trace:
            self.trace.write(json.dumps({"step": self.steps, "epoch": epoch, "loss": fmt(value),
                                         "lr": fmt(lr), "rows": rows_cpu.tolist(),
                                         "logits": rows_of(logits)}) + "\n")
        return value

    def evaluate(self):
        """The dev set's objective, metrics and logits (in the dev order). Batches take the
        examples by length, so that little of a batch is padding; the metric does not depend
        on the batches."""
        split, n = self.dev_split, self.dev_split["n"]
        per = self.inp.recipe["eval_batch_size"] or self.inp.recipe["batch_size"]
        by_length = torch.argsort(split["lengths"], stable=True)
        logits = torch.zeros(n, self.inp.labels, dtype=self.dtype)
        with torch.no_grad(), self.autocast():
            for b in range(0, n, per):
                rows = by_length[b:b + per]
                ids, types, lengths, _ = self.batch(split, rows)
                z = self.model.forward(ids, types, lengths, train=False)
                logits[rows.cpu()] = z.to("cpu", self.dtype)
        gold = split["y"].cpu().tolist()
        if self.inp.regression:
            pred = logits[:, 0].tolist()
            if not all(math.isfinite(v) for v in pred):
                raise TrialError("the dev predictions are not finite")
        else:
            pred = logits.argmax(dim=1).tolist()   # the first maximum
        m = metric_values(pred, gold, self.inp.labels, self.inp.regression)
        if self.inp.objective not in m:
            raise TrialError("objective \"%s\" is not a metric of this task (%s)" %
                             (self.inp.objective, ", ".join(sorted(m))))
        return m[self.inp.objective], m, logits

    def run(self):
        r, inp = self.inp.recipe, self.inp
        E, bs, n = r["epochs"], r["batch_size"], inp.train["n"]
        steps_total = E * ((n + bs - 1) // bs)
        best = {"objective": -math.inf, "epoch": 0, "metrics": {}, "weights": None}
        bad_epochs, t0, train_s, eval_s = 0, time.time(), 0.0, 0.0
        last_progress, seen, epochs_run = 0.0, 0, 0
        for epoch in range(1, E + 1):
            te = time.time()
            order, total = inp.order[epoch - 1], 0.0
            nb = 0
            for b in range(0, n, bs):
                if self.stop.signal:
                    return self.result(best, epochs_run, t0, train_s, eval_s, seen, stopped=True)
                total += self.step(epoch, order[b:b + bs])
                nb += 1
                seen += min(bs, n - b)
                now = time.time()
                if now - last_progress >= PROGRESS_EVERY_S:
                    last_progress = now
                    per_step = (train_s + now - te) / self.steps
                    progress(epoch=epoch, epochs=E, step=self.steps, steps_total=steps_total,
                             loss=total / nb, fraction=self.steps / max(1, steps_total),
                             eta_s=per_step * (steps_total - self.steps))
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            train_s += time.time() - te
            epochs_run = epoch
            tv = time.time()
            obj, m, logits = self.evaluate()
            eval_s += time.time() - tv
            loss = total / nb if nb else 0.0
            self.history.append({"epoch": epoch, "objective": obj, "train_loss": loss,
                                 "seconds": time.time() - t0})
            if self.trace:
                self.trace.write(json.dumps({"eval": epoch, "objective": obj,
                                             "logits": rows_of(logits)}) + "\n")
                self.trace.flush()
            progress(epoch=epoch, epochs=E, step=self.steps, steps_total=steps_total,
                     objective=obj, train_loss=loss, metric=obj,
                     fraction=self.steps / max(1, steps_total))
            if obj > best["objective"]:
                best.update(objective=obj, epoch=epoch, metrics=m)
                bad_epochs = 0
                if self.args.save_dir:
                    best["weights"] = {k: p.detach().clone() for k, p in
                                       self.model.trainable.items()}
            else:
                bad_epochs += 1
            if r["patience"] > 0 and bad_epochs >= r["patience"]:
                break
        return self.result(best, epochs_run, t0, train_s, eval_s, seen, stopped=False)

    def result(self, best, epochs_run, t0, train_s, eval_s, seen, stopped):
        inp = self.inp
        if self.trace:
            self.trace.close()
            self.trace = None
        if stopped and not best["epoch"]:
            return None
        if best["weights"] is not None and not stopped:
            with torch.no_grad():
                for k, p in self.model.trainable.items():
                    p.copy_(best["weights"][k])
        names = [m for m in inp.metrics if m in best["metrics"]]
        c = self.model.counts()
        p = inp.params
        out = {"status": "ok", "stopped": stopped, "trainer": PROG, "task":
               inp.task.get("name"), "config": inp.config, "full_finetune": inp.full_finetune,
               "objective": best["objective"], "objective_name": inp.objective,
               "metrics": {m: best["metrics"][m] for m in names},
               "best_epoch": best["epoch"], "epochs_run": epochs_run,
               "history": self.history,
               "params": {"trainable": c["trainable"], "deployed": c["deployed"],
                          "modules_trainable": p.get("modules_trainable"),
                          "modules_deployed": p.get("modules_deployed"), "head": c["head"],
                          "backbone": p.get("backbone"), "percent": p.get("percent")},
               "steps": self.steps, "device": str(self.device), "precision": self.precision,
               "timings": {"load_s": self.load_s, "train_s": train_s, "eval_s": eval_s,
                           "total_s": time.time() - t0,
                           "examples_per_s": seen / train_s if train_s > 0 else 0.0,
                           "steps_per_s": self.steps / train_s if train_s > 0 else 0.0},
               "total_s": time.time() - t0}
        if self.args.save_dir and not stopped:
            self.save(out)
            out["saved"] = self.args.save_dir
        return out

    def save(self, result):
        """peft.safetensors and trial.json as `autopeft train --save` writes them, so that
        `autopeft eval --peft DIR` and `autopeft export` read them."""
        d = self.args.save_dir
        os.makedirs(d, exist_ok=True)
        write_safetensors(os.path.join(d, "peft.safetensors"), self.model.deployed(),
                          {"format": "pt", "autopeft_config": self.inp.config})
        trial = load_json(os.path.join(self.inp.folder, "trial.json"))
        p = result["params"]
        trial["result"] = {"best_epoch": result["best_epoch"],
                           "objective_name": result["objective_name"],
                           "objective": result["objective"], "metrics": result["metrics"],
                           "params": {k: p[k] for k in ("trainable", "deployed", "head",
                                                        "backbone", "percent")},
                           "trainer": PROG}
        tmp = os.path.join(d, "trial.json.tmp")
        with open(tmp, "w") as f:
            json.dump(trial, f, indent=2)
            f.write("\n")
        os.replace(tmp, os.path.join(d, "trial.json"))


def pick_device(name):
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", 0)   # CUDA_VISIBLE_DEVICES picks which
        if name == "cuda":
            raise TrialError("--device cuda: PyTorch sees no CUDA device (CUDA_VISIBLE_DEVICES="
                             "%s)" % os.environ.get("CUDA_VISIBLE_DEVICES", "unset"),
                             retryable=True)
        return torch.device("cpu")
    raise TrialError("--device %s: auto, cpu or cuda" % name)


# ---- the --exec side --------------------------------------------------------------------------

def inputs_from_spec(spec_text, workdir):
    """Runs `$AUTOPEFT_BIN inputs` on the trial JSON; the folder it wrote."""
    spec_path = os.path.join(workdir, "trial.json")
    with open(spec_path, "w") as f:
        f.write(spec_text)
    out = os.path.join(workdir, "inputs")
    prog = os.environ.get("AUTOPEFT_BIN") or "autopeft"
    try:
        r = subprocess.run([prog, "inputs", "--spec", spec_path, "--out", out, "--quiet"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    except OSError as e:
        raise TrialError("cannot run %s (AUTOPEFT_BIN): %s" % (prog, e.strerror))
    if r.returncode != 0:
        lines = [l for l in r.stderr.strip().splitlines() if l.strip()]
        raise TrialError("autopeft inputs: %s" % (lines[-1] if lines else
                                                   "exit status %d" % r.returncode),
                         retryable=r.returncode == EX_TEMPFAIL or r.returncode < 0)
    return out


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog=PROG, description="Trains one autopeft trial with PyTorch: under "
        "`autopeft-worker --exec %s`, the trial JSON on stdin; or --inputs DIR from "
        "`autopeft inputs`." % PROG)
    ap.add_argument("--inputs", metavar="DIR", help="train on a folder from `autopeft inputs` "
                    "or `autopeft train --write-inputs` instead of reading a trial on stdin")
    ap.add_argument("--save", dest="save_dir", metavar="DIR", help="write the best epoch's "
                    "weights there as `autopeft train --save` does (under --exec: the trial's "
                    "save_dir)")
    ap.add_argument("--trace", metavar="FILE", help="every step's loss, rate, rows and logits "
                    "and every evaluation's dev logits as JSON lines (as `autopeft train "
                    "--trace`)")
    ap.add_argument("--device", default=os.environ.get("AUTOPEFT_TORCH_DEVICE", "auto"),
                    choices=("auto", "cpu", "cuda"), help="auto (default): the first CUDA "
                    "device CUDA_VISIBLE_DEVICES leaves, else the CPU")
    ap.add_argument("--precision", choices=("fp32", "bf16", "fp16"),
                    help="autocast precision; default the recipe's (fp32)")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (default: the trial's "
                    "threads, else all cores)")
    ap.add_argument("--float64", action="store_true", help="compute in float64 (to check "
                    "numerics: how far float32 rounding alone moves a run)")
    ap.add_argument("--keep-inputs", metavar="DIR", help="under --exec, write the inputs there "
                    "and keep them")
    return ap.parse_args(argv)


def main(argv):
    global torch, F
    args = parse_args(argv)
    # PyTorch's own threads and OpenBLAS's (Debian's torch does its products there) both take
    # every core by default and slow each other down by half: OpenBLAS gets one.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        import torch as _torch
        import torch.nn.functional as _F
    except ImportError:
        print("%s: error: PyTorch is not installed for %s (Debian: apt install python3-torch)"
              % (PROG, sys.executable), file=sys.stderr)
        return EX_FAILED
    torch, F = _torch, _F
    stop = Stop()
    workdir = None
    try:
        if args.inputs:
            folder = args.inputs
            threads = args.threads
        else:
            text = sys.stdin.read()
            try:
                spec = json.loads(text)
            except ValueError as e:
                raise TrialError("the trial on stdin is not JSON: %s" % e)
            if not isinstance(spec, dict):
                raise TrialError("the trial on stdin is not a JSON object")
            threads = args.threads or int(spec.get("threads") or 0)
            if not args.save_dir and spec.get("save_dir"):
                args.save_dir = spec["save_dir"]
            if args.keep_inputs:
                os.makedirs(args.keep_inputs, exist_ok=True)
                base = args.keep_inputs
            else:
                workdir = tempfile.mkdtemp(prefix="autopeft-torch-")
                base = workdir
            progress(message="writing the trial's inputs")
            folder = inputs_from_spec(text, base)
        if threads > 0:
            torch.set_num_threads(threads)
        inp = Inputs(folder)
        trainer = Trainer(inp, args, stop)
        progress(message="training on %s (%s, %d trainable floats)" %
                 (trainer.device, trainer.precision, trainer.model.counts()["trainable"]))
        out = trainer.run()
        if out is not None:
            print(json.dumps(out), flush=True)
        if stop.signal == signal.SIGINT:
            return EX_INTERRUPTED
        return 0
    except TrialError as e:
        print("%s: error: %s" % (PROG, e), file=sys.stderr)
        return EX_TEMPFAIL if e.retryable else EX_FAILED
    except RuntimeError as e:
        if "out of memory" in str(e):
            print("%s: error: out of memory on the device (%s); another attempt, a smaller "
                  "batch_size or max_length may fit" % (PROG, str(e).splitlines()[0]),
                  file=sys.stderr)
            return EX_TEMPFAIL
        raise
    finally:
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
