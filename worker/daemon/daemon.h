/* The worker daemon: a ZeroMQ DEALER that registers with a coordinator, runs the trials it is
 * sent on a training thread, and reports them (docs/protocol.md, section 7).
 *
 * One thread polls the socket (zmq_poll, with a self-pipe that the training thread and
 * daemon_stop write to) and keeps the protocol's clocks: heartbeats every interval, the
 * coordinator's liveness, RESULT resends, the reconnect backoff and the idle timeout. The trial
 * runs on its own thread through a trainer (trainer.h), so heartbeats never wait for training.
 * Stateless: everything a trial needs comes in its TRIAL; across a reconnection it keeps only
 * the attempt it runs or the RESULT not yet acknowledged.
 *
 * Daemons share nothing but an optional ZeroMQ context, so a process may run many (the dispatch
 * benchmark does). */
#ifndef AUTOPEFT_DAEMON_H
#define AUTOPEFT_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "common/keys.h"
#include "worker/trial/trainer.h"

#define DAEMON_MAX_TRAINERS 4
/* A learning curve with a new point is sent in a PROGRESS at once, but no sooner than this
 * after the previous curve PROGRESS (a trainer of 1000 one-millisecond epochs sends about 50 a
 * second, each with the whole curve, instead of 1000). Other progress waits for the heartbeat
 * interval. */
#define DAEMON_CURVE_GAP_MS 20

typedef struct {
    const char *connect;        /* tcp://HOST:PORT, or NULL with endpoint_file */
    const char *endpoint_file;  /* re-read at every (re)connection */
    trainer_t *trainers[DAEMON_MAX_TRAINERS];  /* borrowed; one per trial mode */
    int ntrainers;
    int cores;                  /* announced in HELLO; threads of a trial unless it says */
    double idle_timeout_s;      /* 0: never */
    const keys_t *curve;        /* the worker's key pair; NULL: no CURVE */
    const char *server_key;     /* the coordinator's public key (Z85); NULL: from the endpoint
                                   file's curve-server-key line */
    void *zmq_ctx;              /* shared context, or NULL for one of its own */
    uint32_t backoff_max_ms;    /* reconnect backoff cap; 0: 32000 */
} daemon_opts_t;

typedef struct {
    uint64_t trials;            /* attempts run to the end (any status) */
    double busy_s;              /* seconds the training thread was running attempts */
    uint64_t reconnects;
    double first_start, last_end; /* monotonic seconds of the first attempt's start and the
                                     last one's end (0: none yet) */
} daemon_stats_t;

typedef struct daemon daemon_t;

daemon_t *daemon_new(const daemon_opts_t *o);
void daemon_free(daemon_t **dp);

/* Runs until SHUTDOWN (0), the idle timeout (0), daemon_stop (0), the study being finished
 * (endpoint file says so: 0), or a fatal refusal (ERR_VERSION, ERR_DENIED, ERR_INVAL). */
int daemon_run(daemon_t *d);
/* Asks a running daemon to leave (GOODBYE) at its next chance. Async-signal-safe. */
void daemon_stop(daemon_t *d);
void daemon_stats(const daemon_t *d, daemon_stats_t *out);
const char *daemon_worker_id(const daemon_t *d);

#endif
