/* The catalogue of hand-designed PEFT baselines: see baselines.h. */
#include "coordinator/search/baselines.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"

/* How one module of a built-in is sized: a fixed size (a prefix length, a LoRA rank), or the
 * width divided by a reduction factor; both 0 when the module is off. */
typedef struct {
    uint32_t fixed;
    uint32_t reduction;
} size_rule_t;

typedef struct {
    const char *name;
    const char *about;
    size_rule_t size[SPACE_NMODULES];   /* indexed by space_module_t */
    bool full_finetune;
} builtin_t;

#define FIXED(n) {(n), 0}
#define REDUCTION(r) {0, (r)}
#define OFF {0, 0}

/* The engine's serial adapter sits after the FFN (Pfeiffer's placement), Houlsby's two on the
 * attention and FFN outputs, and its parallel adapter beside the FFN, scaled by 4 (He et al.'s
 * scaled parallel adapter): docs/engine.md. A module a row leaves out is off. */
static const builtin_t builtins[] = {
    {"pfeiffer",
     "serial adapter after the FFN, bottleneck hidden/16 (Pfeiffer et al. 2021, AdapterFusion)",
     {REDUCTION(16), OFF, OFF, OFF, OFF}, false},
    {"houlsby",
     "two serial adapters per layer, on the attention output and on the FFN output, bottleneck "
     "hidden/16 (Houlsby et al. 2019, Parameter-Efficient Transfer Learning for NLP)",
     {OFF, OFF, OFF, OFF, REDUCTION(16)}, false},
    {"parallel",
     "scaled parallel adapter at the FFN, bottleneck hidden/2 (He et al. 2022, Towards a "
     "Unified View of Parameter-Efficient Transfer Learning)",
     {OFF, REDUCTION(2), OFF, OFF}, false},
    {"parallel-small",
     "scaled parallel adapter at the FFN, small size: bottleneck hidden/16, the serial "
     "adapter's budget (He et al. 2022's design)",
     {OFF, REDUCTION(16), OFF, OFF}, false},
    {"prefix", "prefix tuning, 10 tokens per layer (Li and Liang 2021, Prefix-Tuning)",
     {OFF, OFF, FIXED(10), OFF}, false},
    {"lora", "LoRA rank 8 on Wq and Wv (Hu et al. 2022, LoRA)", {OFF, OFF, OFF, FIXED(8)},
     false},
    {"mam",
     "Mix-And-Match: prefix 30 + scaled parallel adapter hidden/2 at the FFN (He et al. 2022, "
     "Towards a Unified View of Parameter-Efficient Transfer Learning)",
     {OFF, REDUCTION(2), FIXED(30), OFF}, false},
    {"head-only", "no module: the classification head (pooler and classifier) alone trains",
     {OFF, OFF, OFF, OFF}, false},
    {"full-finetune", "full fine-tuning: every weight of the backbone and the head trains",
     {OFF, OFF, OFF, OFF}, true},
};

#define NBUILTINS ((int)(sizeof builtins / sizeof builtins[0]))

int baseline_builtin_count(void)
{
    return NBUILTINS;
}

const char *baseline_builtin_name(int i)
{
    return i >= 0 && i < NBUILTINS ? builtins[i].name : NULL;
}

const char *baseline_builtin_about(int i)
{
    return i >= 0 && i < NBUILTINS ? builtins[i].about : NULL;
}

/* "pfeiffer, parallel, ..." into buf. */
static const char *known_names(char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (int i = 0; i < NBUILTINS && used < len; i++) {
        int n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", builtins[i].name);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return buf;
}

/* hidden / reduction rounded to the nearest integer (halves up), at least 1. */
static uint32_t scaled(int hidden, uint32_t reduction)
{
    uint64_t v = (2 * (uint64_t)hidden + reduction) / (2 * (uint64_t)reduction);

    return v < 1 ? 1 : (uint32_t)v;
}

static uint32_t rule_size(const size_rule_t *r, space_module_t m, int hidden)
{
    uint32_t v = r->reduction ? scaled(hidden, r->reduction) : r->fixed;

    /* A LoRA rank beyond the width adds nothing a full-rank update would not: capped, as the
     * search space's LoRA ladder is (space_opts_enable_lora). */
    if (m == SPACE_LORA && v > (uint32_t)hidden)
        v = (uint32_t)hidden;
    return v;
}

static void build(const builtin_t *t, int hidden, int layers, baseline_t *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", t->name);
    out->full_finetune = t->full_finetune;
    out->config.layers = layers;
    for (int m = 0; m < SPACE_NMODULES; m++) {
        out->config.size[m] = rule_size(&t->size[m], (space_module_t)m, hidden);
        if (out->config.size[m] == 0)
            continue;
        for (int l = 0; l < layers; l++)
            space_config_set_layer(&out->config, (space_module_t)m, l, true);
    }
    space_config_canonicalise(&out->config);
}

int baseline_builtin(const char *name, int hidden, int layers, baseline_t *out)
{
    char names[256];

    if (!name || !out)
        return err_set(ERR_INVAL, "baseline: no name or no output given");
    if (hidden < 1 || hidden > SHAPE_MAX_HIDDEN)
        return err_set(ERR_INVAL, "baseline '%s': hidden size %d, expected 1..%d", name, hidden,
                       SHAPE_MAX_HIDDEN);
    if (layers < 1 || layers > SPACE_MAX_LAYERS)
        return err_set(ERR_INVAL, "baseline '%s': %d layers, expected 1..%d", name, layers,
                       SPACE_MAX_LAYERS);
    for (int i = 0; i < NBUILTINS; i++) {
        if (strcmp(builtins[i].name, name) == 0) {
            build(&builtins[i], hidden, layers, out);
            return 0;
        }
    }
    known_names(names, sizeof names);
    return err_set(ERR_NOTFOUND, "no baseline named '%.*s'; known baselines: %s",
                   BASELINE_NAME_MAX, name, names);
}

int baseline_make(const char *label, const space_config_t *config, bool full_finetune,
                  baseline_t *out)
{
    size_t n;

    if (!label || !config || !out)
        return err_set(ERR_INVAL, "baseline: no label, configuration or output given");
    n = strlen(label);
    if (n == 0 || n >= BASELINE_NAME_MAX)
        return err_set(ERR_INVAL, "baseline label of %zu characters, expected 1..%d", n,
                       BASELINE_NAME_MAX - 1);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)label[i] < 0x20 || (unsigned char)label[i] >= 0x7f)
            return err_set(ERR_INVAL, "baseline label: character %zu is not printable ASCII",
                           i + 1);
    if (config->layers < 1 || config->layers > SPACE_MAX_LAYERS)
        return err_set(ERR_INVAL, "baseline '%s': %d layers, expected 1..%d", label,
                       config->layers, SPACE_MAX_LAYERS);
    memset(out, 0, sizeof *out);
    memcpy(out->name, label, n + 1);
    out->config = *config;
    out->full_finetune = full_finetune;
    space_config_canonicalise(&out->config);
    for (int m = 0; m < SPACE_NMODULES && full_finetune; m++)
        if (space_config_active(&out->config, (space_module_t)m))
            return err_set(ERR_INVAL, "baseline '%s': full fine-tuning trains the backbone "
                           "itself, so it takes no module, but %s is on", label,
                           space_module_name((space_module_t)m));
    return 0;
}

int baseline_counts(const baseline_t *b, const shape_t *shape, int prefix_bottleneck,
                    space_counts_t *out)
{
    int rc;

    if (!b || !shape || !out)
        return err_set(ERR_INVAL, "baseline counts: no baseline, shape or output given");
    if ((rc = space_config_count(&b->config, shape, prefix_bottleneck, out)) != 0)
        return rc;
    if (!b->full_finetune)
        return 0;
    if (out->modules_trainable != 0)
        return err_set(ERR_INVAL, "baseline '%s': full fine-tuning with modules on; it trains "
                       "the backbone itself and takes none", b->name);
    /* Every weight trains and every weight is the task's own copy when deployed. */
    out->modules_trainable = out->modules_deployed = out->backbone;
    out->trainable = out->deployed = out->backbone + out->head;
    out->approx_autopeft = out->backbone;
    out->percent = 100.0;
    return 0;
}
