/* See cli_util.h. */
#include "tests/integration/cli_util.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "tests/harness.h"

void cli_slurp(const char *path, char *buf, size_t cap, size_t *len)
{
    FILE *f = fopen(path, "rb");
    size_t n;

    ASSERT_NOT_NULL(f);
    n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    if (len)
        *len = n;
    fclose(f);
}

void cli_write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");

    ASSERT_NOT_NULL(f);
    fputs(text, f);
    ASSERT_EQ(fclose(f), 0);
}

void cli_result_free(cli_result_t *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

const char *cli_tmp_path(const char *name)
{
    static char buf[8][1024];
    static int k;
    char *p = buf[k++ % 8];

    snprintf(p, sizeof buf[0], "%s/%s", harness_tmpdir(), name);
    return p;
}

void cli_run(cli_result_t *r, const char *input, char *const *args)
{
    char in[1024], out[1024], err[1024];
    int st;
    pid_t pid;

    snprintf(in, sizeof in, "%s", input ? cli_tmp_path("stdin") : "/dev/null");
    snprintf(out, sizeof out, "%s", cli_tmp_path("stdout"));
    snprintf(err, sizeof err, "%s", cli_tmp_path("stderr"));
    if (input)
        cli_write_text(in, input);
    /* the program's info lines are not what these tests read (a test may ask for them) */
    setenv("AUTOPEFT_LOG_LEVEL", "warn", 0);
    pid = harness_spawn("autopeft", (const char *const *)args, in, out, err, false);
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    if (!WIFEXITED(st))
        FAIL("autopeft %s did not exit normally (status %d)", args[0] ? args[0] : "", st);
    r->status = WEXITSTATUS(st);
    cli_result_free(r);
    r->out = harness_slurp(out, NULL);
    r->err = harness_slurp(err, NULL);
}

cli_result_t cli_result(char *const *args)
{
    cli_result_t r = {0};

    cli_run(&r, NULL, args);
    return r;
}

json_t *cli_json(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);

    if (!j)
        FAIL("not JSON (line %d: %s):\n%s", e.line, e.text, text);
    return j;
}

uint64_t cli_json_u64(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_integer(v))
        FAIL("JSON field %s is missing or not an integer", key);
    return (uint64_t)json_integer_value(v);
}

void cli_check_help(const char *command, const char *const *texts)
{
    char usage[256], listed[256];
    cli_result_t r = CLI_RESULT((char *)command, "--help");

    snprintf(usage, sizeof usage, "Usage: autopeft %s", command);
    snprintf(listed, sizeof listed, "  %s ", command);
    ASSERT_EQ(r.status, 0);
    ASSERT_CONTAINS(r.out, usage);
    for (const char *const *t = texts; *t; t++)
        ASSERT_CONTAINS(r.out, *t);
    ASSERT_STR_EQ(r.err, "");
    CLI_RUN(&r, NULL, "help", (char *)command);
    ASSERT_EQ(r.status, 0);
    ASSERT_CONTAINS(r.out, usage);
    CLI_RUN(&r, NULL, "--help");
    ASSERT_EQ(r.status, 0);
    ASSERT_CONTAINS(r.out, listed);
    cli_result_free(&r);
}

/* One bad command line of cli_check_bad_usage. */
static void check_bad(const char *command, const cli_bad_t *b)
{
    char *argv[CLI_BAD_ARGS + 2] = {(char *)command}, prefix[256];
    int n = 1;
    cli_result_t r;

    for (int a = 0; a < CLI_BAD_ARGS && b->args[a]; a++)
        argv[n++] = (char *)b->args[a];
    argv[n] = NULL;
    r = cli_result(argv);
    if (r.status != 2)
        FAIL("autopeft %s %s: exit %d, expected 2 (stderr: %s)", command, b->args[0], r.status,
             r.err);
    snprintf(prefix, sizeof prefix, "autopeft %s: ", command);
    ASSERT_CONTAINS(r.err, prefix);
    ASSERT_CONTAINS(r.err, b->says[0]);
    ASSERT_CONTAINS(r.err, b->says[1]);
    ASSERT_STR_EQ(r.out, "");
    cli_result_free(&r);
}

void cli_check_bad_usage(const char *command, const cli_bad_t *bad, size_t n)
{
    for (size_t i = 0; i < n; i++)
        check_bad(command, &bad[i]);
}

void cli_check_model_bad_usage(const char *command)
{
    static const cli_bad_t bad[] = {
        {{"--bogus"}, {"unknown option '--bogus'", "--help"}},
        {{"--hidden", "abc"}, {"--hidden", "expected an integer in 1..65536"}},
        {{"--hidden", "0"}, {"--hidden", "out of range"}},
        {{"--layers", "300"}, {"--layers", "1..256"}},
        {{"--shape", "bert-huge"}, {"--shape", "bert-tiny"}},
        {{"--shape", "bert-base", "--hidden", "768"}, {"alternatives", "--shape"}},
        {{"--heads", "5"}, {"heads (5) must divide hidden (768)", ""}},
        {{"--labels", "0"}, {"--labels", "1..65536"}},
        {{"--prefix-bottleneck", "0"}, {"--prefix-bottleneck", "1..65536"}},
        {{"--json=yes"}, {"--json takes no value", ""}},
        {{"--json", "--json"}, {"--json is given twice", ""}},
    };

    cli_check_bad_usage(command, bad, sizeof bad / sizeof bad[0]);
}
