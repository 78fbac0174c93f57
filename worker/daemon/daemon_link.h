/* The worker daemon's link to its coordinator (daemon_int.h): sending on the socket, which the
 * loop (daemon.c) and the attempt (daemon_trial.c) both need. Not for other modules. */
#ifndef AUTOPEFT_DAEMON_LINK_H
#define AUTOPEFT_DAEMON_LINK_H

#include "worker/daemon/daemon_int.h"

/* Sends a frame without blocking; ERR_STATE without a socket, ERR_IO when ZeroMQ refuses it
 * (logged at debug level). Sets last_sent. */
int daemon__send_frame(daemon_t *d, const uint8_t *frame, size_t len);
/* Encodes msg as a frame of kind and sends it; an encoding error is logged and returned. */
int daemon__send(daemon_t *d, Autopeft__Kind kind, const ProtobufCMessage *msg);

#endif
