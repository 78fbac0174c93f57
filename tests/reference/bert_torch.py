"""A BERT encoder with AutoPEFT's PEFT modules, written in plain PyTorch as the independent
reference of the C engine (worker/engine/engine.c): the parity fixtures (make_fixtures.py) and the
training benchmark (tests/bench/bench_train.py) both use it.

It follows Hugging Face's BertModel / BertForSequenceClassification (post-LN layers, exact erf
GELU, additive attention mask of finfo.min on padded keys, pooler tanh on [CLS]) on a padded
batch, so that it also checks the engine's packed, padding-free formulation. Parameters live in
a dict keyed by the names the engine uses: Hugging Face names for the backbone and the head,
"peft.*" names for the modules (see worker/engine/peft.h).

Placement in a layer with FFN input x and FFN output h (Pfeiffer, DESIGN.md):
    out = LN2(x + h + SA(LN2(x + h)) + 4 * PA(x)),   SA, PA = up(relu(down(.)))
Houlsby's adapters (ha) act on a sublayer's output o, after its dropout and before its residual
and LayerNorm: o + HA(o), once on the attention output ("ha.attn", before LN1) and once on the
FFN output ("ha.ffn": h above is then h + HA(h)), HA = up(relu(down(.))) as SA.
LoRA adds (alpha / r) * x A^T B^T to the query and value projections. Prefix tuning prepends P
keys and values per inserted layer, from a shared MLP (embedding [P, d] -> Linear(d, bn) ->
tanh) and a per-layer Linear(bn, 2d) whose first d outputs are keys, the last d values; or, in
flat mode, from "peft.layer.N.prefix.key" / ".value" directly.

Run as a script it checks itself: the prefix MLP and its ejected flat prefixes give the same
logits.
"""
import math

import torch
import torch.nn.functional as F

MODULES = ("sa", "pa", "pt", "lora", "ha")


class Config:
    def __init__(self, hidden=32, layers=3, heads=4, intermediate=64, vocab=100, positions=32,
                 type_vocab=2, labels=2, eps=1e-12, hidden_dropout=0.1, attn_dropout=0.1,
                 classifier_dropout=None, sizes=None, masks=None, prefix_bottleneck=800,
                 prefix_flat=False, lora_alpha=None, full_ft=False):
        self.hidden, self.layers, self.heads = hidden, layers, heads
        self.intermediate, self.vocab, self.positions = intermediate, vocab, positions
        self.type_vocab, self.labels, self.eps = type_vocab, labels, eps
        self.hidden_dropout, self.attn_dropout = hidden_dropout, attn_dropout
        self.classifier_dropout = hidden_dropout if classifier_dropout is None else classifier_dropout
        self.sizes = {m: 0 for m in MODULES}
        self.sizes.update(sizes or {})
        all_on = [True] * layers
        self.masks = {m: list((masks or {}).get(m, all_on)) for m in MODULES}
        self.prefix_bottleneck, self.prefix_flat = prefix_bottleneck, prefix_flat
        self.lora_alpha = self.sizes["lora"] if lora_alpha is None else lora_alpha
        self.full_ft = full_ft

    def on(self, module, layer):
        return self.sizes[module] > 0 and self.masks[module][layer]


def _linear_init(p, name, out_f, in_f, gen, std=0.02, bias=True, zero=False, kaiming=False):
    if zero:
        w = torch.zeros(out_f, in_f)
    elif kaiming:  # kaiming_uniform_(a=sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        w = (torch.rand(out_f, in_f, generator=gen) * 2 - 1) / math.sqrt(in_f)
    else:
        w = torch.randn(out_f, in_f, generator=gen) * std
    p[name + ".weight"] = w
    if bias:
        p[name + ".bias"] = torch.zeros(out_f)


def init_backbone(cfg, gen, std=0.02):
    """Random backbone as HF initialises BERT: N(0, std) weights, zero biases, LayerNorm 1/0.
    Biases and LayerNorm parameters get small random values too when std is large, so that
    the parity fixtures exercise every parameter."""
    d, p = cfg.hidden, {}
    p["embeddings.word_embeddings.weight"] = torch.randn(cfg.vocab, d, generator=gen) * std
    p["embeddings.position_embeddings.weight"] = torch.randn(cfg.positions, d, generator=gen) * std
    p["embeddings.token_type_embeddings.weight"] = torch.randn(cfg.type_vocab, d, generator=gen) * std
    p["embeddings.LayerNorm.weight"] = torch.ones(d)
    p["embeddings.LayerNorm.bias"] = torch.zeros(d)
    for l in range(cfg.layers):
        pre = "encoder.layer.%d." % l
        for n in ("query", "key", "value"):
            _linear_init(p, pre + "attention.self." + n, d, d, gen, std)
        _linear_init(p, pre + "attention.output.dense", d, d, gen, std)
        p[pre + "attention.output.LayerNorm.weight"] = torch.ones(d)
        p[pre + "attention.output.LayerNorm.bias"] = torch.zeros(d)
        _linear_init(p, pre + "intermediate.dense", cfg.intermediate, d, gen, std)
        _linear_init(p, pre + "output.dense", d, cfg.intermediate, gen, std)
        p[pre + "output.LayerNorm.weight"] = torch.ones(d)
        p[pre + "output.LayerNorm.bias"] = torch.zeros(d)
    return p


def init_head(cfg, gen, p):
    _linear_init(p, "pooler.dense", cfg.hidden, cfg.hidden, gen)
    _linear_init(p, "classifier", cfg.labels, cfg.hidden, gen)


def init_peft(cfg, gen, p):
    """The modules' own initialisation (DESIGN.md): SA and HA N(0, 0.02); PA down Kaiming, up zero;
    LoRA A Kaiming, B zero; prefix MLP as PyTorch's defaults."""
    d, bn = cfg.hidden, cfg.prefix_bottleneck
    P = cfg.sizes["pt"]
    any_pt = any(cfg.on("pt", l) for l in range(cfg.layers))
    if any_pt and not cfg.prefix_flat:
        p["peft.prefix.embedding"] = torch.randn(P, d, generator=gen)
        _linear_init(p, "peft.prefix.dense", bn, d, gen, kaiming=True)
    for l in range(cfg.layers):
        pre = "peft.layer.%d." % l
        if cfg.on("sa", l):
            r = cfg.sizes["sa"]
            _linear_init(p, pre + "sa.down", r, d, gen)
            _linear_init(p, pre + "sa.up", d, r, gen)
        if cfg.on("ha", l):
            r = cfg.sizes["ha"]
            for site in ("attn", "ffn"):
                _linear_init(p, pre + "ha.%s.down" % site, r, d, gen)
                _linear_init(p, pre + "ha.%s.up" % site, d, r, gen)
        if cfg.on("pa", l):
            r = cfg.sizes["pa"]
            _linear_init(p, pre + "pa.down", r, d, gen, kaiming=True)
            _linear_init(p, pre + "pa.up", d, r, gen, zero=True)
        if cfg.on("lora", l):
            r = cfg.sizes["lora"]
            for n in ("q", "v"):
                p[pre + "lora.%s.a" % n] = (torch.rand(r, d, generator=gen) * 2 - 1) / math.sqrt(d)
                p[pre + "lora.%s.b" % n] = torch.zeros(d, r)
        if cfg.on("pt", l):
            if cfg.prefix_flat:
                p[pre + "prefix.key"] = torch.randn(P, d, generator=gen)
                p[pre + "prefix.value"] = torch.randn(P, d, generator=gen)
            else:
                _linear_init(p, pre + "prefix.out", 2 * d, bn, gen, kaiming=True)


def trainable_names(cfg, p):
    if cfg.full_ft:
        return [n for n in p]
    return [n for n in p if n.startswith("peft.") or n.startswith("pooler.")
            or n.startswith("classifier.")]


def decays(name):
    """Weight decay groups as Hugging Face's Trainer: none on biases and LayerNorm weights."""
    return not (name.endswith(".bias") or "LayerNorm" in name)


def prefix_kv(cfg, p, l):
    d = cfg.hidden
    pre = "peft.layer.%d." % l
    if pre + "prefix.key" in p:
        return p[pre + "prefix.key"], p[pre + "prefix.value"]
    t = torch.tanh(F.linear(p["peft.prefix.embedding"], p["peft.prefix.dense.weight"],
                            p["peft.prefix.dense.bias"]))
    kv = F.linear(t, p[pre + "prefix.out.weight"], p[pre + "prefix.out.bias"])
    return kv[:, :d], kv[:, d:]


def eject_prefix(cfg, p):
    """The flat prefixes the MLP gives, replacing it (deployment form)."""
    q = dict(p)
    for l in range(cfg.layers):
        if cfg.on("pt", l):
            k, v = prefix_kv(cfg, p, l)
            q["peft.layer.%d.prefix.key" % l] = k.detach().clone()
            q["peft.layer.%d.prefix.value" % l] = v.detach().clone()
            del q["peft.layer.%d.prefix.out.weight" % l], q["peft.layer.%d.prefix.out.bias" % l]
    for n in ("peft.prefix.embedding", "peft.prefix.dense.weight", "peft.prefix.dense.bias"):
        q.pop(n, None)
    return q


def _adapter(p, pre, x):
    h = F.relu(F.linear(x, p[pre + ".down.weight"], p[pre + ".down.bias"]))
    return F.linear(h, p[pre + ".up.weight"], p[pre + ".up.bias"])


def layer_forward(cfg, p, l, x, mask_add, train):
    B, T, d = x.shape
    H = cfg.heads
    dh = d // H
    pre = "encoder.layer.%d." % l
    peft = "peft.layer.%d." % l
    q = F.linear(x, p[pre + "attention.self.query.weight"], p[pre + "attention.self.query.bias"])
    k = F.linear(x, p[pre + "attention.self.key.weight"], p[pre + "attention.self.key.bias"])
    v = F.linear(x, p[pre + "attention.self.value.weight"], p[pre + "attention.self.value.bias"])
    if cfg.on("lora", l):
        s = cfg.lora_alpha / cfg.sizes["lora"]
        q = q + s * F.linear(F.linear(x, p[peft + "lora.q.a"]), p[peft + "lora.q.b"])
        v = v + s * F.linear(F.linear(x, p[peft + "lora.v.a"]), p[peft + "lora.v.b"])
    madd = mask_add
    if cfg.on("pt", l):
        pk, pv = prefix_kv(cfg, p, l)
        P = pk.shape[0]
        k = torch.cat([pk.unsqueeze(0).expand(B, P, d), k], dim=1)
        v = torch.cat([pv.unsqueeze(0).expand(B, P, d), v], dim=1)
        madd = torch.cat([torch.zeros(B, 1, 1, P, dtype=x.dtype), mask_add], dim=-1)
    S = k.shape[1]
    qh = q.view(B, T, H, dh).transpose(1, 2)
    kh = k.view(B, S, H, dh).transpose(1, 2)
    vh = v.view(B, S, H, dh).transpose(1, 2)
    scores = torch.matmul(qh, kh.transpose(-1, -2)) / math.sqrt(dh) + madd
    probs = F.dropout(torch.softmax(scores, dim=-1), cfg.attn_dropout, train)
    ctx = torch.matmul(probs, vh).transpose(1, 2).reshape(B, T, d)
    o = F.linear(ctx, p[pre + "attention.output.dense.weight"], p[pre + "attention.output.dense.bias"])
    o = F.dropout(o, cfg.hidden_dropout, train)
    if cfg.on("ha", l):
        o = o + _adapter(p, peft + "ha.attn", o)
    a = F.layer_norm(o + x, (d,),
                     p[pre + "attention.output.LayerNorm.weight"],
                     p[pre + "attention.output.LayerNorm.bias"], cfg.eps)
    i = F.gelu(F.linear(a, p[pre + "intermediate.dense.weight"], p[pre + "intermediate.dense.bias"]))
    h = F.dropout(F.linear(i, p[pre + "output.dense.weight"], p[pre + "output.dense.bias"]),
                  cfg.hidden_dropout, train)
    if cfg.on("ha", l):
        h = h + _adapter(p, peft + "ha.ffn", h)
    ln2 = (d,), p[pre + "output.LayerNorm.weight"], p[pre + "output.LayerNorm.bias"], cfg.eps
    z = a + h
    if cfg.on("sa", l):
        z = z + _adapter(p, peft + "sa", F.layer_norm(a + h, *ln2))
    if cfg.on("pa", l):
        z = z + 4.0 * _adapter(p, peft + "pa", a)
    return F.layer_norm(z, *ln2)


def forward(cfg, p, ids, types, lengths, train=False):
    """ids, types: [B, T] (padded); lengths: [B]. Returns logits [B, labels]."""
    B, T = ids.shape
    dt = p["embeddings.word_embeddings.weight"].dtype
    pos = torch.arange(T).unsqueeze(0).expand(B, T)
    e = (p["embeddings.word_embeddings.weight"][ids] + p["embeddings.position_embeddings.weight"][pos]
         + p["embeddings.token_type_embeddings.weight"][types])
    x = F.dropout(F.layer_norm(e, (cfg.hidden,), p["embeddings.LayerNorm.weight"],
                               p["embeddings.LayerNorm.bias"], cfg.eps), cfg.hidden_dropout, train)
    valid = (torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)).to(dt)
    mask_add = ((1.0 - valid) * torch.finfo(dt).min).view(B, 1, 1, T)
    for l in range(cfg.layers):
        x = layer_forward(cfg, p, l, x, mask_add, train)
    pooled = torch.tanh(F.linear(x[:, 0], p["pooler.dense.weight"], p["pooler.dense.bias"]))
    pooled = F.dropout(pooled, cfg.classifier_dropout, train)
    return F.linear(pooled, p["classifier.weight"], p["classifier.bias"])


def loss_fn(cfg, logits, labels):
    if cfg.labels == 1:
        return F.mse_loss(logits.squeeze(-1), labels.to(logits.dtype))
    return F.cross_entropy(logits, labels.long())


def linear_schedule(warmup, total):
    """transformers.get_linear_schedule_with_warmup's factor at a step."""
    def f(step):
        if step < warmup:
            return step / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))
    return f


if __name__ == "__main__":
    gen = torch.Generator().manual_seed(0)
    cfg = Config(sizes=dict(pt=3), prefix_bottleneck=8)
    p = init_backbone(cfg, gen)
    init_head(cfg, gen, p)
    init_peft(cfg, gen, p)
    p = {n: t.double() for n, t in p.items()}
    ids = torch.randint(0, cfg.vocab, (2, 5), generator=gen)
    lengths = torch.tensor([5, 3])
    a = forward(cfg, p, ids, torch.zeros_like(ids), lengths)
    b = forward(cfg, eject_prefix(cfg, p), ids, torch.zeros_like(ids), lengths)
    assert torch.allclose(a, b, rtol=1e-12, atol=1e-12), (a, b)
    print("bert_torch: prefix ejection self-check passed")
