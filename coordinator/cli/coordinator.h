/* autopeft-coordinator's command line (also `autopeft coordinator`): flags, the study's
 * configuration (file, or the copy in the study store on resume), security settings, then the
 * dispatcher (dispatch.h). Returns the exit status: 0 finished or stopped cleanly (resumable),
 * 1 failed, 2 bad usage or configuration. */
#ifndef AUTOPEFT_COORDINATOR_H
#define AUTOPEFT_COORDINATOR_H

int coordinator_main(int argc, char **argv);

#endif
