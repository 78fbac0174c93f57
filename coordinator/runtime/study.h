/* A study's trials in memory, their state machine (docs/protocol.md, section 8.2) and the rules
 * for results, with every change written to the study store (store.h) in the caller's open
 * transaction. Sockets and workers are the dispatcher's (dispatch.h): here a worker is just the
 * id it registered with, and an opaque pointer the dispatcher keeps in the trial.
 *
 * Trial ids are 1, 2, ... in order of suggestion; the study creates exactly `budget` of them and
 * is finished when each is done or failed. Runs on the coordinator's loop thread only. */
#ifndef AUTOPEFT_STUDY_H
#define AUTOPEFT_STUDY_H

#include <stdbool.h>
#include <stdint.h>

#include "common/space.h"
#include "coordinator/search/fidelity.h"
#include "coordinator/runtime/config.h"
#include "coordinator/runtime/store.h"

#define STUDY_LABEL_MAX 64

typedef struct {
    uint64_t id;
    space_config_t config;
    store_kind_t kind;         /* search, baseline or confirm */
    char label[STUDY_LABEL_MAX];  /* a baseline's name; "" otherwise */
    uint64_t seed;             /* training seed (study_trial_seed) */
    uint64_t origin;           /* confirm: the trial it re-trains; 0 otherwise */
    bool full_finetune;        /* every weight trains (the full-finetune baseline) */
    bool in_space;             /* the search may learn from it (a configuration of its space) */
    store_state_t state;
    uint32_t attempt;          /* latest dispatch; 0 before the first */
    void *worker;              /* the dispatcher's record of the worker running it, or NULL */
    bool confirmed;            /* the worker named the attempt since the dispatch */
    int idle_reports;          /* IDLE heartbeats of the worker since an unconfirmed dispatch */
    uint64_t dispatched_ms;    /* loop time of the dispatch (time limits) */
    bool cancel_sent;
    bool random;
    bool has_objective;
    double objective, cost;    /* metric; exact deployed parameter % */
    int64_t seq;               /* order in which its outcome was counted; 0: not yet */
    uint32_t queue_gen;        /* queue entries of older generations are stale */
    bool queued;               /* in the queue */
    /* Multi-fidelity (dispatch_fidelity.c): the objective at each rung k (bit k of rung_known
     * set), the rungs decided for the running attempt, and whether it was stopped early. */
    double rung_metric[FIDELITY_MAX_RUNGS];
    uint32_t rung_known, rung_decided;
    bool stopped;
} study_trial_t;

/* One attempt of a trial, as the messages name it. */
typedef struct {
    uint64_t trial_id;
    uint32_t attempt;
} study_ref_t;

/* The worker an attempt is dispatched to: the dispatcher's record of it (opaque here, kept in
 * study_trial_t.worker) and the id it registered with (for the store). */
typedef struct {
    void *record;
    const char *id;
} study_worker_t;

/* Called when a trial's outcome is counted: a metric (ok) or a failure, in history order. */
typedef void (*study_observe_fn)(void *ctx, const study_trial_t *t, bool ok);

typedef struct study study_t;

typedef struct {
    int created, queued, running, done, failed;
    int searched;              /* trials the search suggested (the budget counts these) */
    int baselines, confirms;   /* trials of those kinds created */
    long long epochs;          /* trained by the search trials that finished */
} study_counts_t;

/* A trial that is not the search's: a baseline or the re-training of an earlier trial. */
typedef struct {
    store_kind_t kind;                /* STORE_BASELINE or STORE_CONFIRM */
    const char *label;                /* a baseline's name */
    space_config_t config;            /* a confirm's is its origin's */
    bool full_finetune;
    uint64_t origin;                  /* confirm: the trial re-trained */
} study_extra_t;

/* Loads the trials of the store (all of them; dispatched ones stay dispatched with no worker
 * until re-attached or expired), replaying counted outcomes through observe in their order. */
int study_new(const config_t *cfg, store_t *store, study_observe_fn observe, void *ctx,
              study_t **out);
void study_free(study_t **sp);

const space_t *study_space(const study_t *s);
study_trial_t *study_trial(study_t *s, uint64_t id);   /* NULL when no such trial */
void study_counts(const study_t *s, study_counts_t *out);
/* Every trial has been created and counted. */
bool study_finished(const study_t *s);
/* Trials still to be suggested (budget - searched). */
int study_to_suggest(const study_t *s);
/* Configurations of queued and dispatched trials in the space (the pending points of the next
 * suggestion; a baseline outside the space is none); returns how many were written (at most
 * cap). */
int study_pending(study_t *s, space_config_t *out, int cap);
/* Whether the configuration is already a trial (suggesters never repeat one). */
bool study_has_config(const study_t *s, const space_config_t *c);
/* Calls fn for each dispatched trial (leases, time limits, restart grace). */
/* fn on every trial, in id order. */
void study_each(study_t *s, void (*fn)(void *ctx, study_trial_t *t), void *ctx);
void study_each_dispatched(study_t *s, void (*fn)(void *ctx, study_trial_t *t), void *ctx);

/* A new trial from a suggestion, queued; its cost and seed are computed here. */
int study_add(study_t *s, const space_config_t *c, bool random, double acq_value,
              study_trial_t **out);
/* A new baseline or confirm trial, queued, outside the budget; its configuration need not be
 * in the space (it must fit the model's layers). A confirm's seed differs from its origin's and
 * its siblings'. */
int study_add_extra(study_t *s, const study_extra_t *e, study_trial_t **out);
/* Adds the configuration's [baselines] that the study does not have yet (by name), in the
 * caller's transaction; *added says how many. */
int study_add_baselines(study_t *s, int *added);

/* The training seed of trial `id` of a study seeded `study_seed`: a 31-bit hash of both, so
 * every trial trains with its own seed and a study is reproducible from its seed alone. */
uint64_t study_trial_seed(uint64_t study_seed, uint64_t id);
/* The oldest queued trial (requeued ones first), taken off the queue; NULL when none. */
study_trial_t *study_pop(study_t *s);
/* Dispatches t (popped) to worker w: attempt + 1, committed by the caller's transaction. */
int study_dispatch(study_t *s, study_trial_t *t, study_worker_t w, uint64_t now_ms);
/* A worker's HELLO or heartbeat names attempt ref: *kept is true (and the trial dispatched to it
 * again, same attempt) when the rule of docs/protocol.md 8.2 lets it carry on. */
int study_reattach(study_t *s, study_ref_t ref, study_worker_t w, uint64_t now_ms, bool *kept);
/* The lease of t's attempt is lost (outcome for the store: lost, refused, requeued, ...): queued
 * again, or failed after max_attempts dispatches with the reason. */
int study_lease_lost(study_t *s, study_trial_t *t, const char *outcome, const char *reason);

/* Requeues a dispatched trial without counting the attempt against max_attempts' verdict (the
 * coordinator stops: not the trial's fault). */
int study_requeue(study_t *s, study_trial_t *t, const char *outcome, const char *reason);

typedef enum {
    STUDY_STATUS_OK = 0,      /* trained and evaluated: the metric is the objective */
    STUDY_STATUS_FAILED,
    STUDY_STATUS_CANCELLED,
    STUDY_STATUS_STOPPED      /* stopped early on the coordinator's word: done, with the
                               * objective of the epochs it ran (row.has_objective) */
} study_status_t;

/* A worker's RESULT in the study's terms (the dispatcher translates the wire message). */
typedef struct {
    /* The row the store keeps: trial_id, attempt, objective, objective_name, the parameter
     * counts, epochs, total_s, worker, error (as sent) and json (the whole message); study_result
     * sets its status, has_objective and received_at and drops an empty error. */
    store_result_t row;
    study_status_t status;
    bool retryable;           /* a failure another attempt may cure */
} study_result_t;

/* How a result is answered (the ACK's status). */
typedef enum {
    STUDY_ACK_ACCEPTED = 0,   /* committed */
    STUDY_ACK_DUPLICATE,      /* this attempt's result is already recorded */
    STUDY_ACK_STALE,          /* the trial has its result, or a later attempt superseded it */
    STUDY_ACK_UNKNOWN         /* no such trial attempt */
} study_ack_t;

/* What study_result decided. */
typedef struct {
    study_ack_t ack;
    const char *reason;        /* static text for the ACK and the log */
    study_trial_t *trial;      /* the trial, when it exists */
    bool counted;              /* the result was committed (ACK ACCEPTED) */
    /* When the result of an earlier attempt was accepted while a later attempt was dispatched:
     * that attempt's worker (to be CANCELled and freed) and attempt; else NULL / 0. */
    void *superseded_worker;
    uint32_t superseded_attempt;
    /* The worker the counted attempt was dispatched to (freed by the caller), or NULL. */
    void *freed_worker;
} study_verdict_t;

/* A RESULT (validated by wire_decode): applies the rules of protocol 8.2 with the
 * earlier-attempt amendment (an OK result of an earlier attempt of a trial that has no result
 * yet is accepted, and the later attempt superseded), in the caller's transaction. */
int study_result(study_t *s, const study_result_t *r, study_verdict_t *v);

#endif
