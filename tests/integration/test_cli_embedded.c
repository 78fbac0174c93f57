/* `autopeft embedded` as a user runs it: the built program, its files and exit statuses. */
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "embedded.h"
#include "harness.h"

typedef struct {
    int status;
    char out[1 << 14];
    char err[1 << 14];
} run_t;

static void slurp(const char *path, char *buf, size_t cap, size_t *len)
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

/* Runs `autopeft embedded ARGS...`. */
static void run_argv(run_t *r, char *const *args)
{
    char bin[1024], out[1024], err[1024];
    char *argv[32];
    int n = 0, st;
    pid_t pid;

    harness_bin_path("autopeft", bin, sizeof bin);
    snprintf(out, sizeof out, "%s/stdout", harness_tmpdir());
    snprintf(err, sizeof err, "%s/stderr", harness_tmpdir());
    argv[n++] = bin;
    argv[n++] = "embedded";
    for (int i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    fflush(stdout);
    pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        int fi = open("/dev/null", O_RDONLY), fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fi < 0 || fo < 0 || fe < 0 || dup2(fi, 0) < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
            _exit(126);
        execv(bin, argv);
        _exit(127);
    }
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    ASSERT_TRUE(WIFEXITED(st));
    r->status = WEXITSTATUS(st);
    slurp(out, r->out, sizeof r->out, NULL);
    slurp(err, r->err, sizeof r->err, NULL);
}

#define RUN(r, ...) run_argv(r, (char *const[]){__VA_ARGS__, NULL})

TEST(help_and_usage_errors)
{
    static run_t r;

    RUN(&r, "--help");
    ASSERT_EQ(r.status, 0);
    ASSERT_CONTAINS(r.out, "Usage: autopeft embedded");
    ASSERT_CONTAINS(r.out, "--max-words N");
    RUN(&r, "--train", "1");
    ASSERT_EQ(r.status, 2);
    ASSERT_CONTAINS(r.err, "--train");
    RUN(&r, "--depth", "x");
    ASSERT_EQ(r.status, 2);
    ASSERT_CONTAINS(r.err, "--depth");
    RUN(&r, "--mix", "10,50");
    ASSERT_EQ(r.status, 2);
    ASSERT_CONTAINS(r.err, "SINGLE,CONTRAST,CONCESSIVE");
    RUN(&r, "--mix", "10,50,50");
    ASSERT_EQ(r.status, 2);
    ASSERT_CONTAINS(r.err, "expected 100");
    RUN(&r, "--mix", "0,60,40", "--max-words", "10", "--depth", "4", "--frames", "100");
    ASSERT_EQ(r.status, 2);
    ASSERT_CONTAINS(r.err, "raise max_words");
    RUN(&r, "extra");
    ASSERT_EQ(r.status, 2);
    ASSERT_CONTAINS(r.err, "unexpected argument 'extra'");
    RUN(&r, "--out", "");
    ASSERT_EQ(r.status, 2);
}

/* The files are the library's bytes; the summary line is embedded_describe's. */
TEST(writes_the_task)
{
    static run_t r;
    static char text[1 << 20];
    embedded_opts_t o;
    embedded_task_t *t = NULL;
    char dir[1024], path[1200], line[1024];
    size_t len, want;
    const char *p;

    snprintf(dir, sizeof dir, "%s/task", harness_tmpdir());
    RUN(&r, "--out", dir, "--seed", "9", "--train", "500", "--dev", "200", "--negation", "30",
        "--mix", "10,50,40");
    ASSERT_EQ(r.status, 0);
    embedded_opts_default(&o);
    o.seed = 9;
    o.train_rows = 500;
    o.dev_rows = 200;
    o.negation_pct = 30;
    o.single_pct = 10;
    o.contrast_pct = 50;
    o.concessive_pct = 40;
    ASSERT_EQ(embedded_generate(&o, &t), 0);
    embedded_describe(t, line, sizeof line);
    ASSERT_CONTAINS(r.out, line);
    ASSERT_CONTAINS(r.out, "train.tsv");
    snprintf(path, sizeof path, "%s/train.tsv", dir);
    slurp(path, text, sizeof text, &len);
    p = embedded_tsv(t, DATA_TRAIN, &want);
    ASSERT_EQ_U(len, want);
    ASSERT_EQ(memcmp(text, p, len), 0);
    snprintf(path, sizeof path, "%s/dev.tsv", dir);
    slurp(path, text, sizeof text, &len);
    p = embedded_tsv(t, DATA_DEV, &want);
    ASSERT_EQ_U(len, want);
    ASSERT_EQ(memcmp(text, p, len), 0);
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    slurp(path, text, sizeof text, &len);
    p = embedded_vocab(t, &want);
    ASSERT_EQ_U(len, want);
    ASSERT_EQ(memcmp(text, p, len), 0);
    snprintf(path, sizeof path, "%s/README.txt", dir);
    slurp(path, text, sizeof text, &len);
    ASSERT_CONTAINS(text, "--seed 9 --train 500 --dev 200");
    ASSERT_CONTAINS(text, "--negation 30");
    ASSERT_CONTAINS(text, "--mix 10,50,40");
    embedded_free(&t);

    /* Without --out: the summary only. An unwritable folder: status 1, named. */
    RUN(&r, "--train", "100", "--dev", "50");
    ASSERT_EQ(r.status, 0);
    ASSERT_CONTAINS(r.out, "100 train / 50 dev sentences");
    RUN(&r, "--out", "/proc/autopeft-no-such-dir/x");
    ASSERT_EQ(r.status, 1);
    ASSERT_CONTAINS(r.err, "/proc/autopeft-no-such-dir/x");
}
