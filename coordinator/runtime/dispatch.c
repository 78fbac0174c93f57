/* The coordinator's event loop (dispatch.h): socket, turns, timers and signals. What workers
 * send is handled in dispatch_msg.c, trials go out from dispatch_trial.c, and the steps they
 * share are in dispatch_core.c (dispatch_int.h). */
#include "coordinator/runtime/dispatch.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/rng.h"
#include "coordinator/runtime/dispatch_int.h"
#include "coordinator/runtime/report.h"

/* ---- turns -------------------------------------------------------------------------------- */

static void turn(disp_t *d);

static bool readable(disp_t *d)
{
    int events = 0;
    size_t sz = sizeof events;

    if (!d->router || zmq_getsockopt(d->router, ZMQ_EVENTS, &events, &sz) != 0)
        return false;
    return (events & ZMQ_POLLIN) != 0;
}

/* Reads one message: [routing id][frame] (more parts are refused). 1 read, 0 none (EAGAIN). */
static int recv_one(disp_t *d)
{
    uint8_t rid[REGISTRY_RID_MAX];
    zmq_msg_t body;
    int more = 0, n, parts = 1;
    size_t sz = sizeof more;

    n = zmq_recv(d->router, rid, sizeof rid, ZMQ_DONTWAIT);
    if (n < 0)
        return 0;
    if (n > (int)sizeof rid)
        n = sizeof rid;
    zmq_getsockopt(d->router, ZMQ_RCVMORE, &more, &sz);
    if (!more) {
        disp__refuse(d, rid, (size_t)n, ERR_PROTOCOL, 0, "a message without a body");
        return 1;
    }
    zmq_msg_init(&body);
    if (zmq_msg_recv(&body, d->router, 0) < 0) {
        zmq_msg_close(&body);
        return 1;
    }
    zmq_getsockopt(d->router, ZMQ_RCVMORE, &more, &sz);
    while (more) {
        zmq_msg_t extra;
        zmq_msg_init(&extra);
        zmq_msg_recv(&extra, d->router, 0);
        zmq_msg_close(&extra);
        parts++;
        zmq_getsockopt(d->router, ZMQ_RCVMORE, &more, &sz);
    }
    if (parts > 1)
        disp__refuse(d, rid, (size_t)n, ERR_PROTOCOL, 0, "a multi-part message");
    else
        disp__handle(d, rid, (size_t)n, zmq_msg_data(&body), zmq_msg_size(&body));
    zmq_msg_close(&body);
    return 1;
}

static void fatal(disp_t *d, const char *what)
{
    log_error("%s: %s; stopping (the store keeps everything committed before)", what, err_msg());
    store_rollback(d->store);
    disp__drop_outbox(d);
    d->result = err_code() ? err_code() : ERR_IO;
    d->fatal = true;
    disp__stop_loop(d);
}

/* The study is over: the SHUTDOWNs go out in one more turn, then the loop stops unless it
 * lingers for late workers. */
static void check_finished(disp_t *d)
{
    if (!disp__finish(d))
        return;
    turn(d); /* sends the SHUTDOWNs */
    if (d->o->linger_s <= 0)
        disp__stop_loop(d);
}

static void suggested_cb(void *ctx, const suggest_item_t *items, int n, int rc,
                         const char *error, double seconds)
{
    disp_t *d = ctx;

    if (d->closed || d->fatal)
        return;
    disp__suggested(d, items, n, rc, error, seconds);
    turn(d);
}

/* The kept weights pruned after a commit that closed trials (weights.h): the study in memory
 * is then what the store holds, so no folder goes for a result a crash could still lose. */
static void prune_weights(disp_t *d)
{
    study_counts_t n;

    if (!d->weights)
        return;
    study_counts(d->study, &n);
    if (n.done + n.failed == d->pruned_closed)
        return;
    d->pruned_closed = n.done + n.failed;
    if (weights_prune(d->weights, d->study) < 0)
        log_warn("pruning the kept weights: %s", err_msg());
}

static void turn(disp_t *d)
{
    if (d->in_turn || d->fatal || d->closed)
        return;
    d->in_turn = true;
    for (;;) {
        int n = 0;
        while (n < TURN_BATCH && !d->fatal && recv_one(d))
            n++;
        d->turns++;
        d->received += (uint64_t)n;
        if (d->fatal)
            break;
        if (disp__pump(d) != 0 || disp__ask(d, suggested_cb) != 0) {
            fatal(d, "dispatching");
            break;
        }
        if (store_in_txn(d->store)) {
            if (store_commit(d->store) != 0) {
                fatal(d, "committing the study store");
                break;
            }
            d->commits++;
        }
        prune_weights(d);
        d->sent += d->nout;
        disp__flush(d);
        if (n < TURN_BATCH && !readable(d))
            break;
    }
    d->in_turn = false;
    if (!d->fatal)
        check_finished(d);
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    turn(h->data);
}

/* Before the loop blocks: input that arrived while we were sending leaves no new edge on
 * ZMQ_FD, so look once more. */
static void prepare_cb(uv_prepare_t *h)
{
    disp_t *d = h->data;

    if (readable(d))
        turn(d);
}

static void tick_cb(uv_timer_t *h)
{
    disp_t *d = h->data;

    disp__tick(d);
    turn(d);
}

/* ---- signals, stopping -------------------------------------------------------------------- */

static void signal_cb(uv_signal_t *h, int signum)
{
    disp_t *d = h->data;

    if (signum == SIGHUP) {
        if (d->zap && zap_reload(d->zap) != 0)
            log_warn("SIGHUP: keeping the old authorized keys: %s", err_msg());
        return;
    }
    if (d->stopping) {
        log_warn("second signal: exiting now");
        d->result = ERR_CANCELLED;
        disp__stop_loop(d);
        return;
    }
    log_info("%s: stopping; the study can be resumed with the same --study folder",
             signum == SIGINT ? "SIGINT" : "SIGTERM");
    d->stopping = true;
    d->result = ERR_CANCELLED;
    turn(d); /* commit what was drained */
    if (disp__stop_study(d) != 0) {
        fatal(d, "stopping");
        return;
    }
    if (store_in_txn(d->store) && store_commit(d->store) != 0) {
        fatal(d, "committing the study store");
        return;
    }
    disp__flush(d);
    unlink(d->endpoint_path);
    disp__stop_loop(d);
}

/* ---- set-up ------------------------------------------------------------------------------- */

/* The endpoint as workers should dial it: a wildcard address replaced by a host name. */
static int publish(disp_t *d)
{
    char last[512], host[256], text[1024];
    size_t sz = sizeof last;
    const char *port;

    if (zmq_getsockopt(d->router, ZMQ_LAST_ENDPOINT, last, &sz) != 0)
        return err_set(ERR_IO, "ZMQ_LAST_ENDPOINT: %s", zmq_strerror(errno));
    port = strrchr(last, ':');
    if (!port || strncmp(last, "tcp://", 6) != 0) {
        snprintf(d->endpoint, sizeof d->endpoint, "%s", last);
    } else if (!strncmp(last, "tcp://0.0.0.0:", 14) || !strncmp(last, "tcp://[::]:", 11)) {
        if (d->o->publish_host && d->o->publish_host[0])
            snprintf(host, sizeof host, "%s", d->o->publish_host);
        else if (gethostname(host, sizeof host) != 0)
            snprintf(host, sizeof host, "localhost");
        host[sizeof host - 1] = '\0';
        snprintf(d->endpoint, sizeof d->endpoint, "tcp://%s%s", host, port);
    } else {
        snprintf(d->endpoint, sizeof d->endpoint, "%s", last);
    }
    if (d->o->curve)
        snprintf(text, sizeof text, "%s\ncurve-server-key %s\n", d->endpoint,
                 d->o->curve->public_z85);
    else
        snprintf(text, sizeof text, "%s\n", d->endpoint);
    return disp__write_endpoint(d, text);
}

static int open_socket(disp_t *d)
{
    int one = 1, hwm = 100000, linger = 2000;
    int64_t maxmsg = AUTOPEFT__CONSTANTS__MAX_FRAME_BYTES;
    size_t sz = sizeof d->fd;

    d->router = zmq_socket(d->zctx, ZMQ_ROUTER);
    if (!d->router)
        return err_set(ERR_IO, "zmq_socket: %s", zmq_strerror(errno));
    zmq_setsockopt(d->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(d->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    zmq_setsockopt(d->router, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(d->router, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(d->router, ZMQ_LINGER, &linger, sizeof linger);
    if (d->o->curve) {
        zmq_setsockopt(d->router, ZMQ_CURVE_SERVER, &one, sizeof one);
        zmq_setsockopt(d->router, ZMQ_CURVE_SECRETKEY, d->o->curve->secret_z85, KEYS_Z85_LEN);
        zmq_setsockopt(d->router, ZMQ_ZAP_DOMAIN, "autopeft", 8);
    }
    if (zmq_bind(d->router, d->o->bind) != 0)
        return err_set(ERR_IO, "cannot bind %s: %s", d->o->bind, zmq_strerror(errno));
    if (zmq_getsockopt(d->router, ZMQ_FD, &d->fd, &sz) != 0)
        return err_set(ERR_IO, "ZMQ_FD: %s", zmq_strerror(errno));
    return publish(d);
}

static int save_meta(disp_t *d)
{
    const config_t *c = d->cfg;
    char buf[64], *starts = NULL;
    int rc, n = 0;

    if ((rc = store_begin(d->store)) != 0)
        return rc;
    if (store_meta_get(d->store, "starts", &starts) == 0)
        n = atoi(starts);
    free(starts);
    snprintf(buf, sizeof buf, "%d", n + 1);
    if ((rc = store_meta_set(d->store, "starts", buf)) != 0 ||
        (rc = store_meta_set(d->store, "study_name", c->name)) != 0)
        return rc;
    snprintf(buf, sizeof buf, "%d", c->budget);
    if ((rc = store_meta_set(d->store, "budget", buf)) != 0)
        return rc;
    snprintf(buf, sizeof buf, "%d", c->budget_epochs);
    if ((rc = store_meta_set(d->store, "budget_epochs", buf)) != 0)
        return rc;
    snprintf(buf, sizeof buf, "%d", c->epochs);
    if ((rc = store_meta_set(d->store, "epochs", buf)) != 0)
        return rc;
    if (c->has_ref) {
        snprintf(buf, sizeof buf, "%.17g", c->ref_metric);
        if ((rc = store_meta_set(d->store, "ref_metric", buf)) != 0)
            return rc;
        snprintf(buf, sizeof buf, "%.17g", c->ref_cost);
        if ((rc = store_meta_set(d->store, "ref_cost", buf)) != 0)
            return rc;
    }
    return store_commit(d->store);
}

static void observe_cb(void *ctx, const study_trial_t *t, bool ok)
{
    disp_t *d = ctx;

    if (!t->in_space)
        return; /* a baseline outside the search space: nothing the search can learn from */
    if (ok && disp__fidelity_observe(d, t))
        return;
    /* Without fidelity_gp a stopped trial's objective is of fewer epochs than the GP models: it
     * is remembered like a failure (never suggested again) and left out of the fit
     * (docs/search.md). */
    if (suggest_observe(d->sugg, &t->config, ok && !t->stopped, t->objective, 1.0) != 0)
        log_error("suggester: %s", err_msg());
}

/* The dispatcher's fixed settings and its loop; nothing to undo but the memory on failure. */
static int init(disp_t *d, const dispatch_opts_t *o)
{
    rng_t r;

    d->o = o;
    d->cfg = o->cfg;
    d->interval_ms = (uint64_t)o->cfg->heartbeat_interval_ms;
    d->liveness = o->cfg->heartbeat_liveness;
    snprintf(d->endpoint_path, sizeof d->endpoint_path, "%s/%s", o->study_dir,
             DISPATCH_ENDPOINT_FILE);
    rng_seed(&r, (uint64_t)getpid() ^ (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)d);
    snprintf(d->coordinator_id, sizeof d->coordinator_id, "%016" PRIx64, rng_next(&r));
    if (uv_loop_init(&d->loop) != 0)
        return err_set(ERR_IO, "uv_loop_init failed");
    return 0;
}

/* Trials queued or running from an earlier run: the suggester must not repeat them (the
 * counted ones it learns through observe_cb). */
static int note_open_trials(disp_t *d)
{
    study_counts_t c;
    space_config_t *open_cfg;
    int nopen, rc = 0;

    study_counts(d->study, &c);
    open_cfg = mem_alloc((size_t)(c.queued + c.running) + 1, sizeof *open_cfg, "pending");
    if (!open_cfg)
        return ERR_NOMEM;
    nopen = study_pending(d->study, open_cfg, c.queued + c.running + 1);
    for (int i = 0; i < nopen && rc == 0; i++)
        rc = suggest_note(d->sugg, &open_cfg[i]);
    free(open_cfg);
    return rc;
}

/* The configuration's baselines the study does not have yet, queued before the search's
 * first suggestions. */
static int add_baselines(disp_t *d)
{
    int rc, added;

    if ((rc = store_begin(d->store)) != 0 || (rc = study_add_baselines(d->study, &added)) != 0 ||
        (rc = store_commit(d->store)) != 0)
        return rc;
    if (added)
        log_info("%d baseline%s queued", added, added == 1 ? "" : "s");
    return 0;
}

/* The store, the suggester and the study loaded from the store. */
static int open_study(disp_t *d)
{
    const dispatch_opts_t *o = d->o;
    int rc;

    if ((rc = store_open(o->study_dir, STORE_CREATE, &d->store)) != 0 ||
        (rc = save_meta(d)) != 0 || (rc = suggest_new(o->cfg, &d->loop, &d->sugg)) != 0 ||
        (rc = study_new(o->cfg, d->store, observe_cb, d, &d->study)) != 0)
        return rc;
    disp__fidelity_load(d);
    if ((rc = add_baselines(d)) != 0 || (rc = weights_open(o->cfg, o->study_dir, &d->weights)) != 0)
        return rc;
    d->pruned_closed = -1;
    prune_weights(d);   /* what a run before this one left (a crash, a restart) */
    return note_open_trials(d);
}

/* The registry, the ZeroMQ context, CURVE's handler and the bound, published socket. */
static int open_network(disp_t *d)
{
    int rc;

    d->reg = registry_new();
    d->zctx = zmq_ctx_new();
    if (!d->reg || !d->zctx)
        return err_set(ERR_NOMEM, "creating the registry or ZeroMQ context");
    if (d->o->curve && (rc = zap_new(d->zctx, &d->loop, d->o->authorized_keys, &d->zap)) != 0)
        return rc;
    return open_socket(d);
}

static void log_start(disp_t *d)
{
    const dispatch_opts_t *o = d->o;
    study_counts_t n;

    study_counts(d->study, &n);
    log_info("study '%s' in %s: %d/%d trials created, %d done, %d failed, %d running on "
             "workers to re-attach, %d queued; %s suggestions (%s)", o->cfg->name, o->study_dir,
             n.created, o->cfg->budget, n.done, n.failed, n.running, n.queued,
             suggest_is_bo(d->sugg) ? "Bayesian-optimisation" : "random",
             config_surrogate_name(o->cfg->surrogate));
    log_info("listening on %s (published in %s)%s", d->endpoint, d->endpoint_path,
             o->curve ? ", CURVE encryption and authentication on" : "");
}

/* The restart grace's clock, and the loop's handles: the socket, the check before blocking,
 * the heartbeat timer and the signals. */
static void start_handles(disp_t *d)
{
    d->restart_grace_ms = (uint64_t)(d->o->cfg->restart_grace_s * 1000);
    d->started_ms = uv_now(&d->loop);
    uv_poll_init(&d->loop, &d->poll, d->fd);
    d->poll.data = d;
    uv_poll_start(&d->poll, UV_READABLE, poll_cb);
    uv_prepare_init(&d->loop, &d->prepare);
    d->prepare.data = d;
    uv_prepare_start(&d->prepare, prepare_cb);
    uv_timer_init(&d->loop, &d->tick);
    d->tick.data = d;
    uv_timer_start(&d->tick, tick_cb, d->interval_ms, d->interval_ms);
    uv_signal_init(&d->loop, &d->sigint);
    uv_signal_init(&d->loop, &d->sigterm);
    uv_signal_init(&d->loop, &d->sighup);
    d->sigint.data = d->sigterm.data = d->sighup.data = d;
    uv_signal_start(&d->sigint, signal_cb, SIGINT);
    uv_signal_start(&d->sigterm, signal_cb, SIGTERM);
    uv_signal_start(&d->sighup, signal_cb, SIGHUP);
}

/* After the loop: the counts for the log, and the outputs of a finished study. */
static int wrap_up(disp_t *d)
{
    int rc = d->result;

    log_info("%" PRIu64 " frames received, %" PRIu64 " sent, in %" PRIu64 " turns with %" PRIu64
             " commits; %" PRIu64 " frames refused, %" PRIu64 " sends failed", d->received,
             d->sent, d->turns, d->commits, d->refused, d->send_failures);
    if (rc == 0 && d->finished) {
        if ((rc = report_write(d->o->study_dir)) == 0)
            log_info("outputs written to %s: trials.csv, trials.jsonl, pareto.csv, best.json",
                     d->o->study_dir);
        else
            log_error("writing the outputs: %s", err_msg());
    }
    return rc;
}

/* Closes the socket and the context, lets a suggestion on the thread pool finish, closes the
 * loop and frees everything. */
static void disp_free(disp_t *d)
{
    if (d->router)
        zmq_close(d->router);
    if (d->zap) {
        zap_close(d->zap);
        uv_run(&d->loop, UV_RUN_NOWAIT);
    }
    if (d->zctx)
        zmq_ctx_term(d->zctx);
    /* A suggestion still on the thread pool must finish before its memory goes. */
    while (d->sugg && suggest_busy(d->sugg))
        uv_run(&d->loop, UV_RUN_ONCE);
    uv_walk(&d->loop, disp__walk_close, NULL);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    uv_loop_close(&d->loop);
    study_free(&d->study);
    suggest_free(&d->sugg);
    registry_free(&d->reg);
    weights_free(&d->weights);
    store_close(&d->store);
    if (d->lock_fd >= 0)
        close(d->lock_fd);   /* the study is free for the next coordinator */
    disp__drop_outbox(d);
    free(d->out);
    free(d);
}

int dispatch_lock(const char *study_dir, int *fd)
{
    char path[PATH_MAX], pid[32] = "";
    ssize_t n;

    if ((size_t)snprintf(path, sizeof path, "%s/%s", study_dir, DISPATCH_LOCK_FILE) >=
        sizeof path)
        return err_set(ERR_RANGE, "%s: path too long", study_dir);
    if ((*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
        return err_set(ERR_IO, "%s: %s", path, strerror(errno));
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        n = pread(*fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        close(*fd);
        *fd = -1;
        if (e == EWOULDBLOCK)
            return err_set(ERR_STATE, "the study in %s is in use by another coordinator (pid %s): "
                           "stop that one first, or wait for it to end", study_dir,
                           pid[0] ? pid : "?");
        return err_set(ERR_IO, "%s: lock: %s", path, strerror(e));
    }
    snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(*fd, 0) != 0 || pwrite(*fd, pid, strlen(pid), 0) < 0)
        log_warn("%s: cannot write this coordinator's pid (%s)", path, strerror(errno));
    return 0;
}

int dispatch_run(const dispatch_opts_t *o)
{
    disp_t *d = mem_alloc(1, sizeof *d, "dispatcher");
    int rc;

    if (!d)
        return ERR_NOMEM;
    d->lock_fd = -1;
    if ((rc = init(d, o)) != 0) {
        free(d);
        return rc;
    }
    if (mkdir(o->study_dir, 0755) != 0 && errno != EEXIST) {
        rc = err_set(ERR_IO, "%s: cannot create the study folder: %s", o->study_dir,
                     strerror(errno));
        goto out;
    }
    if ((rc = dispatch_lock(o->study_dir, &d->lock_fd)) != 0 || (rc = open_study(d)) != 0 ||
        (rc = open_network(d)) != 0)
        goto out;
    log_start(d);
    start_handles(d);
    turn(d);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    rc = wrap_up(d);
out:
    if (rc != 0 && rc != ERR_CANCELLED && !d->fatal)
        log_error("%s", err_msg());
    disp_free(d);
    return rc;
}
