/* The coordinator's dispatcher: a libuv event loop that owns the ZeroMQ ROUTER socket, the
 * registered workers, the study's trials and the suggestion pipeline (docs/protocol.md,
 * sections 5-8).
 *
 * The loop. ZeroMQ's ZMQ_FD is edge-triggered: it signals that the socket's state changed, not
 * that a message is waiting, and a send may consume that signal. So every callback (the socket's
 * uv_poll, timers, the suggestion's completion, signals) ends in one `turn`: read messages until
 * EAGAIN (at most TURN_BATCH), handle them, dispatch trials to idle workers, COMMIT the store
 * transaction those changes opened (group commit: one fsync for everything drained), send the
 * replies queued meanwhile, then read ZMQ_EVENTS again and repeat while input is waiting; a
 * uv_prepare handle checks ZMQ_EVENTS once more before the loop blocks. Replies that announce a
 * stored change (TRIAL, ACK) are therefore only ever sent after their commit.
 *
 * Suggestions run on the libuv thread pool (suggest.h); the dispatcher keeps `idle workers +
 * lookahead` queued trials ready, so an idle worker gets its TRIAL in the same turn. */
#ifndef AUTOPEFT_DISPATCH_H
#define AUTOPEFT_DISPATCH_H

#include <stdbool.h>

#include "common/keys.h"
#include "coordinator/runtime/config.h"

typedef struct {
    const config_t *cfg;
    const char *study_dir;
    const char *bind;             /* ZeroMQ endpoint to bind, e.g. tcp://127.0.0.1:5555 */
    const char *publish_host;     /* host written to the endpoint file for a wildcard bind */
    bool shutdown_workers;        /* on SIGINT/SIGTERM, tell workers to exit as well */
    const keys_t *curve;          /* the coordinator's key pair; NULL: no CURVE */
    const char *authorized_keys;  /* folder of allowed workers' .pub files (with curve) */
    double linger_s;              /* after the study finished, answer late HELLOs with SHUTDOWN
                                     this long before exiting */
} dispatch_opts_t;

/* Runs the study until its budget is spent (0: outputs written), or a signal stops it
 * (ERR_CANCELLED: the store is consistent and the study can be resumed), or a fatal error. */
int dispatch_run(const dispatch_opts_t *o);

/* One coordinator per study: an exclusive lock (flock) on DISPATCH_LOCK_FILE in the study folder,
 * which holds the owner's pid, taken by dispatch_run for its whole run. *fd gets the open, locked
 * file (close it to release); ERR_STATE naming the owner's pid when another process holds it,
 * ERR_IO when the file cannot be opened. */
int dispatch_lock(const char *study_dir, int *fd);
#define DISPATCH_LOCK_FILE "coordinator.lock"

/* The file in the study folder where the coordinator publishes its endpoint for workers
 * (autopeft-worker --endpoint-file): "tcp://HOST:PORT\n", then "curve-server-key Z85\n" when
 * CURVE is on; "finished\n" once the study is over. */
#define DISPATCH_ENDPOINT_FILE "endpoint"

#endif
