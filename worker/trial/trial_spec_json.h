/* A trial specification from the JSON an --exec trainer gets on stdin (docs/guide.md, "Bring
 * your own trainer"; worker/trial/trainer_exec.c writes it): the inverse of that writer for
 * the fields that decide what a trial trains on. `autopeft inputs` uses it, so that a trainer
 * of its own hands its trial back and gets exactly the data, order and initial weights this
 * one would use. */
#ifndef AUTOPEFT_TRIAL_SPEC_JSON_H
#define AUTOPEFT_TRIAL_SPEC_JSON_H

#include <stddef.h>

#include "worker/trial/trial_spec.h"

/* The keys of the "peft" object, per module in space order (sa, pa, pt, lora, ha): sizes and
 * masks. The writer (trainer_exec.c) and the reader use the same tables. */
extern const char *const trial_exec_size_keys[SPACE_NMODULES];
extern const char *const trial_exec_mask_keys[SPACE_NMODULES];

/* Fills *out (from trial_spec_default, then every key present); its strings point into *doc,
 * which the caller releases with trial_spec_json_free after the last use of *out. 0, or
 * ERR_PARSE naming label and the key ("trial.json: \"recipe.epochs\": expected ..."). */
int trial_spec_from_exec_json(const char *text, size_t len, const char *label,
                              trial_spec_t *out, void **doc);
void trial_spec_json_free(void **doc);

#endif
