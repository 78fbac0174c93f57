/* The hand-designed PEFT baselines a study's searched front is compared against.
 *
 * AutoPEFT (Zhou et al., arXiv 2301.12132) claims that its front dominates the usual hand-made
 * configurations at equal parameter budget. This catalogue holds those configurations in the
 * engine's own terms (space.h): each built-in puts its modules in every layer, with sizes scaled
 * to the model's width the way their papers state them (a reduction factor of the width) and
 * rounded to the nearest integer, at least 1. Two configurations bound the comparison: the head
 * alone, and full fine-tuning. A user's own baseline (a label and a configuration) is a
 * baseline_t too (baseline_make).
 *
 * Pure: no I/O. docs/baselines.md lists the catalogue with its counts on bert-base. */
#ifndef AUTOPEFT_BASELINES_H
#define AUTOPEFT_BASELINES_H

#include <stdbool.h>

#include "common/shape.h"
#include "common/space.h"

/* Longest name of a baseline, terminating NUL included. */
#define BASELINE_NAME_MAX 64

typedef struct {
    char name[BASELINE_NAME_MAX];   /* "pfeiffer", ... or a user's label */
    space_config_t config;          /* canonical; all modules off for head-only and full-finetune */
    bool full_finetune;             /* train every weight */
} baseline_t;

/* The built-ins, in catalogue order (i from 0 to count-1). Name and about are NULL outside. */
int baseline_builtin_count(void);
const char *baseline_builtin_name(int i);
/* One line: what the baseline is, and the paper it comes from. */
const char *baseline_builtin_about(int i);

/* The named built-in scaled to a model of hidden x layers (1..SHAPE_MAX_HIDDEN,
 * 1..SPACE_MAX_LAYERS; ERR_INVAL otherwise). ERR_NOTFOUND with err_set naming the known names
 * for an unknown name. */
int baseline_builtin(const char *name, int hidden, int layers, baseline_t *out);

/* A user's baseline: LABEL (1..BASELINE_NAME_MAX-1 printable characters) and a configuration,
 * canonicalised. ERR_INVAL for a bad label or layer count, or for full fine-tuning with modules
 * on (full fine-tuning trains the backbone itself, not modules added to it). */
int baseline_make(const char *label, const space_config_t *config, bool full_finetune,
                  baseline_t *out);

/* Exact counts of a baseline on SHAPE: space_config_count for the PEFT ones (the head alone when
 * no module is on). Full fine-tuning trains and deploys every weight: trainable = deployed =
 * backbone + head, modules_trainable = modules_deployed = backbone (the per-module counts are 0),
 * percent = 100, and approx_autopeft = backbone (there is nothing to approximate). ERR_INVAL as
 * space_config_count (a shape that fails shape_check, another layer count, a bad bottleneck), or
 * for full fine-tuning with modules on. */
int baseline_counts(const baseline_t *b, const shape_t *shape, int prefix_bottleneck,
                    space_counts_t *out);

#endif
