/* The worker daemon's link to its coordinator (daemon_link.h): sending. */
#include "worker/daemon/daemon_link.h"

#include <errno.h>
#include <stdlib.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"

/* ---- sending ------------------------------------------------------------------------------ */

int daemon__send_frame(daemon_t *d, const uint8_t *frame, size_t len)
{
    if (!d->sock)
        return ERR_STATE;
    if (zmq_send(d->sock, frame, len, ZMQ_DONTWAIT) < 0) {
        log_debug("send: %s", zmq_strerror(errno));
        return ERR_IO;
    }
    d->last_sent = clock_ms();
    return 0;
}

int daemon__send(daemon_t *d, Autopeft__Kind kind, const ProtobufCMessage *msg)
{
    uint8_t *frame;
    size_t len;
    int rc = wire_encode(kind, msg, &frame, &len);

    if (rc != 0) {
        log_error("encoding %s: %s", wire_kind_name(kind), err_msg());
        return rc;
    }
    rc = daemon__send_frame(d, frame, len);
    free(frame);
    return rc;
}
