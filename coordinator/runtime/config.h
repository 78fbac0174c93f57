/* A study's configuration: the INI file a user writes (docs/config.md is the reference).
 *
 *   [study]    name, mode (train|synthetic), budget, budget_epochs, n_init, seed, objective,
 *              reference point, max_attempts, trial_timeout_s, keep_weights (front|all|none),
 *              weights_dir
 *   [space]    size ladders, lora, separate_masks, prefix_bottleneck
 *   [model]    path (Hugging Face folder) or embedded, shape (for counting parameters)
 *   [task]     name, data files and columns, num_labels, metric, embedded
 *   [recipe]   the training recipe of every trial, and its precision (fp32|bf16|fp16)
 *   [synthetic] the fast mode's objective: duration_ms, noise, fail_rate
 *   [search]   surrogate (map|saas|random), refit_every, mc_samples, cost, lookahead,
 *              fidelity (none|asha), fidelity_eta, fidelity_min_epochs, fidelity_projection,
 *              fidelity_gp, fidelity_chance
 *   [baselines] names (built-ins, coordinator/search/baselines.h) and LABEL = CONFIGURATION:
 *              hand-designed configurations trained alongside the search
 *   [network]  bind, insecure_bind, heartbeats, restart grace, CURVE keys, endpoint_host
 *
 * Parsing is strict: an unknown section or key, a repeated key, a value out of range or two keys
 * that contradict each other is an error whose message names the file, the line, the section
 * and the key ("sst2.conf:12: [recipe] epochs: 0 is out of range 1..1000"). Relative paths are
 * taken relative to the folder of the file. Parsed with libinih (whose lines are capped at 199
 * bytes: a longer line is refused by name, not cut). */
#ifndef AUTOPEFT_CONFIG_H
#define AUTOPEFT_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "common/precision.h"
#include "common/shape.h"
#include "common/space.h"
#include "coordinator/search/baselines.h"

#define CONFIG_MAX_TEXT (1 << 20)  /* a configuration file larger than this is refused */
#define CONFIG_PATH_MAX 4096
#define CONFIG_ID_MAX 256
#define CONFIG_MAX_BUDGET 1000000
#define CONFIG_MAX_BUDGET_EPOCHS 1000000000
#define CONFIG_MAX_BASELINES 32

typedef enum { CONFIG_MODE_TRAIN = 0, CONFIG_MODE_SYNTHETIC } config_mode_t;
typedef enum { CONFIG_OBJ_HV = 0, CONFIG_OBJ_METRIC } config_objective_t;
typedef enum { CONFIG_SUR_SAAS = 0, CONFIG_SUR_MAP, CONFIG_SUR_RANDOM } config_surrogate_t;
/* Multi-fidelity: every trial to the end, or stopped at rungs (coordinator/search/fidelity.h). */
typedef enum { CONFIG_FIDELITY_NONE = 0, CONFIG_FIDELITY_ASHA } config_fidelity_t;
/* Which train-mode trials keep their trained weights (coordinator/runtime/weights.h): the
 * Pareto front's and the baselines', every done one, or none. */
typedef enum { CONFIG_KEEP_FRONT = 0, CONFIG_KEEP_ALL, CONFIG_KEEP_NONE } config_keep_t;

typedef struct {
    char file[CONFIG_PATH_MAX];   /* where it was read from ("<stored>" for the store's copy) */

    /* [study] */
    char name[CONFIG_ID_MAX];
    config_mode_t mode;
    int budget;                   /* trials in the study */
    int budget_epochs;            /* 0, or the epochs its search trials may train in all */
    int n_init;                   /* random configurations before BO */
    uint64_t seed;
    config_objective_t objective; /* hv: (metric, parameter %); metric: the metric alone */
    bool has_ref;
    double ref_metric, ref_cost;  /* hypervolume reference point (metric, parameter %) */
    int max_attempts;             /* dispatches of one trial before it fails */
    double trial_timeout_s;       /* 0: none */
    config_keep_t keep_weights;
    char weights_dir[CONFIG_PATH_MAX];  /* as the workers see it; "": STUDY/weights */

    /* [space] and [model] */
    space_opts_t space;           /* hidden and layers from the model's shape */
    int prefix_bottleneck;
    char model_path[CONFIG_PATH_MAX];
    bool model_embedded;
    uint64_t model_seed;
    shape_t shape;                /* the model's shape: from config.json, or [model] shape */

    /* [task] */
    char task_name[CONFIG_ID_MAX];
    bool task_embedded;
    char data_dir[CONFIG_PATH_MAX], train_file[CONFIG_PATH_MAX], dev_file[CONFIG_PATH_MAX];
    char format[CONFIG_ID_MAX], text_column[CONFIG_ID_MAX], pair_column[CONFIG_ID_MAX];
    char label_column[CONFIG_ID_MAX], metric[CONFIG_ID_MAX];
    int num_labels;

    /* [recipe] */
    int epochs, batch_size, max_length, eval_batch_size, patience, threads;
    double learning_rate, warmup_ratio, weight_decay, max_grad_norm, dropout, lora_alpha;
    int max_train_examples, max_eval_examples;
    bool full_finetune;
    precision_t precision;        /* fp32; bf16 and fp16 need an exec trainer that has them */

    /* [synthetic] */
    int syn_duration_ms;
    double syn_noise, syn_fail_rate;

    /* [search] */
    config_surrogate_t surrogate;
    int refit_every, mc_samples, map_restarts, lookahead;
    bool cost_log;
    config_fidelity_t fidelity;
    int fidelity_eta, fidelity_min_epochs;
    bool fidelity_projection;     /* the projection rule after the rank rule (else rank only) */
    bool fidelity_gp;             /* the GP learns from rung values and stopped trials, with the
                                   * fidelity as an input (else stopped trials stay out of it),
                                   * and decides the rungs once it is fitted (the model rule) */
    double fidelity_chance;       /* model rule: the least chance of beating the front to go on */

    /* [baselines], resolved for the model's shape */
    int nbaselines;
    baseline_t baselines[CONFIG_MAX_BASELINES];

    /* [network] */
    char bind[CONFIG_PATH_MAX];   /* "" = the default for the security setting */
    bool insecure_bind;
    int heartbeat_interval_ms, heartbeat_liveness;
    double restart_grace_s;       /* < 0: interval x liveness + 32 s */
    char curve_secret_key[CONFIG_PATH_MAX];  /* the coordinator's key file (autopeft keygen) */
    char authorized_keys[CONFIG_PATH_MAX];   /* folder of allowed workers' .pub files */
    char endpoint_host[CONFIG_ID_MAX];       /* host published in the endpoint file */
} config_t;

/* Every default (docs/config.md); the shape is bert-base's. */
void config_defaults(config_t *c);

/* Reads and checks a file. On error, err_msg() names file, line, section and key. */
int config_load(const char *path, config_t *out);
/* The same from text (the copy kept in the study store); `name` stands for the file in messages
 * and `dir` is the folder relative paths were resolved against (NULL: the current one). */
int config_parse(const char *text, const char *name, const char *dir, config_t *out);

/* Reads a whole file (at most max bytes) as a NUL-terminated string. */
int config_read_file(const char *path, size_t max, char **out, size_t *len);

/* A shape from "hidden=H layers=L [heads=N intermediate=N vocab=N positions=N type_vocab=N]"
 * (separated by spaces or commas; the rest as shape_default), for [model] shape when no preset
 * fits. out->labels is kept. ERR_PARSE / ERR_RANGE naming the key. */
int config_parse_shape(const char *text, shape_t *out);

const char *config_mode_name(config_mode_t m);
const char *config_surrogate_name(config_surrogate_t s);
const char *config_keep_name(config_keep_t k);

#endif
