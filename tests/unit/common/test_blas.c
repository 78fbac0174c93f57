/* Tests of common/blas.c: the core-selection decision, and the re-execution it leads to,
 * end to end in a child process (with a pretended generic core, since OpenBLAS picks a good one
 * on the machines the tests run on). */
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/blas.h"
#include "common/blas_startup.h"
#include "common/log.h"
#include "tests/harness.h"

extern char **environ;

TEST(choice_upgrades_generic_cores_only)
{
    ASSERT_STR_EQ(blas_core_choice("Prescott", BLAS_CPU_AVX512, NULL, false), "SkylakeX");
    ASSERT_STR_EQ(blas_core_choice("Prescott", BLAS_CPU_AVX2, NULL, false), "Haswell");
    ASSERT_STR_EQ(blas_core_choice("Nehalem", BLAS_CPU_AVX2, "", false), "Haswell");
    ASSERT_STR_EQ(blas_core_choice("Sandybridge", BLAS_CPU_AVX512, NULL, false), "SkylakeX");
    ASSERT_TRUE(blas_core_choice("Prescott", BLAS_CPU_BASELINE, NULL, false) == NULL);
    /* good cores are left alone */
    ASSERT_TRUE(blas_core_choice("Haswell", BLAS_CPU_AVX512, NULL, false) == NULL);
    ASSERT_TRUE(blas_core_choice("Zen", BLAS_CPU_AVX512, NULL, false) == NULL);
    ASSERT_TRUE(blas_core_choice("Cooperlake", BLAS_CPU_AVX512, NULL, false) == NULL);
    ASSERT_TRUE(blas_core_choice("SKYLAKEX", BLAS_CPU_AVX512, NULL, false) == NULL);
    /* the user's value and the opt-out win */
    ASSERT_TRUE(blas_core_choice("Prescott", BLAS_CPU_AVX512, "Prescott", false) == NULL);
    ASSERT_TRUE(blas_core_choice("Prescott", BLAS_CPU_AVX512, NULL, true) == NULL);
}

/* Runs this test binary's child_core_fix test with extra environment; returns its output. */
static int run_child(const char *const *env_add, const char *const *env_drop, char *out, size_t cap)
{
    char exe[1024], *argv[] = {exe, "--no-fork", "-t", "blas.child_core_fix", NULL};
    char *env[512];
    int n = 0, fds[2], status;
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    size_t got = 0;
    ssize_t k;
    pid_t pid;

    ASSERT_TRUE(len > 0);
    exe[len] = '\0';
    for (char **e = environ; *e && n < 500; e++) {
        bool drop = false;

        for (int i = 0; env_drop[i]; i++)
            drop |= strncmp(*e, env_drop[i], strlen(env_drop[i])) == 0 && (*e)[strlen(env_drop[i])] == '=';
        if (!drop)
            env[n++] = *e;
    }
    for (int i = 0; env_add[i]; i++)
        env[n++] = (char *)env_add[i];
    env[n] = NULL;
    ASSERT_EQ(pipe(fds), 0);
    pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        execve(exe, argv, env);
        _exit(127);
    }
    close(fds[1]);
    while (got < cap - 1 && (k = read(fds[0], out + got, cap - 1 - got)) > 0)
        got += (size_t)k;
    out[got] = '\0';
    close(fds[0]);
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;

    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

TEST(generic_core_is_replaced_by_reexecution)
{
    static const char *const drop[] = {"OPENBLAS_CORETYPE", "AUTOPEFT_NO_BLAS_CORE_FIX",
                                       "AUTOPEFT_BLAS_CORE_FIXED", NULL};
    static const char *const add[] = {"AUTOPEFT_BLAS_PRETEND_CORE=Prescott",
                                      "AUTOPEFT_BLAS_TEST_CHILD=1", NULL};
    static const char *const add_optout[] = {"AUTOPEFT_BLAS_PRETEND_CORE=Prescott",
                                             "AUTOPEFT_BLAS_TEST_CHILD=1",
                                             "AUTOPEFT_NO_BLAS_CORE_FIX=1", NULL};
    static const char *const add_user[] = {"AUTOPEFT_BLAS_PRETEND_CORE=Prescott",
                                           "AUTOPEFT_BLAS_TEST_CHILD=1",
                                           "OPENBLAS_CORETYPE=Haswell", NULL};
    static char out[16384];
    const char *want = blas_core_choice("Prescott", blas_cpu(), NULL, false);
    char line[256];

    if (!want)
        HARNESS_SKIP("this CPU has neither AVX2 nor AVX-512");
    ASSERT_EQ(run_child(add, drop, out, sizeof out), 0);
    snprintf(line, sizeof line, "restarting with OPENBLAS_CORETYPE=%s", want);
    ASSERT_CONTAINS(out, line);
    snprintf(line, sizeof line, "autopeft set OPENBLAS_CORETYPE=%s: OpenBLAS had chosen Prescott", want);
    ASSERT_CONTAINS(out, line);
    snprintf(line, sizeof line, "child: core %s", want);
    ASSERT_CONTAINS(out, line);
    ASSERT_EQ(count(out, "child: start"), 2);   /* started, then re-executed once */
    /* opted out: no restart */
    ASSERT_EQ(run_child(add_optout, drop, out, sizeof out), 0);
    ASSERT_TRUE(strstr(out, "restarting") == NULL);
    ASSERT_EQ(count(out, "child: start"), 1);
    /* the user's OPENBLAS_CORETYPE is kept */
    ASSERT_EQ(run_child(add_user, drop, out, sizeof out), 0);
    ASSERT_TRUE(strstr(out, "restarting") == NULL);
    ASSERT_EQ(count(out, "child: start"), 1);
    ASSERT_CONTAINS(out, "child: core Haswell");
}

/* The child of the test above; skipped in a normal run. */
TEST(child_core_fix)
{
    char buf[4096], *argv[16];
    int fd, n = 0;
    ssize_t len;

    if (!getenv("AUTOPEFT_BLAS_TEST_CHILD"))
        HARNESS_SKIP("runs only as the child of blas.generic_core_is_replaced_by_reexecution");
    printf("child: start\n");
    fflush(stdout);
    fd = open("/proc/self/cmdline", O_RDONLY);
    ASSERT_TRUE(fd >= 0);
    len = read(fd, buf, sizeof buf - 1);
    close(fd);
    ASSERT_TRUE(len > 0);
    buf[len] = '\0';
    for (char *p = buf; p < buf + len && n < 15; p += strlen(p) + 1)
        argv[n++] = p;
    argv[n] = NULL;
    log_init("blas-test", LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
    blas_startup(argv, 0);
    blas_startup_log();
    printf("child: core %s\n", blas_core());
}
