#include "common/log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <utf8proc.h>

#include "common/err.h"

/* A line longer than this is cut and marked; log lines are for people, not bulk data. */
#define LOG_LINE_MAX 8192

static const char *const level_names[] = {"trace", "debug", "info", "warn", "error", "off"};
static const char *const level_tags[] = {"TRACE", "DEBUG", "INFO ", "WARN ", "ERROR", "OFF  "};
static const char *const level_colours[] = {"\033[2m", "\033[2m", "", "\033[33m", "\033[31;1m",
                                            ""};

static _Atomic int cur_level = LOG_LEVEL_INFO;
static _Atomic int cur_format = LOG_FORMAT_TEXT;
static _Atomic int out_fd = STDERR_FILENO;
static char prog[64] = "autopeft";
static bool colour;
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

int log_parse_level(const char *text, log_level_t *out)
{
    for (int i = 0; i <= LOG_LEVEL_OFF; i++) {
        if (strcasecmp(text, level_names[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    }
    if (strcasecmp(text, "warning") == 0) {
        *out = LOG_LEVEL_WARN;
        return 0;
    }
    return err_set(ERR_INVAL, "unknown log level '%s' (expected trace, debug, info, warn, error "
                              "or off)", text);
}

int log_parse_format(const char *text, log_format_t *out)
{
    if (strcasecmp(text, "text") == 0)
        *out = LOG_FORMAT_TEXT;
    else if (strcasecmp(text, "json") == 0)
        *out = LOG_FORMAT_JSON;
    else
        return err_set(ERR_INVAL, "unknown log format '%s' (expected text or json)", text);
    return 0;
}

int log_apply_level(const char *text)
{
    log_level_t level;

    if (log_parse_level(text, &level) != 0)
        return -1;
    log_set_level(level);
    return 0;
}

int log_apply_format(const char *text)
{
    log_format_t format;

    if (log_parse_format(text, &format) != 0)
        return -1;
    log_set_format(format);
    return 0;
}

const char *log_level_name(log_level_t level)
{
    if ((int)level < 0 || level > LOG_LEVEL_OFF)
        return "?";
    return level_names[level];
}

static void refresh_colour(void)
{
    colour = cur_format == LOG_FORMAT_TEXT && isatty(out_fd) && getenv("NO_COLOR") == NULL;
}

void log_init(const char *program, log_level_t level, log_format_t format)
{
    const char *env;

    snprintf(prog, sizeof prog, "%s", program);
    cur_level = level;
    cur_format = format;
    env = getenv("AUTOPEFT_LOG_LEVEL");
    if (env && *env && log_parse_level(env, &level) == 0)
        cur_level = level;
    env = getenv("AUTOPEFT_LOG_FORMAT");
    if (env && *env && log_parse_format(env, &format) == 0)
        cur_format = format;
    refresh_colour();
}

void log_set_level(log_level_t level)
{
    cur_level = level;
}

void log_set_format(log_format_t format)
{
    cur_format = format;
    refresh_colour();
}

void log_set_fd(int fd)
{
    out_fd = fd;
    refresh_colour();
}

log_level_t log_get_level(void)
{
    return (log_level_t)cur_level;
}

bool log_enabled(log_level_t level)
{
    return level != LOG_LEVEL_OFF && (int)level >= cur_level;
}

static void timestamp(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000,
             (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
             tm.tm_sec % 100, (int)(ts.tv_nsec / 1000000) % 1000);
}

/* JSON strings must be valid UTF-8: replace each byte that does not start a valid sequence
 * (a message cut mid-character, bytes from a bad input file) by '?'. */
static void make_utf8(char *s)
{
    utf8proc_int32_t cp;

    while (*s) {
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s, -1, &cp);
        if (n <= 0) {
            *s++ = '?';
            continue;
        }
        s += n;
    }
}

static void write_all(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(out_fd, buf, len);
        if (n <= 0)
            return; /* Nowhere left to report a failing log; dropping the line is all we can do. */
        buf += n;
        len -= (size_t)n;
    }
}

void log_vwrite(log_level_t level, const char *fmt, va_list ap)
{
    char text[LOG_LINE_MAX];
    char line[LOG_LINE_MAX + 256];
    char ts[64];
    int n;

    if (!log_enabled(level))
        return;
    n = vsnprintf(text, sizeof text, fmt, ap);
    if (n >= (int)sizeof text)
        memcpy(text + sizeof text - 4, "...", 4);
    timestamp(ts, sizeof ts);

    if (cur_format == LOG_FORMAT_JSON) {
        make_utf8(text);
        json_t *obj = json_pack("{s:s, s:s, s:s, s:i, s:s}", "ts", ts, "level", level_names[level],
                                "prog", prog, "pid", (json_int_t)getpid(), "msg", text);
        char *s = obj ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

        n = snprintf(line, sizeof line, "%s\n", s ? s : "{\"msg\":\"log: cannot encode line\"}");
        free(s);
        json_decref(obj);
    } else if (colour) {
        n = snprintf(line, sizeof line, "%s %s[%d] %s%s\033[0m %s\n", ts, prog, (int)getpid(),
                     level_colours[level], level_tags[level], text);
    } else {
        n = snprintf(line, sizeof line, "%s %s[%d] %s %s\n", ts, prog, (int)getpid(),
                     level_tags[level], text);
    }
    if (n >= (int)sizeof line) {
        n = (int)sizeof line - 1;
        line[n - 1] = '\n';
    }
    pthread_mutex_lock(&write_lock);
    write_all(line, (size_t)n);
    pthread_mutex_unlock(&write_lock);
}

void log_write(log_level_t level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vwrite(level, fmt, ap);
    va_end(ap);
}
