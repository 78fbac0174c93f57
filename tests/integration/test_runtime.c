/* The coordinator and workers as processes over real sockets, in fast (synthetic) mode: a whole
 * study, a worker killed mid-trial, the coordinator killed and restarted, workers that start
 * before their coordinator. Heartbeats are 100 ms so that every failure is noticed in under a
 * second. */
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/harness.h"
#include "tests/integration/runtime_util.h"

/* A synthetic study: random suggestions, fast heartbeats, a free port published in the
 * study's endpoint file. */
static void synth_config(const char *path, int budget, int duration_ms, const char *extra)
{
    rt_write(path,
             "[study]\nname = rt\nmode = synthetic\nbudget = %d\nn_init = 4\nmax_attempts = 3\n"
             "[synthetic]\nduration_ms = %d\nnoise = 0.01\n"
             "[search]\nsurrogate = random\n"
             "[network]\nbind = tcp://127.0.0.1:0\nheartbeat_interval_ms = 100\n"
             "heartbeat_liveness = 5\nrestart_grace_s = 5\n%s",
             budget, duration_ms, extra ? extra : "");
}

static pid_t start_worker(const char *study, const char *log)
{
    char ep[1100];

    snprintf(ep, sizeof ep, "%s/endpoint", study);
    return RT_SPAWN("autopeft-worker", log, "--endpoint-file", ep, "--cores", "1",
                    "--backoff-max", "500");
}

/* Shows every log of the test (on failure: the harness prints a failing test's output). */
static void dump_logs(void)
{
    char cmd[1200];

    snprintf(cmd, sizeof cmd, "for f in %s/*.log; do echo \"== $f\"; tail -n 40 \"$f\"; done",
             harness_tmpdir());
    fflush(stdout);
    if (system(cmd) != 0)
        printf("(no logs)\n");
}

/* Every trial done once, with distinct configurations and one counted result each. */
static void check_complete(const char *study, int budget)
{
    if (rt_sql_int(study, "SELECT count(*) FROM trials") != budget ||
        rt_sql_int(study, "SELECT count(*) FROM trials WHERE state = 'done'") != budget)
        dump_logs();
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials"), budget);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials WHERE state = 'done'"), budget);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(DISTINCT config) FROM trials"), budget);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM results WHERE status = 'ok'"), budget);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials t JOIN results r ON "
                                "r.trial_id = t.id AND r.attempt = t.result_attempt"), budget);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(DISTINCT seq) FROM trials"), budget);
}

TEST_TIMEOUT(three_workers_complete_a_study, 60)
{
    char conf[1024], study[1024], log[1024], wlog[1024], path[1200], line[256];
    pid_t c, w[3];
    int st;

    rt_path(conf, sizeof conf, "study.conf");
    rt_path(study, sizeof study, "study");
    rt_path(log, sizeof log, "coordinator.log");
    synth_config(conf, 40, 50, NULL);
    c = RT_SPAWN("autopeft-coordinator", log, "--study", study, "--config", conf);
    snprintf(path, sizeof path, "%s/endpoint", study);
    ASSERT_TRUE(rt_wait_file(path, 20)); /* so that all three take part from the start */
    for (int i = 0; i < 3; i++) {
        snprintf(wlog, sizeof wlog, "%s/worker%d.log", harness_tmpdir(), i);
        w[i] = start_worker(study, wlog);
    }
    ASSERT_TRUE(rt_wait(c, 40, &st));
    ASSERT_EQ(st, 0);
    for (int i = 0; i < 3; i++) {
        ASSERT_TRUE(rt_wait(w[i], 10, &st));
        ASSERT_EQ(st, 0); /* SHUTDOWN, or the endpoint file said the study is finished */
    }
    check_complete(study, 40);
    /* Every worker took part, and the outputs are there. */
    ASSERT_EQ(rt_sql_int(study, "SELECT count(DISTINCT worker) FROM results"), 3);
    snprintf(path, sizeof path, "%s/endpoint", study);
    ASSERT_TRUE(rt_read_line(path, line, sizeof line));
    ASSERT_STR_EQ(line, "finished");
    snprintf(path, sizeof path, "%s/trials.csv", study);
    ASSERT_TRUE(rt_file_contains(path, "id,state,attempts,config"));
    snprintf(path, sizeof path, "%s/pareto.csv", study);
    ASSERT_TRUE(rt_file_contains(path, "id,metric,param_percent,config\n"));
    snprintf(path, sizeof path, "%s/best.json", study);
    ASSERT_TRUE(rt_file_contains(path, "\"hypervolume\""));
    snprintf(path, sizeof path, "%s/trials.jsonl", study);
    ASSERT_TRUE(rt_file_contains(path, "\"status\":\"ok\""));
}

TEST_TIMEOUT(killed_worker_trial_is_requeued, 60)
{
    char conf[1024], study[1024], log[1024], wlog[1024];
    long long victim;
    pid_t c, a, b;
    int st;

    rt_path(conf, sizeof conf, "study.conf");
    rt_path(study, sizeof study, "study");
    rt_path(log, sizeof log, "coordinator.log");
    synth_config(conf, 8, 300, NULL);
    c = RT_SPAWN("autopeft-coordinator", log, "--study", study, "--config", conf);
    rt_path(wlog, sizeof wlog, "a.log");
    a = start_worker(study, wlog);
    ASSERT_TRUE(rt_sql_wait(study, 1, 20,
                            "SELECT count(*) FROM trials WHERE state = 'dispatched'"));
    usleep(100000); /* mid-trial */
    victim = rt_sql_int(study, "SELECT id FROM trials WHERE state = 'dispatched'");
    ASSERT_GT(victim, 0);
    rt_kill9(a);
    rt_path(wlog, sizeof wlog, "b.log");
    b = start_worker(study, wlog);
    ASSERT_TRUE(rt_wait(c, 40, &st));
    ASSERT_EQ(st, 0);
    ASSERT_TRUE(rt_wait(b, 10, &st));
    check_complete(study, 8);
    /* The victim's first attempt was lost with its worker; another worker finished it. */
    ASSERT_EQ(rt_sql_int(study, "SELECT outcome = 'lost' FROM attempts WHERE trial_id = %lld "
                                "AND attempt = 1", victim), 1);
    ASSERT_EQ(rt_sql_int(study, "SELECT result_attempt FROM trials WHERE id = %lld", victim), 2);
    ASSERT_EQ(rt_sql_int(study, "SELECT (SELECT worker FROM attempts WHERE trial_id = %lld AND "
                                "attempt = 1) <> (SELECT worker FROM results WHERE trial_id = "
                                "%lld)", victim, victim), 1);
}

TEST_TIMEOUT(killed_coordinator_restarts_without_loss, 90)
{
    char conf[1024], study[1024], log[1024], log2[1024], wlog[1024];
    long long done_before, sum_before, running;
    char ids[4096];
    pid_t c, w[3];
    int st;

    rt_path(conf, sizeof conf, "study.conf");
    rt_path(study, sizeof study, "study");
    rt_path(log, sizeof log, "coordinator.log");
    rt_path(log2, sizeof log2, "coordinator2.log");
    synth_config(conf, 24, 400, NULL);
    c = RT_SPAWN("autopeft-coordinator", log, "--study", study, "--config", conf);
    for (int i = 0; i < 3; i++) {
        snprintf(wlog, sizeof wlog, "%s/worker%d.log", harness_tmpdir(), i);
        w[i] = start_worker(study, wlog);
    }
    ASSERT_TRUE(rt_sql_wait(study, 6, 30, "SELECT count(*) FROM trials WHERE state = 'done'"));
    ASSERT_TRUE(rt_sql_wait(study, 1, 10,
                            "SELECT count(*) FROM trials WHERE state = 'dispatched'"));
    rt_kill9(c);
    done_before = rt_sql_int(study, "SELECT count(*) FROM trials WHERE state = 'done'");
    sum_before = rt_sql_int(study, "SELECT sum(CAST(objective * 1e9 AS INTEGER)) FROM trials "
                                   "WHERE state = 'done'");
    running = rt_sql_int(study, "SELECT count(*) FROM trials WHERE state = 'dispatched'");
    ASSERT_GT(running, 0);
    ASSERT_TRUE(rt_sql_text(study, ids, sizeof ids, "SELECT group_concat(id) FROM trials WHERE "
                            "state = 'dispatched' AND attempt = 1"));
    /* Restarted without --config: the store's copy is used; a new port is published. */
    c = RT_SPAWN("autopeft-coordinator", log2, "--study", study);
    ASSERT_TRUE(rt_wait(c, 60, &st));
    ASSERT_EQ(st, 0);
    for (int i = 0; i < 3; i++)
        ASSERT_TRUE(rt_wait(w[i], 10, &st));
    check_complete(study, 24);
    /* What was done before is still there, unchanged. */
    ASSERT_EQ(rt_sql_int(study, "SELECT sum(CAST(objective * 1e9 AS INTEGER)) FROM trials "
                                "WHERE state = 'done' AND seq <= %lld", done_before),
              sum_before);
    ASSERT_EQ(rt_sql_int(study, "SELECT value FROM meta WHERE key = 'starts'"), 2);
    /* Workers running trials when the coordinator died re-attached: the new coordinator
     * counted those attempts instead of dispatching them again. */
    ASSERT_TRUE(rt_file_contains(log2, "re-attached"));
    if (ids[0])
        ASSERT_GE(rt_sql_int(study, "SELECT count(*) FROM trials WHERE id IN (%s) AND "
                                    "result_attempt = 1", ids), 1);
}

TEST_TIMEOUT(workers_started_before_the_coordinator, 60)
{
    char conf[1024], study[1024], log[1024], wlog[1024], ep[256], port_bind[256];
    pid_t c, a, b;
    int st, port = rt_free_port();

    rt_path(conf, sizeof conf, "study.conf");
    rt_path(study, sizeof study, "study");
    rt_path(log, sizeof log, "coordinator.log");
    synth_config(conf, 10, 200, NULL);
    /* One worker waits for the endpoint file, one dials a fixed port nobody listens on yet. */
    rt_path(wlog, sizeof wlog, "a.log");
    a = start_worker(study, wlog);
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", port);
    rt_path(wlog, sizeof wlog, "b.log");
    b = RT_SPAWN("autopeft-worker", wlog, "--connect", ep, "--cores", "1", "--backoff-max",
                 "500");
    usleep(1500000);
    ASSERT_FALSE(rt_wait(a, 0, NULL));
    ASSERT_FALSE(rt_wait(b, 0, NULL));
    snprintf(port_bind, sizeof port_bind, "tcp://127.0.0.1:%d", port);
    c = RT_SPAWN("autopeft-coordinator", log, "--study", study, "--config", conf, "--bind",
                 port_bind);
    ASSERT_TRUE(rt_wait(c, 40, &st));
    ASSERT_EQ(st, 0);
    ASSERT_TRUE(rt_wait(a, 10, &st));
    ASSERT_TRUE(rt_wait(b, 10, &st));
    check_complete(study, 10);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(DISTINCT worker) FROM results"), 2);
}

/* A worker whose HELLO is unanswered (the endpoint file names a port nobody serves) reads the
 * file again while it waits: a coordinator that has since published another port is dialled at
 * once, and a study that says it is finished ends the worker, both well inside the 10 s a
 * silent coordinator is otherwise given before a worker gives up on it. */
TEST_TIMEOUT(waiting_workers_follow_the_endpoint_file, 60)
{
    char conf[1024], study[1024], log[1024], wlog[1024], ep[1100], dead[256];
    pid_t c, w;
    int st;

    rt_path(conf, sizeof conf, "study.conf");
    rt_path(study, sizeof study, "study");
    rt_path(log, sizeof log, "coordinator.log");
    synth_config(conf, 6, 50, NULL);
    ASSERT_EQ(mkdir(study, 0700), 0);
    snprintf(ep, sizeof ep, "%s/endpoint", study);
    snprintf(dead, sizeof dead, "tcp://127.0.0.1:%d", rt_free_port());
    rt_write(ep, "%s\n", dead);
    rt_path(wlog, sizeof wlog, "w1.log");
    w = start_worker(study, wlog);
    usleep(1000000);
    ASSERT_FALSE(rt_wait(w, 0, NULL));
    c = RT_SPAWN("autopeft-coordinator", log, "--study", study, "--config", conf);
    if (!rt_sql_wait(study, 1, 8, "SELECT count(*) FROM results"))
        dump_logs();
    ASSERT_TRUE(rt_file_contains(wlog, "names another coordinator"));
    ASSERT_TRUE(rt_wait(c, 40, &st));
    ASSERT_EQ(st, 0);
    ASSERT_TRUE(rt_wait(w, 10, &st));
    check_complete(study, 6);

    rt_write(ep, "%s\n", dead);
    rt_path(wlog, sizeof wlog, "w2.log");
    w = start_worker(study, wlog);
    usleep(1000000);
    ASSERT_FALSE(rt_wait(w, 0, NULL));
    rt_write(ep, "finished\n");
    if (!rt_wait(w, 5, &st)) {
        dump_logs();
        FAIL("the worker did not see that the study is finished");
    }
    ASSERT_EQ(st, 0);
    ASSERT_TRUE(rt_file_contains(wlog, "the study is finished"));
}

TEST_TIMEOUT(sigterm_stops_and_resume_finishes, 60)
{
    char conf[1024], study[1024], log[1024], wlog[1024];
    pid_t c, w;
    int st;

    rt_path(conf, sizeof conf, "study.conf");
    rt_path(study, sizeof study, "study");
    rt_path(log, sizeof log, "coordinator.log");
    synth_config(conf, 12, 100, NULL);
    c = RT_SPAWN("autopeft-coordinator", log, "--study", study, "--config", conf,
                 "--shutdown-workers");
    rt_path(wlog, sizeof wlog, "w.log");
    w = start_worker(study, wlog);
    ASSERT_TRUE(rt_sql_wait(study, 3, 30, "SELECT count(*) FROM trials WHERE state = 'done'"));
    kill(c, SIGTERM);
    ASSERT_TRUE(rt_wait(c, 10, &st));
    ASSERT_EQ(st, 0);
    ASSERT_TRUE(rt_wait(w, 10, &st)); /* --shutdown-workers */
    ASSERT_EQ(st, 0);
    /* Consistent: nothing left dispatched, the running trial requeued. */
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials WHERE state = 'dispatched'"), 0);
    ASSERT_LT(rt_sql_int(study, "SELECT count(*) FROM trials WHERE state = 'done'"), 12);
    /* A different configuration file is refused on resume. */
    synth_config(conf, 13, 100, NULL);
    c = RT_SPAWN("autopeft-coordinator", log, "--study", study, "--config", conf);
    ASSERT_TRUE(rt_wait(c, 10, &st));
    ASSERT_EQ(st, 2);
    ASSERT_TRUE(rt_file_contains(log, "another configuration"));
    c = RT_SPAWN("autopeft-coordinator", log, "--study", study);
    w = start_worker(study, wlog);
    ASSERT_TRUE(rt_wait(c, 40, &st));
    ASSERT_EQ(st, 0);
    ASSERT_TRUE(rt_wait(w, 10, &st));
    check_complete(study, 12);
}

TEST_TIMEOUT(exec_workers_run_a_train_study, 60)
{
    char conf[1024], study[1024], log[1024], wlog[1024], script[1024], cmd[1200];
    pid_t c, w[2];
    int st;

    rt_path(conf, sizeof conf, "study.conf");
    rt_path(study, sizeof study, "study");
    rt_path(log, sizeof log, "coordinator.log");
    rt_path(script, sizeof script, "train.sh");
    /* The user's trainer: reads its configuration from the environment, fails on trial 3. */
    rt_write(script,
             "#!/bin/sh\ncat > /dev/null\n"
             "[ \"$AUTOPEFT_TRIAL_ID\" = 3 ] && { echo 'diverged' >&2; exit 1; }\n"
             "echo \"PROGRESS {\\\"epoch\\\": 1, \\\"epochs\\\": 1}\" >&2\n"
             "echo \"{\\\"objective\\\": 0.$AUTOPEFT_SA$AUTOPEFT_PT, \\\"params\\\": "
             "{\\\"trainable\\\": 10, \\\"deployed\\\": 10, \\\"modules_deployed\\\": 5, "
             "\\\"backbone\\\": 1000}}\"\n");
    rt_write(conf,
             "[study]\nname = exec\nbudget = 6\nn_init = 2\n"
             "[model]\nembedded = true\nshape = bert-tiny\n[task]\nembedded = true\n"
             "[search]\nsurrogate = random\n"
             "[network]\nbind = tcp://127.0.0.1:0\nheartbeat_interval_ms = 100\n");
    c = RT_SPAWN("autopeft-coordinator", log, "--study", study, "--config", conf);
    snprintf(cmd, sizeof cmd, "sh %s", script);
    for (int i = 0; i < 2; i++) {
        char ep[1100];
        snprintf(ep, sizeof ep, "%s/endpoint", study);
        snprintf(wlog, sizeof wlog, "%s/worker%d.log", harness_tmpdir(), i);
        w[i] = RT_SPAWN("autopeft-worker", wlog, "--endpoint-file", ep, "--exec", cmd,
                        "--backoff-max", "500");
    }
    ASSERT_TRUE(rt_wait(c, 40, &st));
    ASSERT_EQ(st, 0);
    for (int i = 0; i < 2; i++)
        ASSERT_TRUE(rt_wait(w[i], 10, &st));
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials WHERE state = 'done'"), 5);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials WHERE state = 'failed' AND id = 3 "
                                "AND error LIKE '%%diverged%%'"), 1);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM results WHERE percent = 0.5"), 5);
}

TEST_TIMEOUT(time_limits_failures_and_idle_timeout, 60)
{
    char conf[1024], study[1024], log[1024], wlog[1024];
    pid_t c, w;
    int st;

    /* Half the trials fail by design; trials of 3 s meet a 1 s limit: all end as failed or
     * done, none hangs. */
    rt_path(conf, sizeof conf, "study.conf");
    rt_path(study, sizeof study, "study");
    rt_path(log, sizeof log, "coordinator.log");
    rt_write(conf,
             "[study]\nname = limits\nmode = synthetic\nbudget = 6\nn_init = 2\nmax_attempts = 2\n"
             "trial_timeout_s = 0.4\n[synthetic]\nduration_ms = 3000\nfail_rate = 0.5\n"
             "[search]\nsurrogate = random\n[network]\nbind = tcp://127.0.0.1:0\n"
             "heartbeat_interval_ms = 100\n");
    c = RT_SPAWN("autopeft-coordinator", log, "--study", study, "--config", conf);
    rt_path(wlog, sizeof wlog, "w.log");
    w = start_worker(study, wlog);
    ASSERT_TRUE(rt_wait(c, 40, &st));
    ASSERT_EQ(st, 0);
    ASSERT_TRUE(rt_wait(w, 10, &st));
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials WHERE state = 'failed'"), 6);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials WHERE error LIKE "
                                "'%%time limit of 0.4 s exceeded%%'"), 6);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM attempts WHERE outcome = 'cancelled'"), 6);

    /* Fast failures are counted, never retried (not retryable), and the study completes. */
    rt_path(study, sizeof study, "study2");
    rt_write(conf,
             "[study]\nname = fails\nmode = synthetic\nbudget = 20\nn_init = 2\n"
             "[synthetic]\nduration_ms = 10\nfail_rate = 0.5\n"
             "[search]\nsurrogate = random\n[network]\nbind = tcp://127.0.0.1:0\n"
             "heartbeat_interval_ms = 100\n");
    c = RT_SPAWN("autopeft-coordinator", log, "--study", study, "--config", conf);
    w = start_worker(study, wlog);
    ASSERT_TRUE(rt_wait(c, 40, &st));
    ASSERT_EQ(st, 0);
    ASSERT_TRUE(rt_wait(w, 10, &st));
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials WHERE state IN ('done', "
                                "'failed')"), 20);
    ASSERT_GE(rt_sql_int(study, "SELECT count(*) FROM trials WHERE state = 'failed' AND error "
                                "LIKE '%%forced%%'"), 3);
    ASSERT_GE(rt_sql_int(study, "SELECT count(*) FROM trials WHERE state = 'done'"), 3);
    ASSERT_EQ(rt_sql_int(study, "SELECT max(attempt) FROM trials"), 1);

    /* A worker with nothing to do leaves after its idle timeout. */
    w = RT_SPAWN("autopeft-worker", wlog, "--connect", "tcp://127.0.0.1:9", "--idle-timeout",
                 "0.5");
    ASSERT_TRUE(rt_wait(w, 10, &st));
    ASSERT_EQ(st, 0);
    ASSERT_TRUE(rt_file_contains(wlog, "idle for 0.5 s: exiting"));
}

/* Runs a daemon with ARGS (NULL-terminated) to its exit; its exit status, and its stdout and
 * stderr together in text (valid until the next call). */
static int daemon_run(const char *program, const char *const *args, const char **text)
{
    static char *last;
    char log[1024];
    int st = -1;
    pid_t pid;

    rt_path(log, sizeof log, "daemon.log");
    unlink(log);
    pid = rt_spawn(program, log, args);
    if (!rt_wait(pid, 10, &st))
        FAIL("%s %s did not exit", program, args[0]);
    free(last);
    last = harness_slurp(log, NULL);
    *text = last;
    return st;
}

/* The daemons' command lines: help and version say only that, and every bad option or missing
 * one is named with a pointer to --help and exit status 2, before any work starts. */
TEST_TIMEOUT(daemon_command_lines, 60)
{
    static const char *const progs[] = {"autopeft-coordinator", "autopeft-worker"};
    const char *text;

    for (int i = 0; i < 2; i++) {
        const char *p = progs[i];
        char try_help[64];

        snprintf(try_help, sizeof try_help, "Try '%s --help'.", p);
        ASSERT_EQ(daemon_run(p, (const char *const[]){"--help", NULL}, &text), 0);
        ASSERT_CONTAINS(text, "Usage:");
        ASSERT_TRUE(strstr(text, "INFO") == NULL);
        ASSERT_EQ(daemon_run(p, (const char *const[]){"--version", NULL}, &text), 0);
        ASSERT_CONTAINS(text, "protocol");
        ASSERT_TRUE(strstr(text, "INFO") == NULL);
        ASSERT_EQ(daemon_run(p, (const char *const[]){"--bogus", NULL}, &text), 2);
        ASSERT_CONTAINS(text, "--bogus");
        ASSERT_CONTAINS(text, try_help);
        ASSERT_EQ(daemon_run(p, (const char *const[]){"--log-level", "loud", NULL}, &text), 2);
        ASSERT_CONTAINS(text, "unknown log level 'loud'");
        ASSERT_CONTAINS(text, try_help);
        ASSERT_EQ(daemon_run(p, (const char *const[]){"--log-format", "xml", NULL}, &text), 2);
        ASSERT_CONTAINS(text, "'xml'");
        ASSERT_EQ(daemon_run(p, (const char *const[]){"stray", NULL}, &text), 2);
        ASSERT_CONTAINS(text, "unexpected argument");
    }
    ASSERT_EQ(daemon_run("autopeft-coordinator", (const char *const[]){"--log-level", "warn",
                                                                       NULL}, &text), 2);
    ASSERT_CONTAINS(text, "--study DIR is required");
    ASSERT_EQ(daemon_run("autopeft-worker", (const char *const[]){"--cores", "1", NULL}, &text), 2);
    ASSERT_CONTAINS(text, "give exactly one of --connect ENDPOINT and --endpoint-file FILE");
    ASSERT_EQ(daemon_run("autopeft-worker", (const char *const[]){"--connect", "tcp://x:1",
                                                                  "--cores", "0", NULL}, &text), 2);
    ASSERT_CONTAINS(text, "--cores");
}
