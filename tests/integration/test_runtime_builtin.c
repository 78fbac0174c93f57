/* The built-in trainer through the worker daemon: a coordinator and three autopeft-worker
 * processes fine-tune a tiny random model written by `autopeft init-model` on a tiny task, for
 * real, and complete a study. Trials last longer than the workers' heartbeat liveness (3 x 50
 * ms; the first on each worker by several times), so a worker that stopped heartbeating while
 * training would lose its trial (and the test would see a requeued attempt). */
#include <signal.h>
#include <unistd.h>

#include "common/shape.h"
#include "tests/harness.h"
#include "tests/integration/runtime_util.h"
#include "tests/tiny_task.h"

static void dump_logs(void)
{
    char cmd[1200];

    snprintf(cmd, sizeof cmd, "for f in %s/*.log; do echo \"== $f\"; tail -n 30 \"$f\"; done",
             harness_tmpdir());
    fflush(stdout);
    if (system(cmd) != 0)
        printf("(no logs)\n");
}

TEST_TIMEOUT(three_workers_train_a_study_for_real, 120)
{
    char conf[1024], study[1024], log[1024], wlog[1024], ep[1100], model[1024], data[1024];
    char vocab[1100], text[256];
    pid_t c, w[3];
    int st, budget = 6, cached = 0;
    shape_t shape;

    rt_path(model, sizeof model, "model");
    rt_path(data, sizeof data, "data");
    tiny_write_vocab(data);
    tiny_write_task(data, 3000, 100, 11, false);
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", data);
    rt_path(log, sizeof log, "init-model.log");
    c = RT_SPAWN("autopeft", log, "init-model", "--hidden", "32", "--layers", "2", "--heads",
                 "4", "--positions", "32", "--init-range", "0.1", "--vocab-file", vocab,
                 "--out", model);
    ASSERT_TRUE(rt_wait(c, 30, &st));
    ASSERT_EQ(st, 0);

    rt_path(conf, sizeof conf, "study.conf");
    rt_path(study, sizeof study, "study");
    rt_write(conf,
             "[study]\nname = builtin\nmode = train\nbudget = %d\nn_init = %d\nmax_attempts = 2\n"
             "[model]\npath = %s\n"
             "[task]\nname = sst2\ndata_dir = %s\n"
             "[recipe]\nepochs = 3\nbatch_size = 16\nmax_length = 32\nlearning_rate = 3e-3\n"
             "dropout = 0\nmax_eval_examples = 60\nthreads = 1\n"
             "[search]\nsurrogate = random\n"
             "[network]\nbind = tcp://127.0.0.1:0\nheartbeat_interval_ms = 50\n"
             "heartbeat_liveness = 3\nrestart_grace_s = 5\n",
             budget, budget, model, data);
    rt_path(log, sizeof log, "coordinator.log");
    c = RT_SPAWN("autopeft-coordinator", log, "--study", study, "--config", conf);
    snprintf(ep, sizeof ep, "%s/endpoint", study);
    ASSERT_TRUE(rt_wait_file(ep, 20));
    for (int i = 0; i < 3; i++) {
        snprintf(wlog, sizeof wlog, "%s/worker%d.log", harness_tmpdir(), i);
        w[i] = RT_SPAWN("autopeft-worker", wlog, "--endpoint-file", ep, "--cores", "1",
                        "--backoff-max", "500");
    }
    if (!rt_wait(c, 100, &st)) {
        dump_logs();
        FAIL("the study did not finish");
    }
    ASSERT_EQ(st, 0);
    for (int i = 0; i < 3; i++) {
        ASSERT_TRUE(rt_wait(w[i], 10, &st));
        ASSERT_EQ(st, 0);
    }
    if (rt_sql_int(study, "SELECT count(*) FROM results WHERE status = 'ok'") != budget)
        dump_logs();
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials WHERE state = 'done'"), budget);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM results WHERE status = 'ok'"), budget);
    /* Trained for real: the task's metric, exact counts, three epochs. */
    shape_default(&shape, 32, 2);
    shape.heads = 4;
    shape.vocab = 25;
    shape.positions = 32;
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM results WHERE objective_name = "
                                "'accuracy' AND epochs_run = 3 AND objective BETWEEN 0 AND 1 "
                                "AND backbone = %llu AND trainable > 0",
                         (unsigned long long)shape_backbone_params(&shape)),
              budget);
    /* No attempt was lost: the workers kept heartbeating while they trained. */
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM attempts"), budget);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(DISTINCT worker) FROM results"), 3);
    ASSERT_TRUE(rt_sql_text(study, text, sizeof text,
                            "SELECT printf('trials took %%.2f to %%.2f s', min(total_s), "
                            "max(total_s)) FROM results"));
    printf("%s\n", text);
    /* ... which proves something only if trials outlast the liveness (3 x 50 ms): the
     * longest by twice that at least (a cached second trial of a small configuration can be
     * shorter than it) */
    ASSERT_TRUE(rt_sql_text(study, text, sizeof text,
                            "SELECT max(total_s) > 0.3 FROM results"));
    ASSERT_STR_EQ(text, "1");
    /* Six trials on three workers: some worker ran two, and its second found the model and
     * the tokenised data in its cache. */
    for (int i = 0; i < 3; i++) {
        snprintf(wlog, sizeof wlog, "%s/worker%d.log", harness_tmpdir(), i);
        cached += rt_file_contains(wlog, "s (cached), data ");
    }
    ASSERT_TRUE(cached >= 1);
}
