/* Tests of the trial runner (worker/trial/trial.c) end to end on a tiny random model and a tiny
 * learnable task written by the tests (tests/tiny_task.h): learning, metrics, exact counts
 * against what the engine allocates, early stopping, cancellation, fidelity subsets,
 * determinism, the cache (same answers with and without it), save and evaluate again, and
 * refusals of bad trials. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "tests/harness.h"
#include "tests/tiny_task.h"
#include "worker/engine/peft.h"
#include "worker/trial/trial.h"

typedef struct {
    char model[1024], data[1024];
} paths_t;

static void setup(paths_t *p, int layers, int ntrain, int ndev, bool regression)
{
    snprintf(p->model, sizeof p->model, "%s/model", harness_tmpdir());
    snprintf(p->data, sizeof p->data, "%s/data", harness_tmpdir());
    tiny_write_model(p->model, layers, 1);
    tiny_write_task(p->data, ntrain, ndev, 7, regression);
}

/* A recipe the tiny model learns from in well under a second. */
static void recipe(trial_spec_t *s, const paths_t *p, const char *config, int layers)
{
    trial_spec_default(s);
    s->model_dir = p->model;
    s->task = "sst2";
    s->data_dir = p->data;
    s->epochs = 8;
    s->batch_size = 16;
    s->max_length = 32;
    s->learning_rate = 3e-3;
    s->dropout = 0;
    s->threads = 1;
    if (config)
        ASSERT_OK(space_config_parse(config, layers, &s->config));
}

typedef struct {
    int calls, cancel_after;
    atomic_bool cancel;
    uint64_t last_step;
    bool saw_loading, saw_eval, saw_metric;
} env_state_t;

static void on_progress(void *ctx, const trainer_progress_t *p)
{
    env_state_t *e = ctx;

    e->calls++;
    e->saw_loading |= p->state == TRAINER_STATE_LOADING;
    e->saw_eval |= p->state == TRAINER_STATE_EVALUATING;
    e->saw_metric |= p->has_metric;
    ASSERT_TRUE(p->step >= e->last_step);
    ASSERT_TRUE(p->fraction >= 0 && p->fraction <= 1);
    e->last_step = p->step;
    if (e->cancel_after && p->step >= (uint64_t)e->cancel_after)
        atomic_store(&e->cancel, true);
}

static void env_init(trainer_env_t *env, env_state_t *st)
{
    memset(env, 0, sizeof *env);
    env->progress = on_progress;
    env->ctx = st;
    env->cancel = &st->cancel;
    env->threads = 2;
    env->worker_id = "test";
}

/* Runs s on cache (a fresh one when NULL); the result on the heap. */
static trainer_result_t *run(trialcache_t *cache, const trial_spec_t *s, env_state_t *st,
                             trial_info_t *info)
{
    trainer_result_t *r = calloc(1, sizeof *r);
    trialcache_t *own = cache ? NULL : trialcache_new(NULL);
    env_state_t local;
    trainer_env_t env;

    ASSERT_NOT_NULL(r);
    memset(&local, 0, sizeof local);
    env_init(&env, st ? st : &local);
    ASSERT_OK(trial_run(cache ? cache : own, s, &env, r, info));
    trialcache_free(&own);
    return r;
}

static void assert_ok(const trainer_result_t *r)
{
    if (r->status != TRAINER_STATUS_OK)
        FAIL("trial status %d: %s", (int)r->status, r->error);
}

static double metric(const trainer_result_t *r, const char *name)
{
    for (int i = 0; i < r->nmetrics; i++)
        if (strcmp(r->metrics[i].name, name) == 0)
            return r->metrics[i].value;
    FAIL("no metric %s", name);
}

TEST(trains_evaluates_and_reports)
{
    paths_t p;
    trial_spec_t s;
    trial_info_t info;
    env_state_t st;
    trainer_result_t *r;
    double best = -1;
    int best_epoch = 0;

    setup(&p, 2, 400, 100, false);
    recipe(&s, &p, "sa=16 pa=8 pt=0 layers=11", 2);
    memset(&st, 0, sizeof st);
    r = run(NULL, &s, &st, &info);
    assert_ok(r);
    ASSERT_EQ(r->epochs_run, 8);
    ASSERT_EQ(r->nhistory, 8);
    /* It learns: the loss falls and the dev accuracy is far above chance. */
    printf("loss %.4f -> %.4f, accuracy %.3f\n", (double)r->history[0].train_loss,
           (double)r->history[7].train_loss, r->objective);
    ASSERT_TRUE(r->history[7].train_loss < r->history[0].train_loss - 0.1f);
    ASSERT_TRUE(r->objective > 0.7);
    ASSERT_STR_EQ(r->objective_name, "accuracy");
    ASSERT_NEAR(metric(r, "accuracy"), r->objective, 0);
    for (int i = 0; i < r->nhistory; i++)
        if (r->history[i].objective > best) {
            best = r->history[i].objective;
            best_epoch = (int)r->history[i].epoch;
        }
    ASSERT_EQ(r->best_epoch, best_epoch);
    ASSERT_NEAR(r->objective, best, 0);
    ASSERT_TRUE(r->has_params);
    ASSERT_EQ(info.train_used, 400);
    ASSERT_EQ(info.eval_used, 100);
    ASSERT_EQ(info.steps, 8 * 25);
    ASSERT_EQ(info.labels, 2);
    ASSERT_STR_EQ(info.config_text, "sa=16 pa=8 pt=0 layers=11");
    ASSERT_TRUE(r->train_s > 0 && r->eval_s > 0 && r->total_s >= r->train_s + r->eval_s);
    ASSERT_TRUE(r->examples_per_s > 0);
    ASSERT_TRUE(st.saw_loading && st.saw_eval && st.saw_metric);
    free(r);
}

/* Runs s with the log captured; the log's text in buf. */
static trainer_result_t *run_logged(const trial_spec_t *s, char *buf, size_t cap)
{
    trainer_result_t *r;

    harness_log_begin();
    r = run(NULL, s, NULL, NULL);
    snprintf(buf, cap, "%s", harness_log_end());
    return r;
}

/* A model that answers every dev example with one class (here: trained on one class only)
 * scores a constant's metric; the runner says so, and says nothing when the answers vary. */
TEST(one_class_answers_are_reported)
{
    char train[1200], text[1 << 16], log[8192];
    paths_t p;
    trial_spec_t s;
    trainer_result_t *r;
    FILE *f;
    size_t n;

    setup(&p, 2, 400, 100, false);
    recipe(&s, &p, "sa=16 pa=8 pt=0 layers=11", 2);
    r = run_logged(&s, log, sizeof log);
    assert_ok(r);
    ASSERT_TRUE(strstr(log, "for every one") == NULL);
    free(r);

    snprintf(train, sizeof train, "%s/train.tsv", p.data);
    f = fopen(train, "rb");
    ASSERT_NOT_NULL(f);
    n = fread(text, 1, sizeof text - 1, f);
    ASSERT_LT(n, sizeof text - 1);
    text[n] = '\0';
    fclose(f);
    for (char *c = strstr(text, "\t1\n"); c; c = strstr(c, "\t1\n"))
        c[1] = '0';
    f = fopen(train, "wb");
    ASSERT_NOT_NULL(f);
    fputs(text, f);
    ASSERT_EQ(fclose(f), 0);
    r = run_logged(&s, log, sizeof log);
    assert_ok(r);
    ASSERT_CONTAINS(log, "predicts class 0 for every one of the 100 dev examples");
    ASSERT_CONTAINS(log, "accuracy is that of a constant answer");
    free(r);
}

/* The counts a trial reports are space_config_count's, and they are exactly the floats the
 * engine's PEFT buffer holds as trained and after ejection (as deployed). */
TEST(counts_equal_what_the_engine_allocates)
{
    static const char *const configs[] = {
        "sa=0 pa=0 pt=0 layers=000",
        "sa=16 pa=0 pt=0 layers=111",
        "sa=0 pa=32 pt=0 layers=101",
        "sa=0 pa=0 pt=4 layers=011",
        "sa=8 pa=4 pt=2 layers=110",
        "sa=8@100 pa=4@011 pt=3@111",
        "sa=2 pa=0 pt=0 lora=4 layers=111",
        "sa=0 pa=0 pt=0 lora=8@010",
    };
    model_opts_t mo;
    shape_t sh;
    model_t *m;

    shape_default(&sh, 32, 3);
    sh.heads = 4;
    sh.vocab = 50;
    sh.positions = 16;
    sh.labels = 3;
    model_opts_default(&mo, &sh);
    m = model_new(&mo);
    ASSERT_NOT_NULL(m);
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++)
        for (int bn = 0; bn < 2; bn++) {
            space_config_t c;
            space_counts_t n;
            peft_opts_t po;
            peft_t *p, *q;
            ASSERT_OK(space_config_parse(configs[i], 3, &c));
            peft_opts_default(&po);
            po.prefix_bottleneck = bn ? 24 : SPACE_PREFIX_BOTTLENECK;
            ASSERT_OK(space_config_count(&c, &sh, po.prefix_bottleneck, &n));
            p = peft_new(m, &c, &po);
            ASSERT_NOT_NULL(p);
            q = peft_eject(p);
            ASSERT_NOT_NULL(q);
            ASSERT_EQ_U(peft_size(p), n.trainable);
            ASSERT_EQ_U(peft_size(q), n.deployed);
            ASSERT_EQ_U(n.backbone, model_param_count(&sh, false));
            ASSERT_EQ_U(n.head, model_param_count(&sh, true) - model_param_count(&sh, false));
            peft_free(&q);
            peft_free(&p);
        }
    model_free(&m);
}

TEST(trial_counts_match_its_parameters_and_full_finetuning_costs_everything)
{
    paths_t p;
    trial_spec_t s;
    trainer_result_t *r;
    shape_t sh;

    setup(&p, 2, 40, 20, false);
    recipe(&s, &p, "sa=8 pa=0 pt=4 layers=01", 2);
    s.epochs = 1;
    s.prefix_bottleneck = 16;
    r = run(NULL, &s, NULL, NULL);
    assert_ok(r);
    {
        /* The same configuration's buffers. */
        model_opts_t mo;
        model_t *m;
        peft_opts_t po;
        peft_t *pp, *q;
        shape_default(&sh, 32, 2);
        sh.heads = 4;
        sh.intermediate = 64;
        sh.positions = 32;
        sh.vocab = 25;
        model_opts_default(&mo, &sh);
        m = model_new(&mo);
        peft_opts_default(&po);
        po.prefix_bottleneck = 16;
        pp = peft_new(m, &s.config, &po);
        q = peft_eject(pp);
        ASSERT_EQ_U(r->trainable, peft_size(pp));
        ASSERT_EQ_U(r->deployed, peft_size(q));
        ASSERT_EQ_U(r->backbone, model_param_count(&sh, false));
        ASSERT_NEAR(r->percent, 100.0 * (double)r->modules_deployed / (double)r->backbone, 1e-12);
        peft_free(&q);
        peft_free(&pp);
        model_free(&m);
    }
    free(r);
    /* Full fine-tuning trains and ships every weight: 100% of the backbone. */
    recipe(&s, &p, NULL, 2);
    s.epochs = 1;
    s.full_finetune = true;
    r = run(NULL, &s, NULL, NULL);
    assert_ok(r);
    ASSERT_EQ_U(r->trainable, model_param_count(&sh, true));
    ASSERT_EQ_U(r->deployed, r->trainable);
    ASSERT_NEAR(r->percent, 100.0, 1e-12);
    free(r);
}

TEST(early_stopping_and_cancellation)
{
    paths_t p;
    trial_spec_t s;
    trial_info_t info;
    env_state_t st;
    trainer_result_t *r;

    setup(&p, 2, 64, 32, false);
    /* A rate so small that nothing changes: the dev metric never improves on epoch 1. */
    recipe(&s, &p, "sa=4 layers=11", 2);
    s.learning_rate = 1e-12;
    s.epochs = 10;
    s.patience = 2;
    r = run(NULL, &s, NULL, &info);
    assert_ok(r);
    ASSERT_EQ(r->epochs_run, 3);
    ASSERT_EQ(r->nhistory, 3);
    ASSERT_EQ(r->best_epoch, 1);
    ASSERT_EQ(info.steps, 3 * 4);
    free(r);
    /* Cancelled between steps, promptly. */
    recipe(&s, &p, "sa=4 layers=11", 2);
    memset(&st, 0, sizeof st);
    st.cancel_after = 5;
    r = run(NULL, &s, &st, &info);
    ASSERT_EQ(r->status, TRAINER_STATUS_CANCELLED);
    ASSERT_CONTAINS(r->error, "cancelled in epoch 2");
    ASSERT_EQ(info.steps, 5);
    free(r);
}

TEST(fidelity_subsets_are_seeded_and_runs_reproducible)
{
    paths_t p;
    trial_spec_t s;
    trial_info_t info;
    trainer_result_t *a, *b, *c;

    setup(&p, 2, 200, 80, false);
    recipe(&s, &p, "sa=8 layers=11", 2);
    s.epochs = 2;
    s.max_train_examples = 50;
    s.max_eval_examples = 30;
    s.dropout = 0.1;
    a = run(NULL, &s, NULL, &info);
    assert_ok(a);
    ASSERT_EQ(info.train_used, 50);
    ASSERT_EQ(info.train_total, 200);
    ASSERT_EQ(info.eval_used, 30);
    ASSERT_EQ(info.steps, 2 * 4);
    /* Same seed, same everything (dropout included). */
    b = run(NULL, &s, NULL, NULL);
    assert_ok(b);
    for (int i = 0; i < 2; i++) {
        ASSERT_NEAR(a->history[i].train_loss, b->history[i].train_loss, 0);
        ASSERT_NEAR(a->history[i].objective, b->history[i].objective, 0);
    }
    /* Another seed: other examples, another initialisation. */
    s.seed = 2;
    c = run(NULL, &s, NULL, NULL);
    assert_ok(c);
    ASSERT_TRUE(a->history[0].train_loss != c->history[0].train_loss);
    free(a);
    free(b);
    free(c);
}

/* A cached model keeps what earlier trials set (the head they initialised, dropout): a trial
 * must give the same answer as on a fresh worker. */
TEST(cache_serves_later_trials_with_the_same_answers)
{
    paths_t p;
    trial_spec_t s;
    trial_info_t info;
    trialcache_t *cache = trialcache_new(NULL);
    trainer_result_t *warm, *fresh, *first;

    setup(&p, 2, 100, 40, false);
    recipe(&s, &p, "sa=8 pa=4 layers=11", 2);
    s.epochs = 2;
    s.seed = 5;
    s.dropout = 0.3;
    first = run(cache, &s, NULL, &info);
    assert_ok(first);
    ASSERT_FALSE(info.model_cached);
    ASSERT_FALSE(info.data_cached);
    s.seed = 1;
    s.dropout = -1;   /* config.json's */
    warm = run(cache, &s, NULL, &info);
    assert_ok(warm);
    ASSERT_TRUE(info.model_cached);
    ASSERT_TRUE(info.data_cached);
    printf("load %.4f s + data %.4f s first, %.4f s + %.4f s cached\n", first->load_s,
           first->tokenize_s, warm->load_s, warm->tokenize_s);
    ASSERT_EQ(trialcache_entries(cache, TRIALCACHE_MODEL), 1);
    ASSERT_EQ(trialcache_entries(cache, TRIALCACHE_DATA), 2);
    fresh = run(NULL, &s, NULL, NULL);
    assert_ok(fresh);
    for (int i = 0; i < 2; i++) {
        ASSERT_NEAR(warm->history[i].train_loss, fresh->history[i].train_loss, 0);
        ASSERT_NEAR(warm->history[i].objective, fresh->history[i].objective, 0);
    }
    /* Another maximum length is another tokenisation; a rewritten file is a new entry. */
    s.max_length = 16;
    free(run(cache, &s, NULL, &info));
    ASSERT_TRUE(info.model_cached);
    ASSERT_FALSE(info.data_cached);
    tiny_write_task(p.data, 100, 40, 8, false);
    free(run(cache, &s, NULL, &info));
    ASSERT_FALSE(info.data_cached);
    free(first);
    free(warm);
    free(fresh);
    trialcache_free(&cache);
}

/* Regression, so that the metric moves with every weight: a constant predictor would pass a
 * classification check whatever was saved. */
TEST(saved_weights_evaluate_to_the_same_metric)
{
    static const char *const configs[] = {"sa=8 pa=4 pt=0 layers=11", "sa=0 pa=0 pt=3 layers=01",
                                          "sa=0 pa=0 pt=0 lora=4 layers=11"};
    paths_t p;
    trial_spec_t s, e;
    char save[1100], path[1200];
    trainer_result_t *r, *ev;
    struct stat st;
    double tol;

    setup(&p, 2, 200, 60, true);
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++) {
        snprintf(save, sizeof save, "%s/saved%zu", harness_tmpdir(), i);
        recipe(&s, &p, configs[i], 2);
        s.task = "custom";
        s.text_column = "sentence";
        s.label_column = "label";
        s.num_labels = 1;
        s.epochs = 3;
        s.prefix_bottleneck = 16;
        s.max_eval_examples = 50;
        s.save_dir = save;
        r = run(NULL, &s, NULL, NULL);
        assert_ok(r);
        snprintf(path, sizeof path, "%s/peft.safetensors", save);
        ASSERT_EQ(stat(path, &st), 0);
        /* Evaluating: model, length and dev sample from trial.json; the columns again. */
        trial_spec_default(&e);
        e.task = "custom";
        e.text_column = "sentence";
        e.label_column = "label";
        e.num_labels = 1;
        e.data_dir = p.data;
        e.eval_dir = save;
        e.max_length = 0;
        e.max_eval_examples = -1;
        e.threads = 1;
        ev = run(NULL, &e, NULL, NULL);
        assert_ok(ev);
        printf("%s: trained pearson %.9f spearman %.9f at epoch %u; evaluated %.9f %.9f\n",
               configs[i], metric(r, "pearson"), metric(r, "spearman"), r->best_epoch,
               metric(ev, "pearson"), metric(ev, "spearman"));
        ASSERT_TRUE(fabs(metric(r, "pearson")) > 1e-3);   /* not a constant prediction */
        /* The same weights in the same batches: the same numbers. Prefixes are saved flat
         * (ejected): the same function, rounded differently. */
        tol = strstr(configs[i], "pt=0") ? 0 : 1e-6;
        ASSERT_NEAR(metric(ev, "pearson"), metric(r, "pearson"), tol);
        ASSERT_NEAR(metric(ev, "spearman"), metric(r, "spearman"), tol);
        ASSERT_EQ_U(ev->deployed, r->deployed);
        free(ev);
        free(r);
    }
    /* A saved folder that does not fit: another configuration in trial.json. */
    snprintf(path, sizeof path, "%s/saved0/trial.json", harness_tmpdir());
    {
        FILE *f = fopen(path, "r+");
        char text[8192];
        size_t n = fread(text, 1, sizeof text - 1, f);
        char *c;
        text[n] = '\0';
        c = strstr(text, "sa=8 pa=4");
        ASSERT_NOT_NULL(c);
        memcpy(c, "sa=4 pa=4", 9);
        rewind(f);
        fwrite(text, 1, n, f);
        fclose(f);
    }
    snprintf(save, sizeof save, "%s/saved0", harness_tmpdir());
    e.eval_dir = save;
    ev = run(NULL, &e, NULL, NULL);
    ASSERT_EQ(ev->status, TRAINER_STATUS_FAILED);
    ASSERT_CONTAINS(ev->error, "peft.safetensors: tensor 'peft.layer.0.sa.down.weight'");
    free(ev);
    /* Not a saved trial at all. */
    e.eval_dir = p.data;
    ev = run(NULL, &e, NULL, NULL);
    ASSERT_EQ(ev->status, TRAINER_STATUS_FAILED);
    ASSERT_CONTAINS(ev->error, "trial.json");
    free(ev);
}

TEST(regression_and_custom_files)
{
    paths_t p;
    trial_spec_t s;
    trial_info_t info;
    trainer_result_t *r;
    char train[1100], dev[1100];
    FILE *f;

    setup(&p, 2, 120, 40, true);
    recipe(&s, &p, "sa=8 layers=11", 2);
    s.task = "custom";
    s.text_column = "sentence";
    s.label_column = "label";
    s.num_labels = 1;
    s.epochs = 2;
    r = run(NULL, &s, NULL, &info);
    assert_ok(r);
    ASSERT_TRUE(info.regression);
    ASSERT_STR_EQ(r->objective_name, "spearman");
    ASSERT_NEAR(metric(r, "spearman"), r->objective, 0);
    ASSERT_TRUE(fabs(metric(r, "pearson")) <= 1);
    free(r);
    /* CSV with class names: the dev file uses the train file's classes. */
    snprintf(train, sizeof train, "%s/t.csv", harness_tmpdir());
    snprintf(dev, sizeof dev, "%s/d.csv", harness_tmpdir());
    f = fopen(train, "w");
    fputs("text,y\n", f);
    for (int i = 0; i < 30; i++)
        fprintf(f, "\"the film, %s\",%s\n", i % 3 ? "good" : "bad", i % 3 ? "pos" : "neg");
    fclose(f);
    f = fopen(dev, "w");
    fputs("text,y\n\"good\",pos\n\"bad\",neg\n\"good plot\",pos\n", f);
    fclose(f);
    recipe(&s, &p, "sa=8 layers=11", 2);
    s.task = NULL;
    s.data_dir = NULL;
    s.train_file = train;
    s.dev_file = dev;
    s.text_column = "text";
    s.label_column = "y";
    s.epochs = 1;
    s.metric = "f1";
    r = run(NULL, &s, NULL, &info);
    assert_ok(r);
    ASSERT_STR_EQ(info.task, "custom");
    ASSERT_EQ(info.labels, 2);
    ASSERT_EQ(info.eval_used, 3);
    ASSERT_STR_EQ(r->objective_name, "f1");
    metric(r, "mcc");
    free(r);
}

static void expect_failure(trial_spec_t *s, const char *text)
{
    trainer_result_t *r = run(NULL, s, NULL, NULL);

    ASSERT_EQ(r->status, TRAINER_STATUS_FAILED);
    ASSERT_FALSE(r->retryable);
    ASSERT_CONTAINS(r->error, text);
    free(r);
}

TEST(bad_trials_fail_with_the_reason)
{
    paths_t p;
    trial_spec_t s;

    setup(&p, 2, 20, 10, false);
    recipe(&s, &p, "sa=8 layers=11", 2);
    s.epochs = 0;
    expect_failure(&s, "epochs 0");
    recipe(&s, &p, "sa=8 layers=11", 2);
    s.max_length = 64;
    expect_failure(&s, "maximum length 64: the model has 32 positions");
    recipe(&s, &p, "sa=8 layers=111", 3);
    expect_failure(&s, "the configuration has 3 layers, the model 2");
    recipe(&s, &p, NULL, 2);
    s.task = "sst5";
    expect_failure(&s, "task 'sst5'");
    recipe(&s, &p, NULL, 2);
    s.data_dir = "/nonexistent/glue";
    expect_failure(&s, "/nonexistent/glue");
    recipe(&s, &p, NULL, 2);
    s.task = "custom";
    expect_failure(&s, "a custom task needs the text and label columns");
    recipe(&s, &p, NULL, 2);
    s.metric = "spearman";
    expect_failure(&s, "metric 'spearman' does not apply to a two-class task");
    recipe(&s, &p, NULL, 2);
    s.model_dir = "/nonexistent/model";
    expect_failure(&s, "/nonexistent/model/config.json");
    recipe(&s, &p, NULL, 2);
    s.learning_rate = 50;
    s.epochs = 1;
    expect_failure(&s, "learning rate 50");
}
