/* The `autopeft` program run as a user runs it, for the command-line tests: a child process,
 * its stdin from a text, its stdout and stderr captured, its exit status. */
#ifndef AUTOPEFT_CLI_UTIL_H
#define AUTOPEFT_CLI_UTIL_H

#include <stddef.h>

typedef struct {
    int status;   /* exit status */
    char *out;    /* all of stdout, NUL-terminated */
    char *err;    /* all of stderr */
} cli_result_t;

/* Runs build/bin/autopeft with the NULL-terminated ARGS: stdin is INPUT (NULL: /dev/null),
 * AUTOPEFT_LOG_LEVEL is warn unless the test set it. The test fails when the program cannot
 * be started or does not exit normally. R starts zeroed; a later run replaces its texts. */
void cli_run(cli_result_t *r, const char *input, char *const *args);
void cli_result_free(cli_result_t *r);
#define CLI_RUN(r, input, ...) cli_run((r), (input), (char *const[]){__VA_ARGS__, NULL})

/* A file into buf (at most cap - 1 bytes, NUL-terminated); *len (may be NULL) its length. */
void cli_slurp(const char *path, char *buf, size_t cap, size_t *len);
/* Writes text to a file. */
void cli_write_text(const char *path, const char *text);
/* NAME in the test's folder; the last eight results stay valid. */
const char *cli_tmp_path(const char *name);

#endif
