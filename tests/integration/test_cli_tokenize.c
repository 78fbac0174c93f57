/* `autopeft tokenize` as a user runs it: the built program fed on stdin, its output and exit
 * statuses. */
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

typedef struct {
    int status;
    char out[1 << 16];
    char err[1 << 14];
} run_t;

static void slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n;

    ASSERT_NOT_NULL(f);
    n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static const char *tmp_path(const char *name)
{
    static char buf[4][1024];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 1024, "%s/%s", harness_tmpdir(), name);
    return p;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ASSERT_NOT_NULL(f);
    fputs(text, f);
    fclose(f);
}

/* Runs `autopeft tokenize ARGS...` with input on stdin. */
static void run_argv(run_t *r, const char *input, char *const *args)
{
    char bin[1024], in[1024], out[1024], err[1024];
    char *argv[16];
    int n = 0, st;
    pid_t pid;

    harness_bin_path("autopeft", bin, sizeof bin);
    snprintf(in, sizeof in, "%s", tmp_path("stdin"));
    snprintf(out, sizeof out, "%s", tmp_path("stdout"));
    snprintf(err, sizeof err, "%s", tmp_path("stderr"));
    write_text(in, input);
    argv[n++] = bin;
    argv[n++] = "tokenize";
    for (int i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    fflush(stdout);
    pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        int fi = open(in, O_RDONLY), fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fi < 0 || fo < 0 || fe < 0 || dup2(fi, 0) < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
            _exit(126);
        execv(bin, argv);
        _exit(127);
    }
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    ASSERT_TRUE(WIFEXITED(st));
    r->status = WEXITSTATUS(st);
    slurp(out, r->out, sizeof r->out);
    slurp(err, r->err, sizeof r->err);
}

#define RUN(r, input, ...) run_argv(r, input, (char *const[]){__VA_ARGS__, NULL})

static const char *small_vocab(void)
{
    static char p[1024];

    snprintf(p, sizeof p, "%s/vocab.txt", harness_tmpdir());
    /* ids: [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4, hello 5, world 6, , 7, ! 8, un 9,
     * ##aff 10, ##able 11, Hello 12 */
    write_text(p, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n,\n!\nun\n##aff\n##able\n"
                  "Hello\n");
    return p;
}

TEST(help_and_usage_errors)
{
    static run_t r;
    const char *v = small_vocab();

    RUN(&r, "", "--help");
    ASSERT_EQ(r.status, 0);
    ASSERT_CONTAINS(r.out, "Usage: autopeft tokenize");
    ASSERT_CONTAINS(r.out, "--max-length N");
    RUN(&r, "", "--pair");
    ASSERT_EQ(r.status, 2);
    ASSERT_CONTAINS(r.err, "--vocab FILE or --model DIR");
    RUN(&r, "", "--vocab", (char *)v, "--max-length", "2", "--pair");
    ASSERT_EQ(r.status, 2);
    ASSERT_CONTAINS(r.err, "no room");
    RUN(&r, "", "--vocab", (char *)v, "--max-length", "x");
    ASSERT_EQ(r.status, 2);
    ASSERT_CONTAINS(r.err, "--max-length");
    RUN(&r, "", "--vocab", "/nonexistent/vocab.txt");
    ASSERT_EQ(r.status, 1);
    ASSERT_CONTAINS(r.err, "/nonexistent/vocab.txt");
}

TEST(ids_tokens_pairs_and_truncation)
{
    static run_t r;
    char *v = (char *)small_vocab();

    RUN(&r, "Hello, WORLD!\nunaffable\r\n\n", "--vocab", v);
    ASSERT_EQ(r.status, 0);
    ASSERT_STR_EQ(r.out, "2 5 7 6 8 3\n2 9 10 11 3\n2 3\n");
    RUN(&r, "Hello world\n", "--vocab", v, "--no-lower-case", "--tokens");
    ASSERT_STR_EQ(r.out, "[CLS] Hello world [SEP]\n");
    RUN(&r, "hello world hello\tworld\n", "--vocab", v, "--pair", "--max-length", "5");
    ASSERT_EQ(r.status, 0);
    ASSERT_STR_EQ(r.out, "2 5 3 6 3\n");
    /* A line without a tab in pair mode: an empty line keeps the output aligned, status 1. */
    RUN(&r, "hello\tworld\nno tab here\nworld\thello\n", "--vocab", v, "--pair");
    ASSERT_EQ(r.status, 1);
    ASSERT_STR_EQ(r.out, "2 5 3 6 3\n\n2 6 3 5 3\n");
    ASSERT_CONTAINS(r.err, "stdin:2: no tab");
}

TEST(model_folder)
{
    static run_t r;
    char dir[1024];

    harness_shared_path("models/bert-mini-mlm", dir, sizeof dir);
    RUN(&r, "Hello, world!\n", "--model", dir);
    ASSERT_EQ(r.status, 0);
    ASSERT_STR_EQ(r.out, "101 7592 1010 2088 999 102\n");
}
