/* Internals shared by dispatch.c (loop, socket, turns) and dispatch_msg.c (the messages, leases
 * and trials). Not for other modules. */
#ifndef AUTOPEFT_DISPATCH_INT_H
#define AUTOPEFT_DISPATCH_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/wire.h"
#include "coordinator/runtime/dispatch.h"
#include "coordinator/runtime/registry.h"
#include "coordinator/runtime/store.h"
#include "coordinator/runtime/study.h"
#include "coordinator/runtime/suggest.h"
#include "coordinator/runtime/zap.h"

/* Messages read in one turn before the transaction is committed and the replies are sent:
 * bounds the latency a burst adds. */
#define TURN_BATCH 4096
/* Unknown peers remembered for rate-limiting their ERROR replies (direct-mapped by hash). */
#define UNKNOWN_SLOTS 1024

typedef struct {
    uint8_t rid[REGISTRY_RID_MAX];
    size_t rid_len;
    uint8_t *frame;
    size_t len;
} outmsg_t;

typedef struct disp {
    const dispatch_opts_t *o;
    const config_t *cfg;
    uv_loop_t loop;
    uv_poll_t poll;
    uv_prepare_t prepare;
    uv_timer_t tick;
    uv_signal_t sigint, sigterm, sighup;
    void *zctx, *router;
    int fd;
    zap_t *zap;
    store_t *store;
    study_t *study;
    suggest_t *sugg;
    registry_t *reg;
    outmsg_t *out;
    size_t nout, outcap;
    char coordinator_id[32];
    char endpoint[512];
    char endpoint_path[4200];
    uint64_t interval_ms, started_ms, restart_grace_ms, finished_ms;
    int liveness;
    bool in_turn, stopping, finished, fatal, closed, grace_over;
    bool suggest_failed;           /* no more suggestions (space used up, or an error) */
    bool suggest_retry;            /* the failure was an error: retry at the next tick */
    int result;
    uint64_t send_failures;
    uint64_t turns, commits, received, sent;  /* for the log at exit */
    uint64_t refused, refused_logged;  /* refused frames; how many were logged */
    uint64_t unknown_frames;           /* valid frames from unregistered peers */
    struct { uint64_t hash, ms; } unknown[UNKNOWN_SLOTS];
} disp_t;

/* dispatch.c */
int disp__queue(disp_t *d, const uint8_t *rid, size_t rid_len, uint8_t *frame, size_t len);
/* Encodes and queues msg to w (sent after this turn's commit). */
int disp__send(disp_t *d, reg_worker_t *w, Autopeft__Kind kind, const ProtobufCMessage *msg);
void disp__turn(disp_t *d);
void disp__stop_loop(disp_t *d);
int disp__publish_finished(disp_t *d);

/* dispatch_msg.c */
/* One frame from routing id rid. */
void disp__handle(disp_t *d, const uint8_t *rid, size_t rid_len, const uint8_t *frame,
                  size_t len);
/* Logs (rate-limited) and answers (at most once per interval per peer) a refused frame. */
void disp__refuse(disp_t *d, const uint8_t *rid, size_t rid_len, int rc, Autopeft__Kind kind,
                  const char *why);
/* Gives queued trials to idle workers and asks for suggestions to keep the queue ready. */
int disp__pump(disp_t *d);
/* Every heartbeat interval: heartbeats, expiries, unconfirmed dispatches, time limits, the
 * restart grace. */
void disp__tick(disp_t *d);
/* The budget is spent: SHUTDOWN to every worker, linger, stop. */
void disp__check_finished(disp_t *d);
/* SIGINT/SIGTERM: what happens to running trials (protocol 8.4). */
int disp__stop_study(disp_t *d);

#endif
