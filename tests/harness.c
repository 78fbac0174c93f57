/* Test runner: see harness.h for what it does and how to call it. */
#include "tests/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ftw.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"

/* Output kept from a failing test: its tail, where the assertion message is. */
#define HARNESS_OUTPUT_TAIL (32 * 1024)
#define HARNESS_MAX_JOBS 64

typedef struct {
    char suite[64];
    char name[128];
    char full[200];
    harness_fn fn;
    int timeout_s;
} test_t;

typedef struct {
    const test_t *test;
    pid_t pid;
    int out_fd;
    char tmpdir[512];
    double start;
} slot_t;

static test_t *tests;
static size_t ntests, cap_tests;
static char cur_tmpdir[512];

void harness_register(const char *file, const char *name, harness_fn fn, int timeout_s)
{
    const char *base = strrchr(file, '/');
    test_t *t;
    size_t len;

    if (ntests == cap_tests) {
        cap_tests = cap_tests ? 2 * cap_tests : 256;
        tests = realloc(tests, cap_tests * sizeof *tests);
        if (!tests) {
            perror("harness: registering tests");
            exit(2);
        }
    }
    t = &tests[ntests++];
    base = base ? base + 1 : file;
    if (strncmp(base, "test_", 5) == 0)
        base += 5;
    len = strcspn(base, ".");
    snprintf(t->suite, sizeof t->suite, "%.*s", (int)len, base);
    snprintf(t->name, sizeof t->name, "%s", name);
    snprintf(t->full, sizeof t->full, "%s.%s", t->suite, t->name);
    t->fn = fn;
    t->timeout_s = timeout_s;
}

void harness_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fprintf(stderr, "%s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    /* _exit: a failed test leaves allocations behind; leak reports would only hide the cause. */
    _exit(1);
}

void harness_skip(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fprintf(stderr, "skipped: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    _exit(HARNESS_SKIP_STATUS);
}

const char *harness_tmpdir(void)
{
    return cur_tmpdir;
}

pid_t harness_spawn(const char *program, const char *const *args, const char *in,
                    const char *out, const char *err, bool append)
{
    char bin[1024];
    const char *argv[64];
    int n = 0, flags = O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC);
    pid_t pid;

    harness_bin_path(program, bin, sizeof bin);
    argv[n++] = bin;
    for (int i = 0; args[i]; i++) {
        if (n > 62)
            harness_fail(__FILE__, __LINE__, "more than 62 arguments for %s", program);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0)
        harness_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
    if (pid == 0) {
        int fi = open(in, O_RDONLY), fo = open(out, flags, 0644);
        int fe = strcmp(out, err) == 0 ? fo : open(err, flags, 0644);

        if (fi < 0 || fo < 0 || fe < 0 || dup2(fi, 0) < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
            _exit(126);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

char *harness_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (!f)
        harness_fail(__FILE__, __LINE__, "cannot open %s: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0)
        harness_fail(__FILE__, __LINE__, "cannot size %s", path);
    rewind(f);
    buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
        harness_fail(__FILE__, __LINE__, "cannot read %s", path);
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

static int log_fd = -1;

void harness_log_begin(void)
{
    char path[1100];

    snprintf(path, sizeof path, "%s/harness-log.txt", cur_tmpdir);
    log_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (log_fd < 0)
        harness_fail(__FILE__, __LINE__, "cannot open %s: %s", path, strerror(errno));
    log_set_fd(log_fd);
}

const char *harness_log_end(void)
{
    static char *text;
    off_t end;

    log_set_fd(2);
    if (log_fd < 0)
        harness_fail(__FILE__, __LINE__, "harness_log_end without harness_log_begin");
    end = lseek(log_fd, 0, SEEK_END);
    free(text);
    text = malloc((size_t)end + 1);
    if (!text || end < 0 || pread(log_fd, text, (size_t)end, 0) != (ssize_t)end)
        harness_fail(__FILE__, __LINE__, "cannot read the captured log");
    text[end] = '\0';
    close(log_fd);
    log_fd = -1;
    return text;
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

const char *harness_src_path(const char *rel, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", env_or("AUTOPEFT_SRC_DIR", "."), rel);
    return buf;
}

const char *harness_bin_path(const char *program, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", env_or("AUTOPEFT_BIN_DIR", "build/bin"), program);
    if (access(buf, X_OK) != 0)
        harness_fail(__FILE__, __LINE__, "program %s is not built (AUTOPEFT_BIN_DIR)", buf);
    return buf;
}

const char *harness_shared_path(const char *rel, char *buf, size_t len)
{
    const char *shared = getenv("AUTOPEFT_SHARED");
    char def[512];

    if (!shared || !*shared) {
        snprintf(def, sizeof def, "%s/../shared", env_or("AUTOPEFT_SRC_DIR", "."));
        shared = def;
    }
    snprintf(buf, len, "%s/%s", shared, rel);
    if (access(buf, R_OK) != 0)
        harness_skip("needs the shared data file %s, which is absent (set AUTOPEFT_SHARED to "
                     "the folder holding data/ and models/)", buf);
    return buf;
}

static int cmp_tests(const void *a, const void *b)
{
    return strcmp(((const test_t *)a)->full, ((const test_t *)b)->full);
}

static bool selected(const test_t *t, char **patterns, int npatterns)
{
    /* The harness's own deliberately failing tests, and tests that are the child half of
     * another test (named child_*), run only when asked for by name. */
    if (npatterns == 0)
        return strncmp(t->suite, "harness_selftest", 16) != 0 &&
               strncmp(t->name, "child_", 6) != 0;
    for (int i = 0; i < npatterns; i++) {
        if (fnmatch(patterns[i], t->full, 0) == 0 || fnmatch(patterns[i], t->name, 0) == 0 ||
            strcmp(patterns[i], t->suite) == 0)
            return true;
    }
    return false;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void remove_tree(const char *dir)
{
    if (dir[0])
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void print_tail(int fd)
{
    char buf[HARNESS_OUTPUT_TAIL + 1];
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > HARNESS_OUTPUT_TAIL ? size - HARNESS_OUTPUT_TAIL : 0;
    ssize_t n;

    if (size <= 0)
        return;
    if (from > 0)
        printf("    ... (%lld bytes of output cut)\n", (long long)from);
    n = pread(fd, buf, HARNESS_OUTPUT_TAIL, from);
    if (n <= 0)
        return;
    buf[n] = '\0';
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
        printf("    | %s\n", line);
}

/* The last line the test wrote: for a skipped test, its reason. */
static void last_line(int fd, char *out, size_t len)
{
    char buf[2048];
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > (off_t)sizeof buf - 1 ? size - (off_t)sizeof buf + 1 : 0;
    ssize_t n = pread(fd, buf, sizeof buf - 1, from);
    char *p;

    out[0] = '\0';
    if (n <= 0)
        return;
    buf[n] = '\0';
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    p = strrchr(buf, '\n');
    snprintf(out, len, "%.500s", p ? p + 1 : buf);
}

static int start(slot_t *s, const test_t *t)
{
    char outpath[] = "/tmp/autopeft-test-out-XXXXXX";
    const char *base = env_or("TMPDIR", "/tmp");

    s->test = t;
    snprintf(s->tmpdir, sizeof s->tmpdir, "%s/autopeft-test-%s-XXXXXX", base, t->full);
    if (!mkdtemp(s->tmpdir)) {
        fprintf(stderr, "harness: cannot create %s: %s\n", s->tmpdir, strerror(errno));
        return -1;
    }
    s->out_fd = mkstemp(outpath);
    if (s->out_fd < 0) {
        fprintf(stderr, "harness: cannot create %s: %s\n", outpath, strerror(errno));
        return -1;
    }
    unlink(outpath);
    fflush(stdout);
    fflush(stderr);
    s->start = clock_s();
    s->pid = fork();
    if (s->pid < 0) {
        fprintf(stderr, "harness: fork: %s\n", strerror(errno));
        return -1;
    }
    if (s->pid == 0) {
        /* Own process group, so that a timeout also kills the daemons a test started. */
        setpgid(0, 0);
        dup2(s->out_fd, STDOUT_FILENO);
        dup2(s->out_fd, STDERR_FILENO);
        close(s->out_fd);
        setvbuf(stdout, NULL, _IOLBF, 0);
        snprintf(cur_tmpdir, sizeof cur_tmpdir, "%s", s->tmpdir);
        setenv("AUTOPEFT_TEST_TMPDIR", cur_tmpdir, 1);
        t->fn();
        fflush(stdout);
        exit(0);
    }
    setpgid(s->pid, s->pid);
    return 0;
}

typedef struct {
    int passed, failed, skipped;
    char failed_names[4096];
    char skipped_lines[8192];
} totals_t;

static void append(char *buf, size_t cap, const char *text)
{
    size_t len = strlen(buf);
    if (len < cap)
        snprintf(buf + len, cap - len, "%s", text);
}

static void finish(slot_t *s, int status, bool timed_out, bool verbose, totals_t *tot)
{
    double secs = clock_s() - s->start;
    const test_t *t = s->test;
    char reason[512];

    /* Whatever the test started is gone with it. */
    kill(-s->pid, SIGKILL);
    if (timed_out) {
        printf("TIMEOUT %-48s %6.2fs (limit %ds)\n", t->full, secs, t->timeout_s);
        print_tail(s->out_fd);
        tot->failed++;
        snprintf(reason, sizeof reason, " %s (timeout)", t->full);
        append(tot->failed_names, sizeof tot->failed_names, reason);
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        printf("ok      %-48s %6.2fs\n", t->full, secs);
        if (verbose)
            print_tail(s->out_fd);
        tot->passed++;
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == HARNESS_SKIP_STATUS) {
        last_line(s->out_fd, reason, sizeof reason);
        printf("skip    %-48s %s\n", t->full, reason);
        tot->skipped++;
        {
            char line[1024];
            snprintf(line, sizeof line, "  %s: %s\n", t->full, reason);
            append(tot->skipped_lines, sizeof tot->skipped_lines, line);
        }
    } else {
        if (WIFSIGNALED(status))
            printf("FAIL    %-48s %6.2fs (killed by signal %d)\n", t->full, secs, WTERMSIG(status));
        else
            printf("FAIL    %-48s %6.2fs (exit %d)\n", t->full, secs, WEXITSTATUS(status));
        print_tail(s->out_fd);
        tot->failed++;
        snprintf(reason, sizeof reason, " %s", t->full);
        append(tot->failed_names, sizeof tot->failed_names, reason);
    }
    fflush(stdout);
    close(s->out_fd);
    remove_tree(s->tmpdir);
    s->test = NULL;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: autopeft-tests [-t PATTERN]... [-j JOBS] [-l] [-v] [--no-fork]\n"
            "  -t PATTERN   run tests whose suite.name or name matches the glob, or a whole suite\n"
            "  -j JOBS      tests run at once (default 1)\n"
            "  -l           list the tests and exit\n"
            "  -v           show the output of passing tests too\n"
            "  --no-fork    run the selected tests in this process, one after another (debugging)\n"
            "Environment: AUTOPEFT_TEST_TIMEOUT_SCALE multiplies every timeout (sanitizer "
            "builds);\n  AUTOPEFT_SRC_DIR, AUTOPEFT_BIN_DIR, AUTOPEFT_SHARED locate the tree, the "
            "programs and the shared data.\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"no-fork", no_argument, NULL, 'F'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    char *patterns[64];
    int npatterns = 0, jobs = 1, opt;
    bool list = false, verbose = false, nofork = false;
    double scale = atof(env_or("AUTOPEFT_TEST_TIMEOUT_SCALE", "1"));
    slot_t slots[HARNESS_MAX_JOBS] = {0};
    totals_t tot = {0};
    size_t next = 0, nsel = 0;
    double t0 = clock_s();

    while ((opt = getopt_long(argc, argv, "t:j:lvh", longopts, NULL)) != -1) {
        switch (opt) {
        case 't':
            if (npatterns == 64) {
                fprintf(stderr, "autopeft-tests: at most 64 -t patterns\n");
                return 2;
            }
            patterns[npatterns++] = optarg;
            break;
        case 'j':
            jobs = atoi(optarg);
            if (jobs < 1 || jobs > HARNESS_MAX_JOBS) {
                fprintf(stderr, "autopeft-tests: -j wants 1..%d, got '%s'\n", HARNESS_MAX_JOBS,
                        optarg);
                return 2;
            }
            break;
        case 'l': list = true; break;
        case 'v': verbose = true; break;
        case 'F': nofork = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "autopeft-tests: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!(scale > 0))
        scale = 1;
    qsort(tests, ntests, sizeof *tests, cmp_tests);
    for (size_t i = 0; i < ntests; i++) {
        if (i > 0 && strcmp(tests[i].full, tests[i - 1].full) == 0) {
            fprintf(stderr, "autopeft-tests: two tests are named %s\n", tests[i].full);
            return 2;
        }
        if (!selected(&tests[i], patterns, npatterns))
            continue;
        nsel++;
        if (list)
            printf("%s\n", tests[i].full);
    }
    if (list)
        return 0;
    if (nsel == 0) {
        fprintf(stderr, "autopeft-tests: no test matches\n");
        return 2;
    }
    if (nofork) {
        for (size_t i = 0; i < ntests; i++) {
            if (!selected(&tests[i], patterns, npatterns))
                continue;
            snprintf(cur_tmpdir, sizeof cur_tmpdir, "%s/autopeft-test-XXXXXX",
                     env_or("TMPDIR", "/tmp"));
            if (!mkdtemp(cur_tmpdir)) {
                perror("autopeft-tests: mkdtemp");
                return 2;
            }
            printf("run     %s (in %s)\n", tests[i].full, cur_tmpdir);
            tests[i].fn();
            remove_tree(cur_tmpdir);
            tot.passed++;
        }
        printf("%d passed, %d failed\n", tot.passed, tot.failed);
        return 0;
    }

    for (;;) {
        int running = 0;

        for (int j = 0; j < jobs; j++) {
            while (!slots[j].test && next < ntests) {
                const test_t *t = &tests[next++];
                if (!selected(t, patterns, npatterns))
                    continue;
                if (start(&slots[j], t) != 0)
                    return 2;
            }
            if (slots[j].test)
                running++;
        }
        if (running == 0)
            break;
        for (int j = 0; j < jobs; j++) {
            slot_t *s = &slots[j];
            int status = 0;
            pid_t r;

            if (!s->test)
                continue;
            r = waitpid(s->pid, &status, WNOHANG);
            if (r == s->pid) {
                finish(s, status, false, verbose, &tot);
            } else if (clock_s() - s->start > s->test->timeout_s * scale) {
                kill(-s->pid, SIGKILL);
                waitpid(s->pid, &status, 0);
                finish(s, status, true, verbose, &tot);
            }
        }
        usleep(2000);
    }

    printf("\n%zu tests in %.1fs\n", nsel, clock_s() - t0);
    if (tot.skipped)
        printf("%d skipped:\n%s", tot.skipped, tot.skipped_lines);
    if (tot.failed)
        printf("failed:%s\n", tot.failed_names);
    printf("%d passed, %d failed\n", tot.passed, tot.failed);
    return tot.failed ? 1 : 0;
}
