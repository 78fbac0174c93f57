/* Trials to workers (docs/protocol.md sections 7-8): the queue kept ready from suggestions, a
 * TRIAL for each idle worker, heartbeats, expiries and time limits every interval, the end of
 * the study and stopping. Uses the shared steps of dispatch_core.c only. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "coordinator/runtime/dispatch_int.h"
#include "coordinator/runtime/trial_msg.h"

/* ---- suggestions ------------------------------------------------------------------------- */

/* How many more trials the queue wants: one for each idle worker plus the lookahead, less those
 * queued, and no more than the budget has left. */
static int shortfall(disp_t *d)
{
    study_counts_t n;
    int want;

    study_counts(d->study, &n);
    want = (int)registry_idle_count(d->reg) + d->cfg->lookahead - n.queued;
    if (want > study_to_suggest(d->study))
        want = study_to_suggest(d->study);
    return want;
}

void disp__suggested(disp_t *d, const suggest_item_t *items, int n, int rc, const char *error,
                     double seconds)
{
    int added = 0, arc;

    if ((arc = store_begin(d->store)) != 0) {
        disp__check(d, arc, "opening a transaction");
        return;
    }
    for (int i = 0; i < n && study_to_suggest(d->study) > 0; i++) {
        if (study_has_config(d->study, &items[i].config))
            continue;
        if ((arc = study_add(d->study, &items[i].config, items[i].random, items[i].acq_value,
                             NULL)) != 0) {
            disp__check(d, arc, "adding a trial");
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
}

/* Random suggestions cost nothing: they are made here, in this turn's transaction. */
static int suggest_random(disp_t *d)
{
    int rc, want = shortfall(d);

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
    return 0;
}

int disp__ask(disp_t *d, suggest_done_fn done)
{
    study_counts_t n;
    space_config_t *pending;
    int rc, want, cap, np;

    if (d->stopping || d->finished || d->closed)
        return 0;
    if (!suggest_is_bo(d->sugg) || suggest_busy(d->sugg) || d->suggest_failed)
        return 0; /* random suggestions are made by disp__pump */
    want = shortfall(d);
    if (want > SUGGEST_MAX_BATCH)
        want = SUGGEST_MAX_BATCH;
    if (want <= 0)
        return 0;
    study_counts(d->study, &n);
    cap = n.queued + n.running + 1;
    pending = mem_alloc((size_t)cap, sizeof *pending, "pending");
    if (!pending)
        return ERR_NOMEM;
    np = study_pending(d->study, pending, cap);
    rc = suggest_request(d->sugg, want, pending, np, done, d);
    free(pending);
    return rc;
}

/* ---- dispatching -------------------------------------------------------------------------- */

static int send_trial(disp_t *d, reg_worker_t *w, study_trial_t *t)
{
    char save_dir[WEIGHTS_PATH_MAX];
    trial_msg_t m;

    trial_msg_init(&m, d->cfg, t,
                   weights_trial_dir(d->weights, t, save_dir, sizeof save_dir) ? save_dir : NULL);
    return disp__send(d, w, AUTOPEFT__KIND__KIND_TRIAL, &m.trial.base);
}

int disp__pump(disp_t *d)
{
    uint64_t now;
    int rc;

    if (d->stopping || d->finished || d->closed)
        return 0;
    now = disp__now_ms(d);
    if (!suggest_is_bo(d->sugg) && !d->suggest_failed && (rc = suggest_random(d)) != 0)
        return rc;
    while (registry_idle_count(d->reg) > 0) {
        study_trial_t *t = study_pop(d->study);
        reg_worker_t *w;
        if (!t)
            break;
        w = registry_idle_pop(d->reg);
        if ((rc = store_begin(d->store)) != 0 ||
            (rc = study_dispatch(d->study, t, disp__worker(w), now)) != 0)
            return rc;
        w->trial = t;
        if ((rc = send_trial(d, w, t)) != 0)
            return rc;
    }
    return 0;
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
                 (double)disp__expiry_span(d) / 1000.0);
        log_warn("worker %s expired (%s)", w->id, why);
        disp__forget(d, w, why);
        return;
    }
    if (k->now - w->last_sent_ms + 5 >= d->interval_ms) {
        Autopeft__Heartbeat hb = AUTOPEFT__HEARTBEAT__INIT;
        Autopeft__TrialRef ref;
        if (w->trial) {
            ref = trial_msg_ref(w->trial->id, w->trial->attempt);
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
            disp__lease_lost(d, t, "lost", "no worker re-attached within the restart grace");
        return;
    }
    if (limit > 0 && (double)(k->now - t->dispatched_ms) > limit * 1000 && !t->cancel_sent) {
        char why[128];
        snprintf(why, sizeof why, "time limit of %g s exceeded", limit);
        log_warn("trial %" PRIu64 " attempt %u: %s", t->id, t->attempt, why);
        disp__send_cancel(d, t->worker, t->id, t->attempt, why, false);
        t->cancel_sent = true;
    }
}

void disp__tick(disp_t *d)
{
    tick_t k = {d, disp__now_ms(d)};

    if (d->closed)
        return;
    if (store_begin(d->store) != 0) {
        disp__check(d, ERR_IO, "opening a transaction");
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
    disp__send_shutdown(ctx, w, ((disp_t *)ctx)->finished ? "the study is finished"
                                                          : "the coordinator is stopping");
}

bool disp__finish(disp_t *d)
{
    study_counts_t n;

    if (d->finished || d->stopping || d->closed)
        return false;
    study_counts(d->study, &n);
    if (!study_finished(d->study) &&
        !(d->suggest_failed && !d->suggest_retry && n.queued == 0 && n.running == 0 &&
          !suggest_busy(d->sugg)))
        return false;
    d->finished = true;
    d->finished_ms = disp__now_ms(d);
    log_info("study '%s' finished: %d done, %d failed; telling %zu worker%s to stop",
             d->cfg->name, n.done, n.failed, registry_count(d->reg),
             registry_count(d->reg) == 1 ? "" : "s");
    registry_each(d->reg, shutdown_worker, d);
    if (disp__write_endpoint(d, "finished\n") != 0)
        log_warn("%s", err_msg());
    return true;
}

static void stop_trial(void *ctx, study_trial_t *t)
{
    disp_t *d = ctx;

    if (t->worker)
        ((reg_worker_t *)t->worker)->trial = NULL;
    disp__check(d, study_requeue(d->study, t, "requeued", "the coordinator stopped"), "requeue");
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
