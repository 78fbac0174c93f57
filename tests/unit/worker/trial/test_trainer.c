/* The worker's trainers (worker/trial/trainer*.c): the synthetic objective's shape, and the
 * exec trainer running real shell commands on a wire TRIAL translated by the daemon's edge:
 * exactly the JSON and environment it always gave the command, success with progress, failure
 * with its text, a cancelled command whose whole process group is killed, a result the trainer
 * cannot use. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "tests/harness.h"
#include "tests/unit/common/wire_fixtures.h"
#include "worker/daemon/edge.h"
#include "worker/trial/trainer.h"

/* ---- synthetic ---------------------------------------------------------------------------- */

static const trainer_synthetic_t bert_base = {.hidden = 768, .layers = 12};

/* The configuration of sizes sa, pa and pt in the layers of mask (12 '0'/'1'). */
static space_config_t config(uint32_t sa, uint32_t pa, uint32_t pt, const char *mask)
{
    const uint32_t sizes[SPACE_NMODULES] = {sa, pa, pt, 0};
    space_config_t c;

    memset(&c, 0, sizeof c);
    c.layers = (int)strlen(mask);
    for (int m = 0; m < SPACE_NMODULES; m++) {
        c.size[m] = sizes[m];
        for (int l = 0; sizes[m] && l < c.layers; l++)
            space_config_set_layer(&c, (space_module_t)m, l, mask[l] == '1');
    }
    space_config_canonicalise(&c);
    return c;
}

static double objective(uint32_t sa, uint32_t pa, uint32_t pt, const char *mask)
{
    space_config_t c = config(sa, pa, pt, mask);

    return trainer_synthetic_objective(&c, &bert_base, 1);
}

TEST(synthetic_objective_has_diminishing_returns_and_layer_value)
{
    const char *all = "111111111111", *low = "111100000000", *high = "000000001111";
    double prev = objective(0, 0, 0, all), gain_prev = 1e9;
    space_config_t c = config(48, 0, 0, all);
    trainer_synthetic_t noisy = {.hidden = 768, .layers = 12, .noise = 0.01};
    trainer_synthetic_t deeper = {.hidden = 768, .layers = 24};

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
    ASSERT_NEAR(trainer_synthetic_objective(&c, &noisy, 5),
                trainer_synthetic_objective(&c, &noisy, 5), 0);
    ASSERT_TRUE(trainer_synthetic_objective(&c, &noisy, 5) !=
                trainer_synthetic_objective(&c, &noisy, 6));
    /* A mask that does not fit the model is no objective. */
    ASSERT_TRUE(isnan(trainer_synthetic_objective(&c, &deeper, 5)));
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
    trainer_trial_t trial;
    trainer_env_t env;
    trainer_result_t *out;
    int rc;
} job_t;

static void *run_job(void *arg)
{
    job_t *j = arg;

    j->rc = j->t->ops->run(j->t, &j->trial, &j->env, j->out);
    return NULL;
}

/* Where the fixture's save_dir (FIXTURE_SAVE_DIR) goes in the tests: the exec trainer makes the
 * folder, so it must be one of the test's own. */
#define FIXTURE_SAVE_DIR "/scratch/runs/sst2/trials/41"

static const char *test_save_dir(void)
{
    static char dir[1100];

    snprintf(dir, sizeof dir, "%s/runs/sst2/trials/41", harness_tmpdir());
    return dir;
}

/* The fixture's TRIAL with the given precision, run by the exec trainer with cmd. */
static trainer_result_t *run_exec_in(const char *cmd, Autopeft__Precision precision,
                                     int cancel_after_ms, prog_t *g, int *rc, double *seconds)
{
    static wire_fixture_t f;
    atomic_bool cancel = false;
    trainer_result_t *out = calloc(1, sizeof *out);
    double t0;
    pthread_t th;
    job_t j = {0};

    wire_fixture_init(&f);
    memset(g, 0, sizeof *g);
    j.t = trainer_exec_new(cmd, 300);
    ASSERT_NOT_NULL(j.t);
    f.recipe.precision = precision;
    ASSERT_OK(edge_trial(&f.trial, &j.trial));
    ASSERT_STR_EQ(j.trial.spec.save_dir, FIXTURE_SAVE_DIR);
    j.trial.spec.save_dir = test_save_dir();
    j.env.progress = on_progress;
    j.env.ctx = g;
    j.env.cancel = &cancel;
    j.env.threads = 2;
    j.env.worker_id = "test/1/x";
    j.out = out;
    t0 = clock_s();
    ASSERT_EQ(pthread_create(&th, NULL, run_job, &j), 0);
    if (cancel_after_ms > 0) {
        usleep((useconds_t)cancel_after_ms * 1000);
        atomic_store(&cancel, true);
    }
    pthread_join(th, NULL);
    *seconds = clock_s() - t0;
    *rc = j.rc;
    trainer_free(&j.t);
    return out;
}

static trainer_result_t *run_exec(const char *cmd, int cancel_after_ms, prog_t *g, int *rc,
                                  double *seconds)
{
    return run_exec_in(cmd, AUTOPEFT__PRECISION__PRECISION_FP32, cancel_after_ms, g, rc,
                       seconds);
}

/* text with the test's save_dir put back to the fixture's (in place: it is shorter). */
static void fixture_save_dir(char *text)
{
    const char *mine = test_save_dir();
    size_t n = strlen(mine), k = strlen(FIXTURE_SAVE_DIR);
    char *p;

    while ((p = strstr(text, mine)) != NULL) {
        memcpy(p, FIXTURE_SAVE_DIR, k);
        memmove(p + k, p + n, strlen(p + n) + 1);
    }
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
    if (r->status != TRAINER_STATUS_OK)
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

/* What the command is given for a TRIAL with every field set, to the byte: the JSON on stdin
 * and the AUTOPEFT_* (and thread count) variables, as the exec trainer wrote them when it read
 * the protobuf TRIAL itself (captured at commit 49282a8). */
TEST(exec_gives_the_command_the_trial_exactly)
{
    static const char want_json[] =
    "{\"trial_id\":41,\"attempt\":3,\"study\":\"sst2-bert-base\",\"seed\":6840123412781580015"
    ",\"data_seed\":24301,\"threads\":2,\"worker_id\":\"test/1/x\",\"save_dir\":"
    "\"/scratch/runs/sst2/trials/41\","
    "\"model\":{\"path\":\"/scratch/models/bert-base-uncased\"},\"task\":{\"name\":\"sst2\",\""
    "data_dir\":\"/scratch/glue/SST-2\",\"train_file\":\"/scratch/glue/SST-2/train.tsv\",\"de"
    "v_file\":\"/scratch/glue/SST-2/dev.tsv\",\"format\":\"glue\",\"text_column\":\"sentence\""
    ",\"pair_column\":\"sentence2\",\"label_column\":\"label\",\"metric\":\"accuracy\",\"num_"
    "labels\":2},\"recipe\":{\"epochs\":3,\"learning_rate\":9.9999997473787516e-5,\"batch_siz"
    "e\":32,\"max_length\":128,\"warmup_ratio\":0.059999998658895493,\"weight_decay\":0.00999"
    "99997764825821,\"max_grad_norm\":1.0,\"dropout\":0.10000000149011612,\"max_train_example"
    "s\":10000,\"max_eval_examples\":872,\"patience\":2,\"lora_alpha\":16.0,\"prefix_bottlene"
    "ck\":800,\"eval_batch_size\":128,\"full_finetune\":false,\"precision\":\"fp32\"},\"peft\":{\"serial_adapter\":4"
    "8,\"parallel_adapter\":96,\"prefix_length\":12,\"lora_rank\":8,\"houlsby_adapter\":24,"
    "\"serial_layers\":\"11101"
    "1110111\",\"parallel_layers\":\"111011110111\",\"prefix_layers\":\"111011110111\",\"lora"
    "_layers\":\"000011111111\",\"houlsby_layers\":\"000000000011\",\"text\":\"sa=48 pa=96 pt=12 lora=8 layers=111011110111 lora_"
    "layers=000011111111\"}}";
    static const char want_env[] =
    "AUTOPEFT_ATTEMPT=3\nAUTOPEFT_BATCH_SIZE=32\nAUTOPEFT_CONFIG=sa=48 pa=96 pt=12 lora=8 lay"
    "ers=111011110111 lora_layers=000011111111\nAUTOPEFT_DATA_DIR=/scratch/glue/SST-2\n"
    "AUTOPEFT_DATA_SEED=24301\nAUTOPEFT_DEV_FILE=/scratch/glue/SST-2/dev.tsv\nAUTOPEFT_EPOCHS=3\nAUTOPEFT_HA=24\nAUTOPEFT_HA_LAYERS=000000000011\n"
    "AUTOPEFT_LEARNING_RATE=0.000"
    "1\nAUTOPEFT_LORA=8\nAUTOPEFT_LORA_LAYERS=000011111111\nAUTOPEFT_MAX_LENGTH=128\nAUTOPEFT"
    "_MODEL_PATH=/scratch/models/bert-base-uncased\nAUTOPEFT_PA=96\nAUTOPEFT_PA_LAYERS=111011"
    "110111\nAUTOPEFT_PRECISION=fp32\nAUTOPEFT_PT=12\nAUTOPEFT_PT_LAYERS=111011110111\nAUTOPEFT_SA=48\nAUTOPEFT_SAVE_D"
    "IR=/scratch/runs/sst2/trials/41\nAUTOPEFT_SA_LAYERS=111011110111\nAUTOPEFT_SEED=68401234"
    "12781580015\nAUTOPEFT_STUDY=sst2-bert-base\nAUTOPEFT_TASK=sst2\nAUTOPEFT_THREADS=2\nAUTO"
    "PEFT_TRAIN_FILE=/scratch/glue/SST-2/train.tsv\nAUTOPEFT_TRIAL_ID=41\nAUTOPEFT_WORKER_ID="
    "test/1/x\nMKL_NUM_THREADS=2\nOMP_NUM_THREADS=2\nOPENBLAS_NUM_THREADS=2\n";
    char cmd[4000], json_path[1100], env_path[1100];
    trainer_result_t *r;
    char *json, *env;
    prog_t g;
    double s;
    int rc;

    snprintf(json_path, sizeof json_path, "%s/stdin.json", harness_tmpdir());
    snprintf(env_path, sizeof env_path, "%s/env.txt", harness_tmpdir());
    snprintf(cmd, sizeof cmd,
             "cat > %s; env | grep -E '^(AUTOPEFT_|OMP_NUM_THREADS=|OPENBLAS_NUM_THREADS=|"
             "MKL_NUM_THREADS=)' | grep -v '^AUTOPEFT_BIN=' | LC_ALL=C sort > %s; "
             "echo \"$AUTOPEFT_BIN\" > %s.bin; echo '{\"objective\": 0.5}'",
             json_path, env_path, env_path);
    r = run_exec(cmd, 0, &g, &rc, &s);
    ASSERT_OK(rc);
    json = harness_slurp(json_path, NULL);
    env = harness_slurp(env_path, NULL);
    /* The folder for the weights was made before the command started. */
    {
        struct stat st;
        ASSERT_TRUE(stat(test_save_dir(), &st) == 0 && S_ISDIR(st.st_mode));
    }
    fixture_save_dir(json);
    fixture_save_dir(env);
    ASSERT_STR_EQ(json, want_json);
    ASSERT_STR_EQ(env, want_env);
    free(json);
    free(env);
    /* The autopeft program beside this one, or the one on PATH (the tests' binary has none
     * beside it). */
    snprintf(env_path + strlen(env_path), sizeof env_path - strlen(env_path), ".bin");
    env = harness_slurp(env_path, NULL);
    ASSERT_TRUE(strcmp(env, "autopeft\n") == 0 ||
                (strlen(env) > 10 && strcmp(env + strlen(env) - 10, "/autopeft\n") == 0));
    free(env);
    free(r);
}

/* [recipe] precision reaches the command as the wire's TRIAL names it, in the JSON and in
 * AUTOPEFT_PRECISION. */
TEST(exec_gives_the_command_the_precision)
{
    static const struct {
        Autopeft__Precision wire;
        const char *json, *env;
    } cases[] = {
        {AUTOPEFT__PRECISION__PRECISION_BF16, "\"precision\":\"bf16\"", "AUTOPEFT_PRECISION=bf16\n"},
        {AUTOPEFT__PRECISION__PRECISION_FP16, "\"precision\":\"fp16\"", "AUTOPEFT_PRECISION=fp16\n"},
    };
    char cmd[4000], json_path[1100], env_path[1100];

    snprintf(json_path, sizeof json_path, "%s/stdin.json", harness_tmpdir());
    snprintf(env_path, sizeof env_path, "%s/env.txt", harness_tmpdir());
    snprintf(cmd, sizeof cmd, "cat > %s; env | grep '^AUTOPEFT_PRECISION=' > %s; "
             "echo '{\"objective\": 0.5}'", json_path, env_path);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        trainer_result_t *r;
        char *json, *env;
        prog_t g;
        double s;
        int rc;

        r = run_exec_in(cmd, cases[i].wire, 0, &g, &rc, &s);
        ASSERT_OK(rc);
        json = harness_slurp(json_path, NULL);
        env = harness_slurp(env_path, NULL);
        ASSERT_CONTAINS(json, cases[i].json);
        ASSERT_STR_EQ(env, cases[i].env);
        free(json);
        free(env);
        free(r);
    }
}

TEST(exec_failure_reports_exit_status_and_stderr)
{
    trainer_result_t *r;
    prog_t g;
    double s;
    int rc;

    r = run_exec("echo 'CUDA out of memory' >&2; exit 3", 0, &g, &rc, &s);
    ASSERT_OK(rc);
    ASSERT_EQ(r->status, TRAINER_STATUS_FAILED);
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
    ASSERT_EQ(r->status, TRAINER_STATUS_FAILED);
    ASSERT_CONTAINS(r->error, "no JSON result line");
    free(r);
    /* No params and a model folder without config.json: said so. */
    r = run_exec("echo '{\"objective\": 0.5}'", 0, &g, &rc, &s);
    ASSERT_EQ(r->status, TRAINER_STATUS_FAILED);
    ASSERT_CONTAINS(r->error, "no \"params\"");
    free(r);
    r = run_exec("echo '{\"status\": \"failed\", \"error\": \"diverged\", \"retryable\": true}'",
                 0, &g, &rc, &s);
    ASSERT_EQ(r->status, TRAINER_STATUS_FAILED);
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
    ASSERT_EQ(r->status, TRAINER_STATUS_CANCELLED);
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
    if (r->status != TRAINER_STATUS_OK)
        FAIL("status %d: %s", r->status, r->error);
    ASSERT_TRUE(r->objective > 0 && r->objective <= 1);
    ASSERT_TRUE(r->has_params);
    ASSERT_GT(r->backbone, 0);
    free(r);
}
