/* Helpers of the runtime tests: configuration files, the daemons as child processes, the study
 * store read back with SQL, and a raw DEALER socket that speaks (or breaks) the protocol. */
#ifndef AUTOPEFT_RUNTIME_UTIL_H
#define AUTOPEFT_RUNTIME_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/wire.h"

/* Writes a file from a format (the test fails when it cannot). */
void rt_write(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A path in the test's folder. */
const char *rt_path(char *buf, size_t len, const char *name);

/* Starts program (autopeft-coordinator, autopeft-worker, autopeft) with the NULL-terminated
 * arguments, stdout and stderr appended to log. */
pid_t rt_spawn(const char *program, const char *log, const char *const *args);
#define RT_SPAWN(prog, log, ...) rt_spawn((prog), (log), (const char *const[]){__VA_ARGS__, NULL})
/* Waits up to timeout_s for pid; true and *status (exit status, or 128 + signal) if it exited. */
bool rt_wait(pid_t pid, double timeout_s, int *status);
/* SIGKILL and reap. */
void rt_kill9(pid_t pid);
/* Waits for a file to exist (and be non-empty). */
bool rt_wait_file(const char *path, double timeout_s);
/* The first line of a file into buf; false when absent. */
bool rt_read_line(const char *path, char *buf, size_t len);
/* Whether a file contains the text. */
bool rt_file_contains(const char *path, const char *text);

/* One integer from a SQL query on <dir>/study.db (read-only); -1 when it fails. */
long long rt_sql_int(const char *dir, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* One text value (NULL as ""); false when the query fails. */
bool rt_sql_text(const char *dir, char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Polls rt_sql_int until it returns at least `want`. */
bool rt_sql_wait(const char *dir, long long want, double timeout_s, const char *sql);

/* A free TCP port on 127.0.0.1 (bound and released: fine for tests). */
int rt_free_port(void);

/* A raw DEALER to the endpoint. */
void *rt_dealer(void *ctx, const char *endpoint);
int rt_send(void *sock, const void *data, size_t len);
/* Receives one message and decodes it into *m; false on timeout or a refused frame. */
bool rt_recv(void *sock, int timeout_ms, wire_msg_t *m);
/* Receives until a message of the kind arrives (others dropped). */
bool rt_recv_kind(void *sock, Autopeft__Kind kind, int timeout_ms, wire_msg_t *m);
/* A valid HELLO frame from a fake synthetic worker. */
uint8_t *rt_hello(const char *worker_id, size_t *len);

#endif
