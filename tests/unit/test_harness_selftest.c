/* Deliberately failing tests, run only when selected by name: test_harness.c runs them through
 * the runner and checks that each failure is reported as one. */
#include <signal.h>
#include <unistd.h>

#include "tests/harness.h"

TEST(passes)
{
    ASSERT_EQ(1 + 1, 2);
}

TEST(fails_assertion)
{
    ASSERT_EQ(2 + 2, 5);
}

TEST(crashes)
{
    raise(SIGKILL); /* uncatchable, so sanitizer builds report it the same way */
}

TEST_TIMEOUT(hangs, 1)
{
    sleep(30);
}

TEST(skips)
{
    HARNESS_SKIP("no such resource");
}
