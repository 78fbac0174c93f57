/* The harness reports failures, crashes, timeouts and skips, and its exit status says so. */
#include <sys/wait.h>
#include <unistd.h>

#include "tests/harness.h"

TEST_TIMEOUT(runner_reports_every_outcome, 30)
{
    char self[1024], cmd[1200], out[16384];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    size_t len = 0;
    FILE *p;
    int status;

    ASSERT_TRUE(n > 0);
    self[n] = '\0';
    snprintf(cmd, sizeof cmd, "'%s' -j 3 -t 'harness_selftest.*' 2>&1", self);
    p = popen(cmd, "r");
    ASSERT_NOT_NULL(p);
    while (len < sizeof out - 1 && (n = (ssize_t)fread(out + len, 1, sizeof out - 1 - len, p)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    status = pclose(p);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 1);
    ASSERT_CONTAINS(out, "ok      harness_selftest.passes");
    ASSERT_CONTAINS(out, "FAIL    harness_selftest.fails_assertion");
    ASSERT_CONTAINS(out, "ASSERT_EQ(2 + 2, 5): 4 vs 5");
    ASSERT_CONTAINS(out, "FAIL    harness_selftest.crashes");
    ASSERT_CONTAINS(out, "killed by signal 9");
    ASSERT_CONTAINS(out, "TIMEOUT harness_selftest.hangs");
    ASSERT_CONTAINS(out, "skip    harness_selftest.skips");
    ASSERT_CONTAINS(out, "no such resource");
    ASSERT_CONTAINS(out, "\n1 passed, 3 failed\n");
}

TEST(tmpdir_is_private_and_exists)
{
    ASSERT_CONTAINS(harness_tmpdir(), "autopeft-test-harness.tmpdir_is_private_and_exists");
    ASSERT_EQ(access(harness_tmpdir(), W_OK), 0);
}
