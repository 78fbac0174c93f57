/* `autopeft confirm` as a user runs it, on a synthetic study with baselines: the points get
 * their seeds as trials of the same study, and killing the coordinator in the middle of a
 * confirm, then running the same command again, loses and doubles nothing. */
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
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

/* The metrics and seeds of trial id and of its done confirmations, from study.db itself. */
static int raw_runs(const char *dir, long long id, double *metric, long long *seed, int cap)
{
    char path[1100];
    sqlite3 *db;
    sqlite3_stmt *q;
    int n = 0;

    snprintf(path, sizeof path, "%s/study.db", dir);
    ASSERT_EQ(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT objective, seed FROM trials WHERE state = 'done' "
                                     "AND (id = ?1 OR origin = ?1) ORDER BY id", -1, &q, NULL),
              SQLITE_OK);
    sqlite3_bind_int64(q, 1, id);
    while (sqlite3_step(q) == SQLITE_ROW && n < cap) {
        metric[n] = sqlite3_column_double(q, 0);
        seed[n++] = sqlite3_column_int64(q, 1);
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    return n;
}

/* best.json's baselines against a recomputation from the raw trials: n, mean, sample std and
 * seeds of each, and a dominating point that really dominates it. */
static void check_best_json(const char *dir, long long nbaselines)
{
    char path[1100];
    json_t *best, *bl, *b;
    size_t i;

    snprintf(path, sizeof path, "%s/best.json", dir);
    best = json_load_file(path, 0, NULL);
    ASSERT_NOT_NULL(best);
    bl = json_object_get(best, "baselines");
    ASSERT_EQ((long long)json_array_size(bl), nbaselines);
    json_array_foreach(bl, i, b) {
        double m[8], mean = 0, var = 0;
        long long seeds[8];
        json_t *by = json_object_get(b, "dominated_by");
        int n = raw_runs(dir, json_integer_value(json_object_get(b, "id")), m, seeds, 8);
        ASSERT_EQ(n, 3);
        for (int k = 0; k < n; k++)
            mean += m[k] / n;
        for (int k = 0; k < n; k++)
            var += (m[k] - mean) * (m[k] - mean) / (n - 1);
        ASSERT_EQ(json_integer_value(json_object_get(b, "n")), n);
        ASSERT_NEAR(json_real_value(json_object_get(b, "mean")), mean, 1e-8);   /* best.json: 10 digits */
        ASSERT_NEAR(json_real_value(json_object_get(b, "std")), sqrt(var), 1e-8);
        for (int k = 0; k < n; k++)
            ASSERT_EQ(json_integer_value(json_array_get(json_object_get(b, "seeds"),
                                                        (size_t)k)), seeds[k]);
        if (json_is_object(by)) {
            double bm[8];
            long long bs[8];
            int bn = raw_runs(dir, json_integer_value(json_object_get(by, "id")), bm, bs, 8);
            double fmean = 0;
            for (int k = 0; k < bn; k++)
                fmean += bm[k] / bn;
            ASSERT_TRUE(json_is_true(json_object_get(by, "on_confirmed_means")));
            ASSERT_NEAR(json_real_value(json_object_get(by, "metric_margin")), fmean - mean,
                        1e-8);
            ASSERT_TRUE(fmean >= mean);
            ASSERT_TRUE(json_real_value(json_object_get(by, "param_percent_margin")) >= 0);
        }
    }
    {
        /* The best confirmed point: the highest mean over every point with confirmations. */
        char text[64];
        ASSERT_TRUE(rt_sql_text(dir, text, sizeof text,
                                "SELECT max(m) FROM (SELECT avg(x.objective) AS m FROM trials o "
                                "JOIN trials x ON (x.id = o.id OR x.origin = o.id) AND x.state = "
                                "'done' WHERE o.kind != 'confirm' GROUP BY o.id HAVING count(*) "
                                "> 1)"));
        ASSERT_NEAR(json_real_value(json_object_get(json_object_get(best, "best_confirmed"),
                                                    "mean")), atof(text), 1e-8);
    }
    json_decref(best);
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
    p = RT_SPAWN("autopeft", out, "report", study);
    ASSERT_TRUE(rt_wait(p, 20, &st));
    ASSERT_EQ(st, 0);
    ASSERT_TRUE(rt_file_contains(out, "the front dominates"));
    ASSERT_TRUE(rt_file_contains(out, "(n=3)"));
    check_best_json(study, 2);
}
