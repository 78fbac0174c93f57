/* Error codes and the message that says what went wrong.
 *
 * Functions return 0 or a negative ERR_* code. The function that detects a problem records a
 * message naming the input, the field and what was expected (err_set); callers up the stack may
 * add context (err_prefix). The message is per thread, like errno, so worker threads do not
 * overwrite each other's. */
#ifndef AUTOPEFT_ERR_H
#define AUTOPEFT_ERR_H

#include <stdarg.h>

enum {
    ERR_OK = 0,
    ERR_NOMEM = -1,       /* an allocation failed or its size overflowed */
    ERR_INVAL = -2,       /* an argument or an input value is not acceptable */
    ERR_RANGE = -3,       /* a size or count is beyond its hard cap */
    ERR_PARSE = -4,       /* text or bytes do not follow their format */
    ERR_IO = -5,          /* a system call on a file or socket failed */
    ERR_NOTFOUND = -6,    /* a named thing does not exist */
    ERR_VERSION = -7,     /* a peer or file speaks another version */
    ERR_STATE = -8,       /* the call does not fit the object's current state */
    ERR_TIMEOUT = -9,
    ERR_CANCELLED = -10,
    ERR_NUMERIC = -11,    /* a computation produced NaN/Inf or lost definiteness */
    ERR_UNSUPPORTED = -12,
    ERR_PROTOCOL = -13,   /* a peer broke the message protocol */
    ERR_DENIED = -14,     /* authentication or permission refused */
    ERR_INTERNAL = -15,   /* a bug: an invariant did not hold */
    ERR__COUNT = 16
};

/* Records a formatted message for the calling thread and returns code, so that
 * `return err_set(ERR_PARSE, "%s:%d: ...", ...);` reports and fails in one line. */
int err_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int err_vset(int code, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Prepends context to the thread's message ("reading x.conf: " + old message); returns code. */
int err_prefix(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The thread's last message; the code's description when none was recorded. */
const char *err_msg(void);
/* The code of the last err_set on this thread, or ERR_OK. */
int err_code(void);
void err_clear(void);

/* "ERR_PARSE" and "malformed input" for a code; unknown codes give "ERR_?" / "unknown error". */
const char *err_name(int code);
const char *err_str(int code);

#endif
