/* What the parts of the dispatcher share (dispatch_int.h): the outbox, stopping the loop, the
 * endpoint file, the fatal-error check, and the lease and message steps that both the handling of
 * workers' messages (dispatch_msg.c) and the dispatching of trials (dispatch_trial.c) take. It
 * calls neither of them, nor the loop (dispatch.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "coordinator/runtime/dispatch_int.h"
#include "coordinator/runtime/trial_msg.h"

/* ---- time --------------------------------------------------------------------------------- */

uint64_t disp__now_ms(disp_t *d)
{
    uv_update_time(&d->loop);
    return uv_now(&d->loop);
}

uint64_t disp__expiry_span(const disp_t *d)
{
    return d->interval_ms * (uint64_t)d->liveness;
}

/* ---- outbox ------------------------------------------------------------------------------- */

int disp__queue(disp_t *d, const uint8_t *rid, size_t rid_len, uint8_t *frame, size_t len)
{
    outmsg_t *m;

    if (d->nout == d->outcap) {
        size_t ncap = d->outcap ? 2 * d->outcap : 256;
        outmsg_t *n = mem_realloc(d->out, ncap, sizeof *n, "outbox");
        if (!n) {
            free(frame);
            return ERR_NOMEM;
        }
        d->out = n;
        d->outcap = ncap;
    }
    m = &d->out[d->nout++];
    memcpy(m->rid, rid, rid_len);
    m->rid_len = rid_len;
    m->frame = frame;
    m->len = len;
    return 0;
}

int disp__send(disp_t *d, reg_worker_t *w, Autopeft__Kind kind, const ProtobufCMessage *msg)
{
    uint8_t *frame;
    size_t len;
    int rc = wire_encode(kind, msg, &frame, &len);

    if (rc != 0) {
        log_error("encoding %s for %s: %s", wire_kind_name(kind), w->id, err_msg());
        return rc;
    }
    w->last_sent_ms = uv_now(&d->loop);
    return disp__queue(d, w->rid, w->rid_len, frame, len);
}

void disp__flush(disp_t *d)
{
    for (size_t i = 0; i < d->nout; i++) {
        outmsg_t *m = &d->out[i];
        if (zmq_send(d->router, m->rid, m->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
            zmq_send(d->router, m->frame, m->len, ZMQ_DONTWAIT) < 0) {
            /* EHOSTUNREACH: the peer is gone (ROUTER_MANDATORY); EAGAIN: its queue is full.
             * Either way the protocol's resends and expiries recover. */
            d->send_failures++;
            log_debug("send to a peer failed: %s", zmq_strerror(errno));
        }
        free(m->frame);
    }
    d->nout = 0;
}

void disp__drop_outbox(disp_t *d)
{
    for (size_t i = 0; i < d->nout; i++)
        free(d->out[i].frame);
    d->nout = 0;
}

/* ---- stopping ----------------------------------------------------------------------------- */

void disp__walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

void disp__stop_loop(disp_t *d)
{
    if (d->closed)
        return;
    d->closed = true;
    if (d->zap)
        zap_close(d->zap);
    d->zap = NULL;
    uv_walk(&d->loop, disp__walk_close, NULL);
}

void disp__check(disp_t *d, int rc, const char *what)
{
    if (rc != 0 && !d->fatal) {
        log_error("%s: %s", what, err_msg());
        d->fatal = true;
        d->result = rc;
        store_rollback(d->store);
        disp__stop_loop(d);
    }
}

/* ---- the endpoint file -------------------------------------------------------------------- */

int disp__write_endpoint(disp_t *d, const char *text)
{
    char tmp[4300];
    FILE *f;

    snprintf(tmp, sizeof tmp, "%s.tmp", d->endpoint_path);
    f = fopen(tmp, "w");
    if (!f)
        return err_set(ERR_IO, "%s: %s", tmp, strerror(errno));
    fputs(text, f);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        fclose(f);
        return err_set(ERR_IO, "%s: %s", tmp, strerror(errno));
    }
    fclose(f);
    if (rename(tmp, d->endpoint_path) != 0)
        return err_set(ERR_IO, "%s: %s", d->endpoint_path, strerror(errno));
    return 0;
}

/* ---- leases and the messages that end them ------------------------------------------------ */

void disp__lease_lost(disp_t *d, study_trial_t *t, const char *outcome, const char *reason)
{
    reg_worker_t *w = t->worker;

    if (w && w->trial == t)
        w->trial = NULL;
    disp__check(d, study_lease_lost(d->study, t, outcome, reason), "requeue");
}

void disp__forget(disp_t *d, reg_worker_t *w, const char *why)
{
    if (w->trial)
        disp__lease_lost(d, w->trial, "lost", why);
    registry_remove(d->reg, w);
}

void disp__send_cancel(disp_t *d, reg_worker_t *w, uint64_t id, uint32_t attempt,
                       const char *reason, bool stop)
{
    Autopeft__Cancel c = AUTOPEFT__CANCEL__INIT;
    Autopeft__TrialRef r = trial_msg_ref(id, attempt);

    c.trial = &r;
    c.reason = (char *)reason;
    c.has_stop = stop;
    c.stop = stop;
    disp__send(d, w, AUTOPEFT__KIND__KIND_CANCEL, &c.base);
}

void disp__send_shutdown(disp_t *d, reg_worker_t *w, const char *reason)
{
    Autopeft__Shutdown s = AUTOPEFT__SHUTDOWN__INIT;

    s.reason = (char *)reason;
    disp__send(d, w, AUTOPEFT__KIND__KIND_SHUTDOWN, &s.base);
}
