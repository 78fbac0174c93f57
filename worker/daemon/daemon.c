/* The worker daemon (daemon.h): connection, protocol clocks and messages. The training thread
 * and the RESULT it produces are in daemon_trial.c, the clock and sending in daemon_link.c;
 * all three share daemon_int.h. */
#include "worker/daemon/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/version.h"
#include "worker/daemon/daemon_int.h"
#include "worker/daemon/daemon_link.h"
#include "worker/daemon/daemon_trial.h"
#include "worker/daemon/edge.h"

/* How often a worker waiting for its WELCOME reads the endpoint file again. */
#define ENDPOINT_RECHECK_MS 500

/* ---- sending ------------------------------------------------------------------------------ */

static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long pages = 0, rss = 0;

    if (!f)
        return 0;
    if (fscanf(f, "%llu %llu", &pages, &rss) != 2)
        rss = 0;
    fclose(f);
    return rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void send_hello(daemon_t *d)
{
    Autopeft__Hello h = AUTOPEFT__HELLO__INIT;
    Autopeft__Capability caps[DAEMON_MAX_TRAINERS];
    Autopeft__TrialRef ref = AUTOPEFT__TRIAL_REF__INIT;
    const char *cuda = getenv("CUDA_VISIBLE_DEVICES");
    char slurm[256] = "";
    size_t ncaps = 0;

    h.worker_id = d->worker_id;
    h.host = d->host;
    h.has_pid = h.has_cores = h.has_memory_bytes = true;
    h.pid = (uint32_t)getpid();
    h.cores = (uint32_t)d->o.cores;
    h.memory_bytes = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
    h.software_version = (char *)version_long();
    for (int i = 0; i < d->o.ntrainers; i++) {
        bool dup = false;
        for (size_t j = 0; j < ncaps; j++)
            dup |= caps[j] == edge_capability(d->o.trainers[i]->ops->kind);
        if (!dup)
            caps[ncaps++] = edge_capability(d->o.trainers[i]->ops->kind);
    }
    h.n_capabilities = ncaps;
    h.capabilities = caps;
    if (cuda && *cuda && strcmp(cuda, "-1") != 0) {
        h.has_gpus = true;
        h.gpus = 1;
        for (const char *p = cuda; *p; p++)
            h.gpus += *p == ',';
    }
    if (getenv("SLURM_ARRAY_JOB_ID") && getenv("SLURM_ARRAY_TASK_ID"))
        snprintf(slurm, sizeof slurm, "%.100s_%.100s", getenv("SLURM_ARRAY_JOB_ID"),
                 getenv("SLURM_ARRAY_TASK_ID"));
    else if (getenv("SLURM_JOB_ID"))
        snprintf(slurm, sizeof slurm, "%.200s", getenv("SLURM_JOB_ID"));
    if (slurm[0]) {
        trainer_sanitize(slurm, true);
        h.slurm_job_id = slurm;
    }
    if (d->job != JOB_NONE) {
        ref = d->ref;
        h.running = &ref;
    }
    daemon__send(d, AUTOPEFT__KIND__KIND_HELLO, &h.base);
    d->conn = CONN_WAITING;
    d->hello_sent = clock_ms();
}

static void send_heartbeat(daemon_t *d)
{
    Autopeft__Heartbeat h = AUTOPEFT__HEARTBEAT__INIT;
    Autopeft__TrialRef ref;

    h.has_state = true;
    h.state = daemon__state(d);
    if (d->job != JOB_NONE) {
        ref = d->ref;
        h.trial = &ref;
        h.has_progress = true;
        h.progress = (float)daemon__fraction(d);
    }
    h.has_rss_bytes = true;
    h.rss_bytes = rss_bytes();
    daemon__send(d, AUTOPEFT__KIND__KIND_HEARTBEAT, &h.base);
}

static void send_error(daemon_t *d, Autopeft__ErrorCode code, const char *text,
                       Autopeft__Kind kind)
{
    uint8_t *frame;
    size_t len;
    uint64_t now = clock_ms();

    if (d->last_error && now - d->last_error < d->interval_ms)
        return;
    d->last_error = now;
    if (wire_encode_error(code, text, kind, &frame, &len) == 0) {
        daemon__send_frame(d, frame, len);
        free(frame);
    }
}

/* ---- connection --------------------------------------------------------------------------- */

static void close_socket(daemon_t *d, int linger)
{
    if (!d->sock)
        return;
    zmq_setsockopt(d->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(d->sock);
    d->sock = NULL;
    d->conn = CONN_NONE;
}

static void schedule_reconnect(daemon_t *d)
{
    uint64_t cap = d->o.backoff_max_ms ? d->o.backoff_max_ms : 32000;
    double jitter = 0.75 + 0.5 * rng_uniform(&d->rng);

    d->next_connect = clock_ms() + (uint64_t)(d->backoff_ms * jitter);
    d->backoff_ms = d->backoff_ms * 2 > cap ? cap : d->backoff_ms * 2;
}

/* Reads the endpoint file: the endpoint into ep, the coordinator's CURVE key (if the file
 * names one) into key[KEYS_Z85_LEN + 1], else "". 1 finished, 0 read, < 0 not there yet. */
static int read_endpoint(const daemon_t *d, char *ep, size_t len, char *key)
{
    FILE *f = fopen(d->o.endpoint_file, "r");
    char line[1024];

    key[0] = '\0';
    if (!f)
        return err_set(ERR_NOTFOUND, "%s: %s", d->o.endpoint_file, strerror(errno));
    if (!fgets(line, sizeof line, f)) {
        fclose(f);
        return err_set(ERR_NOTFOUND, "%s is empty", d->o.endpoint_file);
    }
    line[strcspn(line, "\r\n")] = '\0';
    if (strcmp(line, "finished") == 0) {
        fclose(f);
        return 1;
    }
    snprintf(ep, len, "%s", line);
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strncmp(line, "curve-server-key ", 17) == 0 && keys_valid_z85(line + 17))
            snprintf(key, KEYS_Z85_LEN + 1, "%.40s", line + 17);
    }
    fclose(f);
    return 0;
}

/* 1: the study is finished (nothing to connect to); 0: connected; < 0: try again later. */
static int open_socket(daemon_t *d)
{
    char ep[1024], file_key[KEYS_Z85_LEN + 1];
    const char *server_key = d->o.server_key;
    int64_t maxmsg = AUTOPEFT__CONSTANTS__MAX_FRAME_BYTES;
    int ivl = 100, ivl_max = 2000, rc;

    if (d->o.connect) {
        snprintf(ep, sizeof ep, "%s", d->o.connect);
    } else {
        rc = read_endpoint(d, ep, sizeof ep, file_key);
        if (rc == 1)
            return 1;
        if (rc < 0) {
            if (!d->said_waiting) {
                log_info("waiting for the coordinator to publish %s", d->o.endpoint_file);
                d->said_waiting = true;
            }
            return rc;
        }
        if (!server_key && file_key[0])
            server_key = file_key;
    }
    if (d->o.curve && !server_key)
        return err_set(ERR_INVAL, "CURVE is on but the coordinator's public key is unknown "
                       "(--server-key, or a curve-server-key line in the endpoint file)");
    d->sock = zmq_socket(d->ctx, ZMQ_DEALER);
    if (!d->sock)
        return err_set(ERR_IO, "zmq_socket: %s", zmq_strerror(errno));
    zmq_setsockopt(d->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    zmq_setsockopt(d->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(d->sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
    if (d->o.curve) {
        zmq_setsockopt(d->sock, ZMQ_CURVE_SERVERKEY, server_key, KEYS_Z85_LEN);
        zmq_setsockopt(d->sock, ZMQ_CURVE_PUBLICKEY, d->o.curve->public_z85, KEYS_Z85_LEN);
        zmq_setsockopt(d->sock, ZMQ_CURVE_SECRETKEY, d->o.curve->secret_z85, KEYS_Z85_LEN);
    }
    if (zmq_connect(d->sock, ep) != 0) {
        rc = err_set(ERR_INVAL, "cannot connect to '%s': %s", ep, zmq_strerror(errno));
        close_socket(d, 0);
        return rc;
    }
    if (strcmp(ep, d->endpoint) != 0)
        log_info("connecting to %s", ep);
    snprintf(d->endpoint, sizeof d->endpoint, "%s", ep);
    d->last_recv = clock_ms();
    d->said_waiting = false;
    send_hello(d);
    return 0;
}

static void coordinator_lost(daemon_t *d, const char *why)
{
    log_warn("%s: %s; reconnecting%s", d->endpoint, why,
             d->job == JOB_RUNNING ? " (the trial keeps running)" : "");
    close_socket(d, 0);
    d->stats.reconnects++;
    schedule_reconnect(d);
}

/* While a HELLO waits for its WELCOME, the endpoint file may already say that the study has
 * finished (the coordinator exited before it saw us) or name a restarted coordinator on
 * another port: reading it every ENDPOINT_RECHECK_MS acts on that at once instead of after
 * the liveness time. 1: finished (the socket is closed); 0 otherwise. */
static int recheck_endpoint(daemon_t *d, uint64_t now)
{
    char ep[1024], key[KEYS_Z85_LEN + 1];
    int rc;

    if (!d->o.endpoint_file || d->conn != CONN_WAITING || now < d->file_checked + ENDPOINT_RECHECK_MS)
        return 0;
    d->file_checked = now;
    rc = read_endpoint(d, ep, sizeof ep, key);
    if (rc == 1) {
        close_socket(d, 0);
        return 1;
    }
    if (rc == 0 && strcmp(ep, d->endpoint) != 0) {
        coordinator_lost(d, "the endpoint file names another coordinator");
        d->next_connect = now;
    }
    return 0;
}

/* ---- messages ----------------------------------------------------------------------------- */

static bool ref_is_ours(const daemon_t *d, const Autopeft__TrialRef *r)
{
    return d->job != JOB_NONE && r && r->trial_id == d->ref.trial_id &&
           r->attempt == d->ref.attempt;
}

static void on_welcome(daemon_t *d, const Autopeft__Welcome *w)
{
    bool keep = w->has_keep_running && w->keep_running;

    d->interval_ms = w->heartbeat_interval_ms;
    d->liveness = w->heartbeat_liveness;
    d->backoff_ms = 1000;
    if (d->conn != CONN_READY)
        log_info("registered with coordinator %s for study '%s' as %s", w->coordinator_id,
                 w->study_name, d->worker_id);
    d->conn = CONN_READY;
    snprintf(d->study, sizeof d->study, "%s", w->study_name);
    if (d->job != JOB_NONE && strcmp(d->trial_study, d->study) != 0) {
        log_warn("the coordinator runs study '%s', not '%s': dropping trial %" PRIu64, d->study,
                 d->trial_study, d->ref.trial_id);
        daemon__abandon(d);
    } else if (d->job == JOB_RUNNING && !keep) {
        log_warn("the coordinator has given trial %" PRIu64 " attempt %u to another worker or "
                 "finished it: stopping it", d->ref.trial_id, d->ref.attempt);
        daemon__abandon(d);
    } else if (d->job == JOB_REPORTING) {
        daemon__send_result(d);
    }
    if (d->job == JOB_NONE)
        d->idle_since = clock_ms();
}

static void on_ack(daemon_t *d, const Autopeft__Ack *a)
{
    if (d->job != JOB_REPORTING || !ref_is_ours(d, a->trial))
        return;
    if (a->status != AUTOPEFT__ACK_STATUS__ACK_STATUS_ACCEPTED)
        log_info("result of trial %" PRIu64 " attempt %u not counted: %s", d->ref.trial_id,
                 d->ref.attempt, a->reason ? a->reason : "");
    daemon__drop_result(d);
}

/* CANCEL of the running attempt: the trainer ends it, as CANCELLED, or with stop as STOPPED
 * (stop is set before cancel, so the trainer that sees cancel sees stop too). The latest word
 * counts while the trainer has not ended; a RESULT already made is not changed. */
static void on_cancel(daemon_t *d, const Autopeft__Cancel *c)
{
    bool stop = c->has_stop && c->stop;

    if (d->job != JOB_RUNNING || !ref_is_ours(d, c->trial) || d->abandoned)
        return;
    log_info("trial %" PRIu64 " attempt %u %s: %s", d->ref.trial_id, d->ref.attempt,
             stop ? "stopped" : "cancelled", c->reason ? c->reason : "");
    snprintf(d->cancel_reason, sizeof d->cancel_reason, "%s",
             c->reason ? c->reason
                       : stop ? "stopped by the coordinator" : "cancelled by the coordinator");
    atomic_store(&d->stop, stop);
    atomic_store(&d->cancel, true);
}

static void on_error(daemon_t *d, const Autopeft__Error *e, uint32_t version)
{
    const char *text = e->message ? e->message : "";

    switch (e->code) {
    case AUTOPEFT__ERROR_CODE__ERROR_CODE_UNKNOWN_WORKER:
        log_info("the coordinator does not know this worker (it restarted?): registering again");
        send_hello(d);
        return;
    case AUTOPEFT__ERROR_CODE__ERROR_CODE_VERSION:
    case AUTOPEFT__ERROR_CODE__ERROR_CODE_DENIED:
    case AUTOPEFT__ERROR_CODE__ERROR_CODE_INVALID:
        if (d->conn == CONN_WAITING && (!e->has_refused_kind ||
                                        e->refused_kind == AUTOPEFT__KIND__KIND_HELLO)) {
            if (e->code == AUTOPEFT__ERROR_CODE__ERROR_CODE_VERSION)
                log_error("the coordinator speaks protocol %u, this worker %d: %s", version,
                          AUTOPEFT__CONSTANTS__PROTOCOL_VERSION, text);
            else
                log_error("the coordinator refused this worker: %s", text);
            d->fatal = e->code == AUTOPEFT__ERROR_CODE__ERROR_CODE_VERSION ? ERR_VERSION
                       : e->code == AUTOPEFT__ERROR_CODE__ERROR_CODE_DENIED ? ERR_DENIED
                                                                           : ERR_INVAL;
            return;
        }
        break;
    default:
        break;
    }
    log_warn("the coordinator refused a message (code %d): %s", e->code, text);
}

static void handle(daemon_t *d, const uint8_t *frame, size_t len)
{
    wire_msg_t m;
    int rc = wire_decode(frame, len, &m);

    d->last_recv = clock_ms();
    if (rc != 0) {
        if (d->refused++ < 20)
            log_warn("refused a frame from the coordinator: %s", err_msg());
        if (m.kind != AUTOPEFT__KIND__KIND_ERROR)
            send_error(d, wire_error_code(rc), err_msg(), m.kind);
        return;
    }
    switch (m.kind) {
    case AUTOPEFT__KIND__KIND_WELCOME:
        on_welcome(d, (Autopeft__Welcome *)m.msg);
        break;
    case AUTOPEFT__KIND__KIND_TRIAL:
        if (d->job != JOB_NONE || d->leaving) {
            char why[160];
            snprintf(why, sizeof why, "busy with trial %" PRIu64 " attempt %u", d->ref.trial_id,
                     d->ref.attempt);
            d->last_error = 0; /* this refusal must not be rate-limited away */
            send_error(d, AUTOPEFT__ERROR_CODE__ERROR_CODE_STATE, why, AUTOPEFT__KIND__KIND_TRIAL);
            break;
        }
        daemon__start_trial(d, &m); /* takes the message */
        break;
    case AUTOPEFT__KIND__KIND_HEARTBEAT:
        break;
    case AUTOPEFT__KIND__KIND_ACK:
        on_ack(d, (Autopeft__Ack *)m.msg);
        break;
    case AUTOPEFT__KIND__KIND_CANCEL:
        on_cancel(d, (Autopeft__Cancel *)m.msg);
        break;
    case AUTOPEFT__KIND__KIND_SHUTDOWN: {
        Autopeft__Shutdown *s = (Autopeft__Shutdown *)m.msg;
        log_info("shutdown: %s", s->reason ? s->reason : "(no reason)");
        d->shutdown = true;
        break;
    }
    case AUTOPEFT__KIND__KIND_ERROR:
        on_error(d, (Autopeft__Error *)m.msg, m.version);
        break;
    default:
        send_error(d, AUTOPEFT__ERROR_CODE__ERROR_CODE_STATE, "not a message for a worker",
                   m.kind);
        break;
    }
    wire_msg_free(&m);
}

/* ---- the loop ----------------------------------------------------------------------------- */

static void goodbye(daemon_t *d, const char *reason)
{
    Autopeft__Goodbye g = AUTOPEFT__GOODBYE__INIT;

    if (d->sock && d->conn != CONN_NONE) {
        g.reason = (char *)reason;
        daemon__send(d, AUTOPEFT__KIND__KIND_GOODBYE, &g.base);
    }
    close_socket(d, 1000);
}

/* The endpoint file says the study is over: the loop ends. */
static long finish(daemon_t *d)
{
    log_info("the study is finished (%s says so): exiting", d->o.endpoint_file);
    d->finished = true;
    return 0;
}

/* Timers; returns the milliseconds until the next one is due. */
static long timers(daemon_t *d, uint64_t now)
{
    uint64_t dead = d->interval_ms * d->liveness;
    long wait = (long)d->interval_ms;

    if (!d->sock) {
        if (now >= d->next_connect && !d->leaving) {
            int rc = open_socket(d);
            if (rc == 1)
                return finish(d);
            if (rc < 0) {
                if (err_code() == ERR_INVAL && !d->o.endpoint_file) {
                    log_error("%s", err_msg());
                    d->fatal = ERR_INVAL;
                    return 0;
                }
                if (err_code() != ERR_NOTFOUND)
                    log_warn("%s", err_msg());
                schedule_reconnect(d);
            }
        }
        if (!d->sock)
            return d->next_connect > now ? (long)(d->next_connect - now) : 10;
        return 1; /* just connected: the clocks start now */
    }
    if (recheck_endpoint(d, now) == 1)
        return finish(d);
    if (!d->sock)
        return 1;
    if (now > d->last_recv && now - d->last_recv >= dead) {
        coordinator_lost(d, d->conn == CONN_WAITING
                                ? "no WELCOME (no coordinator there, or it refused this "
                                  "worker's CURVE key)"
                                : "the coordinator fell silent");
        return 10;
    }
    if (d->conn == CONN_READY && now >= d->last_sent + d->interval_ms)
        send_heartbeat(d);
    if (d->conn == CONN_READY && d->job == JOB_RUNNING)
        daemon__maybe_progress(d, now);
    if (d->conn == CONN_READY && d->job == JOB_REPORTING && now >= d->result_sent + dead) {
        log_debug("no ACK for trial %" PRIu64 ": sending the RESULT again", d->ref.trial_id);
        daemon__send_result(d);
    }
    if (now < d->last_sent + d->interval_ms)
        wait = (long)(d->last_sent + d->interval_ms - now);
    if (d->conn == CONN_READY && d->job == JOB_RUNNING) {
        long cw = daemon__curve_wait(d, now);
        if (cw >= 0 && cw < wait)
            wait = cw;
    }
    return wait < 1 ? 1 : wait;
}

static void drain_socket(daemon_t *d)
{
    while (d->sock && !d->fatal) {
        zmq_msg_t msg;
        int more = 0;
        size_t sz = sizeof more;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, d->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            return;
        }
        zmq_getsockopt(d->sock, ZMQ_RCVMORE, &more, &sz);
        if (more) {
            /* A coordinator sends single-part messages: drop the rest and refuse. */
            while (more) {
                zmq_msg_t x;
                zmq_msg_init(&x);
                zmq_msg_recv(&x, d->sock, 0);
                zmq_msg_close(&x);
                zmq_getsockopt(d->sock, ZMQ_RCVMORE, &more, &sz);
            }
            d->last_recv = clock_ms();
            send_error(d, AUTOPEFT__ERROR_CODE__ERROR_CODE_BAD_FRAME, "a multi-part message", 0);
        } else {
            handle(d, zmq_msg_data(&msg), zmq_msg_size(&msg));
        }
        zmq_msg_close(&msg);
    }
}

int daemon_run(daemon_t *d)
{
    uint64_t leave_deadline = 0;
    const char *leave_reason = "stopping";

    d->idle_since = clock_ms();
    d->next_connect = 0;
    while (!d->fatal && !d->finished) {
        uint64_t now = clock_ms();
        zmq_pollitem_t items[2];
        long wait;
        int n = 0;

        if (d->shutdown) {
            leave_reason = "shut down by the coordinator";
            daemon__abandon(d);
            break;
        }
        if (atomic_load(&d->stop_req) && !d->leaving) {
            d->leaving = true;
            leave_reason = "stopped by a signal";
            if (d->job == JOB_RUNNING)
                daemon__abandon(d);
            leave_deadline = now + d->interval_ms * d->liveness;
        }
        if (d->leaving && (d->job == JOB_NONE || now >= leave_deadline))
            break;
        if (!d->leaving && d->job == JOB_NONE && d->o.idle_timeout_s > 0 &&
            (double)(now - d->idle_since) >= d->o.idle_timeout_s * 1000) {
            log_info("idle for %g s: exiting", d->o.idle_timeout_s);
            leave_reason = "idle timeout";
            break;
        }
        wait = timers(d, now);
        if (d->fatal || d->finished)
            break;
        items[n].socket = NULL;
        items[n].fd = d->pipe_r;
        items[n].events = ZMQ_POLLIN;
        n++;
        if (d->sock) {
            items[n].socket = d->sock;
            items[n].fd = -1;
            items[n].events = ZMQ_POLLIN;
            n++;
        }
        if (d->o.idle_timeout_s > 0 && d->job == JOB_NONE && wait > 200)
            wait = 200;
        if (zmq_poll(items, n, wait) < 0 && errno != EINTR) {
            log_error("zmq_poll: %s", zmq_strerror(errno));
            d->fatal = ERR_IO;
            break;
        }
        if (items[0].revents & ZMQ_POLLIN) {
            char buf[64];
            while (read(d->pipe_r, buf, sizeof buf) > 0) {
            }
        }
        daemon__check_done(d);
        drain_socket(d);
    }
    daemon__abandon(d);
    daemon__join(d);
    if (!d->fatal)
        goodbye(d, leave_reason);
    close_socket(d, 0);
    return d->fatal;
}

/* ---- life cycle --------------------------------------------------------------------------- */

daemon_t *daemon_new(const daemon_opts_t *o)
{
    daemon_t *d = mem_alloc(1, sizeof *d, "worker daemon");
    int p[2];
    char rnd[17];

    if (!d)
        return NULL;
    if (!o->connect == !o->endpoint_file) {
        err_set(ERR_INVAL, "exactly one of --connect and --endpoint-file is needed");
        free(d);
        return NULL;
    }
    d->o = *o;
    if (pipe(p) != 0) {
        err_set(ERR_IO, "pipe: %s", strerror(errno));
        free(d);
        return NULL;
    }
    d->pipe_r = p[0];
    d->pipe_w = p[1];
    fcntl(d->pipe_r, F_SETFL, O_NONBLOCK);
    fcntl(d->pipe_w, F_SETFL, O_NONBLOCK);
    fcntl(d->pipe_r, F_SETFD, FD_CLOEXEC);
    fcntl(d->pipe_w, F_SETFD, FD_CLOEXEC);
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    rng_seed(&d->rng, rng_mix64((uint64_t)getpid() ^ clock_ms() ^ (uint64_t)(uintptr_t)d));
    if (gethostname(d->host, sizeof d->host) != 0 || !d->host[0])
        snprintf(d->host, sizeof d->host, "unknown");
    d->host[sizeof d->host - 1] = '\0';
    for (char *c = d->host; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
            *c = '?';
    snprintf(rnd, sizeof rnd, "%016" PRIx64, rng_next(&d->rng));
    snprintf(d->worker_id, sizeof d->worker_id, "%.200s/%d/%s", d->host, (int)getpid(), rnd);
    d->interval_ms = 2000;
    d->liveness = 5;
    d->backoff_ms = 1000;
    if (o->zmq_ctx) {
        d->ctx = o->zmq_ctx;
    } else {
        d->ctx = zmq_ctx_new();
        d->own_ctx = true;
    }
    return d;
}

void daemon_free(daemon_t **dp)
{
    daemon_t *d = *dp;

    if (!d)
        return;
    daemon__join(d);
    daemon__stop_thread(d);
    close_socket(d, 0);
    if (d->own_ctx && d->ctx)
        zmq_ctx_term(d->ctx);
    wire_msg_free(&d->trial_msg);
    free(d->result_frame);
    close(d->pipe_r);
    close(d->pipe_w);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d);
    *dp = NULL;
}

void daemon_stop(daemon_t *d)
{
    char c = 's';

    atomic_store(&d->stop_req, true);
    if (write(d->pipe_w, &c, 1) < 0) {
        /* The pipe is full: the loop wakes anyway. */
    }
}

void daemon_stats(const daemon_t *d, daemon_stats_t *out)
{
    pthread_mutex_lock((pthread_mutex_t *)&d->mu);
    *out = d->stats;
    pthread_mutex_unlock((pthread_mutex_t *)&d->mu);
}

const char *daemon_worker_id(const daemon_t *d)
{
    return d->worker_id;
}
