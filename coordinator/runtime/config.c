/* Study configuration files (config.h): a table of every key, parsed through libinih with a
 * reader that counts lines so each message can name the line. */
#include "coordinator/runtime/config.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/embedded_spec.h"
#include "common/err.h"
#include "common/hfconfig.h"
#include "common/mem.h"
#include "common/parse.h"

typedef enum {
    K_INT, K_U64, K_DOUBLE, K_BOOL, K_ID, K_PATH, K_MODE, K_OBJECTIVE, K_SURROGATE, K_COST, K_FIDELITY,
    K_KEEP, K_PRECISION, K_SIZES, K_SHAPE, K_REF
} ktype_t;

typedef struct {
    const char *section, *key;
    ktype_t type;
    size_t off;        /* into config_t; for K_SIZES the module */
    double min, max;   /* numeric range */
} keydef_t;

#define O(f) offsetof(config_t, f)
static const keydef_t keys[] = {
    {"study", "name", K_ID, O(name), 0, 0},
    {"study", "mode", K_MODE, O(mode), 0, 0},
    {"study", "budget", K_INT, O(budget), 1, CONFIG_MAX_BUDGET},
    {"study", "budget_epochs", K_INT, O(budget_epochs), 0, CONFIG_MAX_BUDGET_EPOCHS},
    {"study", "n_init", K_INT, O(n_init), 1, 100000},
    {"study", "seed", K_U64, O(seed), 0, 0},
    {"study", "objective", K_OBJECTIVE, O(objective), 0, 0},
    {"study", "reference_point", K_REF, 0, 0, 0},
    {"study", "max_attempts", K_INT, O(max_attempts), 1, 100},
    {"study", "trial_timeout_s", K_DOUBLE, O(trial_timeout_s), 0, 1e7},
    {"study", "keep_weights", K_KEEP, O(keep_weights), 0, 0},
    {"study", "weights_dir", K_PATH, O(weights_dir), 0, 0},
    {"space", "sizes_sa", K_SIZES, SPACE_SA, 0, 0},
    {"space", "sizes_pa", K_SIZES, SPACE_PA, 0, 0},
    {"space", "sizes_pt", K_SIZES, SPACE_PT, 0, 0},
    {"space", "sizes_lora", K_SIZES, SPACE_LORA, 0, 0},
    {"space", "sizes_ha", K_SIZES, SPACE_HA, 0, 0},
    {"space", "lora", K_BOOL, O(space.nsizes[SPACE_LORA]), 0, 0},
    {"space", "separate_masks", K_BOOL, O(space.separate_masks), 0, 0},
    {"space", "prefix_bottleneck", K_INT, O(prefix_bottleneck), 1, SPACE_MAX_PREFIX_BOTTLENECK},
    {"model", "path", K_PATH, O(model_path), 0, 0},
    {"model", "embedded", K_BOOL, O(model_embedded), 0, 0},
    {"model", "seed", K_U64, O(model_seed), 0, 0},
    {"model", "shape", K_SHAPE, O(shape), 0, 0},
    {"task", "name", K_ID, O(task_name), 0, 0},
    {"task", "embedded", K_BOOL, O(task_embedded), 0, 0},
    {"task", "data_dir", K_PATH, O(data_dir), 0, 0},
    {"task", "train_file", K_PATH, O(train_file), 0, 0},
    {"task", "dev_file", K_PATH, O(dev_file), 0, 0},
    {"task", "format", K_ID, O(format), 0, 0},
    {"task", "text_column", K_ID, O(text_column), 0, 0},
    {"task", "pair_column", K_ID, O(pair_column), 0, 0},
    {"task", "label_column", K_ID, O(label_column), 0, 0},
    {"task", "metric", K_ID, O(metric), 0, 0},
    {"task", "num_labels", K_INT, O(num_labels), 1, SHAPE_MAX_LABELS},
    {"recipe", "epochs", K_INT, O(epochs), 1, 1000},
    {"recipe", "learning_rate", K_DOUBLE, O(learning_rate), 1e-12, 10},
    {"recipe", "batch_size", K_INT, O(batch_size), 1, 65536},
    {"recipe", "max_length", K_INT, O(max_length), 1, SHAPE_MAX_POSITIONS},
    {"recipe", "eval_batch_size", K_INT, O(eval_batch_size), 1, 65536},
    {"recipe", "warmup_ratio", K_DOUBLE, O(warmup_ratio), 0, 1},
    {"recipe", "weight_decay", K_DOUBLE, O(weight_decay), 0, 100},
    {"recipe", "max_grad_norm", K_DOUBLE, O(max_grad_norm), 0, 1e6},
    {"recipe", "dropout", K_DOUBLE, O(dropout), 0, 0.999},
    {"recipe", "lora_alpha", K_DOUBLE, O(lora_alpha), 1e-6, 1e6},
    {"recipe", "max_train_examples", K_INT, O(max_train_examples), 0, INT_MAX},
    {"recipe", "max_eval_examples", K_INT, O(max_eval_examples), 0, INT_MAX},
    {"recipe", "patience", K_INT, O(patience), 0, 1000},
    {"recipe", "threads", K_INT, O(threads), 0, 4096},
    {"recipe", "full_finetune", K_BOOL, O(full_finetune), 0, 0},
    {"recipe", "precision", K_PRECISION, O(precision), 0, 0},
    {"synthetic", "duration_ms", K_INT, O(syn_duration_ms), 0, 86400000},
    {"synthetic", "noise", K_DOUBLE, O(syn_noise), 0, 1},
    {"synthetic", "fail_rate", K_DOUBLE, O(syn_fail_rate), 0, 1},
    {"search", "surrogate", K_SURROGATE, O(surrogate), 0, 0},
    {"search", "refit_every", K_INT, O(refit_every), 1, 100000},
    {"search", "mc_samples", K_INT, O(mc_samples), 0, 65536},
    {"search", "map_restarts", K_INT, O(map_restarts), 1, 1000},
    {"search", "lookahead", K_INT, O(lookahead), 0, 1024},
    {"search", "cost", K_COST, O(cost_log), 0, 0},
    {"search", "fidelity", K_FIDELITY, O(fidelity), 0, 0},
    {"search", "fidelity_eta", K_INT, O(fidelity_eta), 2, 100},
    {"search", "fidelity_min_epochs", K_INT, O(fidelity_min_epochs), 0, 1000},
    {"search", "fidelity_projection", K_BOOL, O(fidelity_projection), 0, 0},
    {"search", "fidelity_gp", K_BOOL, O(fidelity_gp), 0, 0},
    {"search", "fidelity_chance", K_DOUBLE, O(fidelity_chance), 0, 1},
    {"network", "bind", K_ID, O(bind), 0, 0},
    {"network", "insecure_bind", K_BOOL, O(insecure_bind), 0, 0},
    {"network", "heartbeat_interval_ms", K_INT, O(heartbeat_interval_ms), 10, 600000},
    {"network", "heartbeat_liveness", K_INT, O(heartbeat_liveness), 1, 100},
    {"network", "restart_grace_s", K_DOUBLE, O(restart_grace_s), 0, 86400},
    {"network", "curve_secret_key", K_PATH, O(curve_secret_key), 0, 0},
    {"network", "authorized_keys", K_PATH, O(authorized_keys), 0, 0},
    {"network", "endpoint_host", K_ID, O(endpoint_host), 0, 0},
};
#undef O
#define NKEYS (sizeof keys / sizeof keys[0])

/* A [baselines] line as written, resolved once the model's shape is known. */
typedef struct {
    char label[BASELINE_NAME_MAX];
    char text[256];            /* a configuration, or "" for a built-in */
    int line;
} raw_baseline_t;

typedef struct {
    config_t *cfg;
    const char *name, *dir;
    raw_baseline_t raw[CONFIG_MAX_BASELINES];
    int nraw, names_line;
    int line;            /* of the line inih handed to the handler last */
    int lines_of[NKEYS]; /* where each key was set; 0 = not set */
    int rc;              /* first error */
    /* the reader's input */
    const char *text;
    size_t pos, len;
} parser_t;

void config_defaults(config_t *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->file, sizeof c->file, "<defaults>");
    snprintf(c->name, sizeof c->name, "study");
    c->mode = CONFIG_MODE_TRAIN;
    c->budget = 100;
    c->n_init = 10;
    c->seed = 1;
    c->objective = CONFIG_OBJ_HV;
    c->max_attempts = 3;
    shape_preset("bert-base", &c->shape);
    space_opts_default(&c->space, c->shape.hidden, c->shape.layers);
    c->prefix_bottleneck = SPACE_PREFIX_BOTTLENECK;
    c->model_seed = 1;
    c->num_labels = 0; /* 0: the task's own (or 2) */
    c->epochs = 3;
    c->learning_rate = 1e-4;
    c->batch_size = 32;
    c->max_length = 128;
    c->eval_batch_size = 64;
    c->warmup_ratio = 0.06;
    c->weight_decay = 0.01;
    c->max_grad_norm = 1.0;
    c->dropout = 0.1;
    c->lora_alpha = 16;
    c->syn_duration_ms = 100;
    c->syn_noise = 0.005;
    c->surrogate = CONFIG_SUR_MAP;
    c->refit_every = 1;
    c->mc_samples = 0; /* the strategy's own: 128 for MAP, 32 per SAAS draw */
    c->map_restarts = 3;
    c->lookahead = 1;
    c->fidelity = CONFIG_FIDELITY_NONE;
    c->fidelity_eta = 3;
    c->fidelity_min_epochs = 0;   /* the recipe's epochs / eta */
    c->fidelity_projection = true;
    c->fidelity_gp = true;
    c->fidelity_chance = 0.1;
    c->heartbeat_interval_ms = 2000;
    c->heartbeat_liveness = 5;
    c->restart_grace_s = -1;
}

const char *config_mode_name(config_mode_t m)
{
    return m == CONFIG_MODE_SYNTHETIC ? "synthetic" : "train";
}

const char *config_surrogate_name(config_surrogate_t s)
{
    return s == CONFIG_SUR_MAP ? "map" : s == CONFIG_SUR_RANDOM ? "random" : "saas";
}

const char *config_keep_name(config_keep_t k)
{
    return k == CONFIG_KEEP_ALL ? "all" : k == CONFIG_KEEP_NONE ? "none" : "front";
}

/* inih's reader: one line at a time from the text, counting lines; a line longer than inih's
 * buffer would be split silently, so it is refused here instead. */
static char *reader(char *str, int num, void *stream)
{
    parser_t *p = stream;
    size_t n = 0;

    if (p->pos >= p->len)
        return NULL;
    p->line++;
    while (p->pos < p->len) {
        char ch = p->text[p->pos++];
        if (n + 1 >= (size_t)num) {
            if (p->rc == 0)
                p->rc = err_set(ERR_PARSE, "%s:%d: line longer than %d bytes", p->name, p->line,
                                num - 2);
            while (p->pos < p->len && p->text[p->pos] != '\n')
                p->pos++;
            n = 0;
            break;
        }
        str[n++] = ch;
        if (ch == '\n')
            break;
    }
    str[n] = '\0';
    return str;
}

static int set_string(parser_t *p, const keydef_t *k, const char *value, char *dst, size_t cap)
{
    size_t n = strlen(value);
    const char *s = value;

    for (size_t i = 0; i < n; i++)
        if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
            return err_set(ERR_PARSE, "%s:%d: [%s] %s: control character in the value", p->name,
                           p->line, k->section, k->key);
    /* Before the folder is put in front: an empty path would become the folder itself. */
    if (n == 0)
        return err_set(ERR_PARSE, "%s:%d: [%s] %s: empty value", p->name, p->line, k->section,
                       k->key);
    if (k->type == K_PATH && value[0] != '/' && p->dir && p->dir[0]) {
        int w = snprintf(dst, cap, "%s/%s", p->dir, value);
        if (w < 0 || (size_t)w >= cap)
            return err_set(ERR_RANGE, "%s:%d: [%s] %s: path longer than %zu bytes", p->name,
                           p->line, k->section, k->key, cap - 1);
        return 0;
    }
    if (n >= cap)
        return err_set(ERR_RANGE, "%s:%d: [%s] %s: value longer than %zu bytes", p->name, p->line,
                       k->section, k->key, cap - 1);
    memcpy(dst, s, n + 1);
    return 0;
}

static int parse_bool(const char *v, bool *out)
{
    if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on") || !strcmp(v, "1"))
        *out = true;
    else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off") ||
             !strcmp(v, "0"))
        *out = false;
    else
        return err_set(ERR_PARSE, "expected true or false, got '%s'", v);
    return 0;
}

static int parse_word(const char *v, const char *const *words, int n, int *out)
{
    char list[256] = "";

    for (int i = 0; i < n; i++) {
        if (strcasecmp(v, words[i]) == 0) {
            *out = i;
            return 0;
        }
        strncat(list, i ? (i == n - 1 ? " or " : ", ") : "", sizeof list - strlen(list) - 1);
        strncat(list, words[i], sizeof list - strlen(list) - 1);
    }
    return err_set(ERR_PARSE, "expected %s, got '%s'", list, v);
}

/* Puts the file and line (and `what`, unless the message starts with it) before rc's message. */
static int located(const parser_t *p, const char *what, int rc)
{
    /* Messages from parse_* already start with `what`; others get it prepended. */
    if (strncmp(err_msg(), what, strlen(what)) == 0)
        return err_prefix(rc, "%s:%d: ", p->name, p->line);
    return err_prefix(rc, "%s:%d: %s: ", p->name, p->line, what);
}

static int set_bool(config_t *c, const keydef_t *k, const char *value)
{
    bool b;
    int rc = parse_bool(value, &b);

    if (rc != 0)
        return rc;
    if (k->off == offsetof(config_t, space.nsizes[SPACE_LORA])) {
        /* lora = true turns on the default rank ladder (unless sizes_lora gave one). */
        if (b && c->space.nsizes[SPACE_LORA] == 0)
            space_opts_enable_lora(&c->space);
        else if (!b)
            c->space.nsizes[SPACE_LORA] = 0;
    } else {
        *(bool *)((char *)c + k->off) = b;
    }
    return 0;
}

/* The keys whose value is one of a few words. */
static int set_word(config_t *c, ktype_t type, const char *value)
{
    static const char *const modes[] = {"train", "synthetic"};
    static const char *const objectives[] = {"hv", "metric"};
    static const char *const surrogates[] = {"saas", "map", "random"};
    static const char *const costs[] = {"linear", "log"};
    static const char *const fidelities[] = {"none", "asha"};
    static const char *const keeps[] = {"front", "all", "none"};
    int rc = 0, w;

    switch (type) {
    case K_MODE:
        if ((rc = parse_word(value, modes, 2, &w)) == 0)
            c->mode = (config_mode_t)w;
        break;
    case K_OBJECTIVE:
        if ((rc = parse_word(value, objectives, 2, &w)) == 0)
            c->objective = (config_objective_t)w;
        break;
    case K_SURROGATE:
        if ((rc = parse_word(value, surrogates, 3, &w)) == 0)
            c->surrogate = (config_surrogate_t)w;
        break;
    case K_COST:
        if ((rc = parse_word(value, costs, 2, &w)) == 0)
            c->cost_log = w == 1;
        break;
    case K_FIDELITY:
        if ((rc = parse_word(value, fidelities, 2, &w)) == 0)
            c->fidelity = (config_fidelity_t)w;
        break;
    case K_KEEP:
        if ((rc = parse_word(value, keeps, 3, &w)) == 0)
            c->keep_weights = (config_keep_t)w;
        break;
    default:
        rc = err_set(ERR_INTERNAL, "not a word key");
        break;
    }
    return rc;
}

/* reference_point = METRIC,PARAM_PERCENT */
static int set_ref(parser_t *p, const char *what, const char *value)
{
    config_t *c = p->cfg;
    char buf[256], *comma;
    int rc;

    if (strlen(value) >= sizeof buf)
        return err_set(ERR_RANGE, "%s:%d: %s: value too long", p->name, p->line, what);
    strcpy(buf, value);
    comma = strchr(buf, ',');
    if (!comma)
        return err_set(ERR_PARSE, "%s:%d: %s: expected METRIC,PARAM_PERCENT such as "
                       "0.5,10 , got '%s'", p->name, p->line, what, value);
    *comma = '\0';
    rc = parse_double(buf, -1e9, 1e9, "metric", &c->ref_metric);
    if (rc == 0)
        rc = parse_double(comma + 1 + strspn(comma + 1, " "), 0, 1e6, "parameter %",
                          &c->ref_cost);
    c->has_ref = rc == 0;
    return rc ? located(p, what, rc) : 0;
}

static int set_value(parser_t *p, const keydef_t *k, const char *value)
{
    config_t *c = p->cfg;
    char *base = (char *)c;
    char what[128];
    int rc = 0;

    snprintf(what, sizeof what, "[%s] %s", k->section, k->key);
    switch (k->type) {
    case K_INT:
        rc = parse_int(value, (int)k->min, (int)k->max, what, (int *)(base + k->off));
        break;
    case K_U64:
        rc = parse_u64(value, UINT64_MAX, what, (uint64_t *)(base + k->off));
        break;
    case K_DOUBLE:
        rc = parse_double(value, k->min, k->max, what, (double *)(base + k->off));
        break;
    case K_BOOL:
        rc = set_bool(c, k, value);
        break;
    case K_ID:
        return set_string(p, k, value, base + k->off, CONFIG_ID_MAX);
    case K_PATH:
        return set_string(p, k, value, base + k->off, CONFIG_PATH_MAX);
    case K_MODE:
    case K_OBJECTIVE:
    case K_SURROGATE:
    case K_COST:
    case K_FIDELITY:
    case K_KEEP:
        rc = set_word(c, k->type, value);
        break;
    case K_SIZES:
        rc = space_opts_parse_sizes(&c->space, (space_module_t)k->off, value);
        break;
    case K_PRECISION:
        rc = precision_parse(value, &c->precision);
        break;
    case K_SHAPE:
        rc = strchr(value, '=') ? config_parse_shape(value, &c->shape)
                                : shape_preset(value, &c->shape);
        break;
    case K_REF:
        return set_ref(p, what, value);
    }
    return rc ? located(p, what, rc) : 0;
}

/* One baseline of a [baselines] line: a built-in's name (text NULL) or a label and its
 * configuration text. */
static int add_raw_baseline(parser_t *p, const char *label, const char *text)
{
    raw_baseline_t *b;
    size_t n = strlen(label);

    if (n == 0 || n >= BASELINE_NAME_MAX || strspn(label, "abcdefghijklmnopqrstuvwxyz"
                                                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                         "0123456789_.-") != n)
        return err_set(ERR_PARSE, "%s:%d: [baselines] '%s': a baseline's name is 1 to %d "
                       "letters, digits and _.-", p->name, p->line, label, BASELINE_NAME_MAX - 1);
    for (int i = 0; i < p->nraw; i++)
        if (strcmp(p->raw[i].label, label) == 0)
            return err_set(ERR_PARSE, "%s:%d: [baselines] '%s' is named twice (first on line %d)",
                           p->name, p->line, label, p->raw[i].line);
    if (p->nraw == CONFIG_MAX_BASELINES)
        return err_set(ERR_RANGE, "%s:%d: [baselines]: more than %d baselines", p->name, p->line,
                       CONFIG_MAX_BASELINES);
    b = &p->raw[p->nraw++];
    snprintf(b->label, sizeof b->label, "%s", label);
    snprintf(b->text, sizeof b->text, "%s", text ? text : "");
    b->line = p->line;
    return 0;
}

/* [baselines]: "names = pfeiffer, lora" (built-ins) or "LABEL = CONFIGURATION". */
static int set_baselines(parser_t *p, const char *name, const char *value)
{
    char list[256], *save = NULL;
    int rc = 0;

    if (strcmp(name, "names") != 0)
        return value[0] ? add_raw_baseline(p, name, value)
                        : err_set(ERR_PARSE, "%s:%d: [baselines] %s: no configuration", p->name,
                                  p->line, name);
    if (p->names_line)
        return err_set(ERR_PARSE, "%s:%d: [baselines] names given twice (first on line %d)",
                       p->name, p->line, p->names_line);
    p->names_line = p->line;
    snprintf(list, sizeof list, "%s", value);
    for (char *tok = strtok_r(list, ", \t", &save); tok && rc == 0;
         tok = strtok_r(NULL, ", \t", &save))
        rc = add_raw_baseline(p, tok, NULL);
    return rc;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    parser_t *p = user;
    bool section_known = false;

    if (p->rc != 0)
        return 1; /* report the first error only */
    if (strcmp(section, "baselines") == 0) {
        p->rc = set_baselines(p, name, value);
        return 1;
    }
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(keys[i].section, section) != 0)
            continue;
        section_known = true;
        if (strcmp(keys[i].key, name) != 0)
            continue;
        if (p->lines_of[i]) {
            p->rc = err_set(ERR_PARSE, "%s:%d: [%s] %s given twice (first on line %d; "
                            "continuation lines are not supported)", p->name, p->line, section,
                            name, p->lines_of[i]);
            return 1;
        }
        p->lines_of[i] = p->line;
        p->rc = set_value(p, &keys[i], value);
        return 1;
    }
    if (!section_known)
        p->rc = err_set(ERR_PARSE, "%s:%d: unknown section [%s] (expected study, space, model, "
                        "task, recipe, synthetic, search, baselines or network)", p->name, p->line, section);
    else
        p->rc = err_set(ERR_PARSE, "%s:%d: [%s] unknown key '%s' (docs/config.md lists the keys)",
                        p->name, p->line, section, name);
    return 1;
}

static int key_line(const parser_t *p, const char *section, const char *key)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].section, section) && !strcmp(keys[i].key, key))
            return p->lines_of[i];
    return 0;
}

static bool key_set(const parser_t *p, const char *section, const char *key)
{
    return key_line(p, section, key) != 0;
}

int config_parse_shape(const char *text, shape_t *out)
{
    static const char *const names[] = {"hidden", "layers", "heads", "intermediate", "vocab",
                                        "positions", "type_vocab"};
    long v[7] = {0};
    bool seen[7] = {false};
    const char *p = text;
    shape_t s;

    while (*p) {
        char key[32], num[32];
        size_t k = strcspn(p, "="), n;
        int i;

        if (k == 0 || k >= sizeof key || p[k] != '=')
            return err_set(ERR_PARSE, "shape '%s': expected KEY=N pairs (hidden, layers, heads, "
                           "intermediate, vocab, positions, type_vocab)", text);
        memcpy(key, p, k);
        key[k] = '\0';
        p += k + 1;
        n = strcspn(p, " ,\t");
        if (n == 0 || n >= sizeof num)
            return err_set(ERR_PARSE, "shape '%s': %s needs a number", text, key);
        memcpy(num, p, n);
        num[n] = '\0';
        p += n;
        p += strspn(p, " ,\t");
        for (i = 0; i < 7 && strcmp(key, names[i]) != 0; i++)
            ;
        if (i == 7)
            return err_set(ERR_PARSE, "shape '%s': unknown key '%s' (hidden, layers, heads, "
                           "intermediate, vocab, positions, type_vocab)", text, key);
        if (seen[i])
            return err_set(ERR_PARSE, "shape '%s': %s given twice", text, key);
        seen[i] = true;
        if (parse_long(num, 1, SHAPE_MAX_INTERMEDIATE > SHAPE_MAX_VOCAB ? SHAPE_MAX_INTERMEDIATE
                                                                        : SHAPE_MAX_VOCAB,
                       key, &v[i]) != 0)
            return err_prefix(ERR_RANGE, "shape '%s': ", text);
    }
    if (!seen[0] || !seen[1])
        return err_set(ERR_PARSE, "shape '%s': hidden and layers are required", text);
    if (v[0] > SHAPE_MAX_HIDDEN || v[1] > SHAPE_MAX_LAYERS)
        return err_set(ERR_RANGE, "shape '%s': hidden or layers out of range", text);
    shape_default(&s, (int)v[0], (int)v[1]);
    if (seen[2])
        s.heads = (int)v[2];
    if (seen[3])
        s.intermediate = (int)v[3];
    if (seen[4])
        s.vocab = (int)v[4];
    if (seen[5])
        s.positions = (int)v[5];
    if (seen[6])
        s.type_vocab = (int)v[6];
    s.labels = out->labels > 0 ? out->labels : 2;
    if (shape_check(&s) != 0)
        return err_prefix(err_code(), "shape '%s': ", text);
    *out = s;
    return 0;
}

/* Checks that need several keys, and derives the space's width and depth from the model. */
/* The [baselines] for the model's shape: built-ins scaled to it, configurations parsed for its
 * layers. */
static int resolve_baselines(parser_t *p)
{
    config_t *c = p->cfg;

    for (int i = 0; i < p->nraw; i++) {
        const raw_baseline_t *r = &p->raw[i];
        baseline_t *b = &c->baselines[i];
        int rc;
        if (r->text[0]) {
            space_config_t parsed;
            if ((rc = space_config_parse(r->text, c->shape.layers, &parsed)) == 0)
                rc = baseline_make(r->label, &parsed, false, b);
        } else {
            rc = baseline_builtin(r->label, c->shape.hidden, c->shape.layers, b);
        }
        if (rc != 0)
            return err_prefix(rc, "%s:%d: [baselines] %s: ", p->name, r->line, r->label);
    }
    c->nbaselines = p->nraw;
    return 0;
}

static int finish(parser_t *p)
{
    config_t *c = p->cfg;
    int labels;

    if (c->model_path[0] && c->model_embedded)
        return err_set(ERR_INVAL, "%s:%d: [model] path and embedded = true exclude each other",
                       p->name, key_line(p, "model", "path"));
    labels = c->num_labels > 0 ? c->num_labels : 2;
    c->shape.labels = labels;
    if (c->model_path[0] && !key_set(p, "model", "shape")) {
        if (hfconfig_shape(c->model_path, labels, &c->shape) != 0)
            return err_prefix(err_code(), "%s:%d: [model] path: ", p->name,
                              key_line(p, "model", "path"));
    }
    if (c->model_embedded && !key_set(p, "model", "shape")) {
        /* The embedded default model's shape (common/embedded_spec.h: the same for every seed;
         * tests/unit/worker/trial/test_trial_embedded.c checks it against the generator's). */
        embedded_model_t m;
        embedded_spec_model(1, &m);
        c->shape = m.shape;
        c->shape.labels = labels;
    }
    if (c->mode == CONFIG_MODE_TRAIN) {
        if (!c->model_path[0] && !c->model_embedded)
            return err_set(ERR_INVAL, "%s: [model]: mode = train needs path = FOLDER or "
                           "embedded = true", p->name);
        if (!c->task_embedded && !c->data_dir[0] && !(c->train_file[0] && c->dev_file[0]))
            return err_set(ERR_INVAL, "%s: [task]: mode = train needs data_dir, train_file and "
                           "dev_file, or embedded = true", p->name);
        if (!c->task_name[0])
            snprintf(c->task_name, sizeof c->task_name, "%s", c->task_embedded ? "embedded" :
                     "custom");
    } else if (!c->task_name[0]) {
        snprintf(c->task_name, sizeof c->task_name, "synthetic");
    }
    if ((c->train_file[0] != 0) != (c->dev_file[0] != 0))
        return err_set(ERR_INVAL, "%s:%d: [task] train_file and dev_file go together", p->name,
                       key_line(p, "task", c->train_file[0] ? "train_file" : "dev_file"));
    if (c->n_init > c->budget && key_set(p, "study", "n_init"))
        return err_set(ERR_INVAL, "%s:%d: [study] n_init (%d) exceeds budget (%d)", p->name,
                       key_line(p, "study", "n_init"), c->n_init, c->budget);
    if (c->n_init > c->budget)
        c->n_init = c->budget;
    if (shape_check(&c->shape) != 0)
        return err_prefix(err_code(), "%s: [model] shape: ", p->name);
    c->space.hidden = c->shape.hidden;
    c->space.layers = c->shape.layers;
    {
        space_t *s = space_new(&c->space);
        if (!s)
            return err_prefix(err_code(), "%s: [space]: ", p->name);
        space_free(&s);
    }
    if (c->weights_dir[0] && c->keep_weights == CONFIG_KEEP_NONE)
        return err_set(ERR_INVAL, "%s:%d: [study] weights_dir makes no sense with keep_weights = "
                       "none (no weights are kept)", p->name, key_line(p, "study", "weights_dir"));
    if (c->insecure_bind && c->curve_secret_key[0])
        return err_set(ERR_INVAL, "%s:%d: [network] insecure_bind makes no sense with "
                       "curve_secret_key", p->name, key_line(p, "network", "insecure_bind"));
    if (c->authorized_keys[0] && !c->curve_secret_key[0])
        return err_set(ERR_INVAL, "%s:%d: [network] authorized_keys needs curve_secret_key",
                       p->name, key_line(p, "network", "authorized_keys"));
    if (c->curve_secret_key[0] && !c->authorized_keys[0])
        return err_set(ERR_INVAL, "%s:%d: [network] curve_secret_key needs authorized_keys (the "
                       "folder of the workers' public keys)", p->name,
                       key_line(p, "network", "curve_secret_key"));
    if (c->restart_grace_s < 0)
        c->restart_grace_s = c->heartbeat_interval_ms * (double)c->heartbeat_liveness / 1000 + 32;
    return resolve_baselines(p);
}

int config_parse(const char *text, const char *name, const char *dir, config_t *out)
{
    parser_t p;
    int rc;

    memset(&p, 0, sizeof p);
    config_defaults(out);
    snprintf(out->file, sizeof out->file, "%s", name);
    p.cfg = out;
    p.name = name;
    p.dir = dir;
    p.text = text;
    p.len = strlen(text);
    rc = ini_parse_stream(reader, &p, handler, &p);
    if (p.rc != 0)
        return p.rc;
    if (rc > 0)
        return err_set(ERR_PARSE, "%s:%d: not a 'key = value' line or '[section]' header", name,
                       rc);
    if (rc < 0)
        return err_set(ERR_NOMEM, "%s: the INI parser ran out of memory", name);
    return finish(&p);
}

int config_read_file(const char *path, size_t max, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0;
    int rc = 0;

    if (!f)
        return err_set(ERR_IO, "%s: %s", path, strerror(errno));
    buf = mem_alloc(max + 1, 1, "file buffer");
    if (!buf) {
        rc = ERR_NOMEM;
        goto out;
    }
    n = fread(buf, 1, max + 1, f);
    if (ferror(f)) {
        rc = err_set(ERR_IO, "%s: read error", path);
        goto out;
    }
    if (n > max) {
        rc = err_set(ERR_RANGE, "%s: larger than %zu bytes", path, max);
        goto out;
    }
    buf[n] = '\0';
    if (memchr(buf, '\0', n)) {
        rc = err_set(ERR_PARSE, "%s: holds a NUL byte (not a text file)", path);
        goto out;
    }
    *out = buf;
    buf = NULL;
    if (len)
        *len = n;
out:
    free(buf);
    fclose(f);
    return rc;
}

int config_load(const char *path, config_t *out)
{
    char *text = NULL, dir[CONFIG_PATH_MAX];
    const char *slash = strrchr(path, '/');
    int rc;

    if (slash) {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof dir)
            return err_set(ERR_RANGE, "%s: path too long", path);
        memcpy(dir, path, n);
        dir[n] = '\0';
        if (n == 0)
            strcpy(dir, "/");
    } else {
        dir[0] = '\0';
    }
    rc = config_read_file(path, CONFIG_MAX_TEXT, &text, NULL);
    if (rc == 0)
        rc = config_parse(text, path, dir, out);
    free(text);
    return rc;
}
