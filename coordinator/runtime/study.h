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

#include "autopeft.pb-c.h"
#include "common/space.h"
#include "coordinator/runtime/config.h"
#include "coordinator/runtime/store.h"

typedef struct {
    uint64_t id;
    space_config_t config;
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
} study_trial_t;

/* Called when a trial's outcome is counted: a metric (ok) or a failure, in history order. */
typedef void (*study_observe_fn)(void *ctx, const study_trial_t *t, bool ok);

typedef struct study study_t;

typedef struct {
    int created, queued, running, done, failed;
} study_counts_t;

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
/* Trials still to be suggested (budget - created). */
int study_to_suggest(const study_t *s);
/* Configurations of queued and dispatched trials (the pending points of the next suggestion);
 * returns how many were written (at most cap). */
int study_pending(study_t *s, space_config_t *out, int cap);
/* Whether the configuration is already a trial (suggesters never repeat one). */
bool study_has_config(const study_t *s, const space_config_t *c);
/* Calls fn for each dispatched trial (leases, time limits, restart grace). */
void study_each_dispatched(study_t *s, void (*fn)(void *ctx, study_trial_t *t), void *ctx);

/* A new trial from a suggestion, queued; its cost is computed here. */
int study_add(study_t *s, const space_config_t *c, bool random, double acq_value,
              study_trial_t **out);
/* The oldest queued trial (requeued ones first), taken off the queue; NULL when none. */
study_trial_t *study_pop(study_t *s);
/* Dispatches t (popped) to a worker: attempt + 1, committed by the caller's transaction. */
int study_dispatch(study_t *s, study_trial_t *t, void *worker, const char *worker_id,
                   uint64_t now_ms);
/* A worker's HELLO or heartbeat names (trial, attempt): true (and the trial dispatched to it
 * again, same attempt) when the rule of docs/protocol.md 8.2 lets it carry on. */
bool study_reattach(study_t *s, const Autopeft__TrialRef *ref, void *worker,
                    const char *worker_id, uint64_t now_ms, int *rc);
/* The lease of t's attempt is lost (outcome for the store: lost, refused, requeued, ...): queued
 * again, or failed after max_attempts dispatches with the reason. */
int study_lease_lost(study_t *s, study_trial_t *t, const char *outcome, const char *reason);

/* What study_result decided. */
typedef struct {
    Autopeft__AckStatus ack;
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

/* Requeues a dispatched trial without counting the attempt against max_attempts' verdict (the
 * coordinator stops: not the trial's fault). */
int study_requeue(study_t *s, study_trial_t *t, const char *outcome, const char *reason);

/* A RESULT, validated by wire_decode: applies the rules of protocol 8.2 with the
 * earlier-attempt amendment (an OK result of an earlier attempt of a trial that has no result
 * yet is accepted, and the later attempt superseded). json: the message for the store. */
int study_result(study_t *s, const Autopeft__Result *r, const char *worker_id, const char *json,
                 study_verdict_t *v);

#endif
