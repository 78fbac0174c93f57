/* Benchmark of the worker's cache across trials: the same trial runner as a worker's, two
 * short trials in a row on one cache (bert-mini-mlm, SST-2 with every train sentence tokenised,
 * a serial adapter of 48 in every layer, a few training steps), then the same two on a fresh
 * cache each. Reports the start-up (checkpoint loading; reading and tokenising the data) of the
 * first and of the second trial, and checks that the cached trial gives the same result.
 *
 *   autopeft-bench trial [SHARED_DIR] [THREADS]     (default ../shared or $AUTOPEFT_SHARED, 2) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/bench/bench.h"
#include "worker/trial/trial.h"

static int one(trialcache_t *c, trial_spec_t *s, trainer_result_t *r, trial_info_t *info)
{
    trainer_env_t env = {NULL, NULL, NULL, s->threads, "bench", NULL};

    memset(r, 0, sizeof *r);
    if (trial_run(c, s, &env, r, info) != 0 ||
        r->status != TRAINER_STATUS_OK) {
        fprintf(stderr, "bench trial: %s\n", r->error);
        return 1;
    }
    return 0;
}

BENCH(trial, "start-up of a worker's first and second trial (cache of checkpoints and data)")
{
    const char *shared = argc > 1 ? argv[1] : getenv("AUTOPEFT_SHARED");
    char model[1024], data[1024];
    trialcache_t *c = trialcache_new(NULL), *fresh = NULL;
    trainer_result_t *r = calloc(4, sizeof *r);
    trial_info_t info[4];
    trial_spec_t s;
    double la[3] = {0};
    FILE *f;

    if (!shared || !*shared)
        shared = "../shared";
    snprintf(model, sizeof model, "%s/models/bert-mini-mlm", shared);
    snprintf(data, sizeof data, "%s/data/glue", shared);
    if (access(model, R_OK) || access(data, R_OK) || !c || !r) {
        fprintf(stderr, "bench trial: needs %s (shared data); give its folder as argument\n",
                shared);
        return 1;
    }
    trial_spec_default(&s);
    s.model_dir = model;
    s.task = "sst2";
    s.data_dir = data;
    s.epochs = 1;
    s.max_train_examples = 64;
    s.max_eval_examples = 64;
    s.threads = argc > 2 ? atoi(argv[2]) : 2;
    if (s.threads < 1)
        s.threads = 1;
    if (space_config_parse("sa=48 pa=0 pt=0 layers=111111", 6, &s.config) != 0)
        return 1;
    if (one(c, &s, &r[0], &info[0]) || one(c, &s, &r[1], &info[1]))
        return 1;
    fresh = trialcache_new(NULL);
    if (!fresh || one(fresh, &s, &r[2], &info[2]))
        return 1;
    f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf %lf %lf", &la[0], &la[1], &la[2]) != 3)
            la[0] = la[1] = la[2] = 0;
        fclose(f);
    }
    printf("%-34s %10s %12s %10s %10s %8s\n", "trial", "load s", "data s", "train s", "total s",
           "cached");
    for (int i = 0; i < 3; i++)
        printf("%-34s %10.4f %12.4f %10.3f %10.3f %8s\n",
               i == 0 ? "first (empty cache)" : i == 1 ? "second (same cache)"
                                                       : "first again (fresh cache)",
               r[i].load_s, r[i].tokenize_s, r[i].train_s, r[i].total_s,
               info[i].model_cached && info[i].data_cached ? "yes" : "no");
    printf("train %zu sentences tokenised, %d threads; load average %.2f %.2f %.2f\n",
           info[0].train_total, s.threads, la[0], la[1], la[2]);
    printf("same result with and without the cache: %s\n",
           r[1].objective == r[2].objective && r[1].history[0].train_loss ==
                                                   r[2].history[0].train_loss
               ? "yes"
               : "NO");
    printf("BENCH trial first_startup_s=%.4f second_startup_s=%.4f speedup=%.0f\n",
           r[0].load_s + r[0].tokenize_s, r[1].load_s + r[1].tokenize_s,
           (r[0].load_s + r[0].tokenize_s) / (r[1].load_s + r[1].tokenize_s + 1e-9));
    trialcache_free(&fresh);
    trialcache_free(&c);
    free(r);
    return 0;
}
