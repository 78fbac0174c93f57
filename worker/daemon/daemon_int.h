/* The worker daemon's state, shared by its files: daemon.c (connection, messages, loop),
 * daemon_trial.c (the training thread, progress and the RESULT, daemon_trial.h) and
 * daemon_link.c (the clock and sending, daemon_link.h). The calls go one way: daemon.c uses the
 * other two, daemon_trial.c uses daemon_link.c. Not for other modules. */
#ifndef AUTOPEFT_DAEMON_INT_H
#define AUTOPEFT_DAEMON_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/rng.h"
#include "common/wire.h"
#include "worker/daemon/daemon.h"

typedef enum { CONN_NONE = 0, CONN_WAITING, CONN_READY } conn_t;
typedef enum { JOB_NONE = 0, JOB_RUNNING, JOB_REPORTING } job_t;

struct daemon {
    daemon_opts_t o;
    void *ctx, *sock;
    bool own_ctx;
    int pipe_r, pipe_w;            /* self-pipe: the training thread and daemon_stop wake the loop */
    atomic_bool stop_req;
    rng_t rng;
    char worker_id[256], host[256];
    char endpoint[1024];
    conn_t conn;
    job_t job;
    uint64_t interval_ms, liveness;
    uint64_t last_recv, last_sent, last_error, hello_sent, next_connect, backoff_ms, idle_since;
    uint64_t result_sent, progress_sent;
    uint64_t curve_sent_at;        /* when the last PROGRESS with a new curve point went */
    int curve_sent;                /* the points of the curve sent so far */
    trainer_epoch_t curve_out[TRAINER_MAX_HISTORY];   /* the loop's copy of the curve to send */
    uint64_t file_checked;         /* when the endpoint file was last read while waiting */
    char study[256];
    bool said_waiting, leaving, shutdown, finished;
    int fatal;
    uint64_t refused;

    /* The attempt (job != JOB_NONE). */
    Autopeft__TrialRef ref;
    char trial_study[256];
    wire_msg_t trial_msg;          /* the TRIAL, owned while the attempt runs */
    trainer_trial_t trial;         /* the TRIAL as the trainer sees it (borrows from trial_msg) */
    trainer_t *trainer;
    pthread_t thread;              /* the training thread, started with the first attempt */
    bool thread_started;
    bool thread_running;           /* an attempt is on the training thread */
    atomic_bool cancel;
    atomic_bool stop;              /* Cancel.stop: set before cancel, the trainer ends STOPPED */
    bool abandoned;                /* its outcome will be dropped */
    char cancel_reason[512];
    uint8_t *result_frame;         /* job == JOB_REPORTING */
    size_t result_len;

    /* Shared with the training thread, under mu. */
    pthread_mutex_t mu;
    pthread_cond_t cv;             /* signals go, done and quit */
    bool go, done, quit;
    int run_rc;
    char run_err[1024];
    trainer_result_t *result;
    trainer_progress_t prog;
    char prog_msg[TRAINER_TEXT_MAX];
    bool prog_new;
    trainer_epoch_t curve[TRAINER_MAX_HISTORY];       /* the attempt's curve so far */
    int ncurve;
    uint64_t trial_t0;
    daemon_stats_t stats;
};

#endif
