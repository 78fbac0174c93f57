/* autopeft-coordinator's command line (also `autopeft coordinator`): flags, the study's
 * configuration (file, or the copy in the study store on resume), security settings, then the
 * dispatcher (dispatch.h). Returns the exit status: 0 finished or stopped cleanly (resumable),
 * 1 failed, 2 bad usage or configuration. */
#ifndef AUTOPEFT_COORDINATOR_H
#define AUTOPEFT_COORDINATOR_H

#include "coordinator/runtime/config.h"

int coordinator_main(int argc, char **argv);

/* The configuration a study in folder `study` was started with (the copy in its store, with
 * relative paths taken as they were then). ERR_NOTFOUND when there is no study there. */
int coordinator_stored_config(const char *study, config_t *cfg);

#endif
