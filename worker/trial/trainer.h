/* The worker's trainers: what runs one trial attempt (a trainer_trial_t) and says how it went.
 * The daemon (worker/daemon/daemon.h) owns the network and translates the wire's messages to
 * and from these types at its edge (worker/daemon/edge.h); a trainer only trains, and knows
 * nothing of protobuf.
 *
 * Three trainers exist:
 *   synthetic  fast mode for tests and benchmarks: a deterministic synthetic learning curve of
 *              the configuration and seed (trainer_synthetic_curve, ending at
 *              trainer_synthetic_objective, in trainer.c), one point per recipe epoch, with the
 *              duration, noise and forced failure of the trial's synthetic parameters; runs
 *              TRAINER_MODE_SYNTHETIC trials
 *   exec       `autopeft-worker --exec CMD`: the user's own program per trial (trainer_exec.c);
 *              runs TRAINER_MODE_TRAIN trials
 *   builtin    the C fine-tuning engine through the trial runner (trial.h,
 *              trainer_builtin.c); runs TRAINER_MODE_TRAIN trials unless --exec replaces it
 *
 * How the daemon calls a trainer (the contract an implementation must keep):
 *   - run() is called on the worker's training thread, one attempt at a time, never
 *     concurrently on one trainer_t; different trainer_t objects share nothing. The daemon's
 *     event loop keeps heartbeating on its own thread meanwhile, so run() may take hours.
 *   - trial is the decoded TRIAL (valid by wire_validate: every required field is present),
 *     translated; it and the strings it points to stay alive and unchanged until run()
 *     returns. The trial is everything: workers are stateless, so a trainer may cache (a
 *     loaded checkpoint, a tokenised data set) but must give the same answer without its
 *     cache.
 *   - env->cancel becomes true when the attempt must stop (CANCEL, SHUTDOWN, the attempt was
 *     given to someone else). Check it between optimiser steps (at least every second or so);
 *     when it is set, return promptly with status CANCELLED and a short error text.
 *   - env->stop (NULL when nobody can ask) is set before env->cancel when the coordinator
 *     stops the attempt for a partial result (Cancel.stop, multi-fidelity search): a trainer
 *     that sees cancel reads stop, and when it is set returns STOPPED instead of CANCELLED,
 *     dropping the epoch in progress (trainer_stop fills the result from its history). A
 *     trainer that ignores stop returns CANCELLED, which loses the partial result but nothing
 *     else.
 *   - env->progress(env->ctx, &p) may be called as often as convenient (it only copies p under a
 *     lock; the daemon forwards the latest to the coordinator at most once per heartbeat
 *     interval). p.message, when set, is copied; p may live on the stack. p.curve, when set, is
 *     the whole learning curve so far (every evaluated epoch, epochs increasing) and is copied
 *     too; a curve with a new point is forwarded at once (at most one PROGRESS every
 *     DAEMON_CURVE_GAP_MS), so report each epoch's point as soon as it is evaluated.
 *   - env->threads is the number of cores this attempt may use (the recipe's threads, else the
 *     worker's share); a trainer must not use more.
 *   - On return, *out is filled: status OK with objective, params (exact counts) and the rest
 *     it knows; or FAILED with error (and retryable = true when another attempt might succeed:
 *     out of memory, killed, a node fault; false for a bad configuration or data); or CANCELLED;
 *     or STOPPED (only when env->stop was set) with the evaluated epochs' history, objective and
 *     best_epoch of the best of them (best_epoch 0 and no objective when none was evaluated: not
 *     a failure), epochs_run the last evaluated epoch, params when known and a reason in error.
 *     out is zeroed by the daemon before the call. A negative return code instead means the
 *     trainer itself broke: the daemon reports FAILED, retryable, with err_msg().
 *   - Errors are reported, never fatal: a trainer must not exit() or abort() on a bad trial. */
#ifndef AUTOPEFT_TRAINER_H
#define AUTOPEFT_TRAINER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/space.h"
#include "worker/trial/trial_spec.h"

#define TRAINER_TEXT_MAX 4096      /* error texts and progress messages are cut to this */
#define TRAINER_NAME_MAX 64
#define TRAINER_MAX_METRICS 16
#define TRAINER_MAX_HISTORY 1000

/* The trials a trainer runs. */
typedef enum {
    TRAINER_MODE_NONE = 0,        /* a mode this worker does not know: no trainer runs it */
    TRAINER_MODE_TRAIN,           /* real fine-tuning */
    TRAINER_MODE_SYNTHETIC,       /* the synthetic objective (fast mode) */
} trainer_mode_t;

/* What a trainer is, announced to the coordinator as a capability. */
typedef enum {
    TRAINER_KIND_BUILTIN = 1,     /* fine-tunes with the C engine */
    TRAINER_KIND_EXEC,            /* runs the user's command for each trial */
    TRAINER_KIND_SYNTHETIC,       /* runs synthetic trials */
} trainer_kind_t;

/* What an attempt is doing, for the heartbeat's worker state. */
typedef enum {
    TRAINER_STATE_NONE = 0,       /* not said: the daemon reports TRAINING */
    TRAINER_STATE_LOADING,        /* reading the model and data */
    TRAINER_STATE_TRAINING,
    TRAINER_STATE_EVALUATING,
} trainer_state_t;

typedef enum {
    TRAINER_STATUS_NONE = 0,      /* not set: the daemon reports a retryable failure */
    TRAINER_STATUS_OK,
    TRAINER_STATUS_FAILED,
    TRAINER_STATUS_CANCELLED,
    TRAINER_STATUS_STOPPED,       /* ended early on the coordinator's word (env->stop) */
} trainer_status_t;

/* A synthetic trial's parameters (docs/guide.md, "Fast mode"). */
typedef struct {
    uint32_t duration_ms;         /* how long the trial pretends to train */
    double noise;                 /* standard deviation of the objective's noise */
    bool fail;                    /* report a failure (tests count them) */
    int hidden, layers;           /* the model shape the objective is defined on */
} trainer_synthetic_t;

/* One attempt of a trial, as a trainer sees it. Strings are borrowed (from the TRIAL the daemon
 * holds while the attempt runs). */
typedef struct {
    uint64_t trial_id;
    uint32_t attempt;
    const char *study;            /* the study's name */
    trainer_mode_t mode;
    /* Model, task, recipe, seed, save_dir and the PEFT configuration; its depth is the masks'
     * (layers 0: no module). eval_dir is NULL. */
    trial_spec_t spec;
    const char *config_text;      /* the configuration's canonical text, or NULL */
    bool has_synthetic;           /* mode SYNTHETIC: synthetic is set */
    bool report_curve;            /* the daemon sends each curve point at once (TrialSpec) */
    trainer_synthetic_t synthetic;
} trainer_trial_t;

/* One evaluated epoch: a point of the learning curve. */
typedef struct {
    uint32_t epoch;               /* 1-based */
    double objective;             /* the dev objective after it (higher is better) */
    float train_loss;             /* the epoch's mean training loss; 0 when not known */
    double seconds;               /* since the attempt started */
} trainer_epoch_t;

typedef struct {
    trainer_state_t state;        /* LOADING, TRAINING or EVALUATING */
    double fraction;              /* of the attempt done, in [0, 1] */
    uint32_t epoch, epochs;       /* 1-based; 0 when not known */
    uint64_t step, steps_total;
    bool has_loss, has_metric;
    float loss;
    double metric;
    double examples_per_s, eta_s; /* 0 when not known */
    const char *message;          /* a free line, or NULL */
    /* The learning curve so far, ncurve points (at most TRAINER_MAX_HISTORY are kept), or
     * NULL: the daemon keeps the last curve it was given. */
    const trainer_epoch_t *curve;
    int ncurve;
} trainer_progress_t;

typedef struct {
    trainer_status_t status;         /* OK, FAILED, CANCELLED or STOPPED */
    char error[TRAINER_TEXT_MAX];
    bool retryable;
    double objective;                /* OK, STOPPED with best_epoch: the dev objective */
    char objective_name[TRAINER_NAME_MAX];
    int nmetrics;
    struct {
        char name[TRAINER_NAME_MAX];
        double value;
    } metrics[TRAINER_MAX_METRICS];
    uint32_t best_epoch, epochs_run; /* 0 when not known */
    bool has_params;                 /* required for OK */
    uint64_t trainable, deployed, modules_trainable, modules_deployed, head, backbone;
    double percent;                  /* 100 * modules_deployed / backbone */
    double load_s, tokenize_s, train_s, eval_s, total_s, examples_per_s;
    int nhistory;
    trainer_epoch_t history[TRAINER_MAX_HISTORY];
} trainer_result_t;

typedef struct {
    void (*progress)(void *ctx, const trainer_progress_t *p);
    void *ctx;
    const atomic_bool *cancel;
    int threads;
    const char *worker_id;
    const atomic_bool *stop;         /* NULL, or set before cancel: end as STOPPED */
} trainer_env_t;

typedef struct trainer trainer_t;

typedef struct {
    const char *name;                 /* "synthetic", "exec", "builtin" */
    trainer_kind_t kind;              /* announced in HELLO */
    trainer_mode_t mode;              /* the trials it runs */
    int (*run)(trainer_t *t, const trainer_trial_t *trial, const trainer_env_t *env,
               trainer_result_t *out);
    void (*free)(trainer_t *t);
} trainer_ops_t;

/* Implementations embed this as their first member. */
struct trainer {
    const trainer_ops_t *ops;
};

trainer_t *trainer_synthetic_new(void);
/* The built-in trainer, with a cache of checkpoints and tokenised data for the worker's life.
 * NULL with err_set on failure. */
trainer_t *trainer_builtin_new(void);
/* cmd runs under /bin/sh -c; grace_ms: how long after SIGTERM a cancelled command gets before
 * SIGKILL. NULL with err_set on failure. */
trainer_t *trainer_exec_new(const char *cmd, int grace_ms);
void trainer_free(trainer_t **tp);

/* Makes s valid for the wire in place: bytes that are not UTF-8 become '?', and with one_line
 * so do control characters (tabs and line breaks included). */
void trainer_sanitize(char *s, bool one_line);

/* Helpers for implementations. */
void trainer_fail(trainer_result_t *out, bool retryable, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Whether the attempt is to end as STOPPED (env->stop set); read it once cancel is seen. */
bool trainer_stopping(const trainer_env_t *env);
/* Ends out as STOPPED from its history (the caller's evaluated epochs, in order): objective and
 * best_epoch those of the best epoch (the first of equals; best_epoch 0 and objective 0 when
 * the history is empty), epochs_run the last epoch, retryable false, and the reason in error
 * ("stopped after epoch 2 of 5", "stopped before its first evaluation"). Metrics, params and
 * timings are the caller's. */
void trainer_stop(trainer_result_t *out, uint32_t epochs);
/* The trial's configuration on a model of `layers` layers into out: "no module" (layers 0)
 * becomes that depth without a module; a configuration of another depth is ERR_INVAL naming
 * its first module (as a mask of the wrong length). */
int trainer_config_at(const space_config_t *c, int layers, space_config_t *out);
/* The exact parameter counts of the trial's PEFT configuration on BERT's shape of this width
 * and depth, with the task's labels (2 when it does not say) and the recipe's prefix
 * bottleneck, into out (has_params); ERR_INVAL when the configuration does not fit. */
int trainer_counts(const trainer_trial_t *t, int hidden, int layers, trainer_result_t *out);

/* The synthetic objective (docs/guide.md, "Fast mode") of configuration c on the model shape
 * of y (y->hidden, y->layers): a number in about [0.5, 0.92] that grows with diminishing
 * returns in each module's size, values upper layers more than lower ones, penalises very
 * large configurations, plus Gaussian noise of sd y->noise drawn from (seed, configuration).
 * NaN when c does not fit the shape. Exposed for tests. */
double trainer_synthetic_objective(const space_config_t *c, const trainer_synthetic_t *y,
                                   uint64_t seed);
/* The synthetic learning curve (docs/guide.md, "Fast mode"): the objective after epoch `epoch`
 * of `epochs` (1 <= epoch <= epochs). A saturating curve from min(0.5, f) at epoch 0 to f, the
 * noiseless objective, at a rate of the configuration: small configurations learn fast and
 * plateau low, large ones start slow and end high, so early rankings can mislead. Each epoch
 * has its own noise of sd y->noise from (seed, configuration, epoch), and the last epoch is
 * trainer_synthetic_objective(c, y, seed) exactly. NaN when c does not fit the shape or the
 * epochs are out of range. */
double trainer_synthetic_curve(const space_config_t *c, const trainer_synthetic_t *y,
                               uint64_t seed, uint32_t epoch, uint32_t epochs);

#endif
