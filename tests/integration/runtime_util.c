/* Helpers of the runtime tests (runtime_util.h). */
#include "tests/integration/runtime_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "common/clock.h"
#include "tests/harness.h"

static void nap(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

void rt_write(const char *path, const char *fmt, ...)
{
    FILE *f = fopen(path, "w");
    va_list ap;

    if (!f)
        FAIL("cannot write %s: %s", path, strerror(errno));
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
}

const char *rt_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", harness_tmpdir(), name);
    return buf;
}

pid_t rt_spawn(const char *program, const char *log, const char *const *args)
{
    return harness_spawn(program, args, "/dev/null", log, log, true);
}

bool rt_wait(pid_t pid, double timeout_s, int *status)
{
    double end = clock_s() + timeout_s;
    int st;

    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            if (status)
                *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            return true;
        }
        if (clock_s() > end)
            return false;
        nap(0.02);
    }
}

void rt_kill9(pid_t pid)
{
    kill(pid, SIGKILL);
    rt_wait(pid, 10, NULL);
}

bool rt_wait_file(const char *path, double timeout_s)
{
    double end = clock_s() + timeout_s;
    struct stat st;

    while (clock_s() < end) {
        if (stat(path, &st) == 0 && st.st_size > 0)
            return true;
        nap(0.02);
    }
    return false;
}

bool rt_read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    bool ok;

    if (!f)
        return false;
    ok = fgets(buf, (int)len, f) != NULL;
    fclose(f);
    if (ok)
        buf[strcspn(buf, "\r\n")] = '\0';
    return ok;
}

bool rt_file_contains(const char *path, const char *text)
{
    FILE *f = fopen(path, "r");
    static char buf[1 << 20];
    size_t n;

    if (!f)
        return false;
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strstr(buf, text) != NULL;
}

long long rt_sql_int(const char *dir, const char *fmt, ...)
{
    char path[4200], sql[4096];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -1;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    snprintf(path, sizeof path, "%s/study.db", dir);
    if (access(path, R_OK) != 0)
        return -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 5000);
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

bool rt_sql_text(const char *dir, char *buf, size_t len, const char *fmt, ...)
{
    char path[4200], sql[4096];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    bool ok = false;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    buf[0] = '\0';
    snprintf(path, sizeof path, "%s/study.db", dir);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 5000);
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            const unsigned char *t = sqlite3_column_text(st, 0);
            snprintf(buf, len, "%s", t ? (const char *)t : "");
            ok = true;
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ok;
}

bool rt_sql_wait(const char *dir, long long want, double timeout_s, const char *sql)
{
    double end = clock_s() + timeout_s;

    while (clock_s() < end) {
        if (rt_sql_int(dir, "%s", sql) >= want)
            return true;
        nap(0.05);
    }
    return false;
}

int rt_free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    ASSERT_TRUE(fd >= 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ASSERT_EQ(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

void *rt_dealer(void *ctx, const char *endpoint)
{
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;

    ASSERT_NOT_NULL(s);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    ASSERT_EQ(zmq_connect(s, endpoint), 0);
    return s;
}

int rt_send(void *sock, const void *data, size_t len)
{
    return zmq_send(sock, data, len, 0) < 0 ? -1 : 0;
}

bool rt_recv(void *sock, int timeout_ms, wire_msg_t *m)
{
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
    zmq_msg_t msg;
    bool ok;

    memset(m, 0, sizeof *m);
    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return false;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, sock, 0) < 0) {
        zmq_msg_close(&msg);
        return false;
    }
    ok = wire_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), m) == 0;
    zmq_msg_close(&msg);
    return ok;
}

bool rt_recv_kind(void *sock, Autopeft__Kind kind, int timeout_ms, wire_msg_t *m)
{
    double end = clock_s() + timeout_ms / 1000.0;

    while (clock_s() < end) {
        int left = (int)((end - clock_s()) * 1000) + 1;
        if (rt_recv(sock, left, m)) {
            if (m->kind == kind)
                return true;
            wire_msg_free(m);
        }
    }
    return false;
}

uint8_t *rt_hello(const char *worker_id, size_t *len)
{
    Autopeft__Hello h = AUTOPEFT__HELLO__INIT;
    Autopeft__Capability caps[1] = {AUTOPEFT__CAPABILITY__CAPABILITY_SYNTHETIC};
    uint8_t *frame;

    h.worker_id = (char *)worker_id;
    h.host = "testhost";
    h.has_pid = h.has_cores = true;
    h.pid = 1;
    h.cores = 1;
    h.software_version = "test";
    h.n_capabilities = 1;
    h.capabilities = caps;
    ASSERT_OK(wire_encode(AUTOPEFT__KIND__KIND_HELLO, &h.base, &frame, len));
    return frame;
}
