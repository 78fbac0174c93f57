/* `autopeft run`, `status`, `report` and `keygen` as a user runs them. */
#include <sys/stat.h>
#include <unistd.h>

#include "tests/harness.h"
#include "tests/integration/runtime_util.h"

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
    ASSERT_TRUE(rt_file_contains(out2, "12 of 12 searched: 12 done, 0 failed, 0 running, 0 queued "
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

/* Without a configuration: the embedded default (a small one here: 2 trials on 200 of its
 * sentences), trained for real by the built-in trainer. */
TEST_TIMEOUT(run_without_config_runs_the_embedded_default, 90)
{
    char out[1024], study[1024], path[1100];
    pid_t p;
    int st;

    rt_path(out, sizeof out, "run.out");
    rt_path(study, sizeof study, "emb");
    p = RT_SPAWN("autopeft", out, "run", "--study", study, "--budget", "2",
                 "--max-train-examples", "200", "--workers", "2", "--quiet");
    ASSERT_TRUE(rt_wait(p, 80, &st));
    if (st != 0 || !rt_file_contains(out, "Pareto front of embedded")) {
        char cmd[2200];
        snprintf(cmd, sizeof cmd, "cat %s; tail -n 20 %s/*.log", out, study);
        fflush(stdout);
        if (system(cmd) != 0)
            printf("(no output)\n");
    }
    ASSERT_EQ(st, 0);
    ASSERT_TRUE(rt_file_contains(out, "Pareto front of embedded"));
    snprintf(path, sizeof path, "%s/embedded.conf", study);
    ASSERT_TRUE(rt_file_contains(path, "shape = hidden=64 layers=4 heads=4 intermediate=256 "
                                       "vocab=89 positions=64"));
    /* 2 searched trials and the embedded default's 3 baselines, outside the budget. */
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM results WHERE status = 'ok' AND "
                                "objective_name = 'accuracy' AND epochs_run = 3"), 5);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials WHERE kind = 'baseline' AND label "
                                "IN ('pfeiffer', 'lora', 'head-only') AND state = 'done'"), 3);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(DISTINCT seed) FROM trials"), 5);
    /* The coordinator's cost is the worker's exact count on the same shape. */
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials t JOIN results r ON r.trial_id = "
                                "t.id WHERE abs(t.cost - r.percent) < 1e-9"), 5);
    p = RT_SPAWN("autopeft", out, "run", "x.conf", "--budget", "3");
    ASSERT_TRUE(rt_wait(p, 10, &st));
    ASSERT_EQ(st, 2);
    ASSERT_TRUE(rt_file_contains(out, "set up the embedded default"));
}

TEST(run_with_a_bad_config_says_what_is_wrong)
{
    char out[1024];
    pid_t p;
    int st;

    rt_path(out, sizeof out, "run.out");
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

/* [recipe] precision = bf16 reaches an --exec trainer through the coordinator, the wire and the
 * worker (its JSON and AUTOPEFT_PRECISION), with the folder for its weights made; without
 * --exec the built-in trainer would fail every trial, so autopeft run says so and starts
 * nothing. */
TEST_TIMEOUT(run_gives_the_precision_to_the_exec_trainer, 60)
{
    char conf[1024], study[1024], out[1024], seen[1024], db[1100], cmd[4096];
    pid_t p;
    int st;

    rt_path(conf, sizeof conf, "bf16.conf");
    rt_path(study, sizeof study, "bf16");
    rt_path(out, sizeof out, "run.out");
    rt_path(seen, sizeof seen, "seen.txt");
    rt_write(conf, "[study]\nname = bf16\nbudget = 2\nn_init = 2\n"
                   "[model]\nembedded = true\n[task]\nembedded = true\n"
                   "[recipe]\nepochs = 1\nprecision = bf16\n[search]\nsurrogate = random\n");
    p = RT_SPAWN("autopeft", out, "run", conf, "--study", study, "--workers", "1", "--quiet");
    ASSERT_TRUE(rt_wait(p, 10, &st));
    ASSERT_EQ(st, 2);
    ASSERT_TRUE(rt_file_contains(out, "the built-in trainer trains in float32 only; [recipe] "
                                      "precision = bf16 needs --exec"));
    snprintf(db, sizeof db, "%s/study.db", study);
    ASSERT_TRUE(access(db, F_OK) != 0);
    snprintf(cmd, sizeof cmd,
             "grep -o '\"precision\":\"[a-z0-9]*\"' >> %s; echo \"env=$AUTOPEFT_PRECISION\" >> "
             "%s; [ -d \"$AUTOPEFT_SAVE_DIR\" ] && echo made >> %s; echo '{\"objective\": 0.5, "
             "\"params\": {\"trainable\": 10, \"deployed\": 10, \"modules_deployed\": 5, "
             "\"backbone\": 1000}}'", seen, seen, seen);
    p = RT_SPAWN("autopeft", out, "run", conf, "--study", study, "--workers", "1", "--quiet",
                 "--exec", cmd);
    ASSERT_TRUE(rt_wait(p, 40, &st));
    ASSERT_EQ(st, 0);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials WHERE state = 'done'"), 2);
    ASSERT_TRUE(rt_file_contains(seen, "\"precision\":\"bf16\"\nenv=bf16\nmade\n"));
}
