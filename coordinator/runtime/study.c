/* Trials of a study and the rules for their results (study.h). */
#include "coordinator/runtime/study.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/rng.h"
#include "coordinator/search/baselines.h"
#include "coordinator/search/cfgset.h"

struct study {
    const config_t *cfg;
    store_t *store;
    space_t *space;
    study_observe_fn observe;
    void *ctx;
    /* Trial records in chunks that never move: workers and the queue hold pointers to them. */
    study_trial_t **chunks;
    int ntrials, nchunks;
    int64_t seq;               /* of the last counted outcome */
    /* FIFO of (id, generation); requeued trials go to the front. A ring buffer. */
    struct qent { uint64_t id; uint32_t gen; } *q;
    size_t qhead, qlen, qcap;
    /* Configurations already in the study (suggesters never repeat one). */
    cfgset_t *configs;
    study_counts_t n;
    int first_open;            /* trials[0..first_open) are all done or failed */
    int searched_closed;       /* search trials done or failed */
};

#define CHUNK 1024
/* The record of the trial at index i (id i + 1). */
#define TR(s, i) (&(s)->chunks[(size_t)(i) / CHUNK][(size_t)(i) % CHUNK])

const space_t *study_space(const study_t *s)
{
    return s->space;
}

study_trial_t *study_trial(study_t *s, uint64_t id)
{
    if (id == 0 || id > (uint64_t)s->ntrials)
        return NULL;
    return TR(s, id - 1);
}

void study_counts(const study_t *s, study_counts_t *out)
{
    *out = s->n;
}

bool study_finished(const study_t *s)
{
    return study_to_suggest(s) == 0 && s->n.done + s->n.failed >= s->n.created;
}

/* The trial budget's room, and with budget_epochs the epoch budget's: what the finished search
 * trials trained, and the recipe's epochs reserved for each open one (a stopped trial gives
 * back what it did not use). */
int study_to_suggest(const study_t *s)
{
    int n = s->cfg->budget > s->n.searched ? s->cfg->budget - s->n.searched : 0;
    long long e = s->cfg->epochs > 0 ? s->cfg->epochs : 1, left;

    if (s->cfg->budget_epochs <= 0)
        return n;
    left = s->cfg->budget_epochs - s->n.epochs - (long long)(s->n.searched - s->searched_closed) * e;
    return left / e < n ? (int)(left > 0 ? left / e : 0) : n;
}

uint64_t study_trial_seed(uint64_t study_seed, uint64_t id)
{
    return rng_mix64(study_seed ^ rng_mix64(id ^ 0x5eed5eed5eedULL)) & 0x7fffffffu;
}

static int queue_push(study_t *s, study_trial_t *t, bool front)
{
    if (s->qlen == s->qcap) {
        size_t ncap = s->qcap ? 2 * s->qcap : 64;
        struct qent *nq = mem_alloc(ncap, sizeof *nq, "trial queue");
        if (!nq)
            return ERR_NOMEM;
        for (size_t i = 0; i < s->qlen; i++)
            nq[i] = s->q[(s->qhead + i) % s->qcap];
        free(s->q);
        s->q = nq;
        s->qcap = ncap;
        s->qhead = 0;
    }
    t->queue_gen++;
    t->queued = true;
    if (front) {
        s->qhead = (s->qhead + s->qcap - 1) % s->qcap;
        s->q[s->qhead] = (struct qent){t->id, t->queue_gen};
    } else {
        s->q[(s->qhead + s->qlen) % s->qcap] = (struct qent){t->id, t->queue_gen};
    }
    s->qlen++;
    return 0;
}

/* Takes t off the queue: its entry becomes stale and is skipped by study_pop. */
static void queue_remove(study_t *s, study_trial_t *t)
{
    if (t->queued) {
        t->queued = false;
        t->queue_gen++;
        s->n.queued--;
    }
}

study_trial_t *study_pop(study_t *s)
{
    while (s->qlen > 0) {
        struct qent e = s->q[s->qhead];
        study_trial_t *t = study_trial(s, e.id);
        s->qhead = (s->qhead + 1) % s->qcap;
        s->qlen--;
        if (t && t->queued && t->queue_gen == e.gen && t->state == STORE_QUEUED) {
            queue_remove(s, t);
            return t;
        }
    }
    return NULL;
}

int study_pending(study_t *s, space_config_t *out, int cap)
{
    int n = 0;

    /* Trials end roughly in id order: skip the finished prefix, so this costs the number of
     * open trials, not the study's size. */
    while (s->first_open < s->ntrials && (TR(s, s->first_open)->state == STORE_DONE ||
                                          TR(s, s->first_open)->state == STORE_FAILED))
        s->first_open++;
    for (int i = s->first_open; i < s->ntrials && n < cap; i++)
        if ((TR(s, i)->state == STORE_QUEUED || TR(s, i)->state == STORE_DISPATCHED) &&
            TR(s, i)->in_space)
            out[n++] = TR(s, i)->config;
    return n;
}

void study_each(study_t *s, void (*fn)(void *ctx, study_trial_t *t), void *ctx)
{
    for (int i = 0; i < s->ntrials; i++)
        fn(ctx, TR(s, i));
}

void study_each_dispatched(study_t *s, void (*fn)(void *ctx, study_trial_t *t), void *ctx)
{
    for (int i = s->first_open; i < s->ntrials; i++)
        if (TR(s, i)->state == STORE_DISPATCHED)
            fn(ctx, TR(s, i));
}

bool study_has_config(const study_t *s, const space_config_t *c)
{
    return cfgset_has(s->configs, c);
}

/* Appends a trial record (the configuration set follows). */
static int append(study_t *s, const space_config_t *c, study_trial_t **out)
{
    study_trial_t *t;
    int rc;

    if (s->ntrials == s->nchunks * CHUNK) {
        study_trial_t **nc = mem_realloc(s->chunks, (size_t)s->nchunks + 1, sizeof *nc,
                                         "trial chunks");
        if (!nc)
            return ERR_NOMEM;
        s->chunks = nc;
        s->chunks[s->nchunks] = mem_alloc(CHUNK, sizeof(study_trial_t), "trials");
        if (!s->chunks[s->nchunks])
            return ERR_NOMEM;
        s->nchunks++;
    }
    if ((rc = cfgset_add(s->configs, c)) < 0)
        return rc;
    t = TR(s, s->ntrials);
    s->ntrials++;
    memset(t, 0, sizeof *t);
    t->id = (uint64_t)s->ntrials;
    t->config = *c;
    *out = t;
    return 0;
}

/* The deployed parameter % of a configuration (of the whole model in full fine-tuning). */
static int cost_of(const study_t *s, const space_config_t *c, bool full_finetune, double *pct)
{
    baseline_t b = {.config = *c, .full_finetune = full_finetune};
    space_counts_t counts;
    int rc = baseline_counts(&b, &s->cfg->shape, s->cfg->prefix_bottleneck, &counts);

    if (rc == 0)
        *pct = counts.percent;
    return rc;
}

/* Counts a new trial of its kind. */
static void count_kind(study_t *s, store_kind_t kind)
{
    s->n.created++;
    if (kind == STORE_SEARCH)
        s->n.searched++;
    else if (kind == STORE_BASELINE)
        s->n.baselines++;
    else
        s->n.confirms++;
}

/* A stored trial's kind and what comes with it. */
static int load_kind(study_t *s, const store_trial_t *st, study_trial_t *t)
{
    t->kind = st->kind;
    snprintf(t->label, sizeof t->label, "%s", st->label ? st->label : "");
    t->seed = st->has_seed ? st->seed : s->cfg->seed;
    t->origin = st->origin;
    t->full_finetune = st->full_finetune;
    /* A search trial was checked against the space when it was suggested or loaded. */
    t->in_space = st->kind == STORE_SEARCH ||
                  (!t->full_finetune && space_check(s->space, &t->config) == 0);
    err_clear();
    if (st->kind == STORE_CONFIRM && (st->origin == 0 || st->origin >= st->id))
        return err_set(ERR_PARSE, "study store: trial %llu confirms trial %llu, which does not "
                       "come before it", (unsigned long long)st->id,
                       (unsigned long long)st->origin);
    return 0;
}

/* ---- loading ------------------------------------------------------------------------------ */

static int load_one(void *ctx, const store_trial_t *st)
{
    study_t *s = ctx;
    space_config_t c;
    study_trial_t *t;
    int rc;

    if (st->id != (uint64_t)s->ntrials + 1)
        return err_set(ERR_PARSE, "study store: trial ids are not 1, 2, ... (found %llu after "
                       "%d)", (unsigned long long)st->id, s->ntrials);
    if ((rc = space_config_parse(st->config, space_layers(s->space), &c)) != 0 ||
        (st->kind == STORE_SEARCH && (rc = space_check(s->space, &c)) != 0))
        return err_prefix(rc, "study store: trial %llu: ", (unsigned long long)st->id);
    if ((rc = append(s, &c, &t)) != 0 || (rc = load_kind(s, st, t)) != 0)
        return rc;
    t->state = st->state;
    t->attempt = st->attempt;
    t->random = st->random;
    t->has_objective = st->has_objective;
    t->objective = st->objective;
    t->stopped = st->stopped;
    t->seq = st->seq;
    if (cost_of(s, &c, t->full_finetune, &t->cost) != 0)
        t->cost = st->cost;
    count_kind(s, t->kind);
    switch (st->state) {
    case STORE_QUEUED:
        s->n.queued++;
        return queue_push(s, t, false);
    case STORE_DISPATCHED:
        s->n.running++; /* no worker until one re-attaches or the restart grace ends */
        return 0;
    case STORE_DONE:
        s->n.done++;
        break;
    case STORE_FAILED:
        s->n.failed++;
        break;
    }
    if (t->kind == STORE_SEARCH) {
        s->searched_closed++;
        s->n.epochs += st->epochs_run;
    }
    if (st->seq > s->seq)
        s->seq = st->seq;
    return 0;
}

typedef struct { int64_t seq; uint64_t id; } seq_ent_t;

static int by_seq(const void *a, const void *b)
{
    const seq_ent_t *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq ? 1 : (x->id < y->id ? -1 : x->id > y->id);
}

int study_new(const config_t *cfg, store_t *store, study_observe_fn observe, void *ctx,
              study_t **out)
{
    study_t *s = mem_alloc(1, sizeof *s, "study");
    seq_ent_t *order = NULL;
    int rc = 0, n = 0;

    *out = NULL;
    if (!s)
        return ERR_NOMEM;
    s->cfg = cfg;
    s->store = store;
    s->observe = observe;
    s->ctx = ctx;
    s->space = space_new(&cfg->space);
    if (!s->space) {
        rc = err_code() ? err_code() : ERR_INVAL;
        goto out;
    }
    s->configs = cfgset_new();
    if (!s->configs) {
        rc = ERR_NOMEM;
        goto out;
    }
    if ((rc = store_load(store, load_one, s)) != 0)
        goto out;
    /* The strategy sees the outcomes in the order they were counted. */
    order = mem_alloc((size_t)s->ntrials + 1, sizeof *order, "history order");
    if (!order) {
        rc = ERR_NOMEM;
        goto out;
    }
    for (int i = 0; i < s->ntrials; i++)
        if (TR(s, i)->state == STORE_DONE || TR(s, i)->state == STORE_FAILED)
            order[n++] = (seq_ent_t){TR(s, i)->seq, TR(s, i)->id};
    qsort(order, (size_t)n, sizeof *order, by_seq);
    if (observe)
        for (int i = 0; i < n; i++) {
            study_trial_t *t = study_trial(s, order[i].id);
            observe(ctx, t, t->state == STORE_DONE && t->has_objective);
        }
out:
    free(order);
    if (rc != 0)
        study_free(&s);
    *out = s;
    return rc;
}

void study_free(study_t **sp)
{
    study_t *s = *sp;

    if (!s)
        return;
    space_free(&s->space);
    for (int i = 0; i < s->nchunks; i++)
        free(s->chunks[i]);
    free(s->chunks);
    free(s->q);
    cfgset_free(&s->configs);
    free(s);
    *sp = NULL;
}

/* ---- changes ------------------------------------------------------------------------------ */

/* A new trial: its row in the store, its record, queued. row carries the kind's fields. */
static int add_trial(study_t *s, const space_config_t *c, store_trial_t *row,
                     study_trial_t **out)
{
    char text[SPACE_TEXT_MAX];
    study_trial_t *t;
    int rc;

    if ((rc = cost_of(s, c, row->full_finetune, &row->cost)) != 0 ||
        (rc = space_config_format(c, text, sizeof text)) != 0)
        return rc;
    row->id = (uint64_t)s->ntrials + 1;
    row->config = text;
    row->created_at = store_now();
    row->has_seed = true;
    if (!row->seed)
        row->seed = study_trial_seed(s->cfg->seed, row->id);
    if ((rc = store_trial_add(s->store, row)) != 0 || (rc = append(s, c, &t)) != 0 ||
        (rc = load_kind(s, row, t)) != 0)
        return rc;
    t->state = STORE_QUEUED;
    t->random = row->random;
    t->cost = row->cost;
    count_kind(s, t->kind);
    s->n.queued++;
    if ((rc = queue_push(s, t, false)) != 0)
        return rc;
    if (out)
        *out = t;
    return 0;
}

int study_add(study_t *s, const space_config_t *c, bool random, double acq_value,
              study_trial_t **out)
{
    store_trial_t row = {.kind = STORE_SEARCH, .random = random, .acq_value = acq_value};
    int rc;

    if (study_to_suggest(s) <= 0)
        return s->n.searched >= s->cfg->budget
                   ? err_set(ERR_STATE, "the budget of %d trials is spent", s->cfg->budget)
                   : err_set(ERR_STATE, "the budget of %d epochs is spent or reserved",
                             s->cfg->budget_epochs);
    if ((rc = space_check(s->space, c)) != 0)
        return rc;
    return add_trial(s, c, &row, out);
}

/* A seed for a new confirmation of trial `origin` that none of its runs has had. */
static uint64_t confirm_seed(const study_t *s, uint64_t origin)
{
    uint64_t seed = study_trial_seed(s->cfg->seed, (uint64_t)s->ntrials + 1);

    for (bool clash = true; clash;) {
        clash = false;
        for (int i = 0; i < s->ntrials && !clash; i++) {
            const study_trial_t *t = TR(s, i);
            if ((t->id == origin || t->origin == origin) && t->seed == seed)
                clash = true;
        }
        if (clash)
            seed = (seed + 1) & 0x7fffffffu;
    }
    return seed ? seed : 1;
}

int study_add_extra(study_t *s, const study_extra_t *e, study_trial_t **out)
{
    store_trial_t row = {.kind = e->kind, .label = e->label, .origin = e->origin,
                         .full_finetune = e->full_finetune};
    space_config_t c = e->config;

    if (e->kind == STORE_CONFIRM) {
        const study_trial_t *o = study_trial(s, e->origin);
        if (!o || o->kind == STORE_CONFIRM)
            return err_set(ERR_INVAL, "trial %llu %s", (unsigned long long)e->origin,
                           o ? "is itself a confirmation" : "does not exist");
        c = o->config;
        row.full_finetune = o->full_finetune;
        row.label = o->label[0] ? o->label : NULL;
        row.seed = confirm_seed(s, e->origin);
    } else if (e->kind != STORE_BASELINE) {
        return err_set(ERR_INVAL, "study_add_extra: a baseline or a confirm");
    }
    if (c.layers != space_layers(s->space))
        return err_set(ERR_INVAL, "%s: a configuration of %d layers for a model of %d",
                       e->label ? e->label : "baseline", c.layers, space_layers(s->space));
    return add_trial(s, &c, &row, out);
}

int study_add_baselines(study_t *s, int *added)
{
    *added = 0;
    for (int i = 0; i < s->cfg->nbaselines; i++) {
        const baseline_t *b = &s->cfg->baselines[i];
        study_extra_t e = {.kind = STORE_BASELINE, .label = b->name, .config = b->config,
                           .full_finetune = b->full_finetune};
        bool have = false;
        int rc;
        for (int j = 0; j < s->ntrials && !have; j++)
            have = TR(s, j)->kind == STORE_BASELINE && strcmp(TR(s, j)->label, b->name) == 0;
        if (have)
            continue;
        if ((rc = study_add_extra(s, &e, NULL)) != 0)
            return err_prefix(rc, "baseline %s: ", b->name);
        (*added)++;
    }
    return 0;
}

int study_dispatch(study_t *s, study_trial_t *t, study_worker_t w, uint64_t now_ms)
{
    int rc = store_trial_dispatch(s->store, t->id, t->attempt + 1, w.id, store_now());

    if (rc != 0)
        return rc;
    t->attempt++;
    t->state = STORE_DISPATCHED;
    t->worker = w.record;
    t->confirmed = false;
    t->idle_reports = 0;
    t->dispatched_ms = now_ms;
    t->cancel_sent = false;
    t->rung_known = t->rung_decided = 0;   /* a new attempt learns its curve again */
    s->n.running++;
    return 0;
}

int study_reattach(study_t *s, study_ref_t ref, study_worker_t w, uint64_t now_ms, bool *kept)
{
    study_trial_t *t = study_trial(s, ref.trial_id);
    int rc;

    *kept = false;
    if (!t || (t->state != STORE_QUEUED && t->state != STORE_DISPATCHED) || t->attempt == 0 ||
        ref.attempt != t->attempt || (t->worker && t->worker != w.record))
        return 0;
    if (t->worker == w.record && t->state == STORE_DISPATCHED) {
        t->confirmed = true;
        *kept = true;
        return 0;
    }
    if ((rc = store_trial_reattach(s->store, t->id, t->attempt, w.id)) != 0)
        return rc;
    if (t->state == STORE_QUEUED) {
        queue_remove(s, t);
        s->n.running++;
    }
    t->state = STORE_DISPATCHED;
    t->worker = w.record;
    t->confirmed = true;
    t->idle_reports = 0;
    t->dispatched_ms = now_ms;
    t->cancel_sent = false;
    log_info("trial %llu attempt %u re-attached to %s", (unsigned long long)t->id, t->attempt,
             w.id);
    *kept = true;
    return 0;
}

static int fail_trial(study_t *s, study_trial_t *t, const char *outcome, const char *error)
{
    int rc = store_trial_fail(s->store, t->id, t->attempt, outcome, error, s->seq + 1,
                              store_now());

    if (rc != 0)
        return rc;
    t->seq = ++s->seq;
    if (t->state == STORE_DISPATCHED)
        s->n.running--;
    else if (t->state == STORE_QUEUED)
        queue_remove(s, t);
    t->state = STORE_FAILED;
    t->worker = NULL;
    s->n.failed++;
    log_warn("trial %llu failed: %s", (unsigned long long)t->id, error);
    if (s->observe)
        s->observe(s->ctx, t, false);
    return 0;
}

int study_lease_lost(study_t *s, study_trial_t *t, const char *outcome, const char *reason)
{
    char msg[512];

    if (t->state != STORE_DISPATCHED)
        return 0;
    if (t->attempt >= (uint32_t)s->cfg->max_attempts) {
        snprintf(msg, sizeof msg, "gave up after %u attempts; last: %s", t->attempt, reason);
        return fail_trial(s, t, outcome, msg);
    }
    return study_requeue(s, t, outcome, reason);
}

int study_requeue(study_t *s, study_trial_t *t, const char *outcome, const char *reason)
{
    int rc;

    if (t->state != STORE_DISPATCHED)
        return 0;
    if ((rc = store_trial_requeue(s->store, t->id, t->attempt, outcome, store_now())) != 0)
        return rc;
    log_warn("trial %llu attempt %u requeued: %s", (unsigned long long)t->id, t->attempt, reason);
    t->state = STORE_QUEUED;
    t->worker = NULL;
    s->n.running--;
    s->n.queued++;
    return queue_push(s, t, true);
}

/* ---- results ------------------------------------------------------------------------------ */

static const char *status_word(study_status_t st)
{
    return st == STUDY_STATUS_OK       ? "ok"
           : st == STUDY_STATUS_FAILED  ? "failed"
           : st == STUDY_STATUS_STOPPED ? "stopped"
                                        : "cancelled";
}

/* Why r cannot be counted: sets v's ack and reason when it cannot (v->reason stays NULL when it
 * can). */
static int refuse(study_t *s, const study_result_t *r, const study_trial_t *t, study_verdict_t *v)
{
    uint32_t a = r->row.attempt;
    bool exists = false;
    int rc;

    if (!t || a == 0 || a > t->attempt) {
        v->ack = STUDY_ACK_UNKNOWN;
        v->reason = "no such trial attempt in this study";
        return 0;
    }
    if ((rc = store_result_exists(s->store, t->id, a, &exists)) != 0)
        return rc;
    if (exists) {
        v->ack = STUDY_ACK_DUPLICATE;
        v->reason = "this attempt's result is already recorded";
    } else if (t->state == STORE_DONE || t->state == STORE_FAILED) {
        v->ack = STUDY_ACK_STALE;
        v->reason = "the trial already has its result";
    } else if (a < t->attempt && r->status != STUDY_STATUS_OK) {
        v->ack = STUDY_ACK_STALE;
        v->reason = "attempt superseded by a later one";
    }
    return 0;
}

/* The trial's state after an accepted result: done, queued again for a retryable failure while
 * attempts are left, else failed. */
static store_state_t next_state(const study_t *s, const study_trial_t *t, const study_result_t *r)
{
    if (r->status == STUDY_STATUS_OK || (r->status == STUDY_STATUS_STOPPED && r->row.has_objective))
        return STORE_DONE;
    if (r->status == STUDY_STATUS_FAILED && r->retryable &&
        t->attempt < (uint32_t)s->cfg->max_attempts)
        return STORE_QUEUED;
    return STORE_FAILED;
}

/* Writes the accepted result (and a superseded later attempt's end) to the store, and frees
 * the trial from its workers. */
static int record(study_t *s, study_trial_t *t, const study_result_t *r, store_state_t next,
                  study_verdict_t *v)
{
    store_result_t row = r->row;
    uint32_t a = row.attempt;
    int rc;

    row.status = status_word(r->status);
    row.has_objective = next == STORE_DONE;
    row.error = row.error && row.error[0] ? row.error : NULL;
    row.received_at = store_now();
    if ((rc = store_result(s->store, &row, next, next == STORE_QUEUED ? 0 : s->seq + 1)) != 0)
        return rc;
    if (a < t->attempt && t->state == STORE_DISPATCHED) {
        /* The later attempt is still running: its work is no longer needed. */
        v->superseded_worker = t->worker;
        v->superseded_attempt = t->attempt;
        if ((rc = store_attempt_end(s->store, t->id, t->attempt, "superseded",
                                    row.received_at)) != 0)
            return rc;
    }
    if (a == t->attempt)
        v->freed_worker = t->worker;
    if (t->state == STORE_DISPATCHED)
        s->n.running--;
    else
        queue_remove(s, t);
    t->worker = NULL;
    v->counted = true;
    v->ack = STUDY_ACK_ACCEPTED;
    v->reason = "committed";
    return 0;
}

/* The accepted result in memory: the trial done or failed with its outcome counted (and told to
 * the observer), or queued again at the front. */
static int count(study_t *s, study_trial_t *t, const study_result_t *r, store_state_t next)
{
    unsigned long long id = (unsigned long long)t->id;
    uint32_t a = r->row.attempt;

    switch (next) {
    case STORE_DONE:
        t->seq = ++s->seq;
        t->state = STORE_DONE;
        t->has_objective = true;
        t->objective = r->row.objective;
        t->stopped = r->status == STUDY_STATUS_STOPPED;
        s->n.done++;
        if (t->kind == STORE_SEARCH) {
            s->searched_closed++;
            s->n.epochs += r->row.epochs_run;
        }
        if (s->observe)
            s->observe(s->ctx, t, true);
        break;
    case STORE_QUEUED:
        t->state = STORE_QUEUED;
        s->n.queued++;
        log_warn("trial %llu attempt %u failed (retryable): %s", id, a, r->row.error);
        return queue_push(s, t, true);
    default:
        t->seq = ++s->seq;
        t->state = STORE_FAILED;
        s->n.failed++;
        if (t->kind == STORE_SEARCH) {
            s->searched_closed++;
            s->n.epochs += r->row.epochs_run;
        }
        log_warn("trial %llu attempt %u %s: %s", id, a, status_word(r->status),
                 r->row.error ? r->row.error : "");
        if (s->observe)
            s->observe(s->ctx, t, false);
        break;
    }
    return 0;
}

int study_result(study_t *s, const study_result_t *r, study_verdict_t *v)
{
    study_trial_t *t = study_trial(s, r->row.trial_id);
    store_state_t next;
    int rc;

    memset(v, 0, sizeof *v);
    v->trial = t;
    if ((rc = refuse(s, r, t, v)) != 0 || v->reason)
        return rc;
    next = next_state(s, t, r);
    if ((rc = record(s, t, r, next, v)) != 0)
        return rc;
    return count(s, t, r, next);
}
