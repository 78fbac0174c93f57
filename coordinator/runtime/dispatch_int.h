/* Internals of the dispatcher (dispatch.h), in four files that call each other one way only:
 * dispatch.c (the loop, the socket, turns, signals) calls dispatch_msg.c (what workers send)
 * and dispatch_trial.c (trials to workers), and all three call dispatch_core.c (the state's
 * shared steps: outbox, stopping, leases). Not for other modules. */
#ifndef AUTOPEFT_DISPATCH_INT_H
#define AUTOPEFT_DISPATCH_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/wire.h"
#include "coordinator/runtime/dispatch.h"
#include "coordinator/runtime/registry.h"
#include "coordinator/runtime/store.h"
#include "coordinator/runtime/study.h"
#include "coordinator/runtime/suggest.h"
#include "coordinator/runtime/weights.h"
#include "coordinator/runtime/zap.h"

/* Messages read in one turn before the transaction is committed and the replies are sent:
 * bounds the latency a burst adds. */
#define TURN_BATCH 4096
/* Unknown peers remembered for rate-limiting their ERROR replies (direct-mapped by hash). */
#define UNKNOWN_SLOTS 1024

typedef struct {
    uint8_t rid[REGISTRY_RID_MAX];
    size_t rid_len;
    uint8_t *frame;
    size_t len;
} outmsg_t;

typedef struct disp {
    const dispatch_opts_t *o;
    const config_t *cfg;
    uv_loop_t loop;
    uv_poll_t poll;
    uv_prepare_t prepare;
    uv_timer_t tick;
    uv_signal_t sigint, sigterm, sighup;
    void *zctx, *router;
    int fd;
    int lock_fd;                   /* DISPATCH_LOCK_FILE, held; -1 before */
    zap_t *zap;
    store_t *store;
    study_t *study;
    suggest_t *sugg;
    registry_t *reg;
    weights_t *weights;            /* the kept weights; NULL when the study keeps none */
    int pruned_closed;             /* trials done or failed when weights were last pruned */
    outmsg_t *out;
    size_t nout, outcap;
    char coordinator_id[32];
    char endpoint[512];
    char endpoint_path[4200];
    uint64_t interval_ms, started_ms, restart_grace_ms, finished_ms;
    int liveness;
    bool in_turn, stopping, finished, fatal, closed, grace_over;
    bool suggest_failed;           /* no more suggestions (space used up, or an error) */
    bool suggest_retry;            /* the failure was an error: retry at the next tick */
    int result;
    uint64_t send_failures;
    uint64_t turns, commits, received, sent;  /* for the log at exit */
    uint64_t refused, refused_logged;  /* refused frames; how many were logged */
    uint64_t unknown_frames;           /* valid frames from unregistered peers */
    struct { uint64_t hash, ms; } unknown[UNKNOWN_SLOTS];
} disp_t;

/* w as the study knows a worker. */
static inline study_worker_t disp__worker(reg_worker_t *w)
{
    return (study_worker_t){w, w->id};
}

/* The attempt a message names, in the study's terms. */
static inline study_ref_t disp__ref(const Autopeft__TrialRef *r)
{
    return (study_ref_t){r->trial_id, r->attempt};
}

/* dispatch_core.c: what every part uses; it calls none of them. */
uint64_t disp__now_ms(disp_t *d);              /* the loop's time, updated */
uint64_t disp__expiry_span(const disp_t *d);   /* heartbeat interval x liveness */
/* Queues frame (taken over) for routing id rid, sent after this turn's commit. */
int disp__queue(disp_t *d, const uint8_t *rid, size_t rid_len, uint8_t *frame, size_t len);
/* Encodes and queues msg to w (sent after this turn's commit). */
int disp__send(disp_t *d, reg_worker_t *w, Autopeft__Kind kind, const ProtobufCMessage *msg);
/* Sends the outbox (after the commit), or drops it (after a fatal error). */
void disp__flush(disp_t *d);
void disp__drop_outbox(disp_t *d);
/* Closes every handle, so uv_run returns; a uv_walk callback for the same at the end. */
void disp__stop_loop(disp_t *d);
void disp__walk_close(uv_handle_t *h, void *arg);
/* A store error (rc != 0) is fatal: logged with what, rolled back, and the loop stopped. */
void disp__check(disp_t *d, int rc, const char *what);
/* Writes the endpoint file (DISPATCH_ENDPOINT_FILE) through a temporary name. */
int disp__write_endpoint(disp_t *d, const char *text);
/* The lease of t's attempt is lost (study_lease_lost: requeued, or failed after max_attempts);
 * its worker no longer runs it. */
void disp__lease_lost(disp_t *d, study_trial_t *t, const char *outcome, const char *reason);
/* The worker is gone (left, expired): its lease is lost and its record removed. */
void disp__forget(disp_t *d, reg_worker_t *w, const char *why);
/* stop: end the trial with a STOPPED result of what it learnt (multi-fidelity), instead of
 * cancelling it. */
void disp__send_cancel(disp_t *d, reg_worker_t *w, uint64_t id, uint32_t attempt,
                       const char *reason, bool stop);
/* Multi-fidelity (dispatch_fidelity.c): a PROGRESS of t's running attempt on w, which may stop
 * it at a rung; a RESULT's history, for the decisions of the trials after it. */
void disp__fidelity_progress(disp_t *d, reg_worker_t *w, study_trial_t *t,
                             const Autopeft__Progress *p);
void disp__fidelity_result(disp_t *d, study_trial_t *t, const Autopeft__Result *r);
/* With fidelity_gp: tells the suggester a counted search trial's rung values and its objective
 * at the fidelity it reached (its learning curve from the store); false when it is not for
 * this (the caller tells the final objective, a stopped trial as a failure). */
bool disp__fidelity_observe(disp_t *d, const study_trial_t *t);
/* A loaded study's finished search trials' rung values, from their stored curves, for the
 * decisions on the trials still to come. */
void disp__fidelity_load(disp_t *d);
void disp__send_shutdown(disp_t *d, reg_worker_t *w, const char *reason);

/* dispatch_msg.c: what workers send. */
/* One frame from routing id rid. */
void disp__handle(disp_t *d, const uint8_t *rid, size_t rid_len, const uint8_t *frame,
                  size_t len);
/* Logs (rate-limited) and answers (at most once per interval per peer) a refused frame. */
void disp__refuse(disp_t *d, const uint8_t *rid, size_t rid_len, int rc, Autopeft__Kind kind,
                  const char *why);

/* dispatch_trial.c: trials to workers. */
/* Gives queued trials to idle workers, after making random suggestions (random mode) to keep
 * the queue ready. */
int disp__pump(disp_t *d);
/* Bayesian optimisation: asks the suggester for what the queue lacks, unless it is busy;
 * done (on the loop thread) hands the answer to disp__suggested. */
int disp__ask(disp_t *d, suggest_done_fn done);
/* Adds the suggested configurations as trials (suggest_done_fn's arguments). */
void disp__suggested(disp_t *d, const suggest_item_t *items, int n, int rc, const char *error,
                     double seconds);
/* Every heartbeat interval: heartbeats, expiries, unconfirmed dispatches, time limits, the
 * restart grace. */
void disp__tick(disp_t *d);
/* When the budget is spent (or no more suggestions come): marks the study finished, queues
 * SHUTDOWN to every worker and publishes "finished"; true then (the caller sends, lingers and
 * stops), false while the study goes on. */
bool disp__finish(disp_t *d);
/* SIGINT/SIGTERM: what happens to running trials (protocol 8.4). */
int disp__stop_study(disp_t *d);

#endif
