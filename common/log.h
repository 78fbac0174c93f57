/* Logging to stderr: one line per event with a UTC timestamp, the program, its pid and the level;
 * or one JSON object per line (for log collectors on clusters).
 *
 * Settings come from log_init's arguments, overridden by the environment:
 *   AUTOPEFT_LOG_LEVEL=trace|debug|info|warn|error|off
 *   AUTOPEFT_LOG_FORMAT=text|json
 * Lines are written with one write(2) each, so lines from threads and from processes sharing a
 * terminal or file never interleave mid-line. */
#ifndef AUTOPEFT_LOG_H
#define AUTOPEFT_LOG_H

#include <stdarg.h>
#include <stdbool.h>

typedef enum {
    LOG_LEVEL_TRACE = 0,
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARN,
    LOG_LEVEL_ERROR,
    LOG_LEVEL_OFF
} log_level_t;

typedef enum { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON } log_format_t;

/* program: the name printed on each line ("autopeft-worker"). Reads the environment. */
void log_init(const char *program, log_level_t level, log_format_t format);
void log_set_level(log_level_t level);
void log_set_format(log_format_t format);
/* Writes to fd instead of stderr (tests capture logs this way). */
void log_set_fd(int fd);
log_level_t log_get_level(void);

/* 0 on success; ERR_INVAL with a message naming the accepted words otherwise. */
int log_parse_level(const char *text, log_level_t *out);
int log_parse_format(const char *text, log_format_t *out);
/* A command line's --log-level / --log-format: parse TEXT and make it the current setting.
 * 0, or ERR_INVAL as the parsers above (nothing changed). */
int log_apply_level(const char *text);
int log_apply_format(const char *text);
const char *log_level_name(log_level_t level);

bool log_enabled(log_level_t level);
void log_write(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vwrite(log_level_t level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define log_at(level, ...)                   \
    do {                                     \
        if (log_enabled(level))              \
            log_write((level), __VA_ARGS__); \
    } while (0)
#define log_trace(...) log_at(LOG_LEVEL_TRACE, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_at(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) log_at(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_at(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
