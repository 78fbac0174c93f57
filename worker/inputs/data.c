#include "worker/inputs/data.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/parse.h"
#include "common/shape.h"

struct data {
    char path[1024];
    char *arena;            /* texts, NUL-terminated */
    size_t arena_len, arena_cap;
    size_t *text, *pair;    /* offsets into arena; pair NULL for single-sentence data */
    int32_t *label;
    float *target;
    size_t n, cap;
    bool regression;
    int num_labels;
    char **values;          /* class label values in index order */
    size_t skipped;
    char *skip_msg[DATA_MAX_REPORTED];
};

/* The row cap; tests lower it to exercise the limit without writing 16 million rows. */
static size_t max_rows = DATA_MAX_ROWS;

void data__set_max_rows(size_t n)
{
    max_rows = n ? n : DATA_MAX_ROWS;
}

/* ---- the GLUE tasks -------------------------------------------------------------------------- */

static const char *const binary01[] = {"0", "1"};
static const char *const nli3[] = {"entailment", "neutral", "contradiction"};
static const char *const nli2[] = {"entailment", "not_entailment"};
static const char *const cola_names[] = {"unacceptable", "acceptable"};
static const char *const sst2_names[] = {"negative", "positive"};
static const char *const mrpc_names[] = {"not_equivalent", "equivalent"};
static const char *const qqp_names[] = {"not_duplicate", "duplicate"};
static const char *const wnli_names[] = {"not_entailment", "entailment"};

#define ACC METRIC_BIT(METRIC_ACCURACY)
#define F1 METRIC_BIT(METRIC_F1)

/* Columns and label sets of the GLUE files; label orders are those of Hugging Face's glue
 * dataset. Objectives follow AutoPEFT (cambridgeltl/autopeft, adapterhub/bo/base_function.py):
 * the best eval accuracy, except Matthews correlation for CoLA and Spearman for STS-B; MRPC and
 * QQP report F1 too but are searched on accuracy. */
static const data_task_t tasks[] = {
    {"cola", "CoLA", "CoLA", "train.tsv", "dev.tsv", false, NULL, NULL, NULL, 3, 1, 4, 2,
     binary01, cola_names, METRIC_BIT(METRIC_MCC), METRIC_MCC},
    {"sst2", "SST-2", "SST-2", "train.tsv", "dev.tsv", true, "sentence", NULL, "label", 0, 0, 0,
     2, binary01, sst2_names, ACC, METRIC_ACCURACY},
    {"mrpc", "MRPC", "MRPC", "train.tsv", "dev.tsv", true, "#1 String", "#2 String", "Quality",
     0, 0, 0, 2, binary01, mrpc_names, ACC | F1, METRIC_ACCURACY},
    {"qqp", "QQP", "QQP", "train.tsv", "dev.tsv", true, "question1", "question2",
     "is_duplicate", 0, 0, 0, 2, binary01, qqp_names, ACC | F1, METRIC_ACCURACY},
    {"stsb", "STS-B", "STS-B", "train.tsv", "dev.tsv", true, "sentence1", "sentence2", "score",
     0, 0, 0, 1, NULL, NULL, METRIC_BIT(METRIC_PEARSON) | METRIC_BIT(METRIC_SPEARMAN),
     METRIC_SPEARMAN},
    {"mnli", "MNLI-m", "MNLI", "train.tsv", "dev_matched.tsv", true, "sentence1", "sentence2",
     "gold_label", 0, 0, 0, 3, nli3, nli3, ACC, METRIC_ACCURACY},
    {"mnli-mm", "MNLI-mm", "MNLI", "train.tsv", "dev_mismatched.tsv", true, "sentence1",
     "sentence2", "gold_label", 0, 0, 0, 3, nli3, nli3, ACC, METRIC_ACCURACY},
    {"qnli", "QNLI", "QNLI", "train.tsv", "dev.tsv", true, "question", "sentence", "label", 0, 0,
     0, 2, nli2, nli2, ACC, METRIC_ACCURACY},
    {"rte", "RTE", "RTE", "train.tsv", "dev.tsv", true, "sentence1", "sentence2", "label", 0, 0,
     0, 2, nli2, nli2, ACC, METRIC_ACCURACY},
    {"wnli", "WNLI", "WNLI", "train.tsv", "dev.tsv", true, "sentence1", "sentence2", "label", 0,
     0, 0, 2, binary01, wnli_names, ACC, METRIC_ACCURACY},
};

#define NTASKS (sizeof tasks / sizeof tasks[0])

static const struct {
    const char *alias, *name;
} aliases[] = {{"mnlim", "mnli"}, {"mnlimatched", "mnli"}, {"mnlimismatched", "mnli-mm"}};

/* Lower case without '-' and '_': "SST-2" -> "sst2", "mnli_mismatched" -> "mnlimismatched". */
static void squash(const char *in, char *out, size_t len)
{
    size_t k = 0;

    for (; *in && k + 1 < len; in++)
        if (*in != '-' && *in != '_')
            out[k++] = (char)tolower((unsigned char)*in);
    out[k] = '\0';
}

int data_task_find(const char *name, const data_task_t **out)
{
    char want[64], have[64];

    squash(name, want, sizeof want);
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcmp(want, aliases[i].alias) == 0)
            squash(aliases[i].name, want, sizeof want);
    for (size_t i = 0; i < NTASKS; i++) {
        squash(tasks[i].name, have, sizeof have);
        if (strcmp(want, have) == 0) {
            *out = &tasks[i];
            return 0;
        }
    }
    *out = NULL;
    return err_set(ERR_NOTFOUND, "no task '%s' (GLUE tasks: cola, sst2, mrpc, qqp, stsb, mnli, "
                   "mnli-mm, qnli, rte, wnli)", name);
}

const data_task_t *data_task_at(int i)
{
    return i >= 0 && (size_t)i < NTASKS ? &tasks[i] : NULL;
}

int data_task_path(const data_task_t *task, const char *dir, data_split_t split, char *buf,
                   size_t len)
{
    int n = snprintf(buf, len, "%s/%s/%s", dir, task->folder,
                     split == DATA_TRAIN ? task->train_file : task->dev_file);

    if (n < 0 || (size_t)n >= len)
        return err_set(ERR_RANGE, "data path under '%s' is too long", dir);
    return 0;
}

/* ---- loading ------------------------------------------------------------------------------- */

typedef struct {
    int text, pair, label;     /* columns; pair -1 when single */
    int nfields;               /* TSV/CSV: fields a row must have (0: any) */
    const char *text_name, *pair_name, *label_name;
    bool regression;
    const char *const *values; /* NULL: infer */
    int nvalues;
} plan_t;

static void skip(data_t *d, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void skip(data_t *d, size_t line, const char *fmt, ...)
{
    char why[400], msg[1500];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    snprintf(msg, sizeof msg, "%s:%zu: %s", d->path, line, why);
    if (d->skipped < DATA_MAX_REPORTED) {
        log_warn("skipping a malformed row: %s", msg);
        d->skip_msg[d->skipped] = mem_strdup(msg);
    }
    d->skipped++;
}

static int arena_add(data_t *d, const char *s, size_t len, size_t *off)
{
    size_t need;

    if (!mem_add(d->arena_len, len + 1, &need))
        return err_set(ERR_NOMEM, "%s: texts too large", d->path);
    if (need > d->arena_cap) {
        size_t cap = d->arena_cap ? d->arena_cap : 1 << 16;
        char *p;
        while (cap < need)
            cap *= 2;
        if (!(p = mem_realloc(d->arena, cap, 1, "texts")))
            return ERR_NOMEM;
        d->arena = p;
        d->arena_cap = cap;
    }
    memcpy(d->arena + d->arena_len, s, len);
    d->arena[d->arena_len + len] = '\0';
    *off = d->arena_len;
    d->arena_len = need;
    return 0;
}

static int grow_rows(data_t *d, bool pair)
{
    size_t cap = d->cap ? 2 * d->cap : 1024;

    if (d->n < d->cap)
        return 0;
    if (!(d->text = mem_realloc(d->text, cap, sizeof *d->text, "rows")) ||
        (pair && !(d->pair = mem_realloc(d->pair, cap, sizeof *d->pair, "rows"))) ||
        !(d->label = mem_realloc(d->label, cap, sizeof *d->label, "rows")) ||
        !(d->target = mem_realloc(d->target, cap, sizeof *d->target, "rows")))
        return ERR_NOMEM;
    d->cap = cap;
    return 0;
}

static int find_value(const plan_t *p, const char *v)
{
    for (int k = 0; k < p->nvalues; k++)
        if (strcmp(p->values[k], v) == 0)
            return k;
    return -1;
}

/* One usable row into d, or a reason to skip it. */
static int take_row(data_t *d, table_t *tab, const plan_t *p, size_t *label_off)
{
    size_t line = table_line(tab), tl, pl = 0, ll, off;
    const char *why = table_record_error(tab), *text, *pair = NULL, *label;
    int rc;

    if (why) {
        skip(d, line, "%s", why);
        return 0;
    }
    if (p->nfields && table_nfields(tab) != p->nfields) {
        skip(d, line, "%d fields, expected %d", table_nfields(tab), p->nfields);
        return 0;
    }
    text = table_field(tab, p->text, &tl);
    if (p->pair >= 0)
        pair = table_field(tab, p->pair, &pl);
    label = table_field(tab, p->label, &ll);
    if (!text || (p->pair >= 0 && !pair) || !label) {
        skip(d, line, "no %s", !text ? p->text_name : !label ? p->label_name : p->pair_name);
        return 0;
    }
    if (d->n >= max_rows)
        return err_set(ERR_RANGE, "%s: more than %zu rows (the limit)", d->path, max_rows);
    if ((rc = grow_rows(d, p->pair >= 0)) != 0)
        return rc;
    d->label[d->n] = -1;
    d->target[d->n] = 0;
    if (p->regression) {
        double v;
        if (parse_double(label, -1e30, 1e30, p->label_name, &v) != 0) {
            skip(d, line, "%s", err_msg());
            return 0;
        }
        d->target[d->n] = (float)v;
    } else if (p->values) {
        int k = find_value(p, label);
        if (k < 0) {
            skip(d, line, "%s '%.60s' is not one of the task's labels", p->label_name, label);
            return 0;
        }
        d->label[d->n] = k;
    } else if ((rc = arena_add(d, label, ll, &label_off[d->n])) != 0) {
        return rc;
    }
    if ((rc = arena_add(d, text, tl, &off)) != 0)
        return rc;
    d->text[d->n] = off;
    if (p->pair >= 0) {
        if ((rc = arena_add(d, pair, pl, &off)) != 0)
            return rc;
        d->pair[d->n] = off;
    }
    d->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A canonical non-negative integer below SHAPE_MAX_LABELS ("0", "7"; not "07" or "+7"). */
static int small_int(const char *s)
{
    long v = 0;

    if (!*s || (s[0] == '0' && s[1]) || strlen(s) > 6)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v < SHAPE_MAX_LABELS ? (int)v : -1;
}

/* Labels without a given set: integers 0..max, else the distinct values in byte order. */
static int infer_labels(data_t *d, const size_t *label_off)
{
    char **sorted;
    size_t distinct = 0;
    int max = -1;
    bool ints = true;

    for (size_t i = 0; i < d->n && ints; i++) {
        int v = small_int(d->arena + label_off[i]);
        ints = v >= 0;
        if (v > max)
            max = v;
    }
    if (ints) {
        for (size_t i = 0; i < d->n; i++)
            d->label[i] = small_int(d->arena + label_off[i]);
        d->num_labels = max + 1;
        if (!(d->values = mem_alloc((size_t)d->num_labels, sizeof *d->values, "labels")))
            return ERR_NOMEM;
        for (int k = 0; k < d->num_labels; k++) {
            char num[16];
            snprintf(num, sizeof num, "%d", k);
            if (!(d->values[k] = mem_strdup(num)))
                return ERR_NOMEM;
        }
    } else {
        if (!(sorted = mem_alloc(d->n, sizeof *sorted, "labels")))
            return ERR_NOMEM;
        for (size_t i = 0; i < d->n; i++)
            sorted[i] = d->arena + label_off[i];
        qsort(sorted, d->n, sizeof *sorted, cmp_str);
        for (size_t i = 0; i < d->n; i++)
            if (i == 0 || strcmp(sorted[i], sorted[distinct - 1]) != 0)
                sorted[distinct++] = sorted[i];
        if (distinct > SHAPE_MAX_LABELS) {
            free(sorted);
            return err_set(ERR_RANGE, "%s: %zu distinct labels, more than %d", d->path,
                           distinct, SHAPE_MAX_LABELS);
        }
        d->num_labels = (int)distinct;
        d->values = mem_alloc(distinct, sizeof *d->values, "labels");
        for (size_t k = 0; d->values && k < distinct; k++)
            d->values[k] = mem_strdup(sorted[k]);
        for (size_t i = 0; d->values && i < d->n; i++) {
            const char *key = d->arena + label_off[i];
            char **hit = bsearch(&key, sorted, distinct, sizeof *sorted, cmp_str);
            d->label[i] = (int32_t)(hit - sorted);
        }
        free(sorted);
        if (!d->values)
            return ERR_NOMEM;
        for (size_t k = 0; k < distinct; k++)
            if (!d->values[k])
                return ERR_NOMEM;
    }
    if (d->num_labels < 2)
        return err_set(ERR_INVAL, "%s: every row has the label '%s'; classification needs at "
                       "least two classes (give the label set explicitly)", d->path,
                       d->values[0]);
    return 0;
}

static int copy_values(data_t *d, const plan_t *p)
{
    d->num_labels = p->nvalues;
    if (!(d->values = mem_alloc((size_t)p->nvalues, sizeof *d->values, "labels")))
        return ERR_NOMEM;
    for (int k = 0; k < p->nvalues; k++)
        if (!(d->values[k] = mem_strdup(p->values[k])))
            return ERR_NOMEM;
    return 0;
}

static int load(table_t *tab, const plan_t *p, data_t *d)
{
    size_t *label_off = NULL, cap = 0;
    int rc;

    d->regression = p->regression;
    while ((rc = table_next(tab)) == 1) {
        if (!p->regression && !p->values && d->n == cap) {
            size_t *grown;
            cap = cap ? 2 * cap : 1024;
            if (!(grown = mem_realloc(label_off, cap, sizeof *label_off, "labels"))) {
                rc = ERR_NOMEM;
                goto out;
            }
            label_off = grown;
        }
        if ((rc = take_row(d, tab, p, label_off)) != 0)
            goto out;
    }
    if (rc < 0)
        goto out;
    if (d->skipped > DATA_MAX_REPORTED)
        log_warn("%s: skipped %zu malformed rows in all (the first %d are listed above)",
                 d->path, d->skipped, DATA_MAX_REPORTED);
    if (d->n == 0) {
        rc = err_set(ERR_PARSE, "%s: no valid row%s%s", d->path,
                     d->skipped ? "; the first problem: " : " (the file holds no data)",
                     d->skipped ? d->skip_msg[0] : "");
        goto out;
    }
    if (p->regression)
        d->num_labels = 1;
    else if (p->values)
        rc = copy_values(d, p);
    else
        rc = infer_labels(d, label_off);
out:
    free(label_off);
    return rc;
}

static int column(table_t *tab, const char *name, int *index)
{
    return name ? table_column(tab, name, index) : (*index = -1, 0);
}

/* Opens a file, or bytes in memory when mem is not NULL. */
static int open_table(const char *path, const char *mem, size_t size, const table_options_t *o,
                      table_t **tab)
{
    return mem ? table_open_memory(mem, size, path, o, tab) : table_open(path, o, tab);
}

static int load_task(const data_task_t *task, const char *path, const char *mem, size_t size,
                     data_t **out)
{
    table_options_t o = {.format = TABLE_TSV, .header = task->header};
    plan_t p = {.text = task->text_col, .pair = -1, .label = task->label_col,
                .nfields = task->ncols, .text_name = "sentence", .pair_name = "second sentence",
                .label_name = "label", .regression = task->num_labels == 1,
                .values = task->label_values, .nvalues = task->num_labels};
    table_t *tab = NULL;
    data_t *d;
    int rc;

    *out = NULL;
    if (!(d = mem_alloc(1, sizeof *d, "task data")))
        return ERR_NOMEM;
    snprintf(d->path, sizeof d->path, "%s", path);
    if ((rc = open_table(path, mem, size, &o, &tab)) != 0)
        goto out;
    if (task->header) {
        p.text_name = task->text;
        p.pair_name = task->pair;
        p.label_name = task->label;
        p.nfields = table_ncolumns(tab);
        if ((rc = column(tab, task->text, &p.text)) || (rc = column(tab, task->pair, &p.pair)) ||
            (rc = column(tab, task->label, &p.label))) {
            err_prefix(rc, "reading %s data: ", task->title);
            goto out;
        }
    }
    rc = load(tab, &p, d);
out:
    table_free(&tab);
    if (rc != 0)
        data_free(&d);
    *out = d;
    return rc;
}

static int load_file(const char *path, const char *mem, size_t size, const data_spec_t *spec,
                     data_t **out)
{
    table_options_t o = {.format = spec->format, .header = spec->format != TABLE_JSONL,
                         .quoted = spec->quoted};
    plan_t p = {.text = -1, .pair = -1, .label = -1, .text_name = spec->text,
                .pair_name = spec->pair, .label_name = spec->label,
                .regression = spec->regression, .values = spec->labels, .nvalues = spec->nlabels};
    table_t *tab = NULL;
    data_t *d;
    int rc;

    *out = NULL;
    if (!spec->text || !spec->label)
        return err_set(ERR_INVAL, "%s: the text and label columns must be named", path);
    if (spec->labels && (spec->nlabels < 2 || spec->nlabels > SHAPE_MAX_LABELS))
        return err_set(ERR_INVAL, "%s: %d class labels given (2..%d allowed)", path,
                       spec->nlabels, SHAPE_MAX_LABELS);
    if (!(d = mem_alloc(1, sizeof *d, "task data")))
        return ERR_NOMEM;
    snprintf(d->path, sizeof d->path, "%s", path);
    if ((rc = open_table(path, mem, size, &o, &tab)) != 0)
        goto out;
    p.nfields = table_ncolumns(tab);
    if ((rc = column(tab, spec->text, &p.text)) || (rc = column(tab, spec->pair, &p.pair)) ||
        (rc = column(tab, spec->label, &p.label)))
        goto out;
    rc = load(tab, &p, d);
out:
    table_free(&tab);
    if (rc != 0)
        data_free(&d);
    *out = d;
    return rc;
}

int data_load_task(const data_task_t *task, const char *path, data_t **out)
{
    return load_task(task, path, NULL, 0, out);
}

int data_load_file(const char *path, const data_spec_t *spec, data_t **out)
{
    return load_file(path, NULL, 0, spec, out);
}

int data_load_task_memory(const data_task_t *task, const char *data, size_t size,
                          const char *label, data_t **out)
{
    return load_task(task, label, data ? data : "", size, out);
}

int data_load_memory(const char *data, size_t size, const char *label, const data_spec_t *spec,
                     data_t **out)
{
    return load_file(label, data ? data : "", size, spec, out);
}

void data_free(data_t **dp)
{
    data_t *d;

    if (!dp || !*dp)
        return;
    d = *dp;
    free(d->arena);
    free(d->text);
    free(d->pair);
    free(d->label);
    free(d->target);
    if (d->values)
        for (int k = 0; k < d->num_labels; k++)
            free(d->values[k]);
    free(d->values);
    for (size_t k = 0; k < DATA_MAX_REPORTED; k++)
        free(d->skip_msg[k]);
    free(d);
    *dp = NULL;
}

size_t data_count(const data_t *d)
{
    return d->n;
}

const char *data_text(const data_t *d, size_t i)
{
    return i < d->n ? d->arena + d->text[i] : NULL;
}

const char *data_pair(const data_t *d, size_t i)
{
    return d->pair && i < d->n ? d->arena + d->pair[i] : NULL;
}

bool data_has_pair(const data_t *d)
{
    return d->pair != NULL;
}

int32_t data_label(const data_t *d, size_t i)
{
    return i < d->n ? d->label[i] : -1;
}

float data_target(const data_t *d, size_t i)
{
    return i < d->n ? d->target[i] : 0.0f;
}

bool data_regression(const data_t *d)
{
    return d->regression;
}

int data_num_labels(const data_t *d)
{
    return d->num_labels;
}

const char *data_label_value(const data_t *d, int k)
{
    return d->values && k >= 0 && k < d->num_labels ? d->values[k] : NULL;
}

size_t data_skipped(const data_t *d)
{
    return d->skipped;
}

const char *data_skip_message(const data_t *d, size_t k)
{
    return k < DATA_MAX_REPORTED ? d->skip_msg[k] : NULL;
}

const char *data_path(const data_t *d)
{
    return d->path;
}
