/* A live coordinator fed broken frames over a raw DEALER: garbage, truncated, oversized,
 * multi-part, wrong version, invalid, out of order. Each is refused with the ERROR the protocol
 * names, and afterwards the same coordinator still registers and serves a worker. And CURVE:
 * a worker whose key is not allowed gets nothing. */
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "common/keys.h"
#include "tests/harness.h"
#include "tests/integration/runtime_util.h"

static pid_t start_coordinator(const char *study, const char *log, int budget, const char *net)
{
    char conf[1024];

    rt_path(conf, sizeof conf, "study.conf");
    rt_write(conf,
             "[study]\nname = wire\nmode = synthetic\nbudget = %d\n[synthetic]\nduration_ms = 20\n"
             "[search]\nsurrogate = random\n[network]\nheartbeat_interval_ms = 100\n%s",
             budget, net);
    return RT_SPAWN("autopeft-coordinator", log, "--study", study, "--config", conf);
}

static void endpoint(const char *study, char *ep, size_t len)
{
    char path[1100];

    snprintf(path, sizeof path, "%s/endpoint", study);
    ASSERT_TRUE(rt_wait_file(path, 20));
    ASSERT_TRUE(rt_read_line(path, ep, len));
}

/* Sends bytes and expects an ERROR with the code. */
static void expect_error(void *s, const void *frame, size_t len, Autopeft__ErrorCode code)
{
    wire_msg_t m;

    ASSERT_EQ(rt_send(s, frame, len), 0);
    ASSERT_TRUE(rt_recv_kind(s, AUTOPEFT__KIND__KIND_ERROR, 3000, &m));
    ASSERT_EQ(((Autopeft__Error *)m.msg)->code, code);
    wire_msg_free(&m);
    usleep(120000); /* one ERROR per peer per heartbeat interval */
}

TEST_TIMEOUT(broken_frames_are_refused_and_service_goes_on, 60)
{
    char study[1024], log[1024], ep[256], wlog[1024];
    void *ctx = zmq_ctx_new(), *s, *big;
    uint8_t *frame, *hello, garbage[64], *huge;
    size_t len, hlen;
    Autopeft__Heartbeat hb = AUTOPEFT__HEARTBEAT__INIT;
    wire_msg_t m;
    pid_t c, w;
    int st;

    rt_path(study, sizeof study, "study");
    rt_path(log, sizeof log, "coordinator.log");
    c = start_coordinator(study, log, 6, "bind = tcp://127.0.0.1:0\n");
    endpoint(study, ep, sizeof ep);
    s = rt_dealer(ctx, ep);

    /* Garbage: not a frame. */
    for (size_t i = 0; i < sizeof garbage; i++)
        garbage[i] = (uint8_t)(i * 37 + 11);
    expect_error(s, garbage, sizeof garbage, AUTOPEFT__ERROR_CODE__ERROR_CODE_BAD_FRAME);
    /* A frame shorter than its header. */
    expect_error(s, "APFT", 4, AUTOPEFT__ERROR_CODE__ERROR_CODE_BAD_FRAME);
    /* A truncated HELLO. */
    hello = rt_hello("wire-test/1/0000000000000001", &hlen);
    expect_error(s, hello, hlen - 3, AUTOPEFT__ERROR_CODE__ERROR_CODE_BAD_FRAME);
    /* Another protocol version. */
    frame = malloc(hlen);
    memcpy(frame, hello, hlen);
    frame[4] = 2;
    expect_error(s, frame, hlen, AUTOPEFT__ERROR_CODE__ERROR_CODE_VERSION);
    free(frame);
    /* A valid frame before HELLO. */
    ASSERT_OK(wire_encode(AUTOPEFT__KIND__KIND_HEARTBEAT, &hb.base, &frame, &len));
    expect_error(s, frame, len, AUTOPEFT__ERROR_CODE__ERROR_CODE_UNKNOWN_WORKER);
    free(frame);
    /* A multi-part message. */
    ASSERT_TRUE(zmq_send(s, hello, hlen, ZMQ_SNDMORE) >= 0);
    ASSERT_TRUE(zmq_send(s, hello, hlen, 0) >= 0);
    ASSERT_TRUE(rt_recv_kind(s, AUTOPEFT__KIND__KIND_ERROR, 3000, &m));
    ASSERT_EQ(((Autopeft__Error *)m.msg)->code, AUTOPEFT__ERROR_CODE__ERROR_CODE_BAD_FRAME);
    wire_msg_free(&m);
    usleep(120000);
    /* A HELLO whose header claims more body than there is. */
    frame = malloc(hlen);
    memcpy(frame, hello, hlen);
    frame[8] = (uint8_t)(frame[8] + 1);
    expect_error(s, frame, hlen, AUTOPEFT__ERROR_CODE__ERROR_CODE_BAD_FRAME);
    free(frame);
    /* Larger than the socket's cap: ZeroMQ drops the connection that sent it. */
    big = rt_dealer(ctx, ep);
    huge = calloc(1, (1 << 20) + 4096);
    memcpy(huge, hello, 12);
    ASSERT_EQ(rt_send(big, huge, (1 << 20) + 4096), 0);
    ASSERT_FALSE(rt_recv(big, 500, &m));
    free(huge);
    zmq_close(big);

    /* The coordinator still registers this peer and gives it a trial. */
    ASSERT_EQ(rt_send(s, hello, hlen), 0);
    ASSERT_TRUE(rt_recv_kind(s, AUTOPEFT__KIND__KIND_WELCOME, 3000, &m));
    ASSERT_STR_EQ(((Autopeft__Welcome *)m.msg)->study_name, "wire");
    wire_msg_free(&m);
    ASSERT_TRUE(rt_recv_kind(s, AUTOPEFT__KIND__KIND_TRIAL, 5000, &m));
    ASSERT_EQ(((Autopeft__Trial *)m.msg)->ref->attempt, 1);
    wire_msg_free(&m);
    zmq_close(s);
    free(hello);

    /* And a real worker completes the study (the fake one's trial is requeued when it goes
     * silent). */
    rt_path(wlog, sizeof wlog, "worker.log");
    w = RT_SPAWN("autopeft-worker", wlog, "--connect", ep, "--cores", "1");
    ASSERT_TRUE(rt_wait(c, 40, &st));
    ASSERT_EQ(st, 0);
    ASSERT_TRUE(rt_wait(w, 10, &st));
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials WHERE state = 'done'"), 6);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM attempts WHERE worker = "
                                "'wire-test/1/0000000000000001' AND outcome = 'lost'"), 1);
    ASSERT_TRUE(rt_file_contains(log, "refused a frame"));
    zmq_ctx_term(ctx);
}

TEST_TIMEOUT(curve_refuses_unknown_keys, 60)
{
    char study[1024], log[1024], keys[1024], auth[1024], net[4096], path[1200], wlog[1400];
    char cpath[1200], gpath[1400], bpath[1200];
    keys_t k;
    pid_t c, good, bad;
    int st;

    rt_path(keys, sizeof keys, "keys");
    rt_path(auth, sizeof auth, "authorized");
    ASSERT_EQ(mkdir(keys, 0700), 0);
    ASSERT_EQ(mkdir(auth, 0700), 0);
    snprintf(cpath, sizeof cpath, "%s/coordinator", keys);
    snprintf(gpath, sizeof gpath, "%s/good", auth);
    snprintf(bpath, sizeof bpath, "%s/bad", keys);
    ASSERT_OK(keys_generate(cpath, false, &k));
    ASSERT_OK(keys_generate(gpath, false, &k));
    ASSERT_OK(keys_generate(bpath, false, &k));
    /* Only .pub files are read from the authorized folder: move good.key out. */
    snprintf(path, sizeof path, "%s/good.key", auth);
    snprintf(wlog, sizeof wlog, "%s/good.key", keys);
    ASSERT_EQ(rename(path, wlog), 0);
    rt_path(study, sizeof study, "study");
    rt_path(log, sizeof log, "coordinator.log");
    snprintf(net, sizeof net, "bind = tcp://127.0.0.1:0\ncurve_secret_key = %s.key\n"
             "authorized_keys = %s\n", cpath, auth);
    c = start_coordinator(study, log, 5, net);
    snprintf(path, sizeof path, "%s/endpoint", study);
    ASSERT_TRUE(rt_wait_file(path, 20));
    ASSERT_TRUE(rt_file_contains(path, "curve-server-key "));

    /* The unknown key: the handshake fails, nothing is dispatched to it. */
    snprintf(wlog, sizeof wlog, "%s.key", bpath);
    rt_path(gpath, sizeof gpath, "bad.log");
    bad = RT_SPAWN("autopeft-worker", gpath, "--endpoint-file", path, "--curve-key", wlog,
                   "--cores", "1", "--backoff-max", "500");
    usleep(2000000);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM attempts"), 0);
    ASSERT_TRUE(rt_file_contains(log, "CURVE: refused a connection"));
    ASSERT_FALSE(rt_file_contains(gpath, "registered with coordinator"));

    /* The allowed key completes the study, alone. */
    snprintf(wlog, sizeof wlog, "%s/good.key", keys);
    rt_path(gpath, sizeof gpath, "good.log");
    good = RT_SPAWN("autopeft-worker", gpath, "--endpoint-file", path, "--curve-key", wlog,
                    "--cores", "1", "--backoff-max", "500");
    ASSERT_TRUE(rt_wait(c, 40, &st));
    ASSERT_EQ(st, 0);
    ASSERT_TRUE(rt_wait(good, 10, &st));
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials WHERE state = 'done'"), 5);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(DISTINCT worker) FROM attempts"), 1);
    ASSERT_FALSE(rt_file_contains(gpath, "refused"));
    /* The refused worker never registered; it leaves cleanly on SIGTERM. */
    rt_path(wlog, sizeof wlog, "bad.log");
    ASSERT_FALSE(rt_file_contains(wlog, "registered with"));
    kill(bad, SIGTERM);
    ASSERT_TRUE(rt_wait(bad, 10, &st));
    ASSERT_EQ(st, 0);
}

TEST_TIMEOUT(plain_bind_beyond_loopback_needs_keys_or_insecure, 30)
{
    char study[1024], log[1024], conf[1024];
    pid_t c;
    int st;

    rt_path(study, sizeof study, "study");
    rt_path(log, sizeof log, "coordinator.log");
    rt_path(conf, sizeof conf, "study.conf");
    rt_write(conf, "[study]\nmode = synthetic\nbudget = 2\n[search]\nsurrogate = random\n");
    c = RT_SPAWN("autopeft-coordinator", log, "--study", study, "--config", conf, "--bind",
                 "tcp://*:0");
    ASSERT_TRUE(rt_wait(c, 10, &st));
    ASSERT_EQ(st, 2);
    ASSERT_TRUE(rt_file_contains(log, "without CURVE keys"));
}
