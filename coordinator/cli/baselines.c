/* `autopeft baselines`: the catalogue of hand-designed PEFT baselines (search/baselines.h)
 * scaled to a model, with their exact parameter counts. Flags and output follow `autopeft
 * space` (space.c): the same model options, --json for one JSON document (jansson). */
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/parse.h"
#include "common/shape.h"
#include "common/space.h"
#include "coordinator/cli/commands.h"
#include "coordinator/search/baselines.h"

#define PROG "autopeft baselines"

static const char usage_text[] =
    "Usage: autopeft baselines [MODEL] [--prefix-bottleneck N] [--name NAME] [--json]\n"
    "\n"
    "Lists the hand-designed PEFT baselines that a study's searched Pareto front is compared\n"
    "against (AutoPEFT claims its front dominates them at equal parameter budget), scaled to a\n"
    "model: each one's configuration in the canonical text form of `autopeft space`, the exact\n"
    "parameters it trains and deploys, and the share of the backbone its modules deploy; then\n"
    "which of them AutoPEFT's default search space holds (the ones its search can propose).\n"
    "\n"
    "Model (default: bert-base):\n"
    "  --shape NAME           a named shape: bert-tiny, bert-mini, bert-small, bert-medium,\n"
    "                         bert-base, bert-large, roberta-base, roberta-large\n"
    "  --hidden H             model width, 1..65536 (instead of --shape; BERT defaults for the\n"
    "                         rest: heads hidden/64, intermediate 4*hidden, the bert-base vocab)\n"
    "  --layers L             encoder layers, 1..256 (instead of --shape; default 12)\n"
    "  --heads N              attention heads; must divide the width\n"
    "  --intermediate N       FFN width\n"
    "  --vocab N              word-piece vocabulary (default 30522)\n"
    "  --positions N          position embeddings (default 512)\n"
    "  --type-vocab N         token types (default 2)\n"
    "  --labels N             classifier outputs, 1 for regression (default 2)\n"
    "  --prefix-bottleneck N  width of the prefix reparameterisation MLP (default 800)\n"
    "\n"
    "Output:\n"
    "  --name NAME            only this baseline\n"
    "  --json                 one JSON document instead of text\n"
    "  -h, --help             show this help\n"
    "\n"
    "Baselines: pfeiffer (serial adapter, hidden/16), parallel (parallel adapter, hidden/2),\n"
    "parallel-small (hidden/16), prefix (10 tokens), lora (rank 8 on Wq, Wv), mam (prefix 30 +\n"
    "parallel adapter hidden/2), head-only, full-finetune; every module in every layer, sizes\n"
    "rounded to the nearest integer, at least 1. houlsby is not available: the engine has one\n"
    "serial adapter site, after the FFN. docs/baselines.md has the sources and the counts.\n"
    "\n"
    "Exit status: 0 done; 1 output failed; 2 bad usage.\n";

enum {
    F_SHAPE, F_HIDDEN, F_LAYERS, F_HEADS, F_INTERMEDIATE, F_VOCAB, F_POSITIONS, F_TYPE_VOCAB,
    F_LABELS, F_BOTTLENECK, F_NAME, F_JSON, NFLAGS
};

static const struct {
    const char *name;
    const char *value; /* what the value is, for messages; NULL: a switch */
} flags[NFLAGS] = {
    [F_SHAPE] = {"--shape", "a shape name"},
    [F_HIDDEN] = {"--hidden", "the model width"},
    [F_LAYERS] = {"--layers", "the number of layers"},
    [F_HEADS] = {"--heads", "the number of attention heads"},
    [F_INTERMEDIATE] = {"--intermediate", "the FFN width"},
    [F_VOCAB] = {"--vocab", "the vocabulary size"},
    [F_POSITIONS] = {"--positions", "the number of positions"},
    [F_TYPE_VOCAB] = {"--type-vocab", "the number of token types"},
    [F_LABELS] = {"--labels", "the number of labels"},
    [F_BOTTLENECK] = {"--prefix-bottleneck", "the prefix MLP width"},
    [F_NAME] = {"--name", "a baseline name such as pfeiffer"},
    [F_JSON] = {"--json", NULL},
};

typedef struct {
    const char *val[NFLAGS]; /* NULL: not given; "" for a given switch */
    const char *shape_name;  /* NULL for a shape built from --hidden/--layers */
    shape_t shape;
    int bottleneck;
    space_t *space;          /* AutoPEFT's default space for the model, to say which baselines
                              * the search could itself propose */
} ctx_t;

/* One row of the listing. */
typedef struct {
    baseline_t b;
    space_counts_t k;
    char text[SPACE_TEXT_MAX]; /* canonical configuration text */
    const char *about;
    bool in_space;             /* a member of AutoPEFT's default space (ctx_t.space) */
} row_t;

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, PROG ": ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return 2;
}

/* ---- flags --------------------------------------------------------------------------------- */

static int parse_flags(int argc, char **argv, ctx_t *x, bool *help)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *eq;
        size_t len;
        int f;

        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            *help = true;
            return 0;
        }
        if (strncmp(arg, "--", 2) != 0)
            return usage_error("unexpected argument '%s': a baseline is chosen with --name, "
                               "e.g. --name pfeiffer", arg);
        eq = strchr(arg, '=');
        len = eq ? (size_t)(eq - arg) : strlen(arg);
        for (f = 0; f < NFLAGS; f++)
            if (strlen(flags[f].name) == len && strncmp(flags[f].name, arg, len) == 0)
                break;
        if (f == NFLAGS)
            return usage_error("unknown option '%.*s'; `autopeft baselines --help` lists the "
                               "options", (int)len, arg);
        if (x->val[f])
            return usage_error("%s is given twice", flags[f].name);
        if (!flags[f].value) {
            if (eq)
                return usage_error("%s takes no value", flags[f].name);
            x->val[f] = "";
        } else if (eq) {
            x->val[f] = eq + 1;
        } else if (i + 1 < argc) {
            x->val[f] = argv[++i];
        } else {
            return usage_error("%s needs a value: %s", flags[f].name, flags[f].value);
        }
    }
    return 0;
}

/* Reads an integer flag's value if given; 2 (reported) when it is malformed or out of range. */
static int int_flag(const ctx_t *x, int f, int min, int max, int *out)
{
    if (!x->val[f])
        return 0;
    if (parse_int(x->val[f], min, max, flags[f].name, out) != 0)
        return usage_error("%s", err_msg());
    return 0;
}

static int base_shape(ctx_t *x)
{
    int hidden = 768, layers = 12, rc;

    if (x->val[F_SHAPE] && (x->val[F_HIDDEN] || x->val[F_LAYERS]))
        return usage_error("--shape and --hidden/--layers are alternatives: give a shape name "
                           "or a width and depth");
    if (x->val[F_SHAPE]) {
        if (shape_preset(x->val[F_SHAPE], &x->shape) != 0)
            return usage_error("--shape: %s", err_msg());
        x->shape_name = x->val[F_SHAPE];
    } else if (x->val[F_HIDDEN] || x->val[F_LAYERS]) {
        if ((rc = int_flag(x, F_HIDDEN, 1, SHAPE_MAX_HIDDEN, &hidden)) != 0 ||
            (rc = int_flag(x, F_LAYERS, 1, SHAPE_MAX_LAYERS, &layers)) != 0)
            return rc;
        shape_default(&x->shape, hidden, layers);
    } else {
        shape_preset("bert-base", &x->shape);
        x->shape_name = "bert-base";
    }
    return 0;
}

static int build_model(ctx_t *x)
{
    static const struct {
        int flag, max;
        size_t offset;
    } overrides[] = {
        {F_HEADS, SHAPE_MAX_HIDDEN, offsetof(shape_t, heads)},
        {F_INTERMEDIATE, SHAPE_MAX_INTERMEDIATE, offsetof(shape_t, intermediate)},
        {F_VOCAB, SHAPE_MAX_VOCAB, offsetof(shape_t, vocab)},
        {F_POSITIONS, SHAPE_MAX_POSITIONS, offsetof(shape_t, positions)},
        {F_TYPE_VOCAB, SHAPE_MAX_TYPE_VOCAB, offsetof(shape_t, type_vocab)},
        {F_LABELS, SHAPE_MAX_LABELS, offsetof(shape_t, labels)},
    };
    int rc;

    if ((rc = base_shape(x)) != 0)
        return rc;
    for (size_t i = 0; i < sizeof overrides / sizeof overrides[0]; i++) {
        int *field = (int *)((char *)&x->shape + overrides[i].offset);
        if ((rc = int_flag(x, overrides[i].flag, 1, overrides[i].max, field)) != 0)
            return rc;
        if (x->val[overrides[i].flag])
            x->shape_name = NULL; /* no longer the named shape */
    }
    if (shape_check(&x->shape) != 0)
        return usage_error("%s", err_msg());
    x->bottleneck = SPACE_PREFIX_BOTTLENECK;
    return int_flag(x, F_BOTTLENECK, 1, SPACE_MAX_PREFIX_BOTTLENECK, &x->bottleneck);
}

static int build_space(ctx_t *x)
{
    space_opts_t o;

    space_opts_default(&o, x->shape.hidden, x->shape.layers);
    x->space = space_new(&o);
    if (!x->space) {
        fprintf(stderr, PROG ": %s\n", err_msg());
        return 1;
    }
    return 0;
}

/* ---- rows ---------------------------------------------------------------------------------- */

/* The i-th built-in on the context's model; 1 (reported) when it cannot be counted. */
static int build_row(const ctx_t *x, int i, row_t *r)
{
    if (baseline_builtin(baseline_builtin_name(i), x->shape.hidden, x->shape.layers, &r->b) != 0 ||
        baseline_counts(&r->b, &x->shape, x->bottleneck, &r->k) != 0 ||
        space_config_format(&r->b.config, r->text, sizeof r->text) != 0) {
        fprintf(stderr, PROG ": %s: %s\n", baseline_builtin_name(i), err_msg());
        return 1;
    }
    r->about = baseline_builtin_about(i);
    r->in_space = !r->b.full_finetune && space_check(x->space, &r->b.config) == 0;
    return 0;
}

/* What the table shows for a configuration: its text, or what it is when no module is on. */
static const char *shown_config(const row_t *r)
{
    if (r->b.full_finetune)
        return "full fine-tuning";
    for (int m = 0; m < SPACE_NMODULES; m++)
        if (space_config_active(&r->b.config, (space_module_t)m))
            return r->text;
    return "head only";
}

/* The index of --name's baseline, or every one (-1); 2 (reported) for a name not in the
 * catalogue, with the library's reason (the known names; why houlsby is not there). */
static int chosen(const ctx_t *x, int *which)
{
    baseline_t b;

    *which = -1;
    if (!x->val[F_NAME])
        return 0;
    for (int i = 0; i < baseline_builtin_count(); i++) {
        if (strcmp(baseline_builtin_name(i), x->val[F_NAME]) == 0) {
            *which = i;
            return 0;
        }
    }
    baseline_builtin(x->val[F_NAME], x->shape.hidden, x->shape.layers, &b);
    return usage_error("--name: %s", err_msg());
}

/* ---- output -------------------------------------------------------------------------------- */

static json_t *json_u64(uint64_t v)
{
    return json_integer((json_int_t)v); /* counts stay below 2^62 (space_config_count) */
}

static json_t *json_model(const ctx_t *x)
{
    const shape_t *s = &x->shape;

    return json_pack("{s:s?, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:o, s:o, s:i}", "shape",
                     x->shape_name, "hidden", s->hidden, "layers", s->layers, "heads", s->heads,
                     "intermediate", s->intermediate, "vocab", s->vocab, "positions",
                     s->positions, "type_vocab", s->type_vocab, "labels", s->labels, "backbone",
                     json_u64(shape_backbone_params(s)), "head", json_u64(shape_head_params(s)),
                     "prefix_bottleneck", x->bottleneck);
}

static json_t *json_row(const row_t *r)
{
    return json_pack("{s:s, s:s, s:b, s:s, s:b, s:o, s:o, s:o, s:o, s:f}", "name", r->b.name,
                     "about", r->about, "full_finetune", r->b.full_finetune, "config", r->text,
                     "in_autopeft_space", r->in_space,
                     "trainable", json_u64(r->k.trainable), "deployed", json_u64(r->k.deployed),
                     "modules_trainable", json_u64(r->k.modules_trainable), "modules_deployed",
                     json_u64(r->k.modules_deployed), "percent", r->k.percent);
}

static int emit_json(const ctx_t *x, const row_t *rows, int n)
{
    json_t *list = json_array(), *doc;
    int rc = 0;

    for (int i = 0; i < n && list; i++)
        json_array_append_new(list, json_row(&rows[i]));
    doc = json_pack("{s:o, s:o}", "model", json_model(x), "baselines", list);
    if (!doc || json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) != 0) {
        fprintf(stderr, PROG ": could not write the JSON output\n");
        rc = 1;
    } else {
        fputc('\n', stdout);
    }
    json_decref(doc);
    return rc;
}

/* Which baselines the search could propose itself: the members of AutoPEFT's default space. */
static void print_in_space(const row_t *rows, int n)
{
    int shown = 0;

    printf("\nin the space   ");
    for (int i = 0; i < n; i++)
        if (rows[i].in_space)
            printf("%s%s", shown++ ? ", " : "", rows[i].b.name);
    printf("%s (of AutoPEFT's default space for this model: its search can propose them)\n\n",
           shown ? "" : "none");
}

static void print_table(const ctx_t *x, const row_t *rows, int n)
{
    const shape_t *s = &x->shape;

    printf("model          %s%shidden %d, layers %d, heads %d, intermediate %d, vocab %d, "
           "positions %d, type vocab %d, labels %d\n",
           x->shape_name ? x->shape_name : "", x->shape_name ? ": " : "", s->hidden, s->layers,
           s->heads, s->intermediate, s->vocab, s->positions, s->type_vocab, s->labels);
    printf("backbone       %" PRIu64 " parameters; the head (pooler and classifier, %" PRIu64
           ") trains in every baseline\n",
           shape_backbone_params(s), shape_head_params(s));
    printf("prefix MLP     bottleneck %d (trained, not deployed)\n\n", x->bottleneck);
    printf("%-15s %10s %10s %10s  %s\n", "baseline", "trainable", "deployed", "% backbone",
           "configuration");
    for (int i = 0; i < n; i++)
        printf("%-15s %10" PRIu64 " %10" PRIu64 " %10.4f  %s\n", rows[i].b.name,
               rows[i].k.trainable, rows[i].k.deployed, rows[i].k.percent,
               shown_config(&rows[i]));
    print_in_space(rows, n);
    for (int i = 0; i < n; i++)
        printf("%-15s %s\n", rows[i].b.name, rows[i].about);
}

/* ---- entry --------------------------------------------------------------------------------- */

int cli_baselines(int argc, char **argv)
{
    row_t rows[16];
    ctx_t x;
    bool help = false;
    int which, n = 0, rc;

    memset(&x, 0, sizeof x);
    if ((rc = parse_flags(argc, argv, &x, &help)) != 0)
        return rc;
    if (help) {
        fputs(usage_text, stdout);
        return 0;
    }
    if ((rc = build_model(&x)) != 0 || (rc = chosen(&x, &which)) != 0 ||
        (rc = build_space(&x)) != 0)
        goto out;
    rc = 1;
    if (baseline_builtin_count() > (int)(sizeof rows / sizeof rows[0])) {
        fprintf(stderr, PROG ": the catalogue has more baselines than the listing holds\n");
        goto out;
    }
    for (int i = 0; i < baseline_builtin_count(); i++)
        if ((which < 0 || i == which) && build_row(&x, i, &rows[n++]) != 0)
            goto out;
    if (x.val[F_JSON]) {
        rc = emit_json(&x, rows, n);
        goto out;
    }
    print_table(&x, rows, n);
    rc = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, PROG ": could not write the output\n");
        rc = 1;
    }
out:
    space_free(&x.space);
    return rc;
}
