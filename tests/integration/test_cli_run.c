/* `autopeft run`, `status`, `report` and `keygen` as a user runs them. */
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "runtime_util.h"

TEST_TIMEOUT(run_a_synthetic_study_then_status_and_report, 60)
{
    char conf[1024], study[1024], out[1024], out2[1024], path[1200];
    pid_t p;
    int st;

    rt_path(conf, sizeof conf, "demo.conf");
    rt_path(study, sizeof study, "runs/demo");
    rt_path(out, sizeof out, "run.out");
    rt_write(conf, "[study]\nname = demo\nmode = synthetic\nbudget = 12\nn_init = 4\n"
                   "[synthetic]\nduration_ms = 30\n[search]\nsurrogate = random\n");
    p = RT_SPAWN("autopeft", out, "run", conf, "--study", study, "--workers", "2");
    ASSERT_TRUE(rt_wait(p, 50, &st));
    ASSERT_EQ(st, 0);
    ASSERT_TRUE(rt_file_contains(out, "[12/12] done 12"));
    ASSERT_TRUE(rt_file_contains(out, "Pareto front of demo"));
    ASSERT_TRUE(rt_file_contains(out, "params %"));
    snprintf(path, sizeof path, "%s/pareto.csv", study);
    ASSERT_TRUE(rt_wait_file(path, 1));
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials WHERE state = 'done'"), 12);

    rt_path(out2, sizeof out2, "status.out");
    p = RT_SPAWN("autopeft", out2, "status", study);
    ASSERT_TRUE(rt_wait(p, 10, &st));
    ASSERT_EQ(st, 0);
    ASSERT_TRUE(rt_file_contains(out2, "12 of 12: 12 done, 0 failed, 0 running, 0 queued "
                                       "(finished)"));
    ASSERT_TRUE(rt_file_contains(out2, "hypervolume"));
    snprintf(path, sizeof path, "%s/pareto.csv", study);
    unlink(path);
    rt_path(out2, sizeof out2, "report.out");
    p = RT_SPAWN("autopeft", out2, "report", study);
    ASSERT_TRUE(rt_wait(p, 10, &st));
    ASSERT_EQ(st, 0);
    ASSERT_TRUE(rt_file_contains(out2, "Pareto front ("));
    ASSERT_TRUE(rt_wait_file(path, 1));
    /* A folder without a study. */
    p = RT_SPAWN("autopeft", out2, "status", harness_tmpdir());
    ASSERT_TRUE(rt_wait(p, 10, &st));
    ASSERT_EQ(st, 1);
    ASSERT_TRUE(rt_file_contains(out2, "no study store here"));
}

TEST(run_without_config_says_what_is_missing)
{
    char out[1024];
    pid_t p;
    int st;

    rt_path(out, sizeof out, "run.out");
    p = RT_SPAWN("autopeft", out, "run");
    ASSERT_TRUE(rt_wait(p, 10, &st));
    ASSERT_EQ(st, 2);
    ASSERT_TRUE(rt_file_contains(out, "built-in trainer"));
    p = RT_SPAWN("autopeft", out, "run", "/nonexistent.conf");
    ASSERT_TRUE(rt_wait(p, 10, &st));
    ASSERT_EQ(st, 2);
    ASSERT_TRUE(rt_file_contains(out, "/nonexistent.conf"));
}

TEST(keygen_writes_a_private_key_pair)
{
    char prefix[1024], out[1024], path[1100];
    struct stat sb;
    pid_t p;
    int st;

    rt_path(prefix, sizeof prefix, "node");
    rt_path(out, sizeof out, "keygen.out");
    p = RT_SPAWN("autopeft", out, "keygen", prefix);
    ASSERT_TRUE(rt_wait(p, 10, &st));
    ASSERT_EQ(st, 0);
    snprintf(path, sizeof path, "%s.key", prefix);
    ASSERT_EQ(stat(path, &sb), 0);
    ASSERT_EQ(sb.st_mode & 0777, 0600);
    ASSERT_TRUE(rt_file_contains(path, "secret-key = "));
    snprintf(path, sizeof path, "%s.pub", prefix);
    ASSERT_TRUE(rt_file_contains(path, "public-key = "));
    ASSERT_FALSE(rt_file_contains(path, "secret-key"));
    /* Never overwritten by accident. */
    p = RT_SPAWN("autopeft", out, "keygen", prefix);
    ASSERT_TRUE(rt_wait(p, 10, &st));
    ASSERT_EQ(st, 1);
    ASSERT_TRUE(rt_file_contains(out, "exists"));
}
