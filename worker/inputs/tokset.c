/* Tokenised data sets: see tokset.h. */
#include "worker/inputs/tokset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"
#include "worker/engine/pool.h"

struct tokset {
    size_t n, ntokens, truncated;
    int32_t *ids, *types;   /* [ntokens] */
    size_t *off;            /* [n + 1] */
    int32_t *cls;           /* [n] (classification) */
    float *target;          /* [n] (regression) */
    bool regression;
    int num_labels;
};

/* One thread's share: examples [begin, end) into growing arrays of its own. */
typedef struct {
    const data_t *d;
    const vocab_t *vocab;
    const tokenizer_options_t *opts;
    int max_length, parts;
    struct part {
        int32_t *ids, *types;
        size_t ntok, cap, truncated;
        int32_t *len;        /* [end - begin] */
        int rc;
        char err[512];
    } *part;
} job_t;

static void tokenise_part(void *arg, int part, int tid)
{
    job_t *j = arg;
    struct part *p = &j->part[part];
    tokenizer_t *tok = NULL;
    long begin, end;
    int rc;

    (void)tid;
    pool_split((long)data_count(j->d), j->parts, part, 1, &begin, &end);
    p->len = mem_alloc(end > begin ? (size_t)(end - begin) : 1, sizeof *p->len, "lengths");
    if (!p->len) {
        p->rc = ERR_NOMEM;
        goto out;
    }
    if ((rc = tokenizer_new(j->vocab, j->opts, &tok)) != 0) {
        p->rc = rc;
        goto out;
    }
    for (long i = begin; i < end; i++) {
        const char *a = data_text(j->d, (size_t)i), *b = data_pair(j->d, (size_t)i);
        tokenizer_encoding_t e;

        if ((rc = tokenizer_encode(tok, a, strlen(a), b, b ? strlen(b) : 0, j->max_length,
                                   &e)) != 0) {
            p->rc = err_prefix(rc, "%s: example %ld: ", data_path(j->d), i + 1);
            goto out;
        }
        if (p->ntok + (size_t)e.len > p->cap) {
            size_t cap = p->cap ? p->cap * 2 : 4096;
            int32_t *ids, *types;
            while (cap < p->ntok + (size_t)e.len)
                cap *= 2;
            ids = mem_realloc(p->ids, cap, sizeof *ids, "token ids");
            if (ids)
                p->ids = ids;
            types = ids ? mem_realloc(p->types, cap, sizeof *types, "token types") : NULL;
            if (!ids || !types) {
                p->rc = ERR_NOMEM;
                goto out;
            }
            p->types = types;
            p->cap = cap;
        }
        memcpy(p->ids + p->ntok, e.ids, (size_t)e.len * sizeof *e.ids);
        memcpy(p->types + p->ntok, e.types, (size_t)e.len * sizeof *e.types);
        p->ntok += (size_t)e.len;
        p->len[i - begin] = e.len;
        p->truncated += e.removed > 0;
    }
out:
    /* err_msg is per thread: keep this thread's message for the caller. */
    if (p->rc)
        snprintf(p->err, sizeof p->err, "%s", err_msg());
    tokenizer_free(&tok);
}

/* Runs the job's parts: on a pool of their own, or on the caller for a single part. */
static int tokenise(job_t *j)
{
    pool_t *pool;

    if (j->parts == 1) {
        tokenise_part(j, 0, 0);
        return 0;
    }
    pool = pool_new(j->parts);
    if (!pool)
        return err_code() ? err_code() : ERR_NOMEM;
    pool_run(pool, j->parts, tokenise_part, j);
    pool_free(&pool);
    return 0;
}

/* The parts' first error, in part order (the message the part kept), else their totals. */
static int check_parts(const job_t *j, tokset_t *t)
{
    for (int p = 0; p < j->parts; p++) {
        if (j->part[p].rc)
            return err_set(j->part[p].rc, "%s", j->part[p].err);
        t->ntokens += j->part[p].ntok;
        t->truncated += j->part[p].truncated;
    }
    if (t->ntokens > TOKSET_MAX_TOKENS)
        return err_set(ERR_RANGE, "%s: %zu tokens; at most %llu per data set", data_path(j->d),
                       t->ntokens, (unsigned long long)TOKSET_MAX_TOKENS);
    return 0;
}

/* Copies the parts, in example order, into t's flat arrays, with every example's label. */
static int gather(const job_t *j, tokset_t *t)
{
    const data_t *d = j->d;
    size_t n = data_count(d), k = 0;

    t->n = n;
    t->regression = data_regression(d);
    t->num_labels = data_num_labels(d);
    t->ids = mem_alloc(t->ntokens ? t->ntokens : 1, sizeof *t->ids, "token ids");
    t->types = mem_alloc(t->ntokens ? t->ntokens : 1, sizeof *t->types, "token types");
    t->off = mem_alloc(n + 1, sizeof *t->off, "example offsets");
    t->cls = mem_alloc(n ? n : 1, sizeof *t->cls, "labels");
    t->target = mem_alloc(n ? n : 1, sizeof *t->target, "targets");
    if (!t->ids || !t->types || !t->off || !t->cls || !t->target)
        return ERR_NOMEM;
    for (int p = 0; p < j->parts; p++) {
        long begin, end;
        pool_split((long)n, j->parts, p, 1, &begin, &end);
        memcpy(t->ids + t->off[k], j->part[p].ids, j->part[p].ntok * sizeof *t->ids);
        memcpy(t->types + t->off[k], j->part[p].types, j->part[p].ntok * sizeof *t->types);
        for (long i = begin; i < end; i++, k++)
            t->off[k + 1] = t->off[k] + (size_t)j->part[p].len[i - begin];
    }
    for (size_t i = 0; i < n; i++) {
        t->cls[i] = data_label(d, i);
        t->target[i] = data_target(d, i);
    }
    return 0;
}

int tokset_build(const data_t *d, const vocab_t *vocab, const tokenizer_options_t *opts,
                 int max_length, int threads, tokset_t **out)
{
    size_t n = data_count(d);
    job_t j = {.d = d, .vocab = vocab, .opts = opts, .max_length = max_length, .parts = 1};
    tokset_t *t = NULL;
    int rc = 0;

    *out = NULL;
    if (max_length < (data_has_pair(d) ? 3 : 2) || max_length > 65536)
        return err_set(ERR_INVAL, "maximum length %d: expected %d..65536", max_length,
                       data_has_pair(d) ? 3 : 2);
    if (threads < 1)
        threads = 1;
    if (threads > POOL_MAX_THREADS)
        threads = POOL_MAX_THREADS;
    /* Small sets are not worth the threads. */
    j.parts = n < 2000 ? 1 : threads;
    j.part = mem_alloc((size_t)j.parts, sizeof *j.part, "tokeniser parts");
    t = mem_alloc(1, sizeof *t, "tokenised set");
    if (!j.part || !t) {
        rc = ERR_NOMEM;
        goto out;
    }
    if ((rc = tokenise(&j)) != 0 || (rc = check_parts(&j, t)) != 0 || (rc = gather(&j, t)) != 0)
        goto out;
    *out = t;
    t = NULL;
out:
    if (j.part)
        for (int p = 0; p < j.parts; p++) {
            free(j.part[p].ids);
            free(j.part[p].types);
            free(j.part[p].len);
        }
    free(j.part);
    tokset_free(&t);
    return rc;
}

void tokset_free(tokset_t **tp)
{
    tokset_t *t = tp ? *tp : NULL;

    if (!t)
        return;
    free(t->ids);
    free(t->types);
    free(t->off);
    free(t->cls);
    free(t->target);
    free(t);
    *tp = NULL;
}

size_t tokset_count(const tokset_t *t)
{
    return t->n;
}

const int32_t *tokset_ids(const tokset_t *t, size_t i, int *len)
{
    if (len)
        *len = (int)(t->off[i + 1] - t->off[i]);
    return t->ids + t->off[i];
}

const int32_t *tokset_types(const tokset_t *t, size_t i)
{
    return t->types + t->off[i];
}

int tokset_len(const tokset_t *t, size_t i)
{
    return (int)(t->off[i + 1] - t->off[i]);
}

int32_t tokset_class(const tokset_t *t, size_t i)
{
    return t->cls[i];
}

float tokset_target(const tokset_t *t, size_t i)
{
    return t->target[i];
}

bool tokset_regression(const tokset_t *t)
{
    return t->regression;
}

int tokset_num_labels(const tokset_t *t)
{
    return t->num_labels;
}

size_t tokset_truncated(const tokset_t *t)
{
    return t->truncated;
}

size_t tokset_tokens(const tokset_t *t)
{
    return t->ntokens;
}

size_t tokset_bytes(const tokset_t *t)
{
    return sizeof *t + t->ntokens * 2 * sizeof(int32_t) +
           t->n * (sizeof(size_t) + sizeof(int32_t) + sizeof(float));
}
