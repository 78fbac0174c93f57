/* The worker daemon's edge: the one place where the wire's messages meet the trainers' own
 * types (worker/trial/trainer.h). A decoded TRIAL becomes a trainer_trial_t; a trainer's
 * progress, state and result become the PROGRESS, HEARTBEAT state and RESULT the daemon sends.
 * Nothing here sends or logs: the daemon (daemon.h) does both. */
#ifndef AUTOPEFT_EDGE_H
#define AUTOPEFT_EDGE_H

#include "common/wire.h"
#include "worker/trial/trainer.h"

/* The TRIAL w (valid by wire_validate) as a trainer sees it: its strings are borrowed from w,
 * which must outlive out. Fields the TRIAL leaves out take the trial runner's defaults
 * (trial_spec_default; seed and embedded_seed 1), as the built-in trainer has always run them.
 * The PEFT configuration's depth is its masks' (layers 0 when every module is off). 0, or
 * ERR_INVAL (out still filled, its configuration empty) when the masks do not describe one
 * configuration, naming the module. */
int edge_trial(const Autopeft__Trial *w, trainer_trial_t *out);

/* The capability a trainer of this kind announces in HELLO. */
Autopeft__Capability edge_capability(trainer_kind_t kind);

/* The heartbeat's state of an attempt in this state: LOADING, TRAINING or EVALUATING (a state
 * not said counts as TRAINING). */
Autopeft__WorkerState edge_state(trainer_state_t state);

/* A PROGRESS message and the storage of its curve. */
typedef struct {
    Autopeft__Progress msg;
    Autopeft__EpochRecord *curve;            /* heap: the curve's records */
    Autopeft__EpochRecord **curve_ptrs;
} edge_progress_t;

/* The PROGRESS of attempt ref that q describes, into e->msg: the fields that are known and in
 * range (an epoch within epochs, a step within steps_total, finite numbers, positive rates), and
 * as Progress.curve the longest prefix of q->curve the wire accepts (epochs from 1, strictly
 * increasing, finite objectives, at most TRAINER_MAX_HISTORY; left out when memory runs out).
 * e->msg.message is q->message itself: the caller makes it valid for the wire first
 * (trainer_sanitize). ref and q->message must outlive e; edge_progress_free releases the
 * curve's storage. */
void edge_progress(edge_progress_t *e, const trainer_progress_t *q, Autopeft__TrialRef *ref);
void edge_progress_free(edge_progress_t *e);

/* A RESULT message and the storage its fields point into. */
typedef struct {
    Autopeft__Result msg;
    Autopeft__TrialRef ref;
    Autopeft__ParamCounts params;
    Autopeft__Timings timings;
    Autopeft__Metric metrics[TRAINER_MAX_METRICS];
    Autopeft__Metric *metric_ptrs[TRAINER_MAX_METRICS];
    Autopeft__EpochRecord *history;          /* heap: r->nhistory records */
    Autopeft__EpochRecord **history_ptrs;
} edge_result_t;

/* The RESULT of attempt ref that r describes, by worker worker_id, into e->msg: for FAILED
 * and CANCELLED the error (r->error, or a stock text when empty) and retryable only; for OK the
 * objective, metrics, epochs, counts, timings and history; for STOPPED (RESULT_STATUS_STOPPED)
 * the same as OK except that objective, objective_name and metrics are there only with a
 * best_epoch (an evaluated epoch), epochs_run always is, and error carries the reason. r's
 * status must be OK, FAILED, CANCELLED or STOPPED, and r and worker_id must outlive e. The
 * history is left out when memory runs out for it. edge_result_free releases e's storage. */
void edge_result(edge_result_t *e, const Autopeft__TrialRef *ref, const char *worker_id,
                 const trainer_result_t *r);
void edge_result_free(edge_result_t *e);

#endif
