/* The tiny task and model of the trial runner's tests (tiny_task.h). */
#include "tests/tiny_task.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/rng.h"
#include "tests/harness.h"
#include "worker/inputs/checkpoint.h"

static const char *const positive[] = {"good", "great", "fine", "nice"};
static const char *const negative[] = {"bad", "awful", "poor", "dull"};
static const char *const filler[] = {"the", "movie", "plot", "was", "a", "film",
                                     "acting", "story", "is", "very", "and", "it"};
#define N(a) (sizeof a / sizeof a[0])

static FILE *open_in(const char *dir, const char *name)
{
    char path[1200];
    FILE *f;

    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        FAIL("cannot create %s", dir);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "w");
    if (!f)
        FAIL("cannot write %s", path);
    return f;
}

void tiny_write_vocab(const char *dir)
{
    FILE *f = open_in(dir, "vocab.txt");

    fputs("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", f);
    for (size_t i = 0; i < N(positive); i++)
        fprintf(f, "%s\n%s\n", positive[i], negative[i]);
    for (size_t i = 0; i < N(filler); i++)
        fprintf(f, "%s\n", filler[i]);
    fclose(f);
}

static void write_split(const char *dir, const char *name, int n, rng_t *r, bool regression)
{
    FILE *f = open_in(dir, name);

    fputs("sentence\tlabel\n", f);
    for (int i = 0; i < n; i++) {
        int label = (int)rng_below(r, 2), words = 2 + (int)rng_below(r, 5);
        int at = (int)rng_below(r, (uint64_t)words + 1);
        for (int w = 0; w <= words; w++) {
            const char *word = w == at ? (label ? positive : negative)[rng_below(r, 4)]
                                       : filler[rng_below(r, N(filler))];
            fprintf(f, "%s%s", w ? " " : "", word);
        }
        if (regression)
            fprintf(f, "\t%.2f\n", label ? 3.0 + 2.0 * rng_uniform(r) : 2.0 * rng_uniform(r));
        else
            fprintf(f, "\t%d\n", label);
    }
    fclose(f);
}

void tiny_write_task(const char *dir, int ntrain, int ndev, uint64_t seed, bool regression)
{
    rng_t r;

    rng_seed(&r, seed);
    write_split(dir, "train.tsv", ntrain, &r, regression);
    write_split(dir, "dev.tsv", ndev, &r, regression);
}

void tiny_write_model(const char *dir, int layers, uint64_t seed)
{
    hfconfig_t *cfg;
    model_opts_t o;
    model_t *m;
    shape_t s;

    shape_default(&s, 32, layers);
    s.heads = 4;
    s.intermediate = 64;
    s.positions = 32;
    s.vocab = (int)(5 + 2 * N(positive) + N(filler));
    ASSERT_OK(hfconfig_new(&s, &cfg));
    /* Wider than Hugging Face's 0.02: a frozen random model that narrow barely lets the
     * words reach [CLS] (worker/inputs/embedded.h has the figures for its own model). */
    cfg->initializer_range = 0.1;
    checkpoint_opts_from_config(cfg, 2, &o);
    m = model_new(&o);
    ASSERT_NOT_NULL(m);
    model_init_random(m, seed);
    ASSERT_OK(checkpoint_write(dir, m, cfg, CHECKPOINT_WRITE_NO_POOLER));
    ASSERT_OK(checkpoint_write_tokenizer_config(dir, true, s.positions));
    tiny_write_vocab(dir);
    model_free(&m);
    hfconfig_free(&cfg);
}
