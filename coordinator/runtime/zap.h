/* The coordinator's ZAP handler (ZeroMQ RFC 27): decides, for each CURVE handshake, whether the
 * connecting worker's public key is allowed. The allowed keys are the .pub files of a folder
 * (`autopeft keygen` output), read at start and again on SIGHUP. The handler is a REP socket on
 * inproc://zeromq.zap.01 in the coordinator's ZeroMQ context, served by the coordinator's event
 * loop (uv_poll on its ZMQ_FD), so authentication never needs another thread. */
#ifndef AUTOPEFT_ZAP_H
#define AUTOPEFT_ZAP_H

#include <uv.h>

typedef struct zap zap_t;

/* Must be created before the ROUTER binds. */
int zap_new(void *zmq_ctx, uv_loop_t *loop, const char *keys_dir, zap_t **out);
/* Rereads the folder; the old set stays when it fails. */
int zap_reload(zap_t *z);
/* How many keys are allowed. */
int zap_count(const zap_t *z);
/* Closes the socket; the handle's memory is released by the loop's close callback. */
void zap_close(zap_t *z);

#endif
