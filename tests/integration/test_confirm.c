/* `autopeft confirm` as a user runs it, on a synthetic study with baselines: the points get
 * their seeds as trials of the same study, and killing the coordinator in the middle of a
 * confirm, then running the same command again, loses and doubles nothing. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/harness.h"
#include "tests/integration/runtime_util.h"

/* The pid of the coordinator process of the study in dir (started by `autopeft run`). */
static pid_t coordinator_pid(const char *dir)
{
    char cmd[1200], line[64] = "";
    FILE *p;

    snprintf(cmd, sizeof cmd, "pgrep -f -- 'coordinator --study %s '", dir);
    p = popen(cmd, "r");
    if (!p)
        return -1;
    if (!fgets(line, sizeof line, p))
        line[0] = '\0';
    pclose(p);
    return line[0] ? (pid_t)atoi(line) : -1;
}

static void write_study(const char *conf)
{
    rt_write(conf, "[study]\nname = conf\nmode = synthetic\nbudget = 8\nn_init = 4\nseed = 3\n"
                   "[synthetic]\nduration_ms = 150\nnoise = 0.01\n[search]\nsurrogate = random\n"
                   "[baselines]\nnames = pfeiffer, lora\n"
                   "[network]\nheartbeat_interval_ms = 100\nheartbeat_liveness = 3\n"
                   "restart_grace_s = 1\n");
}

TEST_TIMEOUT(confirm_adds_seeds_and_resumes_after_a_kill, 120)
{
    char conf[1024], study[1024], out[1024];
    long long points, front;
    pid_t p, coord = -1;
    int st;

    rt_path(conf, sizeof conf, "c.conf");
    rt_path(study, sizeof study, "runs/c");
    rt_path(out, sizeof out, "run.out");
    write_study(conf);
    p = RT_SPAWN("autopeft", out, "run", conf, "--study", study, "--workers", "2", "--quiet");
    ASSERT_TRUE(rt_wait(p, 60, &st));
    ASSERT_EQ(st, 0);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials WHERE state = 'done'"), 10);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials WHERE kind = 'baseline'"), 2);

    /* Bad requests are refused by name, and change nothing. */
    p = RT_SPAWN("autopeft", out, "confirm", study, "--points", "99", "--no-run");
    ASSERT_TRUE(rt_wait(p, 10, &st));
    ASSERT_EQ(st, 2);
    ASSERT_TRUE(rt_file_contains(out, "--points: '99'"));
    p = RT_SPAWN("autopeft", out, "confirm", study, "--seeds", "1");
    ASSERT_TRUE(rt_wait(p, 10, &st));
    ASSERT_EQ(st, 2);
    ASSERT_TRUE(rt_file_contains(out, "--seeds"));
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials"), 10);

    /* Three seeds for the baselines and the front; the coordinator is killed half-way. */
    p = RT_SPAWN("autopeft", out, "confirm", study, "--seeds", "3", "--points", "all",
                 "--workers", "2", "--quiet");
    ASSERT_TRUE(rt_sql_wait(study, 2, 30, "SELECT count(*) FROM trials WHERE kind = 'confirm' "
                                          "AND state = 'done'"));
    for (int i = 0; i < 50 && coord <= 0; i++, usleep(100000))
        coord = coordinator_pid(study);
    ASSERT_TRUE(coord > 0);
    rt_kill9(coord);
    ASSERT_TRUE(rt_wait(p, 30, &st));
    ASSERT_TRUE(st != 0);
    points = rt_sql_int(study, "SELECT count(DISTINCT origin) FROM trials WHERE kind = 'confirm'");
    ASSERT_TRUE(points >= 3);   /* 2 baselines and at least one front point */
    ASSERT_TRUE(rt_sql_int(study, "SELECT count(*) FROM trials WHERE kind = 'confirm' AND state "
                                  "!= 'done'") > 0);

    /* The same command again: nothing new to add, the rest is run. */
    p = RT_SPAWN("autopeft", out, "confirm", study, "--seeds", "3", "--points", "all",
                 "--workers", "2", "--quiet");
    ASSERT_TRUE(rt_wait(p, 60, &st));
    ASSERT_EQ(st, 0);
    ASSERT_TRUE(rt_file_contains(out, "0 new trials queued"));
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials WHERE kind = 'confirm'"), 2 * points);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials WHERE kind = 'confirm' AND state "
                                "= 'done'"), 2 * points);
    /* Each point has exactly 2 confirmations, of its own configuration, with seeds of its own. */
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM (SELECT origin FROM trials WHERE kind = "
                                "'confirm' GROUP BY origin HAVING count(*) != 2)"), 0);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials c JOIN trials o ON o.id = c.origin "
                                "WHERE c.config != o.config OR c.seed = o.seed"), 0);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(DISTINCT seed) FROM trials"),
              rt_sql_int(study, "SELECT count(*) FROM trials"));
    /* One counted result per trial, whatever the kill did. */
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM (SELECT trial_id FROM results WHERE "
                                "status = 'ok' GROUP BY trial_id HAVING count(*) > 1)"), 0);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials WHERE kind = 'search'"), 8);
    front = rt_sql_int(study, "SELECT count(DISTINCT c.origin) FROM trials c JOIN trials o ON "
                              "o.id = c.origin WHERE o.kind = 'search'");
    ASSERT_EQ(front + 2, points);
}
