/* The embedded default task: grammar, generator, and the files it produces.
 *
 * A sentence is [ADVERB] BODY, where BODY is one of
 *   single       C
 *   contrast     C (but|yet) C [(but|yet) C ...]       the last clause decides
 *   concessive   C (although|though) C                 the first clause decides
 *                (although|though) C C                 the second clause decides
 * and each C is FRAME* CLAUSE:
 *   FRAME   SUBJECT VERB-PAST that | SUBJECT never VERB-PAST that | SUBJECT did not VERB that
 *   CLAUSE  DET NOUN COPULA [not|never] [INTENSIFIER] ADJ [and [INTENSIFIER] ADJ]
 *           (a negated clause's copula is "is" or "was"; both adjectives share a polarity)
 * A clause's polarity is its adjective's, flipped once for each negator in its scope: "not" or
 * "never" in the clause, and in each of its frames the subject "nobody", a negated auxiliary
 * ("never", "did not") and the verbs "doubt" and "deny". The label is the polarity of the
 * deciding clause. Every clause ends with an adjective and every clause or frame starts with a
 * determiner or a subject, so a sentence has exactly one parse and its label is a function of
 * its words in order (the tests check it with a parser of their own).
 *
 * Draw order, which fixes the bytes for a seed: the split's labels (balanced, shuffled) from the
 * split's stream; then each row from a stream of its own, per attempt: adverb, structure, clause
 * count, clause polarities, connectives, and each clause left to right (frames, then its
 * words). */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "worker/inputs/embedded.h"
#include "common/err.h"
#include "common/mem.h"
#include "common/rng.h"

/* ---- the lexicon ------------------------------------------------------------------------- */

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *const adverbs[] = {"honestly", "frankly", "overall", "basically"};
static const char *const dets[] = {"the", "this", "his", "her"};
static const char *const nouns[] = {"movie",   "film",     "plot",   "story",
                                    "acting",  "script",   "music",  "ending",
                                    "cast",    "dialogue", "pacing", "humor",
                                    "soundtrack", "editing", "lead", "finale"};
static const char *const copulas[] = {"is", "was", "seems", "looks"};
static const char *const clause_negators[] = {"not", "never"};
static const char *const intensifiers[] = {"very", "really", "quite", "truly", "rather", "so"};
static const char *const positive[] = {"good",   "great",   "brilliant", "charming",
                                       "clever", "funny",   "moving",    "superb",
                                       "lovely", "fresh",   "gripping",  "solid"};
static const char *const negative[] = {"bad",    "dull",  "boring",  "awful",
                                       "weak",   "clumsy", "tedious", "bland",
                                       "silly",  "messy", "stale",   "poor"};
/* Frame subjects and verbs; the entries from NEG_FROM on negate what follows "that". */
static const char *const subjects[] = {"i", "we", "critics", "everyone", "nobody"};
#define SUBJECT_NEG_FROM 4
static const char *const verbs_past[] = {"thought", "said", "believed", "felt", "doubted",
                                         "denied"};
static const char *const verbs_base[] = {"think", "say", "believe", "feel", "doubt", "deny"};
#define VERB_NEG_FROM 4
static const char *const contrasts[] = {"but", "yet"};
static const char *const concessives[] = {"although", "though"};

/* The vocabulary after the special tokens: every list above, in this order, each word once. */
static const struct {
    const char *const *words;
    int n;
} word_lists[] = {
    {adverbs, N_OF(adverbs)},           {dets, N_OF(dets)},
    {nouns, N_OF(nouns)},               {copulas, N_OF(copulas)},
    {clause_negators, N_OF(clause_negators)}, {intensifiers, N_OF(intensifiers)},
    {positive, N_OF(positive)},         {negative, N_OF(negative)},
    {(const char *const[]){"and", "did", "that"}, 3},
    {subjects, N_OF(subjects)},         {verbs_past, N_OF(verbs_past)},
    {verbs_base, N_OF(verbs_base)},     {contrasts, N_OF(contrasts)},
    {concessives, N_OF(concessives)},
};

/* Fixed shares inside the grammar (the tunable ones are in embedded_opts_t). */
#define EXTRA_CLAUSE_PCT 30      /* a contrast chain gets another clause, up to max_clauses */
#define PREFIX_PCT 50            /* "although C C" rather than "C although C" */

/* Words of the longest sentence the grammar can produce: an adverb, EMBEDDED_MAX_CLAUSES
 * clauses of (EMBEDDED_MAX_DEPTH frames of 5 words + 9 words), the connectives between them. */
#define SENTENCE_CAP \
    (1 + EMBEDDED_MAX_CLAUSES * (EMBEDDED_MAX_DEPTH * 5 + 9) + EMBEDDED_MAX_CLAUSES)

/* ---- growing text buffers ---------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
} buf_t;

static int buf_add(buf_t *b, const char *s, size_t n)
{
    size_t need;

    if (!mem_add(b->len, n, &need) || !mem_add(need, 1, &need))
        return err_set(ERR_NOMEM, "embedded task: text size overflows");
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *p;

        while (cap < need) {
            if (!mem_mul(cap, 2, &cap))
                return err_set(ERR_NOMEM, "embedded task: text size overflows");
        }
        p = mem_realloc(b->p, cap, 1, "embedded task text");
        if (!p)
            return ERR_NOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int buf_str(buf_t *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

/* ---- one sentence ------------------------------------------------------------------------ */

typedef enum { STRUCT_SINGLE = 0, STRUCT_CONTRAST, STRUCT_CONCESSIVE } structure_t;

typedef struct {
    const char *w[SENTENCE_CAP];
    int n;
    int label;            /* 1 positive */
    structure_t structure;
    int framed;           /* at least one frame */
    int negators;
    int swap_flip;        /* reversing the clauses changes the label */
} sentence_t;

typedef struct {
    const embedded_opts_t *o;
    rng_t rng;
} gen_t;

static int pct(gen_t *g, int p)
{
    return (int)rng_below(&g->rng, 100) < p;
}

static const char *pick(gen_t *g, const char *const *list, int n)
{
    return list[rng_below(&g->rng, (uint64_t)n)];
}

static void put(sentence_t *s, const char *w)
{
    /* SENTENCE_CAP bounds what the grammar can produce under the option caps. */
    assert(s->n < SENTENCE_CAP);
    s->w[s->n++] = w;
}

/* One FRAME* CLAUSE of polarity pol (1 positive): the negators in scope are drawn first, then
 * the adjective is chosen to give pol. */
static void gen_clause(gen_t *g, sentence_t *s, int pol)
{
    const embedded_opts_t *o = g->o;
    int frames = 0, flips = 0, adj_pol, k;

    while (frames < o->depth && pct(g, o->frame_pct))
        frames++;
    for (int f = 0; f < frames; f++) {
        int form = 0; /* 0 plain, 1 "never", 2 "did not" */

        k = (int)rng_below(&g->rng, N_OF(subjects));
        put(s, subjects[k]);
        flips += k >= SUBJECT_NEG_FROM;
        if (pct(g, o->negation_pct))
            form = 1 + (int)rng_below(&g->rng, 2);
        k = (int)rng_below(&g->rng, N_OF(verbs_past));
        if (form == 1)
            put(s, "never");
        else if (form == 2) {
            put(s, "did");
            put(s, "not");
        }
        put(s, form == 2 ? verbs_base[k] : verbs_past[k]);
        put(s, "that");
        flips += (form != 0) + (k >= VERB_NEG_FROM);
    }
    s->framed |= frames > 0;
    put(s, pick(g, dets, N_OF(dets)));
    put(s, pick(g, nouns, N_OF(nouns)));
    /* "is not", "was never"; but not "looks never": a negated clause takes is or was. */
    if (pct(g, o->negation_pct)) {
        put(s, pick(g, copulas, 2));
        put(s, pick(g, clause_negators, N_OF(clause_negators)));
        flips++;
    } else {
        put(s, pick(g, copulas, N_OF(copulas)));
    }
    s->negators += flips;
    adj_pol = pol ^ (flips & 1);
    if (pct(g, o->filler_pct))
        put(s, pick(g, intensifiers, N_OF(intensifiers)));
    put(s, adj_pol ? pick(g, positive, N_OF(positive)) : pick(g, negative, N_OF(negative)));
    if (pct(g, o->filler_pct / 3)) {
        put(s, "and");
        if (pct(g, o->filler_pct))
            put(s, pick(g, intensifiers, N_OF(intensifiers)));
        put(s, adj_pol ? pick(g, positive, N_OF(positive)) : pick(g, negative, N_OF(negative)));
    }
}

static void gen_sentence(gen_t *g, sentence_t *s)
{
    const embedded_opts_t *o = g->o;
    int pol[EMBEDDED_MAX_CLAUSES], k = 1, r, prefix = 0, decider = 0;
    const char *conn[EMBEDDED_MAX_CLAUSES];

    s->n = 0;
    s->framed = s->negators = 0;
    if (pct(g, o->filler_pct / 2))
        put(s, pick(g, adverbs, N_OF(adverbs)));
    r = (int)rng_below(&g->rng, 100);
    s->structure = r < o->single_pct ? STRUCT_SINGLE
                   : r < o->single_pct + o->contrast_pct ? STRUCT_CONTRAST
                                                         : STRUCT_CONCESSIVE;
    if (s->structure == STRUCT_CONTRAST) {
        k = 2;
        while (k < o->max_clauses && pct(g, EXTRA_CLAUSE_PCT))
            k++;
    } else if (s->structure == STRUCT_CONCESSIVE) {
        k = 2;
        prefix = pct(g, PREFIX_PCT);
    }
    /* Polarities as a symmetric Markov chain from a uniform start: the reversed chain is drawn
     * exactly as often, which the bag-of-words ceiling relies on. */
    pol[0] = (int)rng_below(&g->rng, 2);
    for (int i = 1; i < k; i++)
        pol[i] = pct(g, o->opposite_pct) ? !pol[i - 1] : pol[i - 1];
    for (int i = 1; i < k; i++)
        conn[i] = s->structure == STRUCT_CONTRAST ? pick(g, contrasts, N_OF(contrasts))
                                                  : pick(g, concessives, N_OF(concessives));
    if (prefix)
        put(s, conn[1]);
    for (int i = 0; i < k; i++) {
        if (i > 0 && !prefix)
            put(s, conn[i]);
        gen_clause(g, s, pol[i]);
    }
    if (s->structure == STRUCT_CONTRAST)
        decider = k - 1;
    else if (s->structure == STRUCT_CONCESSIVE)
        decider = prefix ? 1 : 0;
    s->label = pol[decider];
    /* Reversing the clauses moves the decision to the clause at the other end. */
    s->swap_flip = k > 1 && pol[0] != pol[k - 1];
}

/* ---- splits ------------------------------------------------------------------------------ */

typedef struct {
    buf_t tsv;
    embedded_stats_t stats;
} split_t;

struct embedded_task {
    embedded_opts_t opts;
    split_t split[2];
    buf_t vocab;
    int vocab_size;
};

/* A set of 64-bit sentence hashes (open addressing; 0 marks an empty slot). */
typedef struct {
    uint64_t *slot;
    size_t mask;
} hashset_t;

static uint64_t hash_words(const sentence_t *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */

    for (int i = 0; i < s->n; i++) {
        for (const char *c = s->w[i]; *c; c++)
            h = (h ^ (unsigned char)*c) * 1099511628211ull;
        h = (h ^ ' ') * 1099511628211ull;
    }
    return h ? h : 1;
}

static int hashset_init(hashset_t *h, size_t n)
{
    size_t cap = 16;

    while (cap < 2 * n)
        cap *= 2;
    h->slot = mem_alloc(cap, sizeof *h->slot, "embedded sentence set");
    h->mask = cap - 1;
    return h->slot ? 0 : ERR_NOMEM;
}

/* Adds x; returns 1 when it was there already. */
static int hashset_add(hashset_t *h, uint64_t x, int insert)
{
    size_t i = (size_t)rng_mix64(x) & h->mask;

    while (h->slot[i]) {
        if (h->slot[i] == x)
            return 1;
        i = (i + 1) & h->mask;
    }
    if (insert)
        h->slot[i] = x;
    return 0;
}

/* Each row draws from its own stream, so that one row's redraws (a dev sentence that repeats a
 * train sentence, say) leave the other rows as they are: the dev split of a seed stays the same
 * whatever the train size, except for the few rows that collide. */
static uint64_t row_stream(data_split_t which, uint64_t row)
{
    return ((uint64_t)which + 1) << 32 | row;
}

static int gen_split(const embedded_opts_t *o, data_split_t which, hashset_t *train_set,
                     split_t *out)
{
    int n = which == DATA_TRAIN ? o->train_rows : o->dev_rows;
    embedded_stats_t *st = &out->stats;
    uint32_t *labels = NULL;
    uint64_t words = 0;
    sentence_t *s = NULL;
    gen_t g = {.o = o};
    int rc;

    labels = mem_alloc((size_t)n, sizeof *labels, "embedded labels");
    s = mem_alloc(1, sizeof *s, "embedded sentence");
    if (!labels || !s) {
        rc = ERR_NOMEM;
        goto out;
    }
    /* Exactly balanced: ceil(n/2) positive, in an order drawn from the split's own stream. */
    rng_seed_stream(&g.rng, o->seed, (uint64_t)which + 1);
    for (int i = 0; i < n; i++)
        labels[i] = (uint32_t)(i < (n + 1) / 2);
    rng_shuffle(&g.rng, labels, (size_t)n);
    memset(st, 0, sizeof *st);
    st->min_words = EMBEDDED_MAX_WORDS + 1;
    if ((rc = buf_str(&out->tsv, "sentence\tlabel\n")) != 0)
        goto out;
    for (int i = 0; i < n; i++) {
        int tries = 0;

        rng_seed_stream(&g.rng, o->seed, row_stream(which, (uint64_t)i));
        for (;;) {
            if (++tries > EMBEDDED_MAX_ATTEMPTS) {
                rc = err_set(ERR_INVAL,
                             "embedded task: no %s sentence of at most %d words after %d draws "
                             "(%s row %d); raise max_words or lower depth, max_clauses or the "
                             "shares that lengthen sentences",
                             labels[i] ? "positive" : "negative", o->max_words,
                             EMBEDDED_MAX_ATTEMPTS, which == DATA_TRAIN ? "train" : "dev", i + 1);
                goto out;
            }
            gen_sentence(&g, s);
            if (s->n > o->max_words || s->label != (int)labels[i])
                continue;
            if (which == DATA_TRAIN)
                hashset_add(train_set, hash_words(s), 1);
            else if (hashset_add(train_set, hash_words(s), 0))
                continue; /* a dev sentence never repeats a train sentence */
            break;
        }
        for (int w = 0; w < s->n; w++) {
            if ((w && (rc = buf_add(&out->tsv, " ", 1)) != 0) ||
                (rc = buf_str(&out->tsv, s->w[w])) != 0)
                goto out;
        }
        if ((rc = buf_str(&out->tsv, s->label ? "\t1\n" : "\t0\n")) != 0)
            goto out;
        st->rows++;
        st->positive += (size_t)s->label;
        st->min_words = s->n < st->min_words ? s->n : st->min_words;
        st->max_words = s->n > st->max_words ? s->n : st->max_words;
        words += (uint64_t)s->n;
        st->single += s->structure == STRUCT_SINGLE;
        st->contrast += s->structure == STRUCT_CONTRAST;
        st->concessive += s->structure == STRUCT_CONCESSIVE;
        st->framed += (size_t)s->framed;
        st->negators += (size_t)s->negators;
        st->swap_flips += (size_t)s->swap_flip;
    }
    st->mean_words = (double)words / (double)n;
    st->bow_ceiling = 1.0 - (double)st->swap_flips / (2.0 * (double)n);
    rc = 0;
out:
    free(labels);
    free(s);
    return rc;
}

static int build_vocab(embedded_task_t *t)
{
    int rc;

    for (int k = 0; k < VOCAB__NSPECIAL; k++) {
        if ((rc = buf_str(&t->vocab, vocab_special_name((vocab_special_t)k))) != 0 ||
            (rc = buf_add(&t->vocab, "\n", 1)) != 0)
            return rc;
        t->vocab_size++;
    }
    for (int l = 0; l < N_OF(word_lists); l++) {
        for (int i = 0; i < word_lists[l].n; i++) {
            const char *w = word_lists[l].words[i];
            int seen = 0;

            /* "not" and "never" serve clauses and frames: listed once. */
            for (int l2 = 0; l2 <= l && !seen; l2++)
                for (int i2 = 0; i2 < (l2 == l ? i : word_lists[l2].n) && !seen; i2++)
                    seen = strcmp(word_lists[l2].words[i2], w) == 0;
            if (seen)
                continue;
            if ((rc = buf_str(&t->vocab, w)) != 0 || (rc = buf_add(&t->vocab, "\n", 1)) != 0)
                return rc;
            t->vocab_size++;
        }
    }
    return 0;
}

/* ---- options ----------------------------------------------------------------------------- */

void embedded_opts_default(embedded_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->train_rows = 8000;
    o->dev_rows = 1000;
    o->max_words = EMBEDDED_SPEC_MAX_WORDS;
    o->depth = 0;
    o->max_clauses = 2;
    o->single_pct = 20;
    o->contrast_pct = 40;
    o->concessive_pct = 40;
    o->opposite_pct = 80;
    o->negation_pct = 15;
    o->frame_pct = 25;
    o->filler_pct = 10;
}

static int check_int(int v, int lo, int hi, int code, const char *name)
{
    if (v < lo || v > hi)
        return err_set(code, "embedded task: %s is %d; expected %d..%d", name, v, lo, hi);
    return 0;
}

int embedded_opts_check(const embedded_opts_t *o)
{
    int rc;

    if (!o)
        return err_set(ERR_INVAL, "embedded task: no options");
    if ((rc = check_int(o->train_rows, 2, EMBEDDED_MAX_ROWS, ERR_RANGE, "train_rows")) != 0 ||
        (rc = check_int(o->dev_rows, 2, EMBEDDED_MAX_ROWS, ERR_RANGE, "dev_rows")) != 0 ||
        (rc = check_int(o->max_words, EMBEDDED_MIN_WORDS, EMBEDDED_MAX_WORDS, ERR_RANGE,
                        "max_words")) != 0 ||
        (rc = check_int(o->depth, 0, EMBEDDED_MAX_DEPTH, ERR_RANGE, "depth")) != 0 ||
        (rc = check_int(o->max_clauses, 2, EMBEDDED_MAX_CLAUSES, ERR_RANGE, "max_clauses")) != 0)
        return rc;
    if ((rc = check_int(o->single_pct, 0, 100, ERR_INVAL, "single_pct")) != 0 ||
        (rc = check_int(o->contrast_pct, 0, 100, ERR_INVAL, "contrast_pct")) != 0 ||
        (rc = check_int(o->concessive_pct, 0, 100, ERR_INVAL, "concessive_pct")) != 0 ||
        (rc = check_int(o->opposite_pct, 0, 100, ERR_INVAL, "opposite_pct")) != 0 ||
        (rc = check_int(o->negation_pct, 0, 100, ERR_INVAL, "negation_pct")) != 0 ||
        (rc = check_int(o->frame_pct, 0, 100, ERR_INVAL, "frame_pct")) != 0 ||
        (rc = check_int(o->filler_pct, 0, 100, ERR_INVAL, "filler_pct")) != 0)
        return rc;
    if (o->single_pct + o->contrast_pct + o->concessive_pct != 100)
        return err_set(ERR_INVAL,
                       "embedded task: single_pct + contrast_pct + concessive_pct is %d + %d + "
                       "%d = %d; expected 100",
                       o->single_pct, o->contrast_pct, o->concessive_pct,
                       o->single_pct + o->contrast_pct + o->concessive_pct);
    /* The shortest multi-clause sentence has 9 words: refuse a mix that could draw only
     * sentences that never fit, rather than spinning through EMBEDDED_MAX_ATTEMPTS. */
    if (o->single_pct == 0 && o->max_words < 2 * EMBEDDED_MIN_WORDS + 1)
        return err_set(ERR_INVAL,
                       "embedded task: max_words %d is too short for two clauses (at least %d "
                       "words) and single_pct is 0",
                       o->max_words, 2 * EMBEDDED_MIN_WORDS + 1);
    return 0;
}

/* ---- the task ---------------------------------------------------------------------------- */

int embedded_generate(const embedded_opts_t *o, embedded_task_t **out)
{
    embedded_task_t *t = NULL;
    hashset_t train_set = {0};
    int rc;

    if (!out)
        return err_set(ERR_INVAL, "embedded_generate: no output");
    *out = NULL;
    if ((rc = embedded_opts_check(o)) != 0)
        return rc;
    t = mem_alloc(1, sizeof *t, "embedded task");
    if (!t)
        return ERR_NOMEM;
    t->opts = *o;
    if ((rc = build_vocab(t)) != 0 || (rc = hashset_init(&train_set, (size_t)o->train_rows)) != 0 ||
        (rc = gen_split(o, DATA_TRAIN, &train_set, &t->split[DATA_TRAIN])) != 0 ||
        (rc = gen_split(o, DATA_DEV, &train_set, &t->split[DATA_DEV])) != 0)
        goto out;
    *out = t;
    t = NULL;
out:
    free(train_set.slot);
    embedded_free(&t);
    return rc;
}

void embedded_free(embedded_task_t **tp)
{
    embedded_task_t *t;

    if (!tp || !*tp)
        return;
    t = *tp;
    free(t->split[0].tsv.p);
    free(t->split[1].tsv.p);
    free(t->vocab.p);
    free(t);
    *tp = NULL;
}

const embedded_opts_t *embedded_options(const embedded_task_t *t)
{
    return &t->opts;
}

const char *embedded_tsv(const embedded_task_t *t, data_split_t split, size_t *len)
{
    const buf_t *b = &t->split[split == DATA_DEV].tsv;

    if (len)
        *len = b->len;
    return b->p;
}

const char *embedded_vocab(const embedded_task_t *t, size_t *len)
{
    if (len)
        *len = t->vocab.len;
    return t->vocab.p;
}

int embedded_vocab_size(const embedded_task_t *t)
{
    return t->vocab_size;
}

void embedded_model(const embedded_task_t *t, embedded_model_t *out)
{
    embedded_spec_model(t->opts.seed, out);
    out->shape.vocab = t->vocab_size;
}

void embedded_recipe(const embedded_task_t *t, embedded_recipe_t *out)
{
    embedded_spec_recipe(t->opts.max_words, out);
}

int embedded_stats(const embedded_task_t *t, data_split_t split, embedded_stats_t *out)
{
    if (!t || !out || (split != DATA_TRAIN && split != DATA_DEV))
        return err_set(ERR_INVAL, "embedded_stats: bad arguments");
    *out = t->split[split].stats;
    return 0;
}

void embedded_describe(const embedded_task_t *t, char *buf, size_t len)
{
    const embedded_stats_t *tr = &t->split[DATA_TRAIN].stats, *dv = &t->split[DATA_DEV].stats;
    const embedded_opts_t *o = &t->opts;

    snprintf(buf, len,
             "embedded task (seed %llu): %zu train / %zu dev sentences, %.1f%% positive, "
             "%d-%d words (mean %.1f), %d%% single / %d%% contrast / %d%% concessive, depth %d, "
             "%.0f%% framed; bag-of-words ceiling %.3f (dev); vocab %d",
             (unsigned long long)o->seed, tr->rows, dv->rows,
             100.0 * (double)(tr->positive + dv->positive) / (double)(tr->rows + dv->rows),
             tr->min_words < dv->min_words ? tr->min_words : dv->min_words,
             tr->max_words > dv->max_words ? tr->max_words : dv->max_words, tr->mean_words,
             o->single_pct, o->contrast_pct, o->concessive_pct, o->depth,
             100.0 * (double)tr->framed / (double)tr->rows, dv->bow_ceiling, t->vocab_size);
}

const data_task_t *embedded_data_task(void)
{
    const data_task_t *task = NULL;

    /* The SST-2 layout is compiled into data.c: it is always found. */
    if (data_task_find("sst2", &task) != 0)
        return NULL;
    return task;
}

int embedded_load_data(const embedded_task_t *t, data_split_t split, data_t **out)
{
    const data_task_t *task = embedded_data_task();
    size_t len;
    const char *text;

    if (!t || !out || (split != DATA_TRAIN && split != DATA_DEV))
        return err_set(ERR_INVAL, "embedded_load_data: bad arguments");
    if (!task)
        return err_set(ERR_INTERNAL, "embedded task: the SST-2 layout is missing");
    text = embedded_tsv(t, split, &len);
    return data_load_task_memory(task, text, len,
                                 split == DATA_TRAIN ? "embedded:train.tsv" : "embedded:dev.tsv",
                                 out);
}

int embedded_load_vocab(const embedded_task_t *t, vocab_t **out)
{
    if (!t || !out)
        return err_set(ERR_INVAL, "embedded_load_vocab: bad arguments");
    return vocab_parse(t->vocab.p, t->vocab.len, "embedded:vocab.txt", out);
}

/* ---- writing the files ------------------------------------------------------------------- */

static int write_file(const char *dir, const char *name, const char *data, size_t len)
{
    char path[4096];
    FILE *f;
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);

    if (n < 0 || (size_t)n >= sizeof path)
        return err_set(ERR_RANGE, "embedded task: path %s/%s is too long", dir, name);
    f = fopen(path, "wb");
    if (!f)
        return err_set(ERR_IO, "embedded task: cannot create %s: %s", path, strerror(errno));
    if (fwrite(data, 1, len, f) != len) {
        int e = errno;

        fclose(f);
        return err_set(ERR_IO, "embedded task: writing %s failed: %s", path, strerror(e));
    }
    if (fclose(f) != 0)
        return err_set(ERR_IO, "embedded task: writing %s failed: %s", path, strerror(errno));
    return 0;
}

int embedded_write(const embedded_task_t *t, const char *dir)
{
    const embedded_opts_t *o;
    char line[1024], readme[4096];
    embedded_model_t m;
    embedded_recipe_t r;
    size_t len;
    const char *p;
    int rc, n;

    if (!t || !dir || !*dir)
        return err_set(ERR_INVAL, "embedded_write: no task or folder");
    o = &t->opts;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return err_set(ERR_IO, "embedded task: cannot create folder %s: %s", dir, strerror(errno));
    embedded_describe(t, line, sizeof line);
    embedded_model(t, &m);
    embedded_recipe(t, &r);
    n = snprintf(readme, sizeof readme,
                 "%s.\n"
                 "Regenerate: autopeft embedded --out DIR --seed %llu --train %d --dev %d "
                 "--max-words %d --depth %d --clauses %d --negation %d --frames %d --fillers %d "
                 "--opposite %d --mix %d,%d,%d\n"
                 "Files: train.tsv and dev.tsv (SST-2 layout: sentence<TAB>label, 0 negative, "
                 "1 positive), vocab.txt (WordPiece, one token per word).\n"
                 "Default model: hidden %d, %d layers, %d heads, intermediate %d, vocab %d, "
                 "%d positions, random weights N(0, %g), no dropout. Recipe: %d epochs, lr %g, "
                 "batch %d, max length %d, prefix MLP width %d.\n"
                 "The grammar and its semantics: docs/embedded-task.md.\n",
                 line, (unsigned long long)o->seed, o->train_rows, o->dev_rows, o->max_words,
                 o->depth, o->max_clauses, o->negation_pct, o->frame_pct, o->filler_pct,
                 o->opposite_pct, o->single_pct, o->contrast_pct, o->concessive_pct,
                 m.shape.hidden, m.shape.layers, m.shape.heads, m.shape.intermediate,
                 m.shape.vocab, m.shape.positions, m.initializer_range, r.epochs,
                 r.learning_rate, r.batch_size, r.max_length, r.prefix_bottleneck);
    if (n < 0 || (size_t)n >= sizeof readme)
        return err_set(ERR_INTERNAL, "embedded task: README text does not fit");
    p = embedded_tsv(t, DATA_TRAIN, &len);
    if ((rc = write_file(dir, "train.tsv", p, len)) != 0)
        return rc;
    p = embedded_tsv(t, DATA_DEV, &len);
    if ((rc = write_file(dir, "dev.tsv", p, len)) != 0)
        return rc;
    if ((rc = write_file(dir, "vocab.txt", t->vocab.p, t->vocab.len)) != 0)
        return rc;
    return write_file(dir, "README.txt", readme, (size_t)n);
}
