/* `autopeft baselines`: the catalogue of hand-designed PEFT baselines (search/baselines.h)
 * scaled to a model, with their exact parameter counts. Flags and output follow `autopeft
 * space` (space.c): the same model options (flags.h) printed the same way (output.h), --json for
 * one JSON document (jansson). */
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/shape.h"
#include "common/space.h"
#include "coordinator/cli/commands.h"
#include "coordinator/cli/flags.h"
#include "coordinator/cli/output.h"
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
    FLAGS_MODEL_USAGE
    "  --prefix-bottleneck N  width of the prefix reparameterisation MLP (default 800)\n"
    "\n"
    "Output:\n"
    "  --name NAME            only this baseline\n"
    "  --json                 one JSON document instead of text\n"
    "  -h, --help             show this help\n"
    "\n"
    "Baselines: pfeiffer (serial adapter after the FFN, hidden/16), houlsby (serial adapters\n"
    "after attention and after the FFN, hidden/16), parallel (parallel adapter, hidden/2),\n"
    "parallel-small (hidden/16), prefix (10 tokens), lora (rank 8 on Wq, Wv), mam (prefix 30 +\n"
    "parallel adapter hidden/2), head-only, full-finetune; every module in every layer, sizes\n"
    "rounded to the nearest integer, at least 1. docs/baselines.md has the sources and the\n"
    "counts.\n"
    "\n"
    "Exit status: 0 done; 1 output failed; 2 bad usage.\n";

enum { F_BOTTLENECK = FLAGS_NMODEL, F_NAME, F_JSON, NFLAGS };

static const flags_spec_t flags[NFLAGS] = {
    FLAGS_MODEL_ROWS,
    [F_BOTTLENECK] = {"--prefix-bottleneck", "the prefix MLP width"},
    [F_NAME] = {"--name", "a baseline name such as pfeiffer"},
    [F_JSON] = {"--json", NULL},
};

static const flags_cmd_t cmd = {
    .prog = PROG, .usage = usage_text, .spec = flags, .nflags = NFLAGS,
    .stray = "a baseline is chosen with --name, e.g. --name pfeiffer"};

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

/* ---- flags --------------------------------------------------------------------------------- */

/* The model, then --prefix-bottleneck; 2 (reported) for bad flags. */
static int build_model(ctx_t *x)
{
    int rc;

    if ((rc = flags_model(&cmd, x->val, &x->shape, &x->shape_name)) != 0)
        return rc;
    x->bottleneck = SPACE_PREFIX_BOTTLENECK;
    return flags_int(&cmd, x->val, F_BOTTLENECK, 1, SPACE_MAX_PREFIX_BOTTLENECK, &x->bottleneck);
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
 * catalogue, with the library's reason (the known names). */
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
    return flags_usage_error(PROG, "--name: %s", err_msg());
}

/* ---- output -------------------------------------------------------------------------------- */

static json_t *json_model(const ctx_t *x)
{
    json_t *model = output_model_json(&x->shape, x->shape_name);

    json_object_set_new(model, "prefix_bottleneck", json_integer(x->bottleneck));
    return model;
}

static json_t *json_row(const row_t *r)
{
    return json_pack("{s:s, s:s, s:b, s:s, s:b, s:o, s:o, s:o, s:o, s:f}", "name", r->b.name,
                     "about", r->about, "full_finetune", r->b.full_finetune, "config", r->text,
                     "in_autopeft_space", r->in_space,
                     "trainable", output_u64(r->k.trainable), "deployed", output_u64(r->k.deployed),
                     "modules_trainable", output_u64(r->k.modules_trainable), "modules_deployed",
                     output_u64(r->k.modules_deployed), "percent", r->k.percent);
}

static int emit_json(const ctx_t *x, const row_t *rows, int n)
{
    json_t *list = json_array();

    for (int i = 0; i < n && list; i++)
        json_array_append_new(list, json_row(&rows[i]));
    return output_json(PROG, json_pack("{s:o, s:o}", "model", json_model(x), "baselines", list));
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

    output_model_text(s, x->shape_name);
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
    if ((rc = flags_parse(&cmd, argc, argv, x.val, &help)) != 0 || help)
        return rc;
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
