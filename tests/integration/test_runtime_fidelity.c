/* Multi-fidelity search end to end (`[search] fidelity = asha`): `autopeft run` on a synthetic
 * study whose fast-mode trials have learning curves, with real worker processes. Search trials
 * are stopped at rungs by a CANCEL with stop and come back STOPPED: stored done, with the
 * objective and epochs of what they ran; baselines always train to the end; the same study
 * without fidelity stops nothing. The rungs are at epochs 1 and 3 of 9 with MO-ASHA's rank rule
 * alone, so that stops happen however the run's timing falls. Then the GP's model rule with
 * `autopeft run` killed halfway and resumed, and one coordinator per study. */
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coordinator/runtime/dispatch.h"
#include "tests/harness.h"
#include "tests/integration/runtime_util.h"

static void write_study(const char *path, const char *fidelity, const char *budget)
{
    rt_write(path,
             "[study]\nname = mf\nmode = synthetic\n%s\nn_init = 6\nseed = 3\n"
             "[model]\nshape = bert-base\n[recipe]\nepochs = 9\n"
             "[synthetic]\nduration_ms = 90\nnoise = 0.005\n"
             "[baselines]\nnames = pfeiffer, lora\n"
             "[search]\nsurrogate = random\nfidelity = %s\n"
             "fidelity_min_epochs = 1\nfidelity_projection = false\n", budget, fidelity);
}

static void run_study(const char *conf, const char *study)
{
    char out[1024];
    pid_t p;
    int st;

    rt_path(out, sizeof out, "run.out");
    p = RT_SPAWN("autopeft", out, "run", conf, "--study", study, "--workers", "2", "--quiet");
    ASSERT_TRUE(rt_wait(p, 90, &st));
    ASSERT_EQ(st, 0);
}

TEST_TIMEOUT(asha_stops_search_trials_at_rungs_and_keeps_what_they_learnt, 120)
{
    char conf[1024], study[1024], log[1100];
    long long stopped, full;

    rt_path(conf, sizeof conf, "mf.conf");
    rt_path(study, sizeof study, "runs/mf");
    write_study(conf, "asha", "budget = 24");
    run_study(conf, study);
    /* the budget is spent, every trial done: stopped ones are not failures */
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials WHERE kind = 'search'"), 24);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials WHERE state != 'done'"), 0);
    stopped = rt_sql_int(study, "SELECT count(*) FROM results WHERE status = 'stopped'");
    full = rt_sql_int(study, "SELECT count(*) FROM results WHERE status = 'ok'");
    printf("%lld stopped, %lld to the end\n", stopped, full);
    ASSERT_GT(stopped, 0);
    ASSERT_EQ(stopped + full, 26);
    /* a stop is decided at a rung (epochs 1 and 3 of 9) and honoured as soon as it arrives:
     * at the rung or a little after it (epochs of 10 ms outrun it, more so under sanitizers),
     * never at the end, always with the objective of what was run */
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM results WHERE status = 'stopped' AND "
                                "(epochs_run < 1 OR epochs_run >= 9 OR objective IS NULL)"), 0);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM results WHERE status = 'ok' AND "
                                "epochs_run != 9"), 0);
    /* baselines and every trial's result are the trials' own */
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM results r JOIN trials t ON t.id = "
                                "r.trial_id WHERE t.kind = 'baseline' AND r.status != 'ok'"), 0);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM results r JOIN trials t ON t.id = "
                                "r.trial_id WHERE r.objective != t.objective"), 0);
    /* the history of a stopped result ends at its rung */
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM results WHERE status = 'stopped' AND "
                                "json_array_length(json_extract(json, '$.history')) != "
                                "epochs_run"), 0);
    snprintf(log, sizeof log, "%s/coordinator.log", study);
    ASSERT_TRUE(rt_file_contains(log, "stopped at rung 0 (rank rule: place"));
    ASSERT_FALSE(rt_file_contains(log, "projection rule"));   /* fidelity_projection = false */
}

TEST_TIMEOUT(without_fidelity_nothing_stops, 120)
{
    char conf[1024], study[1024];

    rt_path(conf, sizeof conf, "none.conf");
    rt_path(study, sizeof study, "runs/none");
    write_study(conf, "none", "budget = 24");
    run_study(conf, study);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM results WHERE status = 'ok' AND "
                                "epochs_run = 9"), 26);
}

/* An epoch budget: full fidelity trains 90 / 9 = 10 search trials; with stops the same epochs
 * buy more trials, and the budget is never overrun (open trials reserve the recipe's epochs). */
TEST_TIMEOUT(an_epoch_budget_buys_more_trials_when_they_stop, 120)
{
    char conf[1024], study[1024], out[1024];
    long long full_trials, mf_trials, spent;
    pid_t p;
    int st;

    rt_path(conf, sizeof conf, "e.conf");
    rt_path(study, sizeof study, "runs/e-none");
    write_study(conf, "none", "budget = 1000\nbudget_epochs = 90");
    run_study(conf, study);
    full_trials = rt_sql_int(study, "SELECT count(*) FROM trials WHERE kind = 'search'");
    ASSERT_EQ(full_trials, 10);
    rt_path(study, sizeof study, "runs/e-asha");
    write_study(conf, "asha", "budget = 1000\nbudget_epochs = 90");
    run_study(conf, study);
    mf_trials = rt_sql_int(study, "SELECT count(*) FROM trials WHERE kind = 'search'");
    spent = rt_sql_int(study, "SELECT sum(r.epochs_run) FROM results r JOIN trials t ON t.id = "
                              "r.trial_id WHERE t.kind = 'search'");
    printf("%lld search trials in %lld epochs (full fidelity: %lld)\n", mf_trials, spent,
           full_trials);
    ASSERT_GT(mf_trials, full_trials);
    ASSERT_TRUE(spent <= 90 && spent > 90 - 9);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials WHERE state != 'done'"), 0);
    rt_path(out, sizeof out, "status.out");
    p = RT_SPAWN("autopeft", out, "status", study);
    ASSERT_TRUE(rt_wait(p, 10, &st));
    ASSERT_EQ(st, 0);
    ASSERT_TRUE(rt_file_contains(out, "trained by the search trials, of a budget of 90 ("));
    ASSERT_TRUE(rt_file_contains(out, "stopped early)"));
}

/* The GP over (configuration, fidelity) with the model rule, and a coordinator killed halfway:
 * the resumed study reads the finished trials' rung values back, never trains a configuration
 * twice, and ends with its budget spent. */
TEST_TIMEOUT(the_model_rule_stops_trials_and_a_killed_study_resumes_with_its_rungs, 180)
{
    char conf[1024], study[1024], out[1024], log[1100];
    pid_t p;
    int st;

    rt_path(conf, sizeof conf, "gp.conf");
    rt_path(study, sizeof study, "runs/gp");
    rt_write(conf,
             "[study]\nname = gp\nmode = synthetic\nbudget = 36\nbudget_epochs = 1000\nn_init = 6\n"
             "seed = 4\n"
             "[model]\nshape = bert-base\n[recipe]\nepochs = 9\n"
             "[synthetic]\nduration_ms = 450\nnoise = 0.005\n"
             "[search]\nsurrogate = map\nfidelity = asha\nfidelity_chance = 0.3\n");
    rt_path(out, sizeof out, "gp1.out");
    p = RT_SPAWN("autopeft", out, "run", conf, "--study", study, "--workers", "2", "--quiet");
    ASSERT_TRUE(rt_sql_wait(study, 14, 90, "SELECT count(*) FROM trials WHERE state = 'done'"));
    kill(p, SIGKILL);
    ASSERT_TRUE(rt_wait(p, 10, &st));
    /* its coordinator and workers see it die and stop too, the coordinator saving the study */
    snprintf(log, sizeof log, "%s/coordinator.log", study);
    for (int i = 0; i < 200 && !rt_file_contains(log, "frames received"); i++)
        usleep(50000);
    ASSERT_TRUE(rt_file_contains(log, "frames received"));   /* its last line */
    /* resumed with the live view: the epoch budget and the stops are shown */
    rt_path(out, sizeof out, "gp2.out");
    p = RT_SPAWN("autopeft", out, "run", conf, "--study", study, "--workers", "2");
    ASSERT_TRUE(rt_wait(p, 90, &st));
    ASSERT_EQ(st, 0);
    ASSERT_TRUE(rt_file_contains(out, "/36 epochs "));
    ASSERT_TRUE(rt_file_contains(out, " stopped)  running "));
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials WHERE kind = 'search'"), 36);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials WHERE state != 'done'"), 0);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(DISTINCT config) FROM trials"), 36);
    ASSERT_GT(rt_sql_int(study, "SELECT count(*) FROM results WHERE status = 'stopped'"), 0);
    /* every stop at the rung (epoch 3) or a little after, with its curve in the view */
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM results WHERE status = 'stopped' AND "
                                "(epochs_run < 3 OR epochs_run >= 9)"), 0);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM results r WHERE status = 'stopped' AND "
                                "(SELECT count(*) FROM curves c WHERE c.trial_id = r.trial_id "
                                "AND c.attempt = r.attempt) != r.epochs_run"), 0);
    ASSERT_TRUE(rt_file_contains(log, "(model rule: chance"));
    ASSERT_TRUE(rt_file_contains(log, "finished search trials read from their learning curves"));
}

/* One coordinator per study: while the study's lock is held (here by this process, as a
 * running coordinator holds it), `autopeft run` and `autopeft coordinator` are refused, naming
 * the holder's pid, and nothing of the study is touched; once it is released the run goes on. */
TEST_TIMEOUT(a_study_in_use_by_a_coordinator_is_refused_by_name, 120)
{
    char conf[1024], study[1024], out[1024], want[128], ep[1100];
    pid_t p;
    int st, fd;

    rt_path(conf, sizeof conf, "busy.conf");
    rt_path(study, sizeof study, "busy-study");
    write_study(conf, "asha", "budget = 8");
    ASSERT_EQ(mkdir(study, 0755), 0);
    ASSERT_OK(dispatch_lock(study, &fd));
    snprintf(ep, sizeof ep, "%s/endpoint", study);
    rt_write(ep, "tcp://127.0.0.1:1\n");   /* a live coordinator's: run must leave it */
    snprintf(want, sizeof want, "is in use by another coordinator (pid %ld)", (long)getpid());
    rt_path(out, sizeof out, "busy-run.out");
    p = RT_SPAWN("autopeft", out, "run", conf, "--study", study, "--workers", "2", "--quiet");
    ASSERT_TRUE(rt_wait(p, 20, &st));
    ASSERT_EQ(st, 1);
    ASSERT_TRUE(rt_file_contains(out, want));
    ASSERT_TRUE(rt_file_contains(ep, "tcp://127.0.0.1:1"));
    rt_path(out, sizeof out, "busy-coord.out");
    p = RT_SPAWN("autopeft", out, "coordinator", "--study", study, "--config", conf);
    ASSERT_TRUE(rt_wait(p, 20, &st));
    ASSERT_NE(st, 0);
    ASSERT_TRUE(rt_file_contains(out, want));
    close(fd);
    run_study(conf, study);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials WHERE state = 'done'"), 10);
}
