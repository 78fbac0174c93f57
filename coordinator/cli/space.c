/* `autopeft space`: describes a search space, samples configurations from it, and counts,
 * checks, encodes and lists the neighbours of one configuration. A thin front end over
 * space.h and shape.h; --json turns every answer into one JSON document (jansson). */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"
#include "common/parse.h"
#include "common/rng.h"
#include "common/shape.h"
#include "common/space.h"
#include "coordinator/cli/commands.h"
#include "coordinator/cli/flags.h"
#include "coordinator/cli/output.h"

#define PROG "autopeft space"
#define MAX_SAMPLES 1000000
#define DEFAULT_SEED 1

static const char usage_text[] =
    "Usage: autopeft space [MODEL] [SPACE] [ACTION] [--json]\n"
    "\n"
    "Describes AutoPEFT's search space of PEFT configurations for a BERT-family model, samples\n"
    "configurations from it, and counts exactly the parameters a configuration trains and deploys.\n"
    "\n"
    FLAGS_MODEL_USAGE
    "\n"
    "Search space (default: AutoPEFT's, sizes hidden/2^k for k = 0..8, then 1, then 0 = off;\n"
    "one layer mask shared by the modules):\n"
    "  --lora                 add LoRA on Wq and Wv with ranks 64,32,16,8,4,2,1,0 (capped at the\n"
    "                         width)\n"
    "  --separate-masks       give each module its own layer mask\n"
    "  --sizes-sa LIST        serial adapter bottlenecks, e.g. 768,384,0 (0: the module may be off)\n"
    "  --sizes-pa LIST        parallel adapter bottlenecks\n"
    "  --sizes-pt LIST        prefix lengths\n"
    "  --sizes-lora LIST      LoRA ranks (adds LoRA)\n"
    "  --sizes-ha LIST        Houlsby adapter bottlenecks, two adapters per layer (adds them)\n"
    "  --prefix-bottleneck N  width of the prefix reparameterisation MLP (default 800)\n"
    "\n"
    "Actions (at most one; without one the space is described):\n"
    "  --sample N             N uniformly random valid configurations (1..1000000) with their\n"
    "                         trainable and deployed parameters, % of the backbone and AutoPEFT's\n"
    "                         approximation\n"
    "  --seed S               seed of --sample (default 1)\n"
    "  --count CONFIG         exact parameter counts of CONFIG, module by module\n"
    "  --check CONFIG         whether CONFIG belongs to the space (exit status 1 if not)\n"
    "  --encode CONFIG        CONFIG as the GP's point of the unit cube\n"
    "  --neighbours CONFIG    CONFIG's valid one-exchange neighbours (a layer bit flipped or a\n"
    "                         size stepped one level)\n"
    "\n"
    "Output:\n"
    "  --json                 one JSON document instead of text\n"
    "  -h, --help             show this help\n"
    "\n"
    "CONFIG is the canonical text form of a configuration, one key=value per word in any order:\n"
    "  'sa=48 pa=0 pt=12 layers=111011110111'   sizes, then one bit per layer, bottom layer first\n"
    "  'sa=48@110000000000 pt=12@000000001111'  a mask per module (--separate-masks spaces)\n"
    "Keys: sa (serial adapter), pa (parallel adapter), pt (prefix length), lora (rank), ha\n"
    "(Houlsby adapters: after attention and after the FFN), layers;\n"
    "modules not named are off.\n"
    "\n"
    "Counts are exact, every weight and bias: the head (pooler and classifier) is trained in\n"
    "every configuration; the prefix MLP is trained but not deployed. docs/search-space.md has the\n"
    "formulas.\n"
    "\n"
    "Examples:\n"
    "  autopeft space --hidden 768 --layers 12 --sample 5 --seed 1\n"
    "  autopeft space --count 'sa=48 pa=0 pt=0 layers=111111111111'\n"
    "  autopeft space --shape bert-large --lora --json\n"
    "\n"
    "Exit status: 0 done; 1 the configuration is not in the space (--check, --encode,\n"
    "--neighbours) or output failed; 2 bad usage.\n";

enum {
    F_LORA = FLAGS_NMODEL, F_SEPARATE, F_SIZES_SA, F_SIZES_PA, F_SIZES_PT, F_SIZES_LORA,
    F_SIZES_HA, F_BOTTLENECK, F_SAMPLE, F_SEED, F_COUNT, F_CHECK, F_ENCODE, F_NEIGHBOURS, F_JSON, NFLAGS
};

static const flags_spec_t flags[NFLAGS] = {
    FLAGS_MODEL_ROWS,
    [F_LORA] = {"--lora", NULL},
    [F_SEPARATE] = {"--separate-masks", NULL},
    [F_SIZES_SA] = {"--sizes-sa", "a list of sizes such as 768,384,0"},
    [F_SIZES_PA] = {"--sizes-pa", "a list of sizes such as 768,384,0"},
    [F_SIZES_PT] = {"--sizes-pt", "a list of sizes such as 768,384,0"},
    [F_SIZES_LORA] = {"--sizes-lora", "a list of ranks such as 16,8,0"},
    [F_SIZES_HA] = {"--sizes-ha", "a list of sizes such as 48,24,0"},
    [F_BOTTLENECK] = {"--prefix-bottleneck", "the prefix MLP width"},
    [F_SAMPLE] = {"--sample", "a number of configurations"},
    [F_SEED] = {"--seed", "a seed (a non-negative integer)"},
    [F_COUNT] = {"--count", "a configuration such as 'sa=48 pa=0 pt=0 layers=111111111111'"},
    [F_CHECK] = {"--check", "a configuration such as 'sa=48 pa=0 pt=0 layers=111111111111'"},
    [F_ENCODE] = {"--encode", "a configuration such as 'sa=48 pa=0 pt=0 layers=111111111111'"},
    [F_NEIGHBOURS] = {"--neighbours",
                      "a configuration such as 'sa=48 pa=0 pt=0 layers=111111111111'"},
    [F_JSON] = {"--json", NULL},
};

static const flags_cmd_t cmd = {
    .prog = PROG, .usage = usage_text, .spec = flags, .nflags = NFLAGS,
    .stray = "a configuration follows its action flag, e.g. --count 'sa=48 pa=0 pt=0 "
             "layers=111111111111'"};

static const int action_flags[] = {F_SAMPLE, F_COUNT, F_CHECK, F_ENCODE, F_NEIGHBOURS};
#define NACTIONS (int)(sizeof action_flags / sizeof action_flags[0])

static const char *const module_what[SPACE_NMODULES] = {
    "serial adapter bottleneck", "parallel adapter bottleneck", "prefix length",
    "LoRA rank on Wq, Wv", "Houlsby adapters' bottleneck"};

typedef struct {
    const char *val[NFLAGS]; /* NULL: not given; "" for a given switch */
    bool json;
    const char *shape_name; /* NULL for a shape built from --hidden/--layers */
    shape_t shape;
    int bottleneck;
    space_t *space;
} ctx_t;

/* ---- flags --------------------------------------------------------------------------------- */

static int build_space(ctx_t *x)
{
    static const int size_flags[SPACE_NMODULES] = {F_SIZES_SA, F_SIZES_PA, F_SIZES_PT,
                                                   F_SIZES_LORA, F_SIZES_HA};
    space_opts_t o;
    int rc;

    x->bottleneck = SPACE_PREFIX_BOTTLENECK;
    rc = flags_int(&cmd, x->val, F_BOTTLENECK, 1, SPACE_MAX_PREFIX_BOTTLENECK, &x->bottleneck);
    if (rc != 0)
        return rc;
    space_opts_default(&o, x->shape.hidden, x->shape.layers);
    o.separate_masks = x->val[F_SEPARATE] != NULL;
    if (x->val[F_LORA])
        space_opts_enable_lora(&o);
    for (int m = 0; m < SPACE_NMODULES; m++) {
        const char *list = x->val[size_flags[m]];
        if (list && space_opts_parse_sizes(&o, (space_module_t)m, list) != 0)
            return flags_usage_error(PROG, "%s: %s", flags[size_flags[m]].name, err_msg());
    }
    x->space = space_new(&o);
    if (!x->space)
        return flags_usage_error(PROG, "%s", err_msg());
    return 0;
}

static int parse_config(const ctx_t *x, int f, space_config_t *c)
{
    if (space_config_parse(x->val[f], x->shape.layers, c) != 0)
        return flags_usage_error(PROG, "%s: %s", flags[f].name, err_msg());
    return 0;
}

/* ---- shared pieces of the output ------------------------------------------------------------- */

static json_t *json_model(const ctx_t *x)
{
    return output_model_json(&x->shape, x->shape_name);
}

static json_t *json_space(const ctx_t *x)
{
    const space_t *sp = x->space;
    json_t *modules = json_array(), *o;
    double card;

    for (int m = 0; m < SPACE_NMODULES; m++) {
        json_t *sizes = json_array();
        for (int k = 0; k < space_nlevels(sp, m); k++)
            json_array_append_new(sizes, json_integer(space_level_size(sp, m, k)));
        json_array_append_new(modules, json_pack("{s:s, s:s, s:o}", "name",
                                                 space_module_name(m), "what", module_what[m],
                                                 "sizes", sizes));
    }
    /* null when the count is beyond double's range (huge separate-mask spaces) */
    card = space_cardinality(sp);
    o = json_pack("{s:i, s:i, s:b, s:o, s:i, s:o, s:i}", "hidden", space_hidden(sp), "layers",
                  space_layers(sp), "separate_masks", space_separate_masks(sp), "modules",
                  modules, "dims", space_dims(sp), "cardinality",
                  isfinite(card) ? json_real(card) : json_null(), "prefix_bottleneck",
                  x->bottleneck);
    return o;
}

static int counts_of(const ctx_t *x, const space_config_t *c, space_counts_t *k)
{
    if (space_config_count(c, &x->shape, x->bottleneck, k) != 0) {
        fprintf(stderr, PROG ": %s\n", err_msg());
        return 1;
    }
    return 0;
}

static void format_config(const space_config_t *c, char *buf)
{
    if (space_config_format(c, buf, SPACE_TEXT_MAX) != 0)
        snprintf(buf, SPACE_TEXT_MAX, "(unprintable: %s)", err_msg());
}

/* ---- describe -------------------------------------------------------------------------------- */

static int describe(const ctx_t *x)
{
    const space_t *sp = x->space;
    space_config_t lo, hi;
    space_counts_t klo, khi;
    char tlo[SPACE_TEXT_MAX], thi[SPACE_TEXT_MAX];
    int nsize = 0;

    if (space_extremes(sp, &x->shape, x->bottleneck, &lo, &hi) != 0) {
        fprintf(stderr, PROG ": %s\n", err_msg());
        return 1;
    }
    if (counts_of(x, &lo, &klo) || counts_of(x, &hi, &khi))
        return 1;
    format_config(&lo, tlo);
    format_config(&hi, thi);
    for (int m = 0; m < SPACE_NMODULES; m++)
        nsize += space_nlevels(sp, m) > 1;
    if (x->json) {
        json_t *doc = json_pack(
            "{s:o, s:o, s:{s:s, s:o, s:f}, s:{s:s, s:o, s:f}}", "model", json_model(x), "space",
            json_space(x), "smallest", "config", tlo, "deployed_modules",
            output_u64(klo.modules_deployed), "percent", klo.percent, "largest", "config", thi,
            "deployed_modules", output_u64(khi.modules_deployed), "percent", khi.percent);
        return output_json(PROG, doc);
    }
    output_model_text(&x->shape, x->shape_name);
    printf("backbone       %" PRIu64 " parameters, frozen (embeddings and encoder layers)\n",
           klo.backbone);
    printf("head           %" PRIu64 " parameters, trained in every configuration (pooler and "
           "classifier)\n\n",
           klo.head);
    printf("module  what                          levels  sizes, level 0 first\n");
    for (int m = 0; m < SPACE_NMODULES; m++) {
        int n = space_nlevels(sp, m);
        printf("%-7s %-29s %6d  ", space_module_name(m), module_what[m], n);
        for (int k = 0; k < n; k++)
            printf("%s%" PRIu32, k ? " " : "", space_level_size(sp, m, k));
        if (n == 1 && space_level_size(sp, m, 0) == 0)
            printf("  (not searched%s)", m == SPACE_LORA ? "; --lora adds it"
                                         : m == SPACE_HA ? "; --sizes-ha adds it" : "");
        printf("\n");
    }
    printf("\n");
    if (space_separate_masks(sp))
        printf("layer masks    one per module, %d bits each (bit l = layer l, bottom first)\n",
               space_layers(sp));
    else
        printf("layer mask     one, shared by the modules, %d bits (bit l = layer l, bottom "
               "first)\n",
               space_layers(sp));
    printf("valid          at least one module on (size > 0) and at least one layer on\n");
    printf("configurations %.17g valid\n", space_cardinality(sp));
    printf("GP encoding    %d dimensions (%d sizes, %d layer bits)\n", space_dims(sp), nsize,
           space_dims(sp) - nsize);
    printf("prefix MLP     bottleneck %d (trained, not deployed)\n", x->bottleneck);
    printf("smallest       %" PRIu64 " deployed module parameters (%.4f%% of the backbone): %s\n",
           klo.modules_deployed, klo.percent, tlo);
    printf("largest        %" PRIu64 " deployed module parameters (%.4f%% of the backbone): %s\n",
           khi.modules_deployed, khi.percent, thi);
    return 0;
}

/* ---- sample ---------------------------------------------------------------------------------- */

static int sample(const ctx_t *x)
{
    const char *sep = "";
    space_config_t c;
    space_counts_t k;
    char text[SPACE_TEXT_MAX];
    uint64_t seed = DEFAULT_SEED;
    int n = 0, rc;
    rng_t r;

    if ((rc = flags_int(&cmd, x->val, F_SAMPLE, 1, MAX_SAMPLES, &n)) != 0)
        return rc;
    if (x->val[F_SEED] && parse_u64(x->val[F_SEED], UINT64_MAX, "--seed", &seed) != 0)
        return flags_usage_error(PROG, "%s", err_msg());
    rng_seed(&r, seed);
    if (x->json) {
        /* Streamed, one sample at a time, so that a million samples need no document tree. */
        json_t *model = json_model(x), *space = json_space(x);
        char *m = model ? json_dumps(model, JSON_COMPACT) : NULL;
        char *s = space ? json_dumps(space, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;

        json_decref(model);
        json_decref(space);
        if (!m || !s) {
            free(m);
            free(s);
            fprintf(stderr, PROG ": out of memory building the JSON output\n");
            return 1;
        }
        printf("{\"model\": %s,\n \"space\": %s,\n \"seed\": %" PRIu64 ",\n \"samples\": [", m,
               s, seed);
        free(m);
        free(s);
    } else {
        output_model_text(&x->shape, x->shape_name);
        printf("# %d configurations drawn uniformly from the valid ones (seed %" PRIu64 ").\n"
               "# trainable and deployed include the %" PRIu64 "-parameter head; %% backbone = "
               "deployed module parameters / %" PRIu64 ";\n"
               "# AutoPEFT approx = sum over modules of layers*2*hidden*size.\n",
               n, seed, shape_head_params(&x->shape), shape_backbone_params(&x->shape));
        printf("%10s %10s %10s %15s  %s\n", "trainable", "deployed", "% backbone",
               "AutoPEFT approx", "config");
    }
    for (int i = 0; i < n; i++) {
        space_sample(x->space, &r, &c);
        if (counts_of(x, &c, &k))
            return 1;
        format_config(&c, text);
        if (x->json) {
            json_t *o = json_pack("{s:s, s:o, s:o, s:f, s:o}", "config", text, "trainable",
                                  output_u64(k.trainable), "deployed", output_u64(k.deployed),
                                  "percent", k.percent, "approx_autopeft",
                                  output_u64(k.approx_autopeft));
            char *d = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
            json_decref(o);
            if (!d) {
                fprintf(stderr, PROG ": out of memory building the JSON output\n");
                return 1;
            }
            printf("%s\n  %s", sep, d);
            free(d);
            sep = ",";
        } else {
            printf("%10" PRIu64 " %10" PRIu64 " %10.4f %15" PRIu64 "  %s\n", k.trainable,
                   k.deployed, k.percent, k.approx_autopeft, text);
        }
    }
    if (x->json)
        printf("\n ]}\n");
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, PROG ": could not write the output\n");
        return 1;
    }
    return 0;
}

/* ---- count, check, encode, neighbours -------------------------------------------------------- */

static bool show_module(const ctx_t *x, const space_config_t *c, int m)
{
    return m < SPACE_FIRST_EXTENSION || space_level_size(x->space, m, 0) != 0 ||
           space_config_active(c, m);
}

static int count(const ctx_t *x)
{
    space_config_t c;
    space_counts_t k;
    char text[SPACE_TEXT_MAX], reason[1024] = "";
    bool in_space;
    int rc;

    if ((rc = parse_config(x, F_COUNT, &c)) != 0)
        return rc;
    if (counts_of(x, &c, &k))
        return 1;
    format_config(&c, text);
    in_space = space_check(x->space, &c) == 0;
    if (!in_space)
        snprintf(reason, sizeof reason, "%s", err_msg());
    if (x->json) {
        json_t *mods = json_array();
        for (int m = 0; m < SPACE_NMODULES; m++)
            json_array_append_new(
                mods, json_pack("{s:s, s:I, s:i, s:o, s:o, s:o}", "name", space_module_name(m),
                                "size", (json_int_t)c.size[m], "layers",
                                space_config_layer_count(&c, m), "trainable",
                                output_u64(k.module_trainable[m]), "deployed",
                                output_u64(k.module_deployed[m]), "approx_autopeft",
                                output_u64(k.module_approx[m])));
        return output_json(PROG, json_pack(
            "{s:s, s:b, s:s?, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:f, s:o, s:f}",
            "config", text, "in_space", in_space, "reason", in_space ? NULL : reason, "model",
            json_model(x), "modules", mods, "modules_trainable", output_u64(k.modules_trainable),
            "modules_deployed", output_u64(k.modules_deployed), "head", output_u64(k.head),
            "trainable", output_u64(k.trainable), "deployed", output_u64(k.deployed), "backbone",
            output_u64(k.backbone), "percent", k.percent, "approx_autopeft",
            output_u64(k.approx_autopeft), "approx_percent",
            100.0 * (double)k.approx_autopeft / (double)k.backbone));
    }
    printf("configuration  %s\n", text);
    printf("in the space   %s%s\n", in_space ? "yes" : "no: ", reason);
    output_model_text(&x->shape, x->shape_name);
    printf("\n%-8s %8s %6s %14s %14s %16s\n", "module", "size", "layers", "trainable", "deployed",
           "AutoPEFT approx");
    for (int m = 0; m < SPACE_NMODULES; m++) {
        int n = space_config_layer_count(&c, m);
        if (!show_module(x, &c, m))
            continue;
        printf("%-8s %8" PRIu32 " %6d %14" PRIu64 " %14" PRIu64 " %16" PRIu64 "\n",
               space_module_name(m), c.size[m], n, k.module_trainable[m], k.module_deployed[m],
               k.module_approx[m]);
    }
    printf("%-8s %8s %6s %14" PRIu64 " %14" PRIu64 " %16" PRIu64 "\n", "modules", "", "",
           k.modules_trainable, k.modules_deployed, k.approx_autopeft);
    printf("%-8s %8s %6s %14" PRIu64 " %14" PRIu64 "   (pooler and classifier)\n", "head", "", "",
           k.head, k.head);
    printf("%-8s %8s %6s %14" PRIu64 " %14" PRIu64 "\n\n", "total", "", "", k.trainable,
           k.deployed);
    printf("backbone       %" PRIu64 " frozen parameters\n", k.backbone);
    printf("percent        %.4f%% of the backbone deployed by the modules (AutoPEFT's "
           "approximation: %.4f%%)\n",
           k.percent, 100.0 * (double)k.approx_autopeft / (double)k.backbone);
    if (space_config_active(&c, SPACE_PT))
        printf("prefix         trained through an MLP of width %d, ejected to %" PRIu64
               " key/value parameters when deployed\n",
               x->bottleneck, k.module_deployed[SPACE_PT]);
    return 0;
}

static int check_cmd(const ctx_t *x)
{
    space_config_t c;
    char text[SPACE_TEXT_MAX];
    bool ok;
    int rc;

    if ((rc = parse_config(x, F_CHECK, &c)) != 0)
        return rc;
    format_config(&c, text);
    ok = space_check(x->space, &c) == 0;
    if (x->json) {
        rc = output_json(PROG, json_pack("{s:s, s:b, s:s?}", "config", text, "valid", ok,
                                         "reason", ok ? NULL : err_msg()));
        return rc ? rc : ok ? 0 : 1;
    }
    if (ok)
        printf("in the space: %s\n", text);
    else
        printf("not in the space: %s: %s\n", text, err_msg());
    return ok ? 0 : 1;
}

/* A configuration named on the command line that the action needs inside the space. */
static int config_in_space(const ctx_t *x, int f, space_config_t *c)
{
    int rc;

    if ((rc = parse_config(x, f, c)) != 0)
        return rc;
    if (space_check(x->space, c) != 0) {
        fprintf(stderr, PROG ": %s: the configuration is not in the space: %s\n", flags[f].name,
                err_msg());
        return 1;
    }
    return 0;
}

static int encode(const ctx_t *x)
{
    space_config_t c;
    char text[SPACE_TEXT_MAX], name[64];
    int dims = space_dims(x->space), rc;
    double *v;

    if ((rc = config_in_space(x, F_ENCODE, &c)) != 0)
        return rc;
    v = mem_alloc((size_t)dims, sizeof *v, "encoding");
    if (!v) {
        fprintf(stderr, PROG ": %s\n", err_msg());
        return 1;
    }
    space_encode(x->space, &c, v);
    format_config(&c, text);
    if (x->json) {
        json_t *names = json_array(), *vals = json_array();
        for (int i = 0; i < dims; i++) {
            space_dim_name(x->space, i, name, sizeof name);
            json_array_append_new(names, json_string(name));
            json_array_append_new(vals, json_real(v[i]));
        }
        rc = output_json(PROG, json_pack("{s:s, s:i, s:o, s:o}", "config", text, "dims", dims,
                                         "names", names, "x", vals));
    } else {
        printf("configuration  %s\ndims           %d\n", text, dims);
        for (int i = 0; i < dims; i++) {
            space_dim_name(x->space, i, name, sizeof name);
            printf("%-14s %.10g\n", name, v[i]);
        }
    }
    free(v);
    return rc;
}

/* "sa 48 -> 96", "layer 3 off" or "pt layer 3 on": what tells a neighbour from its origin. */
static void describe_change(const ctx_t *x, const space_config_t *from, const space_config_t *to,
                            char *buf, size_t len)
{
    snprintf(buf, len, "?");
    for (int m = 0; m < SPACE_NMODULES; m++) {
        if (from->size[m] != to->size[m]) {
            snprintf(buf, len, "%s %" PRIu32 " -> %" PRIu32, space_module_name(m),
                     from->size[m], to->size[m]);
            return;
        }
    }
    for (int m = 0; m < SPACE_NMODULES; m++) {
        for (int l = 0; l < space_layers(x->space); l++) {
            bool a = space_config_layer(from, m, l), b = space_config_layer(to, m, l);
            if (a == b)
                continue;
            if (space_separate_masks(x->space))
                snprintf(buf, len, "%s layer %d %s", space_module_name(m), l, b ? "on" : "off");
            else
                snprintf(buf, len, "layer %d %s", l, b ? "on" : "off");
            return;
        }
    }
}

static int neighbours(const ctx_t *x)
{
    space_config_t c, *out;
    space_counts_t k;
    char text[SPACE_TEXT_MAX], change[64];
    int cap = space_max_neighbours(x->space), n, rc;
    json_t *list = NULL;

    if ((rc = config_in_space(x, F_NEIGHBOURS, &c)) != 0)
        return rc;
    out = mem_alloc((size_t)cap, sizeof *out, "neighbours");
    if (!out) {
        fprintf(stderr, PROG ": %s\n", err_msg());
        return 1;
    }
    n = space_neighbours(x->space, &c, out, cap);
    format_config(&c, text);
    if (x->json)
        list = json_array();
    else
        printf("configuration  %s\nneighbours     %d valid, one exchange away\n\n%-18s %10s "
               "%10s  %s\n",
               text, n, "change", "deployed", "% backbone", "config");
    for (int i = 0; i < n && rc == 0; i++) {
        char t[SPACE_TEXT_MAX];
        if (counts_of(x, &out[i], &k)) {
            rc = 1;
            break;
        }
        format_config(&out[i], t);
        describe_change(x, &c, &out[i], change, sizeof change);
        if (x->json)
            json_array_append_new(list, json_pack("{s:s, s:s, s:o, s:f}", "config", t, "change",
                                                  change, "deployed", output_u64(k.deployed),
                                                  "percent", k.percent));
        else
            printf("%-18s %10" PRIu64 " %10.4f  %s\n", change, k.deployed, k.percent, t);
    }
    if (x->json && rc == 0)
        rc = output_json(PROG, json_pack("{s:s, s:i, s:o}", "config", text, "count", n,
                                         "neighbours", list));
    else
        json_decref(list);
    free(out);
    return rc;
}

/* ---- entry ----------------------------------------------------------------------------------- */

int cli_space(int argc, char **argv)
{
    ctx_t x;
    bool help = false;
    int action = -1, rc;

    memset(&x, 0, sizeof x);
    if ((rc = flags_parse(&cmd, argc, argv, x.val, &help)) != 0 || help)
        return rc;
    x.json = x.val[F_JSON] != NULL;
    for (int i = 0; i < NACTIONS; i++) {
        if (!x.val[action_flags[i]])
            continue;
        if (action >= 0)
            return flags_usage_error(PROG, "%s and %s are alternatives: give one action",
                                     flags[action].name, flags[action_flags[i]].name);
        action = action_flags[i];
    }
    if (x.val[F_SEED] && action != F_SAMPLE)
        return flags_usage_error(PROG, "--seed only applies to --sample");
    if ((rc = flags_model(&cmd, x.val, &x.shape, &x.shape_name)) != 0 ||
        (rc = build_space(&x)) != 0)
        goto out;
    switch (action) {
    case F_SAMPLE:
        rc = sample(&x);
        break;
    case F_COUNT:
        rc = count(&x);
        break;
    case F_CHECK:
        rc = check_cmd(&x);
        break;
    case F_ENCODE:
        rc = encode(&x);
        break;
    case F_NEIGHBOURS:
        rc = neighbours(&x);
        break;
    default:
        rc = describe(&x);
        break;
    }
out:
    space_free(&x.space);
    return rc;
}
