/* The trial state machine and the rules for results (coordinator/runtime/study.c) on a real store:
 * requeues, bounded attempts, duplicate / stale / unknown results, the earlier-attempt
 * amendment, and a reload that replays the history in the order it was counted. */
#include <sqlite3.h>

#include "common/rng.h"
#include "coordinator/runtime/store.h"
#include "coordinator/runtime/study.h"
#include "coordinator/search/baselines.h"
#include "tests/harness.h"

/* Rows of the results table. */
static int rt_count(const char *dir)
{
    char path[1100];
    sqlite3 *db;
    sqlite3_stmt *q;
    int n = -1;

    snprintf(path, sizeof path, "%s/study.db", dir);
    ASSERT_EQ(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM results", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        n = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return n;
}

typedef struct {
    uint64_t ids[64];
    bool ok[64];
    int n;
} seen_t;

static void observe(void *ctx, const study_trial_t *t, bool ok)
{
    seen_t *s = ctx;

    s->ids[s->n] = t->id;
    s->ok[s->n++] = ok;
}

static void setup(config_t *c, store_t **st, study_t **s, seen_t *seen)
{
    char dir[1024];

    config_defaults(c);
    c->mode = CONFIG_MODE_SYNTHETIC;
    c->budget = 6;
    c->max_attempts = 3;
    snprintf(dir, sizeof dir, "%s/study", harness_tmpdir());
    ASSERT_OK(store_open(dir, STORE_CREATE, st));
    memset(seen, 0, sizeof *seen);
    ASSERT_OK(study_new(c, *st, observe, seen, s));
}

static study_trial_t *add(study_t *s, store_t *st, uint64_t seed)
{
    space_config_t cfg;
    study_trial_t *t;
    rng_t r;

    rng_seed(&r, seed);
    space_sample(study_space(s), &r, &cfg);
    ASSERT_OK(store_begin(st));
    ASSERT_OK(study_add(s, &cfg, true, 0, &t));
    ASSERT_OK(store_commit(st));
    return t;
}

static void dispatch(study_t *s, store_t *st, study_trial_t *expect, void *worker)
{
    study_trial_t *t = study_pop(s);

    ASSERT_TRUE(t == expect);
    ASSERT_OK(store_begin(st));
    ASSERT_OK(study_dispatch(s, t, (study_worker_t){worker, "w"}, 0));
    ASSERT_OK(store_commit(st));
}

static study_ack_t result(study_t *s, store_t *st, uint64_t id, uint32_t attempt,
                          study_status_t status, double objective, bool retryable,
                          study_verdict_t *v)
{
    study_result_t r;
    study_verdict_t local;

    memset(&r, 0, sizeof r);
    r.row.trial_id = id;
    r.row.attempt = attempt;
    r.row.worker = "w";
    r.row.json = "{}";
    r.status = status;
    if (status == STUDY_STATUS_OK) {
        r.row.objective = objective;
        r.row.trainable = r.row.deployed = r.row.backbone = 1;
    } else {
        r.row.error = "boom";
        r.retryable = retryable;
    }
    ASSERT_OK(store_begin(st));
    ASSERT_OK(study_result(s, &r, v ? v : &local));
    ASSERT_OK(store_commit(st));
    return (v ? v : &local)->ack;
}

#define OK_ STUDY_STATUS_OK
#define FAILED_ STUDY_STATUS_FAILED
#define ACCEPTED STUDY_ACK_ACCEPTED
#define DUPLICATE STUDY_ACK_DUPLICATE
#define STALE STUDY_ACK_STALE
#define UNKNOWN STUDY_ACK_UNKNOWN

TEST(result_rules_and_the_earlier_attempt_amendment)
{
    config_t c;
    store_t *st;
    study_t *s;
    seen_t seen;
    study_verdict_t v;
    study_trial_t *t;
    int wa, wb;

    setup(&c, &st, &s, &seen);
    t = add(s, st, 1);
    dispatch(s, st, t, &wa);
    ASSERT_EQ(t->attempt, 1);
    /* Unknown: a trial that does not exist, an attempt never dispatched, attempt 0. */
    ASSERT_EQ(result(s, st, 99, 1, OK_, 0.5, false, NULL), UNKNOWN);
    ASSERT_EQ(result(s, st, t->id, 2, OK_, 0.5, false, NULL), UNKNOWN);
    /* The lease is lost: requeued, dispatched again as attempt 2 to another worker. */
    ASSERT_OK(store_begin(st));
    ASSERT_OK(study_lease_lost(s, t, "lost", "test"));
    ASSERT_OK(store_commit(st));
    ASSERT_EQ(t->state, STORE_QUEUED);
    dispatch(s, st, t, &wb);
    ASSERT_EQ(t->attempt, 2);
    /* A failure of the superseded attempt says nothing: stale. */
    ASSERT_EQ(result(s, st, t->id, 1, FAILED_, 0, true, NULL), STALE);
    ASSERT_EQ(t->state, STORE_DISPATCHED);
    /* Its OK result is accepted, and attempt 2 (on worker b) is superseded. */
    ASSERT_EQ(result(s, st, t->id, 1, OK_, 0.75, false, &v), ACCEPTED);
    ASSERT_TRUE(v.counted);
    ASSERT_TRUE(v.superseded_worker == &wb);
    ASSERT_EQ(v.superseded_attempt, 2);
    ASSERT_TRUE(v.freed_worker == NULL);
    ASSERT_EQ(t->state, STORE_DONE);
    ASSERT_NEAR(t->objective, 0.75, 0);
    ASSERT_EQ(t->seq, 1);
    ASSERT_EQ(seen.n, 1);
    /* Everything after that is not counted again. */
    ASSERT_EQ(result(s, st, t->id, 1, OK_, 0.9, false, NULL), DUPLICATE);
    ASSERT_EQ(result(s, st, t->id, 2, OK_, 0.9, false, NULL), STALE);
    ASSERT_NEAR(t->objective, 0.75, 0);
    ASSERT_EQ(seen.n, 1);
    {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/study", harness_tmpdir());
        ASSERT_EQ(rt_count(dir), 1);
    }
    study_free(&s);
    store_close(&st);
}

TEST(failures_retries_and_bounded_attempts)
{
    config_t c;
    store_t *st;
    study_t *s;
    seen_t seen;
    study_trial_t *a, *b, *x;
    study_counts_t n;
    int w;

    setup(&c, &st, &s, &seen);
    a = add(s, st, 2);
    b = add(s, st, 3);
    /* A retryable failure goes back to the front of the queue. */
    dispatch(s, st, a, &w);
    ASSERT_EQ(result(s, st, a->id, 1, FAILED_, 0, true, NULL), ACCEPTED);
    ASSERT_EQ(a->state, STORE_QUEUED);
    dispatch(s, st, a, &w);
    /* A failure that is not retryable fails the trial. */
    ASSERT_EQ(result(s, st, a->id, 2, FAILED_, 0, false, NULL), ACCEPTED);
    ASSERT_EQ(a->state, STORE_FAILED);
    ASSERT_EQ(seen.n, 1);
    ASSERT_FALSE(seen.ok[0]);
    /* Three lost leases: failed with the reason. */
    for (int i = 1; i <= 3; i++) {
        dispatch(s, st, b, &w);
        ASSERT_OK(store_begin(st));
        ASSERT_OK(study_lease_lost(s, b, "lost", "worker silent"));
        ASSERT_OK(store_commit(st));
    }
    ASSERT_EQ(b->state, STORE_FAILED);
    x = study_pop(s);
    ASSERT_TRUE(x == NULL);
    study_counts(s, &n);
    ASSERT_EQ(n.failed, 2);
    ASSERT_EQ(n.created, 2);
    ASSERT_EQ(n.queued, 0);
    ASSERT_EQ(n.running, 0);
    study_free(&s);
    store_close(&st);
}

TEST(reload_replays_history_in_counted_order)
{
    config_t c;
    store_t *st;
    study_t *s;
    seen_t seen;
    study_trial_t *t[4];
    study_counts_t n;
    char dir[1024];
    int w;

    setup(&c, &st, &s, &seen);
    for (int i = 0; i < 4; i++)
        t[i] = add(s, st, 10 + (uint64_t)i);
    for (int i = 0; i < 4; i++)
        dispatch(s, st, t[i], &w);
    /* Results arrive out of id order: 3, 1, then 4; 2 stays dispatched. */
    result(s, st, 3, 1, OK_, 0.3, false, NULL);
    result(s, st, 1, 1, OK_, 0.1, false, NULL);
    result(s, st, 4, 1, FAILED_, 0, false, NULL);
    study_free(&s);
    store_close(&st);

    snprintf(dir, sizeof dir, "%s/study", harness_tmpdir());
    ASSERT_OK(store_open(dir, 0, &st));
    memset(&seen, 0, sizeof seen);
    ASSERT_OK(study_new(&c, st, observe, &seen, &s));
    ASSERT_EQ(seen.n, 3);
    ASSERT_EQ_U(seen.ids[0], 3);
    ASSERT_EQ_U(seen.ids[1], 1);
    ASSERT_EQ_U(seen.ids[2], 4);
    ASSERT_TRUE(seen.ok[0] && seen.ok[1] && !seen.ok[2]);
    study_counts(s, &n);
    ASSERT_EQ(n.done, 2);
    ASSERT_EQ(n.failed, 1);
    ASSERT_EQ(n.running, 1);
    /* Trial 2 waits for its worker: re-attaching keeps its attempt. */
    {
        study_ref_t ref = {2, 1};
        bool kept;
        ASSERT_OK(store_begin(st));
        ASSERT_OK(study_reattach(s, ref, (study_worker_t){&w, "w2"}, 0, &kept));
        ASSERT_TRUE(kept);
        ASSERT_OK(store_commit(st));
        ASSERT_EQ(study_trial(s, 2)->attempt, 1);
        /* Another worker cannot claim it now. */
        ASSERT_OK(study_reattach(s, ref, (study_worker_t){&n, "w3"}, 0, &kept));
        ASSERT_FALSE(kept);
        ref.attempt = 2;
        ASSERT_OK(study_reattach(s, ref, (study_worker_t){&w, "w2"}, 0, &kept));
        ASSERT_FALSE(kept);
    }
    /* The next trial id continues after the stored ones. */
    ASSERT_EQ_U(add(s, st, 99)->id, 5);
    study_free(&s);
    store_close(&st);
}

/* Workers keep pointers to trial records: they must not move as the study grows (a bug the
 * dispatch benchmark found: records used to live in one reallocated array). */
TEST(trial_records_do_not_move)
{
    config_t c;
    store_t *st;
    study_t *s;
    seen_t seen;
    study_trial_t *first, *t;
    space_config_t cfg;
    rng_t r;
    int w, added = 0;

    setup(&c, &st, &s, &seen);
    c.budget = 3000;
    first = add(s, st, 1);
    dispatch(s, st, first, &w);
    rng_seed(&r, 7);
    ASSERT_OK(store_begin(st));
    while (added < 2500) {
        space_sample(study_space(s), &r, &cfg);
        if (study_has_config(s, &cfg))
            continue;
        ASSERT_OK(study_add(s, &cfg, true, 0, &t));
        added++;
    }
    ASSERT_OK(store_commit(st));
    ASSERT_TRUE(study_trial(s, 1) == first);
    ASSERT_TRUE(first->worker == &w);
    ASSERT_EQ_U(study_trial(s, 2501)->id, 2501);
    ASSERT_TRUE(study_has_config(s, &study_trial(s, 1800)->config));
    study_free(&s);
    store_close(&st);
}

/* Baselines are queued once, outside the budget, before the search's trials; only those inside
 * the space are observations for the search; a reload neither repeats nor loses them. */
TEST(baselines_are_extra_trials_added_once)
{
    config_t c;
    store_t *st;
    study_t *s;
    seen_t seen;
    study_counts_t n;
    char dir[1024];
    int w, added;

    config_defaults(&c);
    c.mode = CONFIG_MODE_SYNTHETIC;
    c.budget = 2;
    ASSERT_OK(baseline_builtin("pfeiffer", 768, 12, &c.baselines[0]));      /* in the space */
    ASSERT_OK(baseline_builtin("lora", 768, 12, &c.baselines[1]));          /* lora is off */
    ASSERT_OK(baseline_builtin("full-finetune", 768, 12, &c.baselines[2]));
    c.nbaselines = 3;
    snprintf(dir, sizeof dir, "%s/study", harness_tmpdir());
    ASSERT_OK(store_open(dir, STORE_CREATE, &st));
    memset(&seen, 0, sizeof seen);
    ASSERT_OK(study_new(&c, st, observe, &seen, &s));
    ASSERT_OK(store_begin(st));
    ASSERT_OK(study_add_baselines(s, &added));
    ASSERT_OK(store_commit(st));
    ASSERT_EQ(added, 3);
    ASSERT_EQ(study_to_suggest(s), 2);
    ASSERT_STR_EQ(study_trial(s, 1)->label, "pfeiffer");
    ASSERT_TRUE(study_trial(s, 1)->kind == STORE_BASELINE && study_trial(s, 1)->in_space);
    ASSERT_FALSE(study_trial(s, 2)->in_space);
    ASSERT_TRUE(study_trial(s, 3)->full_finetune && !study_trial(s, 3)->in_space);
    ASSERT_NEAR(study_trial(s, 3)->cost, 100, 1e-12);
    ASSERT_NEAR(study_trial(s, 1)->cost, 0.8215, 1e-4);   /* docs/baselines.md */
    {
        /* The suggester's pending points are in its space: pfeiffer only. */
        space_config_t pend[4];
        ASSERT_EQ(study_pending(s, pend, 4), 1);
        ASSERT_TRUE(space_config_equal(&pend[0], &study_trial(s, 1)->config));
    }
    for (int i = 1; i <= 3; i++) {
        dispatch(s, st, study_trial(s, (uint64_t)i), &w);
        result(s, st, (uint64_t)i, 1, OK_, 0.5 + i * 0.01, false, NULL);
    }
    ASSERT_FALSE(study_finished(s));   /* the budget counts the search's trials only */
    add(s, st, 1);
    add(s, st, 2);
    study_counts(s, &n);
    ASSERT_EQ(n.created, 5);
    ASSERT_EQ(n.searched, 2);
    ASSERT_EQ(n.baselines, 3);
    study_free(&s);
    store_close(&st);

    ASSERT_OK(store_open(dir, 0, &st));
    memset(&seen, 0, sizeof seen);
    ASSERT_OK(study_new(&c, st, observe, &seen, &s));
    ASSERT_OK(store_begin(st));
    ASSERT_OK(study_add_baselines(s, &added));
    ASSERT_OK(store_commit(st));
    ASSERT_EQ(added, 0);
    ASSERT_EQ(seen.n, 3);   /* the counted ones, replayed; the dispatcher filters in_space */
    ASSERT_TRUE(study_trial(s, 3)->full_finetune);
    ASSERT_STR_EQ(study_trial(s, 2)->label, "lora");
    study_counts(s, &n);
    ASSERT_EQ(n.baselines, 3);
    ASSERT_EQ(n.searched, 2);
    study_free(&s);
    store_close(&st);
}

/* Every trial has its own seed, a function of the study seed and its id; a confirmation
 * copies its origin's configuration with a seed none of the origin's runs had. */
TEST(seeds_per_trial_and_confirmations)
{
    config_t c;
    store_t *st;
    study_t *s;
    seen_t seen;
    study_trial_t *t, *k1, *k2;
    study_extra_t e = {.kind = STORE_CONFIRM, .origin = 1};

    setup(&c, &st, &s, &seen);
    t = add(s, st, 5);
    ASSERT_EQ_U(t->seed, study_trial_seed(c.seed, 1));
    ASSERT_TRUE(t->seed != study_trial_seed(c.seed, 2));
    ASSERT_TRUE(study_trial_seed(2, 1) != study_trial_seed(1, 1));
    ASSERT_TRUE(t->seed < (1u << 31));
    ASSERT_OK(store_begin(st));
    ASSERT_OK(study_add_extra(s, &e, &k1));
    ASSERT_OK(study_add_extra(s, &e, &k2));
    ASSERT_OK(store_commit(st));
    ASSERT_TRUE(k1->kind == STORE_CONFIRM && k1->origin == 1);
    ASSERT_TRUE(space_config_equal(&k1->config, &t->config));
    ASSERT_TRUE(k1->seed != t->seed && k2->seed != t->seed && k1->seed != k2->seed);
    ASSERT_EQ(study_to_suggest(s), c.budget - 1);
    /* Not of a confirmation, nor of a trial that does not exist. */
    e.origin = 2;
    ASSERT_ERR(study_add_extra(s, &e, NULL), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "itself a confirmation");
    e.origin = 9;
    ASSERT_ERR(study_add_extra(s, &e, NULL), ERR_INVAL);
    study_free(&s);
    store_close(&st);
}

/* A STOPPED result with the objective of the epochs it ran. */
static void stopped(study_t *s, store_t *st, uint64_t id, double objective, uint32_t epochs)
{
    study_result_t r;
    study_verdict_t v;

    memset(&r, 0, sizeof r);
    r.row.trial_id = id;
    r.row.attempt = 1;
    r.row.worker = "w";
    r.row.json = "{}";
    r.row.objective = objective;
    r.row.has_objective = true;
    r.row.epochs_run = epochs;
    r.row.error = "stopped after epoch 1 of 3";
    r.status = STUDY_STATUS_STOPPED;
    ASSERT_OK(store_begin(st));
    ASSERT_OK(study_result(s, &r, &v));
    ASSERT_OK(store_commit(st));
    ASSERT_EQ(v.ack, STUDY_ACK_ACCEPTED);
}

/* budget_epochs 9 with 3-epoch trials: three open trials reserve it all; a trial stopped after
 * one epoch gives two back, which is room for no new trial until a second one does; the
 * counts survive a reload. A stopped trial is done, with its objective, and observed. */
TEST(the_epoch_budget_counts_what_trials_ran_and_reserves_the_rest)
{
    config_t c;
    store_t *st;
    study_t *s;
    seen_t seen;
    study_trial_t *t[5];
    study_counts_t n;
    char dir[1024];
    int w;

    setup(&c, &st, &s, &seen);
    study_free(&s);
    c.budget = 100;
    c.budget_epochs = 9;
    c.epochs = 3;
    ASSERT_OK(study_new(&c, st, observe, &seen, &s));
    ASSERT_EQ(study_to_suggest(s), 3);
    for (int i = 0; i < 3; i++)
        t[i] = add(s, st, 30 + (uint64_t)i);
    ASSERT_EQ(study_to_suggest(s), 0);
    for (int i = 0; i < 3; i++)
        dispatch(s, st, t[i], &w);
    stopped(s, st, 1, 0.61, 1);
    ASSERT_EQ(t[0]->state, STORE_DONE);
    ASSERT_TRUE(t[0]->stopped && t[0]->has_objective);
    ASSERT_NEAR(t[0]->objective, 0.61, 0);
    ASSERT_EQ(seen.n, 1);
    ASSERT_TRUE(seen.ok[0]);
    ASSERT_EQ(study_to_suggest(s), 0);   /* 9 - 1 - 2 x 3 = 2 epochs: no room for 3 */
    stopped(s, st, 2, 0.58, 1);
    ASSERT_EQ(study_to_suggest(s), 1);   /* 9 - 2 - 3 = 4 */
    t[3] = add(s, st, 40);
    ASSERT_FALSE(study_finished(s));
    ASSERT_EQ(study_add(s, &t[0]->config, true, 0, NULL), ERR_STATE);
    ASSERT_CONTAINS(err_msg(), "budget of 9 epochs");
    study_counts(s, &n);
    ASSERT_EQ(n.epochs, 2);
    study_free(&s);
    store_close(&st);

    snprintf(dir, sizeof dir, "%s/study", harness_tmpdir());
    ASSERT_OK(store_open(dir, 0, &st));
    memset(&seen, 0, sizeof seen);
    ASSERT_OK(study_new(&c, st, observe, &seen, &s));
    study_counts(s, &n);
    ASSERT_EQ(n.epochs, 2);
    ASSERT_EQ(n.done, 2);
    ASSERT_EQ(study_to_suggest(s), 0);   /* trials 3 and 4 are open: 9 - 2 - 6 = 1 */
    /* stopped survives the reload, so the dispatcher keeps such trials out of the GP */
    ASSERT_TRUE(study_trial(s, 1)->stopped && study_trial(s, 2)->stopped);
    ASSERT_FALSE(study_trial(s, 3)->stopped);
    ASSERT_EQ(seen.n, 2);
    study_free(&s);
    store_close(&st);
}
