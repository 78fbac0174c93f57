#include "common/err.h"

#include <stdio.h>
#include <string.h>

/* Long enough for a path, a field name and an explanation; longer messages are cut, never lost
 * silently: the cut is marked with "...". */
#define ERR_MSG_MAX 1024

static _Thread_local char msg[ERR_MSG_MAX];
static _Thread_local int last_code;

static const struct {
    const char *name;
    const char *text;
} codes[ERR__COUNT] = {
    [0] = {"ERR_OK", "success"},
    [1] = {"ERR_NOMEM", "out of memory"},
    [2] = {"ERR_INVAL", "invalid argument or input"},
    [3] = {"ERR_RANGE", "size or count beyond its limit"},
    [4] = {"ERR_PARSE", "malformed input"},
    [5] = {"ERR_IO", "input/output error"},
    [6] = {"ERR_NOTFOUND", "not found"},
    [7] = {"ERR_VERSION", "version mismatch"},
    [8] = {"ERR_STATE", "operation not valid in the current state"},
    [9] = {"ERR_TIMEOUT", "timed out"},
    [10] = {"ERR_CANCELLED", "cancelled"},
    [11] = {"ERR_NUMERIC", "numerical failure"},
    [12] = {"ERR_UNSUPPORTED", "not supported"},
    [13] = {"ERR_PROTOCOL", "protocol violation"},
    [14] = {"ERR_DENIED", "permission denied"},
    [15] = {"ERR_INTERNAL", "internal error"},
};

static void mark_truncated(int written)
{
    if (written >= ERR_MSG_MAX)
        memcpy(msg + ERR_MSG_MAX - 4, "...", 4);
}

int err_vset(int code, const char *fmt, va_list ap)
{
    mark_truncated(vsnprintf(msg, sizeof msg, fmt, ap));
    last_code = code;
    return code;
}

int err_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(code, fmt, ap);
    va_end(ap);
    return code;
}

int err_prefix(int code, const char *fmt, ...)
{
    char old[ERR_MSG_MAX];
    char head[ERR_MSG_MAX];
    va_list ap;

    snprintf(old, sizeof old, "%s", err_msg());
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    mark_truncated(snprintf(msg, sizeof msg, "%s%s", head, old));
    last_code = code;
    return code;
}

const char *err_msg(void)
{
    if (msg[0] == '\0')
        return err_str(last_code);
    return msg;
}

int err_code(void)
{
    return last_code;
}

void err_clear(void)
{
    msg[0] = '\0';
    last_code = ERR_OK;
}

const char *err_name(int code)
{
    if (code > 0 || code <= -ERR__COUNT)
        return "ERR_?";
    return codes[-code].name;
}

const char *err_str(int code)
{
    if (code > 0 || code <= -ERR__COUNT)
        return "unknown error";
    return codes[-code].text;
}
