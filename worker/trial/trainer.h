/* The worker's trainers: what runs one trial attempt (an Autopeft__TrialSpec) and says how it
 * went. The daemon (daemon.h) owns the network; a trainer only trains.
 *
 * Three trainers exist:
 *   synthetic  fast mode for tests and benchmarks: a deterministic synthetic objective of the
 *              configuration and seed (trainer_synth.c), with the duration, noise and forced
 *              failure of Trial.spec.synthetic; runs TRIAL_MODE_SYNTHETIC trials
 *   exec       `autopeft-worker --exec CMD`: the user's own program per trial (trainer_exec.c);
 *              runs TRIAL_MODE_TRAIN trials
 *   builtin    the C fine-tuning engine through the trial runner (trial.h,
 *              trainer_builtin.c); runs TRIAL_MODE_TRAIN trials unless --exec replaces it
 *
 * How the daemon calls a trainer (the contract an implementation must keep):
 *   - run() is called on the worker's training thread, one attempt at a time, never
 *     concurrently on one trainer_t; different trainer_t objects share nothing. The daemon's
 *     event loop keeps heartbeating on its own thread meanwhile, so run() may take hours.
 *   - trial is the decoded TRIAL (valid by wire_validate: every required field is present);
 *     it stays alive and unchanged until run() returns. The spec is everything: workers are
 *     stateless, so a trainer may cache (a loaded checkpoint, a tokenised data set) but must
 *     give the same answer without its cache.
 *   - env->cancel becomes true when the attempt must stop (CANCEL, SHUTDOWN, the attempt was
 *     given to someone else). Check it between optimiser steps (at least every second or so);
 *     when it is set, return promptly with status CANCELLED and a short error text.
 *   - env->progress(env->ctx, &p) may be called as often as convenient (it only copies p under a
 *     lock; the daemon forwards the latest to the coordinator at most once per heartbeat
 *     interval). p.message, when set, is copied; p may live on the stack.
 *   - env->threads is the number of cores this attempt may use (Recipe.threads, else the
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

#include "autopeft.pb-c.h"
#include "common/space.h"

#define TRAINER_TEXT_MAX 4096      /* error texts and progress messages are cut to this */
#define TRAINER_NAME_MAX 64
#define TRAINER_MAX_METRICS 16
#define TRAINER_MAX_HISTORY 1000

typedef struct {
    Autopeft__WorkerState state;  /* LOADING, TRAINING or EVALUATING */
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
    Autopeft__ResultStatus status;   /* OK, FAILED or CANCELLED */
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
    Autopeft__Capability capability;  /* announced in HELLO */
    Autopeft__TrialMode mode;         /* the trials it runs */
    int (*run)(trainer_t *t, const Autopeft__Trial *trial, const trainer_env_t *env,
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
/* A TRIAL's PeftConfig as a configuration of `layers` layers (every active module's mask must
 * have that many '0'/'1' characters); ERR_INVAL naming the module otherwise. */
int trainer_peft_config(const Autopeft__PeftConfig *p, int layers, space_config_t *out);
/* The exact parameter counts of the trial's PEFT configuration on a model shape into out
 * (has_params); ERR_INVAL when the configuration does not fit the shape. */
int trainer_counts(const Autopeft__PeftConfig *peft, int hidden, int layers, int labels,
                   int prefix_bottleneck, trainer_result_t *out);

/* The synthetic objective (docs/guide.md, "Fast mode"): a number in about [0.5, 0.92] that
 * grows with diminishing returns in each module's size, values upper layers more than lower
 * ones, penalises very large configurations, plus Gaussian noise of sd `noise` drawn from
 * (seed, configuration). Exposed for tests. */
double trainer_synthetic_objective(const Autopeft__PeftConfig *peft, int hidden, int layers,
                                   uint64_t seed, double noise);

#endif
