/* See cli_util.h. */
#include "tests/integration/cli_util.h"

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
