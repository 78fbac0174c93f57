/* The TRIAL message of one attempt (docs/protocol.md section 7) in wire types: the study's model,
 * task, recipe and, in synthetic mode, the synthetic objective, from its configuration, and the
 * trial's PEFT configuration. Everything the message points to lives in one trial_msg_t, so the
 * caller keeps that on its stack while the message is encoded. */
#ifndef AUTOPEFT_TRIAL_MSG_H
#define AUTOPEFT_TRIAL_MSG_H

#include <stdint.h>

#include "autopeft.pb-c.h"
#include "common/space.h"
#include "coordinator/runtime/config.h"
#include "coordinator/runtime/study.h"

/* The PEFT configuration's text: one layer mask per module, then the configuration's text form. */
#define TRIAL_MSG_PEFT_TEXT (SPACE_NMODULES * (SPACE_MAX_LAYERS + 1) + SPACE_TEXT_MAX)

typedef struct {
    Autopeft__Trial trial;      /* the message; its pointers lead to the members below */
    Autopeft__TrialRef ref;
    Autopeft__TrialSpec spec;
    Autopeft__ModelSpec model;
    Autopeft__TaskSpec task;
    Autopeft__Recipe recipe;
    Autopeft__PeftConfig peft;
    Autopeft__SyntheticSpec synthetic;
    char peft_text[TRIAL_MSG_PEFT_TEXT];
} trial_msg_t;

/* The TRIAL of t's current attempt under the study configuration cfg, with save_dir (NULL:
 * none) the folder its trained weights go to (weights.h). m points to cfg's strings and to
 * save_dir: both must outlive the encoding. */
void trial_msg_init(trial_msg_t *m, const config_t *cfg, const study_trial_t *t,
                    const char *save_dir);

/* The (trial, attempt) reference that TRIAL, CANCEL and HEARTBEAT carry. */
Autopeft__TrialRef trial_msg_ref(uint64_t trial_id, uint32_t attempt);

#endif
