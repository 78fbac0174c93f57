/* The coordinator's side of the protocol for what workers send (docs/protocol.md sections 6-8):
 * HELLO, HEARTBEAT, PROGRESS, RESULT, GOODBYE and ERROR, and the refusal of frames that are none
 * of these. Uses the shared steps of dispatch_core.c only. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/rng.h"
#include "common/version.h"
#include "coordinator/runtime/dispatch_int.h"
#include "coordinator/runtime/result_msg.h"

/* ---- refusals ----------------------------------------------------------------------------- */

static bool may_answer(disp_t *d, const uint8_t *rid, size_t rid_len, uint64_t now)
{
    reg_worker_t *w = registry_by_rid(d->reg, rid, rid_len);
    uint64_t h = 1469598103934665603ull;
    size_t slot;

    if (w) {
        if (w->last_error_ms && now - w->last_error_ms < d->interval_ms) {
            w->errors_suppressed++;
            return false;
        }
        w->last_error_ms = now;
        return true;
    }
    for (size_t i = 0; i < rid_len; i++)
        h = (h ^ rid[i]) * 1099511628211ull;
    h |= 1;
    slot = (size_t)(rng_mix64(h) % UNKNOWN_SLOTS);
    if (d->unknown[slot].hash == h && now - d->unknown[slot].ms < d->interval_ms)
        return false;
    d->unknown[slot].hash = h;
    d->unknown[slot].ms = now;
    return true;
}

static void answer_error(disp_t *d, const uint8_t *rid, size_t rid_len, Autopeft__ErrorCode code,
                         const char *text, Autopeft__Kind kind)
{
    uint8_t *frame;
    size_t len;

    if (!may_answer(d, rid, rid_len, disp__now_ms(d)))
        return;
    if (wire_encode_error(code, text, kind, &frame, &len) == 0)
        disp__queue(d, rid, rid_len, frame, len);
}

void disp__refuse(disp_t *d, const uint8_t *rid, size_t rid_len, int rc, Autopeft__Kind kind,
                  const char *why)
{
    d->refused++;
    /* The first twenty, then every power of two: a flood of garbage must not flood the log. */
    if (d->refused <= 20 || (d->refused & (d->refused - 1)) == 0) {
        d->refused_logged++;
        log_warn("refused a frame (%s): %s [%" PRIu64 " refused so far]", err_name(rc), why,
                 d->refused);
    }
    if (kind == AUTOPEFT__KIND__KIND_ERROR)
        return; /* a refused ERROR is never answered */
    answer_error(d, rid, rid_len, wire_error_code(rc), why, kind);
}

/* ---- idle workers ------------------------------------------------------------------------- */

/* A worker without a trial that can run this study's waits in the idle FIFO for its TRIAL. */
static void set_idle(disp_t *d, reg_worker_t *w)
{
    if (!w->trial && w->fits && !d->stopping && !d->finished)
        registry_idle_push(d->reg, w);
}

/* ---- HELLO -------------------------------------------------------------------------------- */

static bool fits(const disp_t *d, const Autopeft__Hello *h)
{
    bool syn = false, train = false;

    for (size_t i = 0; i < h->n_capabilities; i++) {
        if (h->capabilities[i] == AUTOPEFT__CAPABILITY__CAPABILITY_SYNTHETIC)
            syn = true;
        else
            train = true;
    }
    return d->cfg->mode == CONFIG_MODE_SYNTHETIC ? syn : train;
}

static void on_hello(disp_t *d, const uint8_t *rid, size_t rid_len, const Autopeft__Hello *h)
{
    Autopeft__Welcome wm = AUTOPEFT__WELCOME__INIT;
    reg_worker_t *w = registry_by_id(d->reg, h->worker_id);
    bool keep = false, fresh = !w;
    int rc = 0;

    if (w) {
        registry_set_rid(d->reg, w, rid, rid_len);
    } else {
        /* A routing id now used by a new registration: its old record is gone with it. */
        reg_worker_t *old = registry_by_rid(d->reg, rid, rid_len);
        if (old) {
            if (old->trial)
                disp__lease_lost(d, old->trial, "lost", "worker re-registered under a new id");
            registry_remove(d->reg, old);
        }
        w = registry_add(d->reg, h->worker_id, rid, rid_len);
        if (!w) {
            disp__check(d, ERR_NOMEM, "registering a worker");
            return;
        }
    }
    w->expiry_ms = disp__now_ms(d) + disp__expiry_span(d);
    w->cores = h->cores;
    w->fits = fits(d, h);
    registry_idle_remove(d->reg, w);
    if (h->running) {
        if (w->trial && w->trial->id == h->running->trial_id &&
            w->trial->attempt == h->running->attempt) {
            keep = true;
            w->trial->confirmed = true;
        } else {
            if (w->trial)
                disp__lease_lost(d, w->trial, "lost", "worker reconnected running another attempt");
            if (!d->finished) {
                rc = study_reattach(d->study, disp__ref(h->running), disp__worker(w),
                                    disp__now_ms(d), &keep);
                disp__check(d, rc, "re-attaching");
                if (keep)
                    w->trial = study_trial(d->study, h->running->trial_id);
            }
        }
    } else if (w->trial) {
        disp__lease_lost(d, w->trial, "lost", "worker reconnected without its trial");
    }
    if (fresh)
        log_info("worker %s registered (%u cores, %s)%s%s", w->id, h->cores, h->software_version,
                 w->fits ? "" : "; it cannot run this study's trials (capabilities)",
                 keep ? "; its running attempt carries on" : "");
    wm.coordinator_id = d->coordinator_id;
    wm.study_name = (char *)d->cfg->name;
    wm.has_heartbeat_interval_ms = wm.has_heartbeat_liveness = true;
    wm.heartbeat_interval_ms = (uint32_t)d->interval_ms;
    wm.heartbeat_liveness = (uint32_t)d->liveness;
    wm.has_max_frame_bytes = true;
    wm.max_frame_bytes = AUTOPEFT__CONSTANTS__MAX_FRAME_BYTES;
    wm.software_version = (char *)version_long();
    wm.has_keep_running = true;
    wm.keep_running = keep;
    disp__send(d, w, AUTOPEFT__KIND__KIND_WELCOME, &wm.base);
    if (d->finished) {
        disp__send_shutdown(d, w, "the study is finished");
        return;
    }
    /* Amendment to protocol 8.1: a HELLO without `running` counts as an IDLE report, so a new
     * worker gets its first TRIAL right behind the WELCOME. */
    if (!w->trial)
        set_idle(d, w);
}

/* ---- HEARTBEAT and PROGRESS --------------------------------------------------------------- */

/* The worker names an attempt that is not the one dispatched to it. */
static void named_other(disp_t *d, reg_worker_t *w, const Autopeft__TrialRef *ref,
                        Autopeft__WorkerState st)
{
    study_trial_t *t = study_trial(d->study, ref->trial_id);
    bool kept;
    int rc;

    if (t && (t->state == STORE_DONE || t->state == STORE_FAILED) &&
        st == AUTOPEFT__WORKER_STATE__WORKER_STATE_REPORTING)
        return; /* it holds a RESULT whose ACK is on its way or will answer the resend */
    if (st == AUTOPEFT__WORKER_STATE__WORKER_STATE_REPORTING)
        return; /* a RESULT of it is coming: the rules for results decide */
    if (!w->trial && !d->finished && !d->stopping) {
        rc = study_reattach(d->study, disp__ref(ref), disp__worker(w), disp__now_ms(d), &kept);
        if (kept) {
            w->trial = t;
            registry_idle_remove(d->reg, w);
            return;
        }
        disp__check(d, rc, "re-attaching");
    }
    disp__send_cancel(d, w, ref->trial_id, ref->attempt,
                      "this attempt is not running here any more", false);
}

static void on_heartbeat(disp_t *d, reg_worker_t *w, const Autopeft__Heartbeat *h)
{
    study_trial_t *t = w->trial;
    const Autopeft__TrialRef *ref = h->trial;
    bool idle = h->has_state && h->state == AUTOPEFT__WORKER_STATE__WORKER_STATE_IDLE;

    if (t) {
        if (ref && ref->trial_id == t->id && ref->attempt == t->attempt) {
            t->confirmed = true;
            return;
        }
        if (ref) {
            /* Reporting an older attempt while the new TRIAL is on its way is normal. */
            if (t->confirmed)
                disp__lease_lost(d, t, "lost", "the worker reports another attempt");
            named_other(d, w, ref, h->has_state ? h->state : 0);
            return;
        }
        if (!idle)
            return;
        if (t->confirmed) {
            disp__lease_lost(d, t, "lost", "the worker reports being idle");
        } else if (++t->idle_reports >= d->liveness) {
            disp__lease_lost(d, t, "lost", "the TRIAL never reached the worker");
        } else {
            return;
        }
        set_idle(d, w);
        return;
    }
    if (ref)
        named_other(d, w, ref, h->has_state ? h->state : 0);
    else if (idle)
        set_idle(d, w);
}

static void on_progress(disp_t *d, reg_worker_t *w, const Autopeft__Progress *p)
{
    if (w->trial && p->trial->trial_id == w->trial->id && p->trial->attempt == w->trial->attempt) {
        w->trial->confirmed = true;
        disp__fidelity_progress(d, w, w->trial, p);
    } else if (!w->trial || p->trial->trial_id != w->trial->id)
        named_other(d, w, p->trial, AUTOPEFT__WORKER_STATE__WORKER_STATE_TRAINING);
    if (log_enabled(LOG_LEVEL_DEBUG))
        log_debug("trial %" PRIu64 "/%u on %s: epoch %u/%u%s%s", p->trial->trial_id,
                  p->trial->attempt, w->id, p->epoch, p->epochs, p->message ? ": " : "",
                  p->message ? p->message : "");
}

/* ---- RESULT ------------------------------------------------------------------------------- */

static void on_result(disp_t *d, reg_worker_t *w, const Autopeft__Result *r)
{
    Autopeft__Ack ack = AUTOPEFT__ACK__INIT;
    Autopeft__TrialRef ref = *r->trial;
    study_result_t res;
    study_verdict_t v;
    char *json = result_msg_json(r);
    int rc;

    if (!json) {
        disp__check(d, ERR_NOMEM, "encoding a result");
        return;
    }
    result_msg_read(r, w->id, json, &res);
    disp__fidelity_result(d, study_trial(d->study, ref.trial_id), r);
    if ((rc = store_begin(d->store)) == 0)
        rc = study_result(d->study, &res, &v);
    free(json);
    if (rc != 0) {
        disp__check(d, rc, "recording a result");
        return;
    }
    if (v.counted && v.trial && v.trial->state == STORE_DONE)
        log_info("trial %" PRIu64 " done on %s (attempt %u): %s = %.6g, %.4f%% parameters",
                 ref.trial_id, w->id, ref.attempt,
                 r->objective_name ? r->objective_name : "metric", r->objective, v.trial->cost);
    else if (!v.counted)
        log_info("result of trial %" PRIu64 " attempt %u from %s not counted: %s", ref.trial_id,
                 ref.attempt, w->id, v.reason);
    ref.base = (ProtobufCMessage)PROTOBUF_C_MESSAGE_INIT(&autopeft__trial_ref__descriptor);
    ack.trial = &ref;
    ack.has_status = true;
    ack.status = result_msg_ack(v.ack);
    ack.reason = (char *)v.reason;
    disp__send(d, w, AUTOPEFT__KIND__KIND_ACK, &ack.base);
    if (v.superseded_worker) {
        reg_worker_t *sw = v.superseded_worker;
        sw->trial = NULL;
        disp__send_cancel(d, sw, ref.trial_id, v.superseded_attempt,
                    "attempt superseded: an earlier attempt's result was accepted", false);
    }
    if (v.freed_worker && v.freed_worker != w)
        ((reg_worker_t *)v.freed_worker)->trial = NULL;
    if (w->trial == v.trial && v.trial && (v.trial->state == STORE_DONE ||
                                           v.trial->state == STORE_FAILED ||
                                           v.trial->state == STORE_QUEUED))
        w->trial = NULL;
    /* Amendment to protocol 8.1: after the ACK a worker is idle, so its next TRIAL follows the
     * ACK at once instead of waiting for an IDLE heartbeat. */
    set_idle(d, w);
}

/* ---- GOODBYE and ERROR -------------------------------------------------------------------- */

static void on_goodbye(disp_t *d, reg_worker_t *w, const Autopeft__Goodbye *g)
{
    log_info("worker %s left: %s", w->id, g->reason ? g->reason : "(no reason)");
    disp__forget(d, w, "the worker left");
}

static void on_error(disp_t *d, reg_worker_t *w, const Autopeft__Error *e)
{
    if (e->code == AUTOPEFT__ERROR_CODE__ERROR_CODE_STATE && e->has_refused_kind &&
        e->refused_kind == AUTOPEFT__KIND__KIND_TRIAL && w->trial && !w->trial->confirmed) {
        log_warn("worker %s refused trial %" PRIu64 ": %s", w->id, w->trial->id,
                 e->message ? e->message : "");
        disp__lease_lost(d, w->trial, "refused", "the worker refused the TRIAL");
        return;
    }
    log_warn("worker %s sent ERROR %d: %s", w->id, e->code, e->message ? e->message : "");
}

/* ---- one frame ---------------------------------------------------------------------------- */

void disp__handle(disp_t *d, const uint8_t *rid, size_t rid_len, const uint8_t *frame,
                  size_t len)
{
    reg_worker_t *w = registry_by_rid(d->reg, rid, rid_len);
    wire_msg_t m;
    int rc = wire_decode(frame, len, &m);

    if (w)
        w->expiry_ms = disp__now_ms(d) + disp__expiry_span(d); /* any frame shows it is alive */
    if (rc != 0) {
        disp__refuse(d, rid, rid_len, rc, m.kind, err_msg());
        return;
    }
    if (m.kind == AUTOPEFT__KIND__KIND_HELLO) {
        on_hello(d, rid, rid_len, (Autopeft__Hello *)m.msg);
        goto out;
    }
    if (!w) {
        if (m.kind == AUTOPEFT__KIND__KIND_ERROR || m.kind == AUTOPEFT__KIND__KIND_GOODBYE)
            goto out;
        d->unknown_frames++;
        if (d->unknown_frames <= 20 || (d->unknown_frames & (d->unknown_frames - 1)) == 0)
            log_info("%s from a peer that is not registered (a worker of an earlier "
                     "coordinator?): answered UNKNOWN_WORKER [%" PRIu64 " such frames so far]",
                     wire_kind_name(m.kind), d->unknown_frames);
        answer_error(d, rid, rid_len, AUTOPEFT__ERROR_CODE__ERROR_CODE_UNKNOWN_WORKER,
                     "unknown worker: send HELLO", m.kind);
        goto out;
    }
    switch (m.kind) {
    case AUTOPEFT__KIND__KIND_HEARTBEAT:
        on_heartbeat(d, w, (Autopeft__Heartbeat *)m.msg);
        break;
    case AUTOPEFT__KIND__KIND_PROGRESS:
        on_progress(d, w, (Autopeft__Progress *)m.msg);
        break;
    case AUTOPEFT__KIND__KIND_RESULT:
        on_result(d, w, (Autopeft__Result *)m.msg);
        break;
    case AUTOPEFT__KIND__KIND_GOODBYE:
        on_goodbye(d, w, (Autopeft__Goodbye *)m.msg);
        break;
    case AUTOPEFT__KIND__KIND_ERROR:
        on_error(d, w, (Autopeft__Error *)m.msg);
        break;
    default: {
        char why[128];
        snprintf(why, sizeof why, "%s is not sent to a coordinator", wire_kind_name(m.kind));
        d->refused++;
        log_warn("worker %s: %s", w->id, why);
        answer_error(d, rid, rid_len, AUTOPEFT__ERROR_CODE__ERROR_CODE_STATE, why, m.kind);
        break;
    }
    }
out:
    wire_msg_free(&m);
}
