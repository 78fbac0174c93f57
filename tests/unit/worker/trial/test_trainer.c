/* The worker's trainers (worker/trainer*.c): the synthetic objective's shape, and the exec
 * trainer running real shell commands: success with progress, failure with its text, a
 * cancelled command whose whole process group is killed, a result the trainer cannot use. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "tests/harness.h"
#include "tests/unit/common/wire_fixtures.h"
#include "worker/trial/trainer.h"

/* ---- synthetic ---------------------------------------------------------------------------- */

static double objective(uint32_t sa, uint32_t pa, uint32_t pt, const char *mask)
{
    Autopeft__PeftConfig p = AUTOPEFT__PEFT_CONFIG__INIT;

    p.serial_adapter = sa;
    p.parallel_adapter = pa;
    p.prefix_length = pt;
    p.serial_layers = sa ? (char *)mask : NULL;
    p.parallel_layers = pa ? (char *)mask : NULL;
    p.prefix_layers = pt ? (char *)mask : NULL;
    return trainer_synthetic_objective(&p, 768, 12, 1, 0);
}

TEST(synthetic_objective_has_diminishing_returns_and_layer_value)
{
    const char *all = "111111111111", *low = "111100000000", *high = "000000001111";
    double prev = objective(0, 0, 0, all), gain_prev = 1e9;
    Autopeft__PeftConfig p = AUTOPEFT__PEFT_CONFIG__INIT;

    ASSERT_NEAR(prev, 0.5, 1e-12); /* nothing trained: the floor */
    /* Bigger adapters help, each doubling less than the one before. */
    for (uint32_t size = 3; size <= 192; size *= 2) {
        double f = objective(size, 0, 0, all);
        ASSERT_TRUE(f > prev);
        ASSERT_TRUE(f - prev < gain_prev + 1e-12);
        gain_prev = f - prev;
        prev = f;
    }
    /* Upper layers are worth more than lower ones; more layers more than fewer. */
    ASSERT_TRUE(objective(48, 0, 0, high) > objective(48, 0, 0, low));
    ASSERT_TRUE(objective(48, 0, 0, all) > objective(48, 0, 0, high));
    /* Modules complement each other, and everything at full size is penalised. */
    ASSERT_TRUE(objective(48, 48, 12, all) > objective(48, 0, 0, all));
    ASSERT_TRUE(objective(768, 768, 768, all) < objective(384, 384, 192, all));
    ASSERT_TRUE(objective(768, 768, 768, all) < 0.95);
    /* Noise is a function of (seed, configuration): same inputs, same value. */
    p.serial_adapter = 48;
    p.serial_layers = (char *)all;
    ASSERT_NEAR(trainer_synthetic_objective(&p, 768, 12, 5, 0.01),
                trainer_synthetic_objective(&p, 768, 12, 5, 0.01), 0);
    ASSERT_TRUE(trainer_synthetic_objective(&p, 768, 12, 5, 0.01) !=
                trainer_synthetic_objective(&p, 768, 12, 6, 0.01));
    /* A mask that does not fit the model is no objective. */
    ASSERT_TRUE(isnan(trainer_synthetic_objective(&p, 768, 24, 5, 0)));
}

/* ---- exec --------------------------------------------------------------------------------- */

typedef struct {
    int calls;
    char last[256];
    uint32_t epoch;
} prog_t;

static void on_progress(void *ctx, const trainer_progress_t *p)
{
    prog_t *g = ctx;

    g->calls++;
    if (p->message)
        snprintf(g->last, sizeof g->last, "%s", p->message);
    if (p->epoch)
        g->epoch = p->epoch;
}

typedef struct {
    trainer_t *t;
    const Autopeft__Trial *trial;
    trainer_env_t env;
    trainer_result_t *out;
    int rc;
} job_t;

static void *run_job(void *arg)
{
    job_t *j = arg;

    j->rc = j->t->ops->run(j->t, j->trial, &j->env, j->out);
    return NULL;
}

static trainer_result_t *run_exec(const char *cmd, int cancel_after_ms, prog_t *g, int *rc,
                                  double *seconds)
{
    static wire_fixture_t f;
    atomic_bool cancel = false;
    trainer_result_t *out = calloc(1, sizeof *out);
    struct timespec t0, t1;
    pthread_t th;
    job_t j;

    wire_fixture_init(&f);
    memset(g, 0, sizeof *g);
    j.t = trainer_exec_new(cmd, 300);
    ASSERT_NOT_NULL(j.t);
    j.trial = &f.trial;
    j.env.progress = on_progress;
    j.env.ctx = g;
    j.env.cancel = &cancel;
    j.env.threads = 2;
    j.env.worker_id = "test/1/x";
    j.out = out;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ASSERT_EQ(pthread_create(&th, NULL, run_job, &j), 0);
    if (cancel_after_ms > 0) {
        usleep((useconds_t)cancel_after_ms * 1000);
        atomic_store(&cancel, true);
    }
    pthread_join(th, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *seconds = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    *rc = j.rc;
    trainer_free(&j.t);
    return out;
}

TEST(exec_success_reads_stdin_env_and_reports_progress)
{
    char script[1024], cmd[1200];
    trainer_result_t *r;
    prog_t g;
    double s;
    int rc;

    snprintf(script, sizeof script, "%s/train.sh", harness_tmpdir());
    FILE *f = fopen(script, "w");
    ASSERT_NOT_NULL(f);
    /* It checks what it was given (the JSON on stdin, the environment), then reports. */
    fputs("#!/bin/sh\n"
          "spec=$(cat)\n"
          "case \"$spec\" in *'\"trial_id\":41'*) ;; *) echo \"bad stdin: $spec\" >&2; exit 9;; esac\n"
          "[ \"$AUTOPEFT_SA\" = 48 ] || { echo \"bad env SA=$AUTOPEFT_SA\" >&2; exit 8; }\n"
          "[ \"$AUTOPEFT_THREADS\" = 2 ] && [ \"$OMP_NUM_THREADS\" = 2 ] || exit 7\n"
          "echo 'PROGRESS {\"epoch\": 2, \"epochs\": 3, \"loss\": 0.5}' >&2\n"
          "echo 'loading the model' >&2\n"
          "echo 'some log line on stdout'\n"
          "echo '{\"objective\": 0.875, \"objective_name\": \"accuracy\", \"metrics\": "
          "{\"accuracy\": 0.875, \"f1\": 0.8}, \"best_epoch\": 2, \"epochs_run\": 3, \"params\": "
          "{\"trainable\": 1000, \"deployed\": 900, \"modules_deployed\": 800, \"backbone\": 100000}}'\n",
          f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "sh %s", script);
    r = run_exec(cmd, 0, &g, &rc, &s);
    ASSERT_OK(rc);
    if (r->status != AUTOPEFT__RESULT_STATUS__RESULT_STATUS_OK)
        FAIL("status %d: %s", r->status, r->error);
    ASSERT_NEAR(r->objective, 0.875, 0);
    ASSERT_STR_EQ(r->objective_name, "accuracy");
    ASSERT_EQ(r->nmetrics, 2);
    ASSERT_EQ(r->best_epoch, 2);
    ASSERT_TRUE(r->has_params);
    ASSERT_EQ_U(r->backbone, 100000);
    ASSERT_NEAR(r->percent, 0.8, 1e-12); /* 100 * 800 / 100000 */
    ASSERT_GE(g.calls, 2);
    ASSERT_EQ(g.epoch, 2);
    ASSERT_STR_EQ(g.last, "loading the model");
    free(r);
}

TEST(exec_failure_reports_exit_status_and_stderr)
{
    trainer_result_t *r;
    prog_t g;
    double s;
    int rc;

    r = run_exec("echo 'CUDA out of memory' >&2; exit 3", 0, &g, &rc, &s);
    ASSERT_OK(rc);
    ASSERT_EQ(r->status, AUTOPEFT__RESULT_STATUS__RESULT_STATUS_FAILED);
    ASSERT_CONTAINS(r->error, "exited with status 3");
    ASSERT_CONTAINS(r->error, "CUDA out of memory");
    ASSERT_FALSE(r->retryable);
    free(r);
    r = run_exec("exit 75", 0, &g, &rc, &s); /* EX_TEMPFAIL: worth another attempt */
    ASSERT_TRUE(r->retryable);
    free(r);
    r = run_exec("kill -KILL $$", 0, &g, &rc, &s);
    ASSERT_CONTAINS(r->error, "killed by signal 9");
    ASSERT_TRUE(r->retryable);
    free(r);
    r = run_exec("echo not json", 0, &g, &rc, &s);
    ASSERT_EQ(r->status, AUTOPEFT__RESULT_STATUS__RESULT_STATUS_FAILED);
    ASSERT_CONTAINS(r->error, "no JSON result line");
    free(r);
    /* No params and a model folder without config.json: said so. */
    r = run_exec("echo '{\"objective\": 0.5}'", 0, &g, &rc, &s);
    ASSERT_EQ(r->status, AUTOPEFT__RESULT_STATUS__RESULT_STATUS_FAILED);
    ASSERT_CONTAINS(r->error, "no \"params\"");
    free(r);
    r = run_exec("echo '{\"status\": \"failed\", \"error\": \"diverged\", \"retryable\": true}'",
                 0, &g, &rc, &s);
    ASSERT_EQ(r->status, AUTOPEFT__RESULT_STATUS__RESULT_STATUS_FAILED);
    ASSERT_STR_EQ(r->error, "diverged");
    ASSERT_TRUE(r->retryable);
    free(r);
}

static bool alive(pid_t pid)
{
    char path[64], buf[512], *p;
    FILE *f;
    size_t n;

    if (kill(pid, 0) != 0)
        return false;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return false;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    return !(p && p[1] == ' ' && p[2] == 'Z');
}

TEST(exec_cancel_kills_the_process_group)
{
    char pidfile[1024], cmd[1400], line[64];
    trainer_result_t *r;
    prog_t g;
    double s;
    int rc;
    pid_t child;
    FILE *f;

    snprintf(pidfile, sizeof pidfile, "%s/child.pid", harness_tmpdir());
    /* A grandchild that ignores SIGTERM: only the group's SIGKILL ends it. */
    snprintf(cmd, sizeof cmd, "sh -c 'trap \"\" TERM; sleep 30' & echo $! > %s; wait", pidfile);
    r = run_exec(cmd, 300, &g, &rc, &s);
    ASSERT_OK(rc);
    ASSERT_EQ(r->status, AUTOPEFT__RESULT_STATUS__RESULT_STATUS_CANCELLED);
    ASSERT_TRUE(s < 5); /* SIGTERM, then SIGKILL after the 300 ms grace */
    f = fopen(pidfile, "r");
    ASSERT_NOT_NULL(f);
    ASSERT_TRUE(fgets(line, sizeof line, f) != NULL);
    fclose(f);
    child = (pid_t)atoi(line);
    ASSERT_GT(child, 1);
    /* Gone, or a zombie waiting for init to reap it (it was orphaned when its shell died). */
    for (int i = 0; i < 100 && alive(child); i++)
        usleep(20000);
    ASSERT_FALSE(alive(child));
    free(r);
}

TEST_TIMEOUT(exec_example_script_runs, 120)
{
    char script[1024], cmd[1200];
    trainer_result_t *r;
    prog_t g;
    double s;
    int rc;

    if (access("/usr/bin/python3", X_OK) != 0)
        HARNESS_SKIP("/usr/bin/python3 is not installed (deploy/examples/exec_train.py needs it)");
    harness_src_path("deploy/examples/exec_train.py", script, sizeof script);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s", script);
    r = run_exec(cmd, 0, &g, &rc, &s);
    ASSERT_OK(rc);
    if (r->status != AUTOPEFT__RESULT_STATUS__RESULT_STATUS_OK)
        FAIL("status %d: %s", r->status, r->error);
    ASSERT_TRUE(r->objective > 0 && r->objective <= 1);
    ASSERT_TRUE(r->has_params);
    ASSERT_GT(r->backbone, 0);
    free(r);
}
