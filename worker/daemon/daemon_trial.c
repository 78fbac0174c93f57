/* The worker's attempt: the training thread, progress, and the RESULT (daemon_trial.h). */
#include "worker/daemon/daemon_trial.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "worker/daemon/daemon_int.h"
#include "worker/daemon/daemon_link.h"
#include "worker/daemon/edge.h"

static void send_progress(daemon_t *d, uint64_t now, bool flush);

static void wake(daemon_t *d)
{
    char c = 'd';

    if (write(d->pipe_w, &c, 1) < 0) {
        /* full pipe: the loop is awake anyway */
    }
}

/* On the training thread: keep the latest progress (and curve) for the loop to forward, and
 * wake the loop when the curve has a new point, so that it goes out at once. */
static void progress_cb(void *ctx, const trainer_progress_t *p)
{
    daemon_t *d = ctx;
    int n = p->curve ? (p->ncurve < TRAINER_MAX_HISTORY ? p->ncurve : TRAINER_MAX_HISTORY) : 0;
    bool grown = false;

    pthread_mutex_lock(&d->mu);
    d->prog = *p;
    if (p->message) {
        snprintf(d->prog_msg, sizeof d->prog_msg, "%s", p->message);
        d->prog.message = d->prog_msg;
    } else {
        d->prog.message = NULL;
    }
    d->prog.curve = NULL;
    d->prog.ncurve = 0;
    if (n > 0) {
        grown = n > d->ncurve;
        memcpy(d->curve, p->curve, (size_t)n * sizeof *d->curve);
        d->ncurve = n;
    }
    d->prog_new = true;
    pthread_mutex_unlock(&d->mu);
    if (grown)
        wake(d);
}

/* The training thread: one for the daemon's life, so that short attempts do not pay for a
 * thread each. It waits for `go`, runs the attempt, sets `done` and wakes the loop. */
static void *thread_main(void *arg)
{
    daemon_t *d = arg;

    for (;;) {
        const trainer_trial_t *trial = &d->trial;
        trainer_env_t env;
        int rc;

        pthread_mutex_lock(&d->mu);
        while (!d->go && !d->quit)
            pthread_cond_wait(&d->cv, &d->mu);
        if (d->quit) {
            pthread_mutex_unlock(&d->mu);
            return NULL;
        }
        d->go = false;
        pthread_mutex_unlock(&d->mu);

        env.progress = progress_cb;
        env.ctx = d;
        env.cancel = &d->cancel;
        env.stop = &d->stop;
        env.threads = trial->spec.threads > 0 ? trial->spec.threads : d->o.cores;
        env.worker_id = d->worker_id;
        err_clear();
        rc = d->trainer->ops->run(d->trainer, trial, &env, d->result);
        pthread_mutex_lock(&d->mu);
        d->run_rc = rc;
        if (rc != 0)
            snprintf(d->run_err, sizeof d->run_err, "%s", err_msg());
        d->done = true;
        pthread_cond_broadcast(&d->cv);
        pthread_mutex_unlock(&d->mu);
        wake(d);
    }
}

void daemon__stop_thread(daemon_t *d)
{
    if (!d->thread_started)
        return;
    pthread_mutex_lock(&d->mu);
    d->quit = true;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->thread, NULL);
    d->thread_started = false;
}

/* ---- the RESULT --------------------------------------------------------------------------- */

static int encode_result(daemon_t *d, const trainer_result_t *r, uint8_t **frame, size_t *len)
{
    edge_result_t e;
    int rc;

    edge_result(&e, &d->ref, d->worker_id, r);
    rc = wire_encode(AUTOPEFT__KIND__KIND_RESULT, &e.msg.base, frame, len);
    edge_result_free(&e);
    return rc;
}

/* Builds the RESULT frame; a trainer's output the protocol refuses becomes a FAILED result that
 * says why, so the coordinator learns of it instead of waiting forever. */
static int build_result(daemon_t *d, trainer_result_t *r)
{
    int rc;

    trainer_sanitize(r->error, false);
    trainer_sanitize(r->objective_name, true);
    for (int i = 0; i < r->nmetrics && i < TRAINER_MAX_METRICS; i++)
        trainer_sanitize(r->metrics[i].name, true);
    if (r->status == TRAINER_STATUS_OK && !r->has_params)
        trainer_fail(r, false, "the trainer reported no parameter counts");
    if (r->status == TRAINER_STATUS_OK && !isfinite(r->objective))
        trainer_fail(r, false, "the trainer reported a non-finite objective");
    if (r->status == TRAINER_STATUS_STOPPED && r->best_epoch && !isfinite(r->objective))
        trainer_fail(r, false, "the trainer reported a non-finite objective");
    if (r->status < TRAINER_STATUS_OK || r->status > TRAINER_STATUS_STOPPED)
        trainer_fail(r, true, "the trainer returned no status");
    free(d->result_frame);
    d->result_frame = NULL;
    rc = encode_result(d, r, &d->result_frame, &d->result_len);
    if (rc != 0) {
        char why[1024];
        snprintf(why, sizeof why, "%s", err_msg());
        trainer_fail(r, false, "the trainer's result was refused: %s", why);
        rc = encode_result(d, r, &d->result_frame, &d->result_len);
    }
    return rc;
}

void daemon__send_result(daemon_t *d)
{
    if (d->result_frame && daemon__send_frame(d, d->result_frame, d->result_len) == 0)
        d->result_sent = clock_ms();
}

void daemon__drop_result(daemon_t *d)
{
    free(d->result_frame);
    d->result_frame = NULL;
    wire_msg_free(&d->trial_msg);
    d->job = JOB_NONE;
    d->idle_since = clock_ms();
}

static void report(daemon_t *d, trainer_result_t *r)
{
    if (build_result(d, r) != 0) {
        log_error("cannot encode the RESULT of trial %" PRIu64 ": %s", d->ref.trial_id,
                  err_msg());
        daemon__drop_result(d);
        return;
    }
    d->job = JOB_REPORTING;
    daemon__send_result(d);
}

/* ---- starting and ending ------------------------------------------------------------------ */

void daemon__start_trial(daemon_t *d, wire_msg_t *m)
{
    trainer_trial_t *t = &d->trial;
    trainer_t *tr = NULL;
    int trc = edge_trial((const Autopeft__Trial *)m->msg, t);

    for (int i = 0; i < d->o.ntrainers; i++)
        if (d->o.trainers[i]->ops->mode == t->mode) {
            tr = d->o.trainers[i];
            break;
        }
    d->trial_msg = *m;
    memset(m, 0, sizeof *m);
    autopeft__trial_ref__init(&d->ref);
    d->ref.has_trial_id = d->ref.has_attempt = true;
    d->ref.trial_id = t->trial_id;
    d->ref.attempt = t->attempt;
    snprintf(d->trial_study, sizeof d->trial_study, "%s", t->study);
    d->job = JOB_RUNNING;
    d->abandoned = false;
    d->cancel_reason[0] = '\0';
    atomic_store(&d->stop, false);
    atomic_store(&d->cancel, false);
    d->trainer = tr;
    d->progress_sent = d->curve_sent_at = 0;
    d->curve_sent = 0;
    pthread_mutex_lock(&d->mu);
    d->done = false;
    d->prog_new = false;
    d->ncurve = 0;
    memset(&d->prog, 0, sizeof d->prog);
    d->prog.state = TRAINER_STATE_LOADING;
    pthread_mutex_unlock(&d->mu);
    d->trial_t0 = clock_ms();
    log_info("trial %" PRIu64 " attempt %u: %s", d->ref.trial_id, d->ref.attempt,
             t->config_text ? t->config_text : "");
    d->result = mem_alloc(1, sizeof *d->result, "trial result");
    if (!tr || trc != 0 || !d->result) {
        trainer_result_t *r = d->result ? d->result : calloc(1, sizeof *r);
        if (!r) {
            daemon__drop_result(d);
            return;
        }
        if (!tr)
            trainer_fail(r, false, "this worker has no trainer for %s trials (start it with "
                         "--exec CMD)", t->mode == TRAINER_MODE_TRAIN ? "TRAIN" : "these");
        else if (trc != 0)
            trainer_fail(r, false, "%s", err_msg());
        else
            trainer_fail(r, true, "out of memory");
        report(d, r);
        free(r);
        d->result = NULL;
        return;
    }
    if (!d->thread_started) {
        if (pthread_create(&d->thread, NULL, thread_main, d) != 0) {
            trainer_fail(d->result, true, "cannot start the training thread");
            report(d, d->result);
            free(d->result);
            d->result = NULL;
            return;
        }
        d->thread_started = true;
    }
    d->thread_running = true;
    pthread_mutex_lock(&d->mu);
    d->go = true;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

/* A cancelled or stopped attempt's text says the coordinator's reason too. */
static void explain_end(const daemon_t *d, trainer_result_t *r)
{
    char why[TRAINER_TEXT_MAX];

    if (!d->cancel_reason[0])
        return;
    if (r->status == TRAINER_STATUS_CANCELLED) {
        snprintf(why, sizeof why, "cancelled: %s", d->cancel_reason);
        snprintf(r->error, sizeof r->error, "%s", why);
    } else if (r->status == TRAINER_STATUS_STOPPED) {
        size_t n;
        if (!r->error[0])
            snprintf(r->error, sizeof r->error, "stopped");
        n = strlen(r->error);
        if (n + 4 < sizeof r->error)
            snprintf(r->error + n, sizeof r->error - n, " (%s)", d->cancel_reason);
    }
}

static void log_end(const daemon_t *d, const trainer_result_t *r, uint64_t now)
{
    double s = (double)(now - d->trial_t0) / 1000.0;

    if (r->status == TRAINER_STATUS_OK)
        log_info("trial %" PRIu64 " attempt %u: objective %.6g in %.2f s", d->ref.trial_id,
                 d->ref.attempt, r->objective, s);
    else if (r->status == TRAINER_STATUS_STOPPED && r->best_epoch)
        log_info("trial %" PRIu64 " attempt %u stopped: objective %.6g at epoch %u of the %u "
                 "run, in %.2f s", d->ref.trial_id, d->ref.attempt, r->objective, r->best_epoch,
                 r->epochs_run, s);
    else
        log_info("trial %" PRIu64 " attempt %u %s: %s", d->ref.trial_id, d->ref.attempt,
                 r->status == TRAINER_STATUS_CANCELLED ? "cancelled"
                 : r->status == TRAINER_STATUS_STOPPED ? "stopped" : "failed",
                 r->error);
}

static void finish_thread(daemon_t *d)
{
    uint64_t now = clock_ms();

    pthread_mutex_lock(&d->mu);
    while (!d->done)
        pthread_cond_wait(&d->cv, &d->mu);
    pthread_mutex_unlock(&d->mu);
    d->thread_running = false;
    pthread_mutex_lock(&d->mu);
    d->stats.trials++;
    d->stats.busy_s += (double)(now - d->trial_t0) / 1000.0;
    if (d->stats.first_start == 0)
        d->stats.first_start = (double)d->trial_t0 / 1000.0;
    d->stats.last_end = (double)now / 1000.0;
    pthread_mutex_unlock(&d->mu);
    if (d->abandoned) {
        log_info("trial %" PRIu64 " attempt %u stopped and dropped", d->ref.trial_id,
                 d->ref.attempt);
        free(d->result);
        d->result = NULL;
        daemon__drop_result(d);
        return;
    }
    if (d->run_rc != 0)
        trainer_fail(d->result, true, "trainer error: %s", d->run_err);
    explain_end(d, d->result);
    log_end(d, d->result, now);
    /* The last curve points go before the RESULT, so that every point is seen in a PROGRESS
     * (when the coordinator asked for them: else the RESULT's history has them). */
    if (d->conn == CONN_READY && d->trial.report_curve)
        send_progress(d, now, true);
    report(d, d->result);
    free(d->result);
    d->result = NULL;
}

void daemon__check_done(daemon_t *d)
{
    bool done;

    if (!d->thread_running)
        return;
    pthread_mutex_lock(&d->mu);
    done = d->done;
    pthread_mutex_unlock(&d->mu);
    if (done)
        finish_thread(d);
}

void daemon__abandon(daemon_t *d)
{
    if (d->job == JOB_RUNNING && d->thread_running) {
        d->abandoned = true;
        atomic_store(&d->cancel, true);
    } else if (d->job != JOB_NONE) {
        daemon__drop_result(d);
    }
}

void daemon__join(daemon_t *d)
{
    if (d->thread_running)
        finish_thread(d);
}

/* ---- progress ----------------------------------------------------------------------------- */

/* Sends the latest progress when it is fresh and the heartbeat interval has passed since the
 * last, or at once (DAEMON_CURVE_GAP_MS after the previous one) when the curve has a new
 * point: the coordinator's stopping decisions wait for no heartbeat. */
static void send_progress(daemon_t *d, uint64_t now, bool flush)
{
    Autopeft__TrialRef ref = d->ref;
    edge_progress_t p;
    trainer_progress_t q;
    char msg[TRAINER_TEXT_MAX];
    bool fresh, grown;
    int rc;

    pthread_mutex_lock(&d->mu);
    grown = d->trial.report_curve && d->ncurve > d->curve_sent &&
            (flush || now >= d->curve_sent_at + DAEMON_CURVE_GAP_MS);
    fresh = d->prog_new && (grown || now - d->progress_sent >= d->interval_ms);
    if (fresh) {
        q = d->prog;
        if (q.message) {
            snprintf(msg, sizeof msg, "%s", q.message);
            q.message = msg;
        }
        q.ncurve = d->ncurve;
        memcpy(d->curve_out, d->curve, (size_t)d->ncurve * sizeof *d->curve);
        q.curve = d->curve_out;
        d->prog_new = false;
    }
    pthread_mutex_unlock(&d->mu);
    if (!fresh)
        return;
    if (q.message)
        trainer_sanitize(msg, false);
    edge_progress(&p, &q, &ref);
    rc = daemon__send(d, AUTOPEFT__KIND__KIND_PROGRESS, &p.msg.base);
    edge_progress_free(&p);
    if (grown)
        d->curve_sent_at = now;   /* also when it failed: try again after the gap */
    if (rc != 0)
        return;
    d->progress_sent = now;
    if (q.ncurve > d->curve_sent)
        d->curve_sent = q.ncurve;
}

void daemon__maybe_progress(daemon_t *d, uint64_t now)
{
    send_progress(d, now, false);
}

/* Milliseconds until a curve point waiting for DAEMON_CURVE_GAP_MS may go; -1 when none
 * waits. */
long daemon__curve_wait(daemon_t *d, uint64_t now)
{
    int n;

    if (!d->trial.report_curve)
        return -1;
    pthread_mutex_lock(&d->mu);
    n = d->ncurve;
    pthread_mutex_unlock(&d->mu);
    if (n <= d->curve_sent)
        return -1;
    return now >= d->curve_sent_at + DAEMON_CURVE_GAP_MS
               ? 0 : (long)(d->curve_sent_at + DAEMON_CURVE_GAP_MS - now);
}

Autopeft__WorkerState daemon__state(daemon_t *d)
{
    trainer_state_t st;

    if (d->leaving || d->abandoned)
        return AUTOPEFT__WORKER_STATE__WORKER_STATE_STOPPING;
    if (d->job == JOB_NONE)
        return AUTOPEFT__WORKER_STATE__WORKER_STATE_IDLE;
    if (d->job == JOB_REPORTING)
        return AUTOPEFT__WORKER_STATE__WORKER_STATE_REPORTING;
    pthread_mutex_lock(&d->mu);
    st = d->prog.state;
    pthread_mutex_unlock(&d->mu);
    return edge_state(st);
}

double daemon__fraction(daemon_t *d)
{
    double f;

    if (d->job == JOB_REPORTING)
        return 1;
    pthread_mutex_lock(&d->mu);
    f = d->prog.fraction;
    pthread_mutex_unlock(&d->mu);
    return isfinite(f) ? (f < 0 ? 0 : f > 1 ? 1 : f) : 0;
}
