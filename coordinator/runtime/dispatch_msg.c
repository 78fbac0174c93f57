/* The coordinator's side of the protocol (docs/protocol.md sections 6-8): messages from
 * workers, leases, dispatching, heartbeats, finishing and stopping. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/rng.h"
#include "common/version.h"
#include "coordinator/runtime/dispatch_int.h"
#include "coordinator/runtime/report.h"

static uint64_t now_ms(disp_t *d)
{
    uv_update_time(&d->loop);
    return uv_now(&d->loop);
}

static uint64_t expiry_span(const disp_t *d)
{
    return d->interval_ms * (uint64_t)d->liveness;
}

static Autopeft__TrialRef ref_of(const study_trial_t *t)
{
    Autopeft__TrialRef r = AUTOPEFT__TRIAL_REF__INIT;

    r.has_trial_id = r.has_attempt = true;
    r.trial_id = t->id;
    r.attempt = t->attempt;
    return r;
}

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

    if (!may_answer(d, rid, rid_len, now_ms(d)))
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

/* ---- leases ------------------------------------------------------------------------------- */

static int lease_lost(disp_t *d, study_trial_t *t, const char *outcome, const char *reason)
{
    reg_worker_t *w = t->worker;

    if (w && w->trial == t)
        w->trial = NULL;
    return study_lease_lost(d->study, t, outcome, reason);
}

static void check(disp_t *d, int rc, const char *what)
{
    if (rc != 0 && !d->fatal) {
        log_error("%s: %s", what, err_msg());
        d->fatal = true;
        d->result = rc;
        store_rollback(d->store);
        disp__stop_loop(d);
    }
}

static void set_idle(disp_t *d, reg_worker_t *w)
{
    if (!w->trial && w->fits && !d->stopping && !d->finished)
        registry_idle_push(d->reg, w);
}

static void send_cancel(disp_t *d, reg_worker_t *w, uint64_t id, uint32_t attempt,
                        const char *reason)
{
    Autopeft__Cancel c = AUTOPEFT__CANCEL__INIT;
    Autopeft__TrialRef r = AUTOPEFT__TRIAL_REF__INIT;

    r.has_trial_id = r.has_attempt = true;
    r.trial_id = id;
    r.attempt = attempt;
    c.trial = &r;
    c.reason = (char *)reason;
    disp__send(d, w, AUTOPEFT__KIND__KIND_CANCEL, &c.base);
}

static void send_shutdown(disp_t *d, reg_worker_t *w, const char *reason)
{
    Autopeft__Shutdown s = AUTOPEFT__SHUTDOWN__INIT;

    s.reason = (char *)reason;
    disp__send(d, w, AUTOPEFT__KIND__KIND_SHUTDOWN, &s.base);
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
                check(d, lease_lost(d, old->trial, "lost", "worker re-registered under a new id"),
                      "requeue");
            registry_remove(d->reg, old);
        }
        w = registry_add(d->reg, h->worker_id, rid, rid_len);
        if (!w) {
            check(d, ERR_NOMEM, "registering a worker");
            return;
        }
    }
    w->expiry_ms = now_ms(d) + expiry_span(d);
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
                check(d, lease_lost(d, w->trial, "lost", "worker reconnected running another "
                                    "attempt"), "requeue");
            if (!d->finished) {
                keep = study_reattach(d->study, h->running, w, w->id, now_ms(d), &rc);
                check(d, rc, "re-attaching");
                if (keep)
                    w->trial = study_trial(d->study, h->running->trial_id);
            }
        }
    } else if (w->trial) {
        check(d, lease_lost(d, w->trial, "lost", "worker reconnected without its trial"),
              "requeue");
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
        send_shutdown(d, w, "the study is finished");
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
    int rc = 0;

    if (t && (t->state == STORE_DONE || t->state == STORE_FAILED) &&
        st == AUTOPEFT__WORKER_STATE__WORKER_STATE_REPORTING)
        return; /* it holds a RESULT whose ACK is on its way or will answer the resend */
    if (st == AUTOPEFT__WORKER_STATE__WORKER_STATE_REPORTING)
        return; /* a RESULT of it is coming: the rules for results decide */
    if (!w->trial && !d->finished && !d->stopping) {
        if (study_reattach(d->study, ref, w, w->id, now_ms(d), &rc)) {
            w->trial = t;
            registry_idle_remove(d->reg, w);
            return;
        }
        check(d, rc, "re-attaching");
    }
    send_cancel(d, w, ref->trial_id, ref->attempt, "this attempt is not running here any more");
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
                check(d, lease_lost(d, t, "lost", "the worker reports another attempt"),
                      "requeue");
            named_other(d, w, ref, h->has_state ? h->state : 0);
            return;
        }
        if (!idle)
            return;
        if (t->confirmed) {
            check(d, lease_lost(d, t, "lost", "the worker reports being idle"), "requeue");
        } else if (++t->idle_reports >= d->liveness) {
            check(d, lease_lost(d, t, "lost", "the TRIAL never reached the worker"), "requeue");
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
    if (w->trial && p->trial->trial_id == w->trial->id && p->trial->attempt == w->trial->attempt)
        w->trial->confirmed = true;
    else if (!w->trial || p->trial->trial_id != w->trial->id)
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
    study_verdict_t v;
    char *json = report_result_json(r);
    int rc;

    if (!json) {
        check(d, ERR_NOMEM, "encoding a result");
        return;
    }
    if ((rc = store_begin(d->store)) == 0)
        rc = study_result(d->study, r, w->id, json, &v);
    free(json);
    if (rc != 0) {
        check(d, rc, "recording a result");
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
    ack.status = v.ack;
    ack.reason = (char *)v.reason;
    disp__send(d, w, AUTOPEFT__KIND__KIND_ACK, &ack.base);
    if (v.superseded_worker) {
        reg_worker_t *sw = v.superseded_worker;
        sw->trial = NULL;
        send_cancel(d, sw, ref.trial_id, v.superseded_attempt,
                    "attempt superseded: an earlier attempt's result was accepted");
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

static void forget(disp_t *d, reg_worker_t *w, const char *why)
{
    if (w->trial)
        check(d, lease_lost(d, w->trial, "lost", why), "requeue");
    registry_remove(d->reg, w);
}

static void on_goodbye(disp_t *d, reg_worker_t *w, const Autopeft__Goodbye *g)
{
    log_info("worker %s left: %s", w->id, g->reason ? g->reason : "(no reason)");
    forget(d, w, "the worker left");
}

static void on_error(disp_t *d, reg_worker_t *w, const Autopeft__Error *e)
{
    if (e->code == AUTOPEFT__ERROR_CODE__ERROR_CODE_STATE && e->has_refused_kind &&
        e->refused_kind == AUTOPEFT__KIND__KIND_TRIAL && w->trial && !w->trial->confirmed) {
        log_warn("worker %s refused trial %" PRIu64 ": %s", w->id, w->trial->id,
                 e->message ? e->message : "");
        check(d, lease_lost(d, w->trial, "refused", "the worker refused the TRIAL"), "requeue");
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
        w->expiry_ms = now_ms(d) + expiry_span(d); /* any frame shows it is alive */
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

/* ---- dispatching -------------------------------------------------------------------------- */

static int send_trial(disp_t *d, reg_worker_t *w, study_trial_t *t)
{
    const config_t *c = d->cfg;
    Autopeft__Trial tr = AUTOPEFT__TRIAL__INIT;
    Autopeft__TrialRef ref = ref_of(t);
    Autopeft__TrialSpec spec = AUTOPEFT__TRIAL_SPEC__INIT;
    Autopeft__ModelSpec model = AUTOPEFT__MODEL_SPEC__INIT;
    Autopeft__TaskSpec task = AUTOPEFT__TASK_SPEC__INIT;
    Autopeft__Recipe rec = AUTOPEFT__RECIPE__INIT;
    Autopeft__PeftConfig peft;
    Autopeft__SyntheticSpec syn = AUTOPEFT__SYNTHETIC_SPEC__INIT;
    char pbuf[STUDY_PEFT_BUF];

    tr.ref = &ref;
    tr.study_name = (char *)c->name;
    tr.spec = &spec;
    spec.model = &model;
    spec.task = &task;
    spec.recipe = &rec;
    spec.peft = &peft;
    spec.has_seed = true;
    spec.seed = c->seed;
    spec.has_mode = true;
    if (c->model_path[0]) {
        model.path = (char *)c->model_path;
    } else {
        model.has_embedded_default = model.has_embedded_seed = true;
        model.embedded_default = true;
        model.embedded_seed = c->model_seed;
    }
    task.name = (char *)c->task_name;
    if (c->data_dir[0] || c->train_file[0]) {
        task.data_dir = c->data_dir[0] ? (char *)c->data_dir : NULL;
        task.train_file = c->train_file[0] ? (char *)c->train_file : NULL;
        task.dev_file = c->dev_file[0] ? (char *)c->dev_file : NULL;
    } else {
        task.has_embedded_default = true;
        task.embedded_default = true;
    }
    task.format = c->format[0] ? (char *)c->format : NULL;
    task.text_column = c->text_column[0] ? (char *)c->text_column : NULL;
    task.pair_column = c->pair_column[0] ? (char *)c->pair_column : NULL;
    task.label_column = c->label_column[0] ? (char *)c->label_column : NULL;
    task.metric = c->metric[0] ? (char *)c->metric : NULL;
    if (c->num_labels > 0) {
        task.has_num_labels = true;
        task.num_labels = (uint32_t)c->num_labels;
    }
    rec.has_epochs = rec.has_learning_rate = rec.has_batch_size = rec.has_max_length = true;
    rec.epochs = (uint32_t)c->epochs;
    rec.learning_rate = (float)c->learning_rate;
    rec.batch_size = (uint32_t)c->batch_size;
    rec.max_length = (uint32_t)c->max_length;
    rec.has_warmup_ratio = rec.has_weight_decay = rec.has_max_grad_norm = true;
    rec.warmup_ratio = (float)c->warmup_ratio;
    rec.weight_decay = (float)c->weight_decay;
    rec.max_grad_norm = (float)c->max_grad_norm;
    rec.has_max_train_examples = rec.has_max_eval_examples = rec.has_patience = true;
    rec.max_train_examples = (uint32_t)c->max_train_examples;
    rec.max_eval_examples = (uint32_t)c->max_eval_examples;
    rec.patience = (uint32_t)c->patience;
    rec.has_dropout = rec.has_threads = rec.has_full_finetune = rec.has_lora_alpha = true;
    rec.dropout = (float)c->dropout;
    rec.threads = (uint32_t)c->threads;
    rec.full_finetune = c->full_finetune;
    rec.lora_alpha = (float)c->lora_alpha;
    rec.has_prefix_bottleneck = rec.has_eval_batch_size = true;
    rec.prefix_bottleneck = (uint32_t)c->prefix_bottleneck;
    rec.eval_batch_size = (uint32_t)c->eval_batch_size;
    study_peft(&t->config, &peft, pbuf);
    if (c->mode == CONFIG_MODE_SYNTHETIC) {
        uint64_t h = rng_mix64(c->seed ^ rng_mix64(t->id));
        spec.mode = AUTOPEFT__TRIAL_MODE__TRIAL_MODE_SYNTHETIC;
        spec.synthetic = &syn;
        syn.has_duration_ms = syn.has_noise = syn.has_fail = syn.has_hidden = syn.has_layers = true;
        syn.duration_ms = (uint32_t)c->syn_duration_ms;
        syn.noise = (float)c->syn_noise;
        /* Forced failures are a deterministic function of the trial, so tests can count them. */
        syn.fail = (double)(h >> 11) * 0x1.0p-53 < c->syn_fail_rate;
        syn.hidden = (uint32_t)c->shape.hidden;
        syn.layers = (uint32_t)c->shape.layers;
    } else {
        spec.mode = AUTOPEFT__TRIAL_MODE__TRIAL_MODE_TRAIN;
    }
    return disp__send(d, w, AUTOPEFT__KIND__KIND_TRIAL, &tr.base);
}

static void suggested(void *ctx, const suggest_item_t *items, int n, int rc, const char *error,
                      double seconds)
{
    disp_t *d = ctx;
    int added = 0, arc;

    if (d->closed || d->fatal)
        return;
    if ((arc = store_begin(d->store)) != 0) {
        check(d, arc, "opening a transaction");
        return;
    }
    for (int i = 0; i < n && study_to_suggest(d->study) > 0; i++) {
        if (study_has_config(d->study, &items[i].config))
            continue;
        if ((arc = study_add(d->study, &items[i].config, items[i].random, items[i].acq_value,
                             NULL)) != 0) {
            check(d, arc, "adding a trial");
            return;
        }
        added++;
    }
    if (added)
        log_debug("%d suggestion%s in %.3f s", added, added == 1 ? "" : "s", seconds);
    if (rc == ERR_NOTFOUND && n == 0) {
        log_warn("no more configurations to suggest: %s; the study ends with the trials it has",
                 error);
        d->suggest_failed = true;
    } else if (rc != 0 && n == 0) {
        log_error("suggestion failed: %s; retrying at the next heartbeat", error);
        d->suggest_failed = true;
        d->suggest_retry = true;
    }
    disp__turn(d);
}

int disp__pump(disp_t *d)
{
    study_counts_t n;
    uint64_t now;
    int rc, want;

    if (d->stopping || d->finished || d->closed)
        return 0;
    now = now_ms(d);
    if (!suggest_is_bo(d->sugg) && !d->suggest_failed) {
        /* Random suggestions cost nothing: make them here, in this turn's transaction. */
        study_counts(d->study, &n);
        want = (int)registry_idle_count(d->reg) + d->cfg->lookahead - n.queued;
        if (want > study_to_suggest(d->study))
            want = study_to_suggest(d->study);
        for (int round = 0; want > 0 && round < 1000; round++) {
            suggest_item_t items[64];
            int k = suggest_random_now(d->sugg, want < 64 ? want : 64, items);
            if (k <= 0) {
                log_warn("no more configurations to suggest: %s; the study ends with the "
                         "trials it has", err_msg());
                d->suggest_failed = true;
                break;
            }
            if ((rc = store_begin(d->store)) != 0)
                return rc;
            for (int i = 0; i < k; i++) {
                if (study_has_config(d->study, &items[i].config))
                    continue; /* a trial of an earlier run the suggester had not seen */
                if ((rc = study_add(d->study, &items[i].config, true, 0, NULL)) != 0)
                    return rc;
                want--;
            }
        }
    }
    while (registry_idle_count(d->reg) > 0) {
        study_trial_t *t = study_pop(d->study);
        reg_worker_t *w;
        if (!t)
            break;
        w = registry_idle_pop(d->reg);
        if ((rc = store_begin(d->store)) != 0 ||
            (rc = study_dispatch(d->study, t, w, w->id, now)) != 0)
            return rc;
        w->trial = t;
        if ((rc = send_trial(d, w, t)) != 0)
            return rc;
    }
    if (!suggest_is_bo(d->sugg) || suggest_busy(d->sugg) || d->suggest_failed)
        return 0; /* random suggestions were made above */
    study_counts(d->study, &n);
    want = (int)registry_idle_count(d->reg) + d->cfg->lookahead - n.queued;
    if (want > study_to_suggest(d->study))
        want = study_to_suggest(d->study);
    if (want > SUGGEST_MAX_BATCH)
        want = SUGGEST_MAX_BATCH;
    if (want <= 0)
        return 0;
    {
        int cap = n.queued + n.running + 1, np;
        space_config_t *pending = mem_alloc((size_t)cap, sizeof *pending, "pending");
        if (!pending)
            return ERR_NOMEM;
        np = study_pending(d->study, pending, cap);
        rc = suggest_request(d->sugg, want, pending, np, suggested, d);
        free(pending);
    }
    return rc;
}

/* ---- time --------------------------------------------------------------------------------- */

typedef struct {
    disp_t *d;
    uint64_t now;
} tick_t;

static void tick_worker(void *ctx, reg_worker_t *w)
{
    tick_t *k = ctx;
    disp_t *d = k->d;

    if (k->now > w->expiry_ms) {
        char why[128];
        snprintf(why, sizeof why, "worker silent for %.1f s",
                 (double)expiry_span(d) / 1000.0);
        log_warn("worker %s expired (%s)", w->id, why);
        forget(d, w, why);
        return;
    }
    if (k->now - w->last_sent_ms + 5 >= d->interval_ms) {
        Autopeft__Heartbeat hb = AUTOPEFT__HEARTBEAT__INIT;
        Autopeft__TrialRef ref;
        if (w->trial) {
            ref = ref_of(w->trial);
            hb.trial = &ref;
        }
        disp__send(d, w, AUTOPEFT__KIND__KIND_HEARTBEAT, &hb.base);
    }
    if (w->errors_suppressed) {
        log_debug("%u more refusals of %s's frames were not answered", w->errors_suppressed,
                  w->id);
        w->errors_suppressed = 0;
    }
}

static void tick_trial(void *ctx, study_trial_t *t)
{
    tick_t *k = ctx;
    disp_t *d = k->d;
    double limit = d->cfg->trial_timeout_s;

    if (!t->worker) {
        if (d->grace_over)
            check(d, lease_lost(d, t, "lost", "no worker re-attached within the restart grace"),
                  "requeue");
        return;
    }
    if (limit > 0 && (double)(k->now - t->dispatched_ms) > limit * 1000 && !t->cancel_sent) {
        char why[128];
        snprintf(why, sizeof why, "time limit of %g s exceeded", limit);
        log_warn("trial %" PRIu64 " attempt %u: %s", t->id, t->attempt, why);
        send_cancel(d, t->worker, t->id, t->attempt, why);
        t->cancel_sent = true;
    }
}

void disp__tick(disp_t *d)
{
    tick_t k = {d, now_ms(d)};

    if (d->closed)
        return;
    if (store_begin(d->store) != 0) {
        check(d, ERR_IO, "opening a transaction");
        return;
    }
    registry_each(d->reg, tick_worker, &k);
    if (!d->grace_over && k.now - d->started_ms >= d->restart_grace_ms)
        d->grace_over = true;
    study_each_dispatched(d->study, tick_trial, &k);
    if (d->suggest_retry) {
        d->suggest_retry = false;
        d->suggest_failed = false;
    }
    if (d->finished && (double)(k.now - d->finished_ms) >= d->o->linger_s * 1000)
        disp__stop_loop(d);
}

/* ---- the end ------------------------------------------------------------------------------ */

static void shutdown_worker(void *ctx, reg_worker_t *w)
{
    send_shutdown(ctx, w, ((disp_t *)ctx)->finished ? "the study is finished"
                                                    : "the coordinator is stopping");
}

void disp__check_finished(disp_t *d)
{
    study_counts_t n;

    if (d->finished || d->stopping || d->closed)
        return;
    study_counts(d->study, &n);
    if (!study_finished(d->study) &&
        !(d->suggest_failed && !d->suggest_retry && n.queued == 0 && n.running == 0 &&
          !suggest_busy(d->sugg)))
        return;
    d->finished = true;
    d->finished_ms = now_ms(d);
    log_info("study '%s' finished: %d done, %d failed; telling %zu worker%s to stop",
             d->cfg->name, n.done, n.failed, registry_count(d->reg),
             registry_count(d->reg) == 1 ? "" : "s");
    registry_each(d->reg, shutdown_worker, d);
    if (disp__publish_finished(d) != 0)
        log_warn("%s", err_msg());
    disp__turn(d); /* sends the SHUTDOWNs */
    if (d->o->linger_s <= 0)
        disp__stop_loop(d);
}

static void stop_trial(void *ctx, study_trial_t *t)
{
    disp_t *d = ctx;

    if (t->worker)
        ((reg_worker_t *)t->worker)->trial = NULL;
    check(d, study_requeue(d->study, t, "requeued", "the coordinator stopped"), "requeue");
}

int disp__stop_study(disp_t *d)
{
    int rc;

    if (!d->o->shutdown_workers) {
        log_info("running trials stay with their workers, which re-attach to the next "
                 "coordinator of this study");
        return 0;
    }
    if ((rc = store_begin(d->store)) != 0)
        return rc;
    study_each_dispatched(d->study, stop_trial, d);
    registry_each(d->reg, shutdown_worker, d);
    return 0;
}
