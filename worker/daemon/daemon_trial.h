/* The worker daemon's attempt (daemon_int.h): the training thread, its progress and the RESULT
 * it produces. Called by the loop (daemon.c). Not for other modules. */
#ifndef AUTOPEFT_DAEMON_TRIAL_H
#define AUTOPEFT_DAEMON_TRIAL_H

#include "worker/daemon/daemon_int.h"

/* Starts the attempt of a TRIAL (takes ownership of *m, which is cleared). */
void daemon__start_trial(daemon_t *d, wire_msg_t *m);
/* The training thread ended: RESULT (or nothing, when abandoned). */
void daemon__check_done(daemon_t *d);
/* Stops the attempt and drops its outcome (RUNNING), or drops the unacknowledged RESULT. */
void daemon__abandon(daemon_t *d);
/* Waits for the attempt on the training thread to end. */
void daemon__join(daemon_t *d);
/* Ends the training thread (daemon_free). */
void daemon__stop_thread(daemon_t *d);
void daemon__send_result(daemon_t *d);
void daemon__drop_result(daemon_t *d);
void daemon__maybe_progress(daemon_t *d, uint64_t now);
/* Milliseconds until a waiting curve point may go (0: now); -1 when none waits. */
long daemon__curve_wait(daemon_t *d, uint64_t now);
Autopeft__WorkerState daemon__state(daemon_t *d);
double daemon__fraction(daemon_t *d);

#endif
