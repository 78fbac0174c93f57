/* Learning curves and stops (multi-fidelity search, issue 14) in the synthetic and exec
 * trainers: the synthetic curve ends at the synthetic objective, is the seed's, and has shapes
 * whose early ranking misleads; each trainer reports one curve point per evaluated epoch, and a
 * stop ends it as STOPPED with the best epoch so far while a plain cancel still cancels. */
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "tests/harness.h"
#include "tests/unit/common/wire_fixtures.h"
#include "worker/daemon/edge.h"
#include "worker/trial/trainer.h"

static const trainer_synthetic_t bert_base = {.hidden = 768, .layers = 12};

/* The configuration of sizes sa, pa, pt and lora in the layers of mask. */
static space_config_t config(uint32_t sa, uint32_t pa, uint32_t pt, uint32_t lora,
                             const char *mask)
{
    const uint32_t sizes[SPACE_NMODULES] = {sa, pa, pt, lora};
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

/* ---- the synthetic curve ------------------------------------------------------------------ */

TEST(synthetic_curve_ends_at_the_objective_and_is_the_seeds)
{
    const space_config_t cs[] = {config(0, 0, 0, 0, "111111111111"),
                                 config(48, 0, 0, 0, "000011111111"),
                                 config(3, 0, 12, 0, "110011001100"),
                                 config(384, 384, 192, 64, "111111111111")};
    trainer_synthetic_t noisy = bert_base, deeper = bert_base;
    const uint32_t epoch_counts[] = {1, 2, 3, 10};

    noisy.noise = 0.02;
    deeper.layers = 24;
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
        for (size_t k = 0; k < sizeof epoch_counts / sizeof epoch_counts[0]; k++) {
            uint32_t e = epoch_counts[k];
            /* The last epoch is the objective, to the bit, with and without noise. */
            ASSERT_NEAR(trainer_synthetic_curve(&cs[i], &bert_base, 9, e, e),
                        trainer_synthetic_objective(&cs[i], &bert_base, 9), 0);
            ASSERT_NEAR(trainer_synthetic_curve(&cs[i], &noisy, 9, e, e),
                        trainer_synthetic_objective(&cs[i], &noisy, 9), 0);
            for (uint32_t j = 1; j <= e; j++) {
                double a = trainer_synthetic_curve(&cs[i], &noisy, 9, j, e);
                /* Deterministic: the same seed gives the same curve. */
                ASSERT_NEAR(a, trainer_synthetic_curve(&cs[i], &noisy, 9, j, e), 0);
                ASSERT_TRUE(isfinite(a));
                if (j < e) /* each epoch has its own noise, the seed's */
                    ASSERT_TRUE(a != trainer_synthetic_curve(&cs[i], &noisy, 10, j, e));
            }
        }
    /* Without noise the curve climbs to its end (or stays at the floor of 0.5). */
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
        for (uint32_t j = 1; j < 10; j++)
            ASSERT_TRUE(trainer_synthetic_curve(&cs[i], &bert_base, 1, j, 10) <=
                        trainer_synthetic_curve(&cs[i], &bert_base, 1, j + 1, 10) + 1e-12);
    /* Out of range, or a configuration that does not fit: NaN. */
    ASSERT_TRUE(isnan(trainer_synthetic_curve(&cs[1], &bert_base, 1, 0, 3)));
    ASSERT_TRUE(isnan(trainer_synthetic_curve(&cs[1], &bert_base, 1, 4, 3)));
    ASSERT_TRUE(isnan(trainer_synthetic_curve(&cs[1], &deeper, 1, 1, 3)));
}

/* Small configurations learn fast and plateau low, large ones start slow and end high: a
 * successive-halving rung at epoch 1 would keep the wrong one. */
TEST(synthetic_curves_rank_some_pairs_the_wrong_way_at_epoch_one)
{
    int fast = 0, slow = 0, reversed = 0, misleading = 0, pairs = 0, n = 0;
    space_config_t cs[64];
    double f[64], m1[64], m4[64];
    int reversed4 = 0;
    rng_t r;

    rng_seed(&r, 77);
    while (n < 64) {
        char mask[13];
        uint32_t s[4];
        for (int l = 0; l < 12; l++)
            mask[l] = rng_uniform(&r) < 0.5 ? '1' : '0';
        mask[12] = '\0';
        for (int m = 0; m < 4; m++)
            s[m] = rng_uniform(&r) < 0.5 ? 0 : 1u << (int)(rng_uniform(&r) * 9);
        cs[n] = config(s[0], s[1], s[2], s[3], mask);
        f[n] = trainer_synthetic_objective(&cs[n], &bert_base, 1);
        m1[n] = trainer_synthetic_curve(&cs[n], &bert_base, 1, 1, 5);
        m4[n] = trainer_synthetic_curve(&cs[n], &bert_base, 1, 4, 5);
        if (f[n] - fmin(0.5, f[n]) > 0.01) /* not the flat head alone */
            n++;
    }
    for (int i = 0; i < n; i++) {
        double m0 = fmin(0.5, f[i]);
        /* After a fifth of the epochs: most of the way (fast), or less than a third. */
        fast += (m1[i] - m0) > 0.6 * (f[i] - m0);
        slow += (m1[i] - m0) < 0.3 * (f[i] - m0);
        for (int j = 0; j < i; j++) {
            bool rev = (f[i] - f[j]) * (m1[i] - m1[j]) < 0;
            pairs++;
            reversed += rev;
            reversed4 += (f[i] - f[j]) * (m4[i] - m4[j]) < 0;
            /* The one that ends clearly higher is behind after epoch 1. */
            misleading += rev && fabs(f[i] - f[j]) > 0.05;
        }
    }
    printf("%d fast, %d slow curves; %d of %d pairs reversed at epoch 1 of 5, %d of them "
           "ending more than 0.05 apart\n", fast, slow, reversed, pairs, misleading);
    ASSERT_GT(fast, 3);
    ASSERT_GT(slow, 3);
    ASSERT_GT(misleading, 0);
    /* Misleading, but not noise: most pairs keep their order. */
    ASSERT_GT(reversed, pairs / 20);
    ASSERT_LT(reversed, pairs / 2);
    /* Later rungs mislead less. */
    printf("%d pairs reversed at epoch 4 of 5\n", reversed4);
    ASSERT_LT(reversed4, reversed / 2);
}

/* ---- trainers on a thread ----------------------------------------------------------------- */

typedef struct {
    int points_seen[TRAINER_MAX_HISTORY + 1];  /* curve lengths in the order reported */
    int nseen, last_n;
    bool bad_curve;                /* a curve that shrank or whose epochs did not increase */
    int stop_at;                   /* > 0: stop (or cancel) once the curve has this many points */
    bool plain;                    /* cancel instead of stop */
    atomic_bool cancel, stop;
    trainer_epoch_t curve[TRAINER_MAX_HISTORY];
} watch_t;

static void on_progress(void *ctx, const trainer_progress_t *p)
{
    watch_t *w = ctx;

    if (!p->curve)
        return;
    if (p->ncurve < w->last_n)
        w->bad_curve = true;
    for (int i = 1; i < p->ncurve; i++)
        w->bad_curve |= p->curve[i].epoch <= p->curve[i - 1].epoch;
    if (p->ncurve != w->last_n && w->nseen <= TRAINER_MAX_HISTORY)
        w->points_seen[w->nseen++] = p->ncurve;
    w->last_n = p->ncurve;
    memcpy(w->curve, p->curve, (size_t)p->ncurve * sizeof *p->curve);
    if (w->stop_at > 0 && p->ncurve >= w->stop_at) {
        if (!w->plain)
            atomic_store(&w->stop, true);
        atomic_store(&w->cancel, true);
    }
}

typedef struct {
    trainer_t *t;
    const trainer_trial_t *trial;
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

/* Runs trial on t with w watching (and stopping); the result on the heap. */
static trainer_result_t *run_watched(trainer_t *t, const trainer_trial_t *trial, watch_t *w)
{
    trainer_result_t *out = calloc(1, sizeof *out);
    job_t j = {.t = t, .trial = trial, .out = out};
    pthread_t th;

    ASSERT_NOT_NULL(out);
    j.env.progress = on_progress;
    j.env.ctx = w;
    j.env.cancel = &w->cancel;
    j.env.stop = &w->stop;
    j.env.threads = 1;
    j.env.worker_id = "test/1/x";
    ASSERT_EQ(pthread_create(&th, NULL, run_job, &j), 0);
    pthread_join(th, NULL);
    ASSERT_OK(j.rc);
    return out;
}

/* The fixtures' synthetic TRIAL with epochs and duration. */
static void synthetic_trial(wire_fixture_t *f, trainer_trial_t *t, uint32_t epochs,
                            uint32_t duration_ms)
{
    wire_fixture_init(f);
    f->syn_recipe.epochs = epochs;
    f->synthetic.duration_ms = duration_ms;
    ASSERT_OK(edge_trial(&f->syn_trial, t));
}

TEST(synthetic_trainer_reports_a_point_per_epoch_and_ends_at_the_objective)
{
    static wire_fixture_t f;
    trainer_t *t = trainer_synthetic_new();
    trainer_trial_t trial;
    trainer_result_t *r;
    static watch_t w;

    synthetic_trial(&f, &trial, 4, 200);
    r = run_watched(t, &trial, &w);
    if (r->status != TRAINER_STATUS_OK)
        FAIL("status %d: %s", r->status, r->error);
    ASSERT_FALSE(w.bad_curve);
    ASSERT_EQ(w.nseen, 4);
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(w.points_seen[i], i + 1);
    ASSERT_EQ(r->nhistory, 4);
    for (int i = 0; i < 4; i++) {
        ASSERT_EQ_U(r->history[i].epoch, (unsigned)i + 1);
        ASSERT_NEAR(r->history[i].objective,
                    trainer_synthetic_curve(&trial.spec.config, &trial.synthetic, 1,
                                            (uint32_t)i + 1, 4), 0);
        ASSERT_TRUE(r->history[i].seconds >= 0.05 * (i + 1) - 0.01);
    }
    ASSERT_NEAR(r->objective, trainer_synthetic_objective(&trial.spec.config, &trial.synthetic,
                                                          1), 0);
    ASSERT_EQ_U(r->best_epoch, 4);
    ASSERT_EQ_U(r->epochs_run, 4);
    ASSERT_TRUE(r->has_params);
    free(r);
    trainer_free(&t);
}

TEST(synthetic_trainer_stops_with_the_best_epoch_so_far)
{
    static wire_fixture_t f;
    trainer_t *t = trainer_synthetic_new();
    trainer_trial_t trial;
    trainer_result_t *r;
    static watch_t w, none, plain;
    double t0;

    synthetic_trial(&f, &trial, 5, 1000);
    w.stop_at = 2;
    t0 = clock_s();
    r = run_watched(t, &trial, &w);
    ASSERT_TRUE(clock_s() - t0 < 0.8); /* the three epochs left are not slept */
    if (r->status != TRAINER_STATUS_STOPPED)
        FAIL("status %d: %s", r->status, r->error);
    ASSERT_EQ(r->nhistory, 2);
    ASSERT_EQ_U(r->epochs_run, 2);
    ASSERT_EQ_U(r->best_epoch, r->history[0].objective > r->history[1].objective ? 1 : 2);
    ASSERT_NEAR(r->objective, fmax(r->history[0].objective, r->history[1].objective), 0);
    ASSERT_STR_EQ(r->objective_name, "synthetic");
    ASSERT_TRUE(r->has_params);
    ASSERT_STR_EQ(r->error, "stopped after epoch 2 of 5");
    free(r);

    /* Stopped before the first epoch ends: STOPPED, without an objective. */
    atomic_store(&none.stop, true);
    atomic_store(&none.cancel, true);
    r = run_watched(t, &trial, &none);
    ASSERT_EQ(r->status, TRAINER_STATUS_STOPPED);
    ASSERT_EQ(r->nhistory, 0);
    ASSERT_EQ_U(r->best_epoch, 0);
    ASSERT_STR_EQ(r->error, "stopped before its first evaluation");
    free(r);

    /* A plain cancel still cancels. */
    plain.stop_at = 2;
    plain.plain = true;
    r = run_watched(t, &trial, &plain);
    ASSERT_EQ(r->status, TRAINER_STATUS_CANCELLED);
    free(r);
    trainer_free(&t);
}

/* ---- exec --------------------------------------------------------------------------------- */

/* The fixtures' TRAIN trial with a model folder whose config.json the counts come from. */
static void train_trial(wire_fixture_t *f, trainer_trial_t *t, char *model, size_t len)
{
    FILE *fp;
    char path[1100];

    wire_fixture_init(f);
    snprintf(model, len, "%s/model", harness_tmpdir());
    ASSERT_EQ(mkdir(model, 0755), 0);
    snprintf(path, sizeof path, "%s/config.json", model);
    fp = fopen(path, "w");
    ASSERT_NOT_NULL(fp);
    fputs("{\"model_type\": \"bert\", \"hidden_size\": 768, \"num_hidden_layers\": 12, \"num_attention_heads\": 12, "
          "\"intermediate_size\": 3072, \"vocab_size\": 30522, "
          "\"max_position_embeddings\": 512, \"type_vocab_size\": 2}\n", fp);
    fclose(fp);
    f->model.path = model;
    ASSERT_OK(edge_trial(&f->trial, t));
    /* The exec trainer makes the folder for the weights: one of the test's own, not the
     * fixture's /scratch path. */
    {
        static char save[1100];
        snprintf(save, sizeof save, "%s/save", harness_tmpdir());
        t->spec.save_dir = save;
    }
}

static trainer_result_t *run_script(const char *body, watch_t *w, const trainer_trial_t *trial)
{
    char script[1024], cmd[1200];
    trainer_t *t;
    trainer_result_t *r;
    FILE *fp;

    snprintf(script, sizeof script, "%s/train.sh", harness_tmpdir());
    fp = fopen(script, "w");
    ASSERT_NOT_NULL(fp);
    fputs(body, fp);
    fclose(fp);
    snprintf(cmd, sizeof cmd, "sh %s", script);
    t = trainer_exec_new(cmd, 300);
    ASSERT_NOT_NULL(t);
    r = run_watched(t, trial, w);
    trainer_free(&t);
    return r;
}

#define EPOCH_LINES                                                                           \
    "cat > /dev/null\n"                                                                       \
    "echo 'PROGRESS {\"epoch\": 1, \"epochs\": 3, \"objective\": 0.71, \"loss\": 0.6}' >&2\n" \
    "echo 'PROGRESS {\"epoch\": 1, \"epochs\": 3, \"objective\": 0.99}' >&2\n"                \
    "echo 'PROGRESS {\"epoch\": 2, \"epochs\": 3, \"step\": 10, \"metric\": 0.5}' >&2\n"      \
    "echo 'PROGRESS {\"epoch\": 2, \"epochs\": 3, \"objective\": 0.83, \"train_loss\": 0.4}' >&2\n"

TEST(exec_progress_lines_with_an_objective_make_the_curve_and_history)
{
    static wire_fixture_t f;
    static watch_t w;
    trainer_trial_t trial;
    trainer_result_t *r;
    char model[1024];

    train_trial(&f, &trial, model, sizeof model);
    r = run_script(EPOCH_LINES
                   "echo 'PROGRESS {\"epoch\": 3, \"epochs\": 3, \"objective\": 0.8}' >&2\n"
                   "echo '{\"objective\": 0.83, \"best_epoch\": 2, \"epochs_run\": 3}'\n",
                   &w, &trial);
    if (r->status != TRAINER_STATUS_OK)
        FAIL("status %d: %s", r->status, r->error);
    ASSERT_FALSE(w.bad_curve);
    ASSERT_EQ(w.nseen, 3);
    /* A repeated epoch and a line without an objective add no point. */
    ASSERT_EQ(r->nhistory, 3);
    ASSERT_NEAR(r->history[0].objective, 0.71, 0);
    ASSERT_NEAR(r->history[0].train_loss, 0.6f, 0);
    ASSERT_NEAR(r->history[1].objective, 0.83, 0);
    ASSERT_NEAR(r->history[1].train_loss, 0.4f, 0);
    ASSERT_EQ_U(r->history[2].epoch, 3);
    ASSERT_TRUE(r->has_params); /* counted from config.json */
    free(r);
}

TEST(exec_stop_gives_the_curve_it_reported_as_stopped)
{
    static wire_fixture_t f;
    static watch_t w;
    trainer_trial_t trial;
    trainer_result_t *r;
    char model[1024];
    double t0 = clock_s();

    train_trial(&f, &trial, model, sizeof model);
    w.stop_at = 2;
    r = run_script(EPOCH_LINES "sleep 30 & wait\n", &w, &trial);
    ASSERT_TRUE(clock_s() - t0 < 5);
    if (r->status != TRAINER_STATUS_STOPPED)
        FAIL("status %d: %s", r->status, r->error);
    ASSERT_EQ(r->nhistory, 2);
    ASSERT_EQ_U(r->epochs_run, 2);
    ASSERT_EQ_U(r->best_epoch, 2);
    ASSERT_NEAR(r->objective, 0.83, 0);
    /* The exact counts, from config.json, as for an OK result without "params". */
    {
        static trainer_result_t want;
        ASSERT_OK(trainer_counts(&trial, 768, 12, &want));
        ASSERT_TRUE(r->has_params);
        ASSERT_EQ_U(r->backbone, want.backbone);
        ASSERT_EQ_U(r->trainable, want.trainable);
        ASSERT_EQ_U(r->deployed, want.deployed);
    }
    ASSERT_STR_EQ(r->error, "stopped after epoch 2 of 3");
    free(r);
}

TEST(exec_stop_takes_the_result_a_command_prints_on_sigterm)
{
    static wire_fixture_t f;
    static watch_t w, plain;
    trainer_trial_t trial;
    trainer_result_t *r;
    char model[1024];
    const char *body =
        "trap 'echo \"{\\\"objective\\\": 0.84, \\\"best_epoch\\\": 2, \\\"epochs_run\\\": 2, "
        "\\\"params\\\": {\\\"trainable\\\": 10, \\\"deployed\\\": 9, \\\"modules_deployed\\\": "
        "8, \\\"backbone\\\": 1000}}\"; exit 0' TERM\n" EPOCH_LINES "sleep 30 & wait\n";

    train_trial(&f, &trial, model, sizeof model);
    w.stop_at = 2;
    r = run_script(body, &w, &trial);
    if (r->status != TRAINER_STATUS_STOPPED)
        FAIL("status %d: %s", r->status, r->error);
    ASSERT_NEAR(r->objective, 0.84, 0);
    ASSERT_EQ_U(r->best_epoch, 2);
    ASSERT_EQ_U(r->backbone, 1000);
    ASSERT_EQ(r->nhistory, 2);
    free(r);

    /* The same command cancelled: CANCELLED, its result line notwithstanding. */
    plain.stop_at = 2;
    plain.plain = true;
    r = run_script(body, &plain, &trial);
    ASSERT_EQ(r->status, TRAINER_STATUS_CANCELLED);
    free(r);
}
