/* The trained weights a study keeps ([study] keep_weights, weights_dir; docs/config.md), for
 * `autopeft export STUDY --trial N` and `autopeft eval --peft STUDY/weights/trial-N`.
 *
 * Each train-mode trial that may keep its weights is sent a TrialSpec.save_dir of
 * ROOT/trial-N, where the worker's trainer writes them in the `autopeft train --save` layout
 * (peft.safetensors, trial.json; an attempt that is retried overwrites them). ROOT is
 * weights_dir made absolute (without resolving links: it is a path as the workers see it), by
 * default STUDY/weights; with weights_dir elsewhere, STUDY/weights is a link to it, so the
 * study folder always has its weights at STUDY/weights.
 *
 * After each change of the counted trials the coordinator prunes ROOT from the study in memory,
 * which is the store's committed state (weights_prune runs after the commit, and again when a
 * study is opened, so a restart re-prunes what a crash left behind):
 *
 *   front   a done trial keeps its folder while it is a baseline or a search trial on the
 *           Pareto front (metric up, parameters down: the front of pareto.csv); a stopped
 *           trial is a done trial (the built-in trainer saves nothing for one, an exec trainer
 *           may); confirm trials are sent no save_dir
 *   all     every done trial keeps its folder
 *   none    nothing is sent or pruned, and ROOT is not made
 * and under front and all a failed trial's folder is removed. Queued and running trials are
 * never touched. Removal deletes only what autopeft writes there (peft.safetensors,
 * trial.json) and then the folder, without following a link: a folder that holds anything else
 * is left with a warning. A removal error is a warning, never fatal. */
#ifndef AUTOPEFT_WEIGHTS_H
#define AUTOPEFT_WEIGHTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coordinator/runtime/config.h"
#include "coordinator/runtime/study.h"

/* The link (or folder) in the study folder, and each trial's folder under it. */
#define WEIGHTS_DIR_NAME "weights"
#define WEIGHTS_TRIAL_PREFIX "trial-"
/* ROOT is at most this long, so that ROOT/trial-N fits the wire's path cap. */
#define WEIGHTS_ROOT_MAX 4000
#define WEIGHTS_PATH_MAX (WEIGHTS_ROOT_MAX + 32)

typedef struct weights weights_t;

/* The study's kept weights: ROOT made (and STUDY/weights linked to it when weights_dir is
 * elsewhere). *out is NULL when the study keeps none (keep_weights = none, or synthetic mode).
 * ERR_STATE when STUDY/weights exists and is not ROOT (nor a link to it), ERR_IO when ROOT or
 * the link cannot be made, ERR_RANGE for a path too long; err_msg() names the paths. */
int weights_open(const config_t *cfg, const char *study_dir, weights_t **out);
void weights_free(weights_t **wp);

/* ROOT (absolute). */
const char *weights_root(const weights_t *w);

/* The folder trial t saves its weights to, into buf: false (buf empty) when w is NULL or t is
 * sent none. */
bool weights_trial_dir(const weights_t *w, const study_trial_t *t, char *buf, size_t len);

/* Removes the folders of the closed trials whose weights are not kept (the rules above). Each
 * trial is looked at until its folder is gone or was left with a warning, so a call costs one
 * pass over the trials in memory. Returns how many folders were removed (w NULL: 0), or
 * ERR_NOMEM. */
int weights_prune(weights_t *w, study_t *s);

/* The trials of the study in study_dir whose folder STUDY/weights/trial-N holds a
 * peft.safetensors: the cap smallest ids into ids (increasing), how many there are into *n.
 * No folder: none. ERR_IO when the folder cannot be read, ERR_NOMEM. */
int weights_list(const char *study_dir, uint64_t *ids, int cap, int *n);

#endif
