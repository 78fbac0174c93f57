/* A real autopeft-worker process and a fake coordinator (a ROUTER in the test) over TCP: the
 * multi-fidelity exchange of issue 14. A synthetic trial sends one PROGRESS per epoch with the
 * curve so far, each at once rather than at the next heartbeat; CANCEL with stop ends a trial
 * as RESULT_STATUS_STOPPED with the epochs it ran, resent until acknowledged like any RESULT;
 * a plain CANCEL still cancels. */
#include <signal.h>
#include <unistd.h>
#include <zmq.h>

#include "common/clock.h"
#include "tests/harness.h"
#include "tests/integration/runtime_util.h"
#include "tests/unit/common/wire_fixtures.h"

/* The heartbeat interval the fake coordinator gives: long beside the 250 ms epochs, so a curve
 * point that waited for a heartbeat would show. */
#define INTERVAL_MS 1000
#define LIVENESS 2

typedef struct {
    void *ctx, *sock;
    uint8_t id[256];
    size_t id_len;
    double last_hb;
} coord_t;

/* Receives one message from the worker (its identity kept); false on timeout. Sends the worker
 * a HEARTBEAT every half interval meanwhile, so that it keeps the coordinator alive. */
static bool coord_recv(coord_t *c, int timeout_ms, wire_msg_t *m)
{
    double end = clock_s() + timeout_ms / 1000.0;

    memset(m, 0, sizeof *m);
    while (clock_s() < end) {
        zmq_pollitem_t it = {c->sock, 0, ZMQ_POLLIN, 0};
        if (c->id_len && clock_s() - c->last_hb > INTERVAL_MS / 2000.0) {
            Autopeft__Heartbeat hb = AUTOPEFT__HEARTBEAT__INIT;
            uint8_t *frame;
            size_t len;
            ASSERT_OK(wire_encode(AUTOPEFT__KIND__KIND_HEARTBEAT, &hb.base, &frame, &len));
            ASSERT_TRUE(zmq_send(c->sock, c->id, c->id_len, ZMQ_SNDMORE) >= 0);
            ASSERT_TRUE(zmq_send(c->sock, frame, len, 0) >= 0);
            free(frame);
            c->last_hb = clock_s();
        }
        if (zmq_poll(&it, 1, 50) > 0) {
            zmq_msg_t id, body;
            bool ok;
            zmq_msg_init(&id);
            zmq_msg_init(&body);
            ASSERT_TRUE(zmq_msg_recv(&id, c->sock, 0) >= 0);
            ASSERT_TRUE(zmq_msg_recv(&body, c->sock, 0) >= 0);
            ASSERT_TRUE(zmq_msg_size(&id) <= sizeof c->id);
            c->id_len = zmq_msg_size(&id);
            memcpy(c->id, zmq_msg_data(&id), c->id_len);
            ok = wire_decode(zmq_msg_data(&body), zmq_msg_size(&body), m) == 0;
            zmq_msg_close(&id);
            zmq_msg_close(&body);
            if (!ok)
                FAIL("the worker sent a frame the protocol refuses: %s", err_msg());
            return true;
        }
    }
    return false;
}

/* Waits for a message of the kind (others dropped). */
static bool coord_recv_kind(coord_t *c, Autopeft__Kind kind, int timeout_ms, wire_msg_t *m)
{
    double end = clock_s() + timeout_ms / 1000.0;

    while (clock_s() < end)
        if (coord_recv(c, (int)((end - clock_s()) * 1000) + 1, m)) {
            if (m->kind == kind)
                return true;
            wire_msg_free(m);
        }
    return false;
}

static void coord_send(coord_t *c, Autopeft__Kind kind, const ProtobufCMessage *msg)
{
    uint8_t *frame;
    size_t len;

    ASSERT_OK(wire_encode(kind, msg, &frame, &len));
    ASSERT_TRUE(zmq_send(c->sock, c->id, c->id_len, ZMQ_SNDMORE) >= 0);
    ASSERT_TRUE(zmq_send(c->sock, frame, len, 0) >= 0);
    free(frame);
}

/* Binds the ROUTER, starts the worker and answers its HELLO. */
static pid_t coord_start(coord_t *c, wire_fixture_t *f)
{
    char ep[64], log[1024];
    int linger = 0;
    wire_msg_t m;
    pid_t w;

    memset(c, 0, sizeof *c);
    c->ctx = zmq_ctx_new();
    c->sock = zmq_socket(c->ctx, ZMQ_ROUTER);
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger);
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", rt_free_port());
    ASSERT_EQ(zmq_bind(c->sock, ep), 0);
    rt_path(log, sizeof log, "worker.log");
    w = RT_SPAWN("autopeft-worker", log, "--connect", ep, "--cores", "1", "--backoff-max", "500");
    ASSERT_TRUE(coord_recv_kind(c, AUTOPEFT__KIND__KIND_HELLO, 10000, &m));
    wire_msg_free(&m);
    wire_fixture_init(f);
    f->welcome.heartbeat_interval_ms = INTERVAL_MS;
    f->welcome.heartbeat_liveness = LIVENESS;
    f->welcome.study_name = "synthetic-smoke";
    coord_send(c, AUTOPEFT__KIND__KIND_WELCOME, &f->welcome.base);
    return w;
}

static void coord_stop(coord_t *c, pid_t w)
{
    Autopeft__Shutdown s = AUTOPEFT__SHUTDOWN__INIT;
    int st;

    s.reason = "test over";
    coord_send(c, AUTOPEFT__KIND__KIND_SHUTDOWN, &s.base);
    if (!rt_wait(w, 10, &st))
        rt_kill9(w);
    zmq_close(c->sock);
    zmq_ctx_term(c->ctx);
}

/* Sends the fixtures' synthetic TRIAL as trial id, of `epochs` epochs of 250 ms each. */
static void send_trial(coord_t *c, wire_fixture_t *f, uint64_t id, uint32_t epochs)
{
    f->syn_ref.trial_id = id;
    f->syn_ref.attempt = 1;
    f->syn_recipe.epochs = epochs;
    f->synthetic.duration_ms = 250 * epochs;
    coord_send(c, AUTOPEFT__KIND__KIND_TRIAL, &f->syn_trial.base);
}

static void send_cancel(coord_t *c, uint64_t id, bool stop, const char *reason)
{
    Autopeft__Cancel k = AUTOPEFT__CANCEL__INIT;
    Autopeft__TrialRef ref = AUTOPEFT__TRIAL_REF__INIT;

    ref.has_trial_id = ref.has_attempt = true;
    ref.trial_id = id;
    ref.attempt = 1;
    k.trial = &ref;
    k.reason = (char *)reason;
    k.has_stop = true;
    k.stop = stop;
    coord_send(c, AUTOPEFT__KIND__KIND_CANCEL, &k.base);
}

static void send_ack(coord_t *c, uint64_t id)
{
    Autopeft__Ack a = AUTOPEFT__ACK__INIT;
    Autopeft__TrialRef ref = AUTOPEFT__TRIAL_REF__INIT;

    ref.has_trial_id = ref.has_attempt = true;
    ref.trial_id = id;
    ref.attempt = 1;
    a.trial = &ref;
    a.has_status = true;
    a.status = AUTOPEFT__ACK_STATUS__ACK_STATUS_ACCEPTED;
    coord_send(c, AUTOPEFT__KIND__KIND_ACK, &a.base);
}

/* Receives until the trial's RESULT, checking each PROGRESS's curve on the way: it only grows,
 * a point at a time, each new point within a fraction of the heartbeat interval of the one
 * before. Stops the trial (stop_after > 0) once the curve has that many points. The RESULT
 * into *m; returns the curve's length at the last PROGRESS. */
static int follow(coord_t *c, uint64_t id, int stop_after, bool stop, wire_msg_t *m)
{
    double last_point = clock_s();
    int n = 0;

    for (;;) {
        ASSERT_TRUE(coord_recv(c, 10000, m));
        if (m->kind == AUTOPEFT__KIND__KIND_RESULT)
            return n;
        if (m->kind == AUTOPEFT__KIND__KIND_PROGRESS) {
            Autopeft__Progress *p = (Autopeft__Progress *)m->msg;
            ASSERT_EQ_U(p->trial->trial_id, id);
            if ((int)p->n_curve != n) {
                double now = clock_s();
                ASSERT_EQ((int)p->n_curve, n + 1);   /* one point per epoch, none coalesced */
                if (n > 0 && now - last_point > 0.6 * INTERVAL_MS / 1000.0)
                    FAIL("curve point %d came %.3f s after the one before (epochs are 0.25 s)",
                         n + 1, now - last_point);
                ASSERT_EQ_U(p->curve[n]->epoch, (unsigned)n + 1);
                last_point = now;
                n++;
                if (stop_after > 0 && n == stop_after)
                    send_cancel(c, id, stop, stop ? "rung 1: not in the top third"
                                                  : "the user cancelled it");
            }
        }
        wire_msg_free(m);
    }
}

TEST_TIMEOUT(synthetic_trial_sends_its_curve_point_by_point, 60)
{
    static wire_fixture_t f;
    coord_t c;
    wire_msg_t m;
    Autopeft__Result *r;
    pid_t w = coord_start(&c, &f);

    send_trial(&c, &f, 7, 4);
    ASSERT_EQ(follow(&c, 7, 0, false, &m), 4);   /* the last point too, before the RESULT */
    r = (Autopeft__Result *)m.msg;
    ASSERT_EQ(r->status, AUTOPEFT__RESULT_STATUS__RESULT_STATUS_OK);
    ASSERT_EQ_U(r->n_history, 4);
    ASSERT_EQ_U(r->best_epoch, 4);
    ASSERT_NEAR(r->objective, r->history[3]->objective, 0);
    wire_msg_free(&m);
    send_ack(&c, 7);
    coord_stop(&c, w);
}

TEST_TIMEOUT(cancel_with_stop_gives_a_stopped_result_and_plain_cancel_still_cancels, 60)
{
    static wire_fixture_t f;
    coord_t c;
    wire_msg_t m, again;
    Autopeft__Result *r;
    double best;
    pid_t w = coord_start(&c, &f);

    /* Stopped after its second epoch of eight. */
    send_trial(&c, &f, 8, 8);
    ASSERT_EQ(follow(&c, 8, 2, true, &m), 2);
    r = (Autopeft__Result *)m.msg;
    if (r->status != AUTOPEFT__RESULT_STATUS__RESULT_STATUS_STOPPED)
        FAIL("status %d: %s", r->status, r->error ? r->error : "");
    ASSERT_EQ_U(r->epochs_run, 2);
    ASSERT_EQ_U(r->n_history, 2);
    best = fmax(r->history[0]->objective, r->history[1]->objective);
    ASSERT_TRUE(r->has_objective);
    ASSERT_NEAR(r->objective, best, 0);
    ASSERT_EQ_U(r->best_epoch, r->history[0]->objective == best ? 1 : 2);
    ASSERT_NOT_NULL(r->params);
    ASSERT_TRUE(r->params->trainable > 0);
    ASSERT_NOT_NULL(r->error);
    ASSERT_TRUE(strstr(r->error, "stopped after epoch 2 of 8") != NULL);
    ASSERT_TRUE(strstr(r->error, "rung 1: not in the top third") != NULL);
    /* Not acknowledged: sent again after the liveness time, as any RESULT. */
    ASSERT_TRUE(coord_recv_kind(&c, AUTOPEFT__KIND__KIND_RESULT, 5000, &again));
    ASSERT_EQ(((Autopeft__Result *)again.msg)->status,
              AUTOPEFT__RESULT_STATUS__RESULT_STATUS_STOPPED);
    ASSERT_EQ_U(((Autopeft__Result *)again.msg)->epochs_run, 2);
    wire_msg_free(&again);
    wire_msg_free(&m);
    send_ack(&c, 8);

    /* A plain CANCEL: CANCELLED, as before. */
    send_trial(&c, &f, 9, 8);
    follow(&c, 9, 1, false, &m);
    r = (Autopeft__Result *)m.msg;
    ASSERT_EQ(r->status, AUTOPEFT__RESULT_STATUS__RESULT_STATUS_CANCELLED);
    ASSERT_TRUE(strstr(r->error, "the user cancelled it") != NULL);
    wire_msg_free(&m);
    send_ack(&c, 9);

    /* Stopped before its first epoch ends: STOPPED all the same, without an objective. */
    send_trial(&c, &f, 10, 8);
    usleep(100000);
    send_cancel(&c, 10, true, "the study has enough");
    ASSERT_EQ(follow(&c, 10, 0, true, &m), 0);
    r = (Autopeft__Result *)m.msg;
    ASSERT_EQ(r->status, AUTOPEFT__RESULT_STATUS__RESULT_STATUS_STOPPED);
    ASSERT_FALSE(r->has_objective);
    ASSERT_FALSE(r->has_best_epoch);
    ASSERT_EQ_U(r->epochs_run, 0);
    ASSERT_TRUE(strstr(r->error, "stopped before its first evaluation") != NULL);
    wire_msg_free(&m);
    send_ack(&c, 10);
    coord_stop(&c, w);
}
