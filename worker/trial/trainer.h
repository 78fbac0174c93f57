/* The worker's trainers: what runs one trial attempt (a trainer_trial_t) and says how it went.
 * The daemon (worker/daemon/daemon.h) owns the network and translates the wire's messages to
 * and from these types at its edge (worker/daemon/edge.h); a trainer only trains, and knows
 * nothing of protobuf.
 *
 * Three trainers exist:
 *   synthetic  fast mode for tests and benchmarks: a deterministic synthetic objective of the
 *              configuration and seed (trainer_synthetic_objective, in trainer.c), with the
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
 *   - env->progress(env->ctx, &p) may be called as often as convenient (it only copies p under a
 *     lock; the daemon forwards the latest to the coordinator at most once per heartbeat
 *     interval). p.message, when set, is copied; p may live on the stack.
 *   - env->threads is the number of cores this attempt may use (the recipe's threads, else the
 *     worker's share); a trainer must not use more.
 *   - On return, *out is filled: status OK with objective, params (exact counts) and the rest
 *     it knows; or FAILED with error (and retryable = true when another attempt might succeed:
 *     out of memory, killed, a node fault; false for a bad configuration or data); or CANCELLED.
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
    trainer_synthetic_t synthetic;
} trainer_trial_t;

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
} trainer_progress_t;

typedef struct {
    trainer_status_t status;         /* OK, FAILED or CANCELLED */
    char error[TRAINER_TEXT_MAX];
    bool retryable;
    double objective;                /* status OK: the dev objective (higher is better) */
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
    struct {
        uint32_t epoch;
        double objective;
        float train_loss;
        double seconds;
    } history[TRAINER_MAX_HISTORY];
} trainer_result_t;

typedef struct {
    void (*progress)(void *ctx, const trainer_progress_t *p);
    void *ctx;
    const atomic_bool *cancel;
    int threads;
    const char *worker_id;
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

#endif
