/* The `autopeft` program run as a user runs it, for the command-line tests: a child process,
 * its stdin from a text, its stdout and stderr captured, its exit status. */
#ifndef AUTOPEFT_CLI_UTIL_H
#define AUTOPEFT_CLI_UTIL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

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
/* The same with stdin from /dev/null, the result returned (free it with cli_result_free):
 * cli_result_t r = CLI_RESULT("space", "--json"). */
cli_result_t cli_result(char *const *args);
#define CLI_RESULT(...) cli_result((char *const[]){__VA_ARGS__, NULL})

/* TEXT as JSON; the test fails, showing the text, when it is not JSON. */
json_t *cli_json(const char *text);
/* The integer field KEY of O; the test fails when it is missing or not an integer. */
uint64_t cli_json_u64(json_t *o, const char *key);

/* The help of COMMAND: `autopeft COMMAND --help` exits 0 with nothing on stderr and prints its
 * usage ("Usage: autopeft COMMAND") with each of the NULL-terminated TEXTS in it; `autopeft help
 * COMMAND` prints the usage too, and `autopeft --help` lists COMMAND ("  COMMAND "). */
void cli_check_help(const char *command, const char *const *texts);

/* A bad command line (at most CLI_BAD_ARGS arguments, NULL-terminated when fewer) and two texts
 * its message holds ("" for none). */
#define CLI_BAD_ARGS 6
typedef struct {
    const char *args[CLI_BAD_ARGS];
    const char *says[2];
} cli_bad_t;

/* `autopeft COMMAND ARGS...` for each of the n bad command lines is bad usage: exit status 2,
 * nothing on stdout, and "autopeft COMMAND: " on stderr with both texts. */
void cli_check_bad_usage(const char *command, const cli_bad_t *bad, size_t n);
/* The same for the bad command lines that every command taking a model refuses alike (the
 * flags of coordinator/cli/flags.h): an unknown flag, bad model flags, a bad
 * --prefix-bottleneck, a value given to --json and --json given twice. */
void cli_check_model_bad_usage(const char *command);

/* A file into buf (at most cap - 1 bytes, NUL-terminated); *len (may be NULL) its length. */
void cli_slurp(const char *path, char *buf, size_t cap, size_t *len);
/* Writes text to a file. */
void cli_write_text(const char *path, const char *text);
/* NAME in the test's folder; the last eight results stay valid. */
const char *cli_tmp_path(const char *name);

#endif
