/* The embedded default task: determinism, balance, lengths, the readers, the semantics (checked
 * by the tests' own parser, embedded_oracle.c), the order properties the bag-of-words ceiling
 * rests on, difficulty knobs, bad options and the files written. The bag-of-words and n-gram
 * baselines are in test_embedded_bow.c. */
#include <sys/stat.h>

#include "tests/harness.h"
#include "tests/unit/worker/inputs/embedded_oracle.h"
#include "worker/inputs/data.h"
#include "worker/inputs/embedded.h"
#include "worker/inputs/tokenizer.h"
#include "worker/inputs/vocab.h"

/* FNV-1a 64 of the default task's train.tsv, dev.tsv and vocab.txt, in that order. A change to
 * the grammar, the defaults or the draw order changes it: then look at the new data, update the
 * figures in docs/embedded-task.md, and commit the new value on purpose. */
#define DEFAULT_DIGEST 0xa17895caee9b76b3ull

static uint64_t fnv(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

static uint64_t task_digest(const embedded_task_t *t)
{
    uint64_t h = 1469598103934665603ull;
    size_t n;
    const char *p;

    p = embedded_tsv(t, DATA_TRAIN, &n);
    h = fnv(h, p, n);
    p = embedded_tsv(t, DATA_DEV, &n);
    h = fnv(h, p, n);
    p = embedded_vocab(t, &n);
    return fnv(h, p, n);
}

static embedded_task_t *generate(const embedded_opts_t *o)
{
    embedded_task_t *t = NULL;

    if (embedded_generate(o, &t) != 0)
        FAIL("embedded_generate: %s", err_msg());
    return t;
}

/* Calls fn(sentence, label, arg) for each row of a split (sentence copied, writable). */
typedef void (*row_fn)(char *sentence, int label, void *arg);

static size_t for_rows(const embedded_task_t *t, data_split_t split, row_fn fn, void *arg)
{
    size_t len, rows = 0;
    const char *p = embedded_tsv(t, split, &len), *end = p + len;
    char line[4096];

    p = strchr(p, '\n');
    ASSERT_NOT_NULL(p);
    for (p++; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *tab;

        ASSERT_NOT_NULL(nl);
        tab = memchr(p, '\t', (size_t)(nl - p));
        ASSERT_NOT_NULL(tab);
        ASSERT_TRUE((size_t)(tab - p) < sizeof line);
        ASSERT_EQ(nl - tab, 2);
        ASSERT_TRUE(tab[1] == '0' || tab[1] == '1');
        memcpy(line, p, (size_t)(tab - p));
        line[tab - p] = '\0';
        fn(line, tab[1] - '0', arg);
        rows++;
        p = nl + 1;
    }
    return rows;
}

static void parse_or_fail(char *s, oracle_t *o)
{
    char copy[4096], err[256];

    snprintf(copy, sizeof copy, "%s", s);
    if (oracle_parse(s, o, err, sizeof err) != 0)
        FAIL("not a sentence of the grammar: \"%s\": %s", copy, err);
}

TEST(defaults_digest_and_determinism)
{
    embedded_opts_t o;
    embedded_task_t *a, *b;
    embedded_stats_t st;
    size_t la, lb;
    char line[1024];

    embedded_opts_default(&o);
    ASSERT_EQ(embedded_opts_check(&o), 0);
    ASSERT_EQ(o.train_rows, 8000);
    ASSERT_EQ(o.dev_rows, 1000);
    a = generate(&o);
    b = generate(&o);
    for (int split = DATA_TRAIN; split <= DATA_DEV; split++) {
        const char *pa = embedded_tsv(a, (data_split_t)split, &la);
        const char *pb = embedded_tsv(b, (data_split_t)split, &lb);

        ASSERT_EQ_U(la, lb);
        ASSERT_EQ(memcmp(pa, pb, la), 0);
    }
    ASSERT_EQ(embedded_vocab_size(a), 89);
    embedded_describe(a, line, sizeof line);
    printf("%s\n", line);
    printf("digest 0x%016" PRIx64 "\n", task_digest(a));
    ASSERT_EQ_U(task_digest(a), DEFAULT_DIGEST);
    ASSERT_EQ(embedded_stats(a, DATA_TRAIN, &st), 0);
    ASSERT_EQ_U(st.rows, 8000);
    embedded_free(&b);

    /* Another seed: other sentences. */
    o.seed = 2;
    b = generate(&o);
    ASSERT_NE(task_digest(a), task_digest(b));
    embedded_free(&a);
    embedded_free(&b);
    ASSERT_TRUE(a == NULL);
    embedded_free(&a); /* freeing NULL is fine */
}

/* Each row has its own stream: the dev split does not move when the train size changes, except
 * rows that had to avoid a train sentence. */
typedef struct {
    char (*rows)[160];
    int k;
} rows_t;

static void collect_row(char *s, int label, void *arg)
{
    rows_t *r = arg;

    snprintf(r->rows[r->k++], 160, "%s\t%d", s, label);
}

TEST(dev_stable_across_train_sizes)
{
    static char small[1000][160], large[1000][160];
    rows_t a_rows = {small, 0}, b_rows = {large, 0};
    embedded_opts_t o;
    embedded_task_t *a, *b;
    int same = 0;

    embedded_opts_default(&o);
    o.train_rows = 500;
    a = generate(&o);
    ASSERT_EQ_U(for_rows(a, DATA_DEV, collect_row, &a_rows), 1000);
    o.train_rows = 8000;
    b = generate(&o);
    ASSERT_EQ_U(for_rows(b, DATA_DEV, collect_row, &b_rows), 1000);
    for (int i = 0; i < 1000; i++)
        same += strcmp(small[i], large[i]) == 0;
    printf("dev rows unchanged when train grows 500 -> 8000: %d of 1000\n", same);
    ASSERT_GE(same, 950);
    ASSERT_LT(same, 1000); /* some rows did move away from a train sentence */
    embedded_free(&a);
    embedded_free(&b);
}

TEST(balance_and_lengths)
{
    static const int words[] = {4, 9, 12, 22, 40};
    embedded_opts_t o;

    for (size_t k = 0; k < sizeof words / sizeof words[0]; k++) {
        embedded_task_t *t;
        embedded_stats_t tr, dv;

        embedded_opts_default(&o);
        o.train_rows = 1001; /* odd: one more positive */
        o.dev_rows = 300;
        o.max_words = words[k];
        if (words[k] >= 40) {
            o.depth = 3;
            o.frame_pct = 60;
            o.max_clauses = 4;
        }
        t = generate(&o);
        ASSERT_EQ(embedded_stats(t, DATA_TRAIN, &tr), 0);
        ASSERT_EQ(embedded_stats(t, DATA_DEV, &dv), 0);
        ASSERT_EQ_U(tr.rows, 1001);
        ASSERT_EQ_U(tr.positive, 501);
        ASSERT_EQ_U(dv.rows, 300);
        ASSERT_EQ_U(dv.positive, 150);
        ASSERT_LE(tr.max_words, words[k]);
        ASSERT_LE(dv.max_words, words[k]);
        ASSERT_GE(tr.min_words, EMBEDDED_MIN_WORDS);
        printf("max_words %d: lengths %d-%d, mean %.1f\n", words[k], tr.min_words,
               tr.max_words, tr.mean_words);
        embedded_free(&t);
    }
}

/* The readers: data.c with the SST-2 layout, vocab.c, and the tokenizer giving one id per
 * word. */
TEST(readers_accept_the_output)
{
    embedded_opts_t o;
    embedded_task_t *t;
    vocab_t *v = NULL;
    tokenizer_t *tok = NULL;
    tokenizer_options_t topt;
    data_t *d = NULL;

    embedded_opts_default(&o);
    o.train_rows = 2000;
    o.dev_rows = 500;
    t = generate(&o);
    ASSERT_EQ(embedded_load_vocab(t, &v), 0);
    ASSERT_EQ(vocab_size(v), embedded_vocab_size(t));
    for (int k = 0; k < VOCAB__NSPECIAL; k++)
        ASSERT_EQ(vocab_special(v, (vocab_special_t)k), k);
    tokenizer_options_default(&topt);
    ASSERT_EQ(tokenizer_new(v, &topt, &tok), 0);
    /* Every word of the grammar is one token: each vocabulary entry reads back as itself. */
    for (int id = VOCAB__NSPECIAL; id < vocab_size(v); id++) {
        const char *w = vocab_token(v, id);
        const int32_t *ids;
        size_t n;

        ASSERT_TRUE(oracle_known_word(w));
        ASSERT_EQ(tokenizer_pieces(tok, w, strlen(w), &ids, &n), 0);
        ASSERT_EQ_U(n, 1);
        ASSERT_EQ(ids[0], id);
    }
    for (int split = DATA_TRAIN; split <= DATA_DEV; split++) {
        embedded_stats_t st;
        size_t len;
        const char *tsv = embedded_tsv(t, (data_split_t)split, &len);

        ASSERT_EQ(strncmp(tsv, "sentence\tlabel\n", 15), 0);
        ASSERT_EQ(embedded_load_data(t, (data_split_t)split, &d), 0);
        ASSERT_EQ(embedded_stats(t, (data_split_t)split, &st), 0);
        ASSERT_EQ_U(data_count(d), st.rows);
        ASSERT_EQ_U(data_skipped(d), 0);
        ASSERT_EQ(data_num_labels(d), 2);
        for (size_t i = 0; i < data_count(d); i++) {
            const char *s = data_text(d, i);
            tokenizer_encoding_t enc;
            int words = 1;

            for (const char *c = s; *c; c++)
                words += *c == ' ';
            ASSERT_EQ(tokenizer_encode(tok, s, strlen(s), NULL, 0, 0, &enc), 0);
            ASSERT_EQ(enc.len, words + 2);
            ASSERT_LE(enc.len, o.max_words + 2);
            for (int k = 0; k < enc.len; k++)
                ASSERT_NE(enc.ids[k], vocab_special(v, VOCAB_UNK));
            ASSERT_TRUE(data_label(d, i) == 0 || data_label(d, i) == 1);
        }
        data_free(&d);
    }
    /* The same bytes through the generic TSV reader. */
    {
        static const char *const labels[] = {"0", "1"};
        data_spec_t spec = {.format = TABLE_TSV, .text = "sentence", .label = "label",
                            .labels = labels, .nlabels = 2};
        size_t len;
        const char *tsv = embedded_tsv(t, DATA_DEV, &len);

        ASSERT_EQ(data_load_memory(tsv, len, "dev.tsv", &spec, &d), 0);
        ASSERT_EQ_U(data_count(d), 500);
        data_free(&d);
    }
    tokenizer_free(&tok);
    vocab_free(&v);
    embedded_free(&t);
}

/* ---- semantics, checked by the tests' own parser --------------------------------------- */

typedef struct {
    size_t rows, disagree, single, contrast, concessive, framed, negators, flips;
    size_t long_chains;
    /* first/last clause polarities of multi-clause rows, per structure: [structure][first][last] */
    size_t ends[3][2][2];
} tally_t;

static void tally_row(char *s, int label, void *arg)
{
    tally_t *t = arg;
    oracle_t o;
    int framed = 0;

    parse_or_fail(s, &o);
    t->rows++;
    t->disagree += o.label != label;
    t->single += o.structure == ORACLE_SINGLE;
    t->contrast += o.structure == ORACLE_CONTRAST;
    t->concessive += o.structure == ORACLE_CONCESSIVE;
    t->long_chains += o.nclauses > 2;
    for (int c = 0; c < o.nclauses; c++) {
        framed |= o.c[c].frames > 0;
        t->negators += (size_t)o.c[c].flips;
    }
    t->framed += (size_t)framed;
    if (o.nclauses > 1) {
        int first = o.c[0].pol, last = o.c[o.nclauses - 1].pol;

        t->flips += first != last;
        t->ends[o.structure][first][last]++;
    }
}

static void check_against_oracle(const embedded_opts_t *o, tally_t *out)
{
    embedded_task_t *t = generate(o);

    memset(out, 0, sizeof *out);
    for (int split = DATA_TRAIN; split <= DATA_DEV; split++) {
        tally_t x = {0};
        embedded_stats_t st;

        for_rows(t, (data_split_t)split, tally_row, &x);
        ASSERT_EQ(embedded_stats(t, (data_split_t)split, &st), 0);
        ASSERT_EQ_U(x.disagree, 0);
        ASSERT_EQ_U(x.rows, st.rows);
        ASSERT_EQ_U(x.single, st.single);
        ASSERT_EQ_U(x.contrast, st.contrast);
        ASSERT_EQ_U(x.concessive, st.concessive);
        ASSERT_EQ_U(x.framed, st.framed);
        ASSERT_EQ_U(x.negators, st.negators);
        ASSERT_EQ_U(x.flips, st.swap_flips);
        if (split == DATA_TRAIN)
            *out = x;
    }
    embedded_free(&t);
}

TEST(labels_follow_the_semantics)
{
    embedded_opts_t o;
    tally_t x;

    /* Defaults, and the hardest settings the options allow. */
    embedded_opts_default(&o);
    check_against_oracle(&o, &x);
    printf("default train: %zu single, %zu contrast, %zu concessive, %zu negators\n", x.single,
           x.contrast, x.concessive, x.negators);
    embedded_opts_default(&o);
    o.train_rows = 3000;
    o.max_words = EMBEDDED_MAX_WORDS;
    o.depth = EMBEDDED_MAX_DEPTH;
    o.max_clauses = EMBEDDED_MAX_CLAUSES;
    o.frame_pct = 70;
    o.negation_pct = 50;
    o.filler_pct = 100;
    o.opposite_pct = 50;
    check_against_oracle(&o, &x);
    printf("hard train: %zu framed, %zu chains of 3+ clauses, %zu negators\n", x.framed,
           x.long_chains, x.negators);
    ASSERT_GT(x.framed, 1500);
    ASSERT_GT(x.long_chains, 100);
}

/* The twin of a sentence: its clauses in reverse order, the connectives where they were. */
static int twin_of(const oracle_t *o, const char **w)
{
    int n = 0;

    if (o->adverb)
        w[n++] = o->w[0];
    if (o->prefix)
        w[n++] = o->w[o->conn[1]];
    for (int k = o->nclauses - 1; k >= 0; k--) {
        const oracle_clause_t *c = &o->c[k];

        if (k != o->nclauses - 1 && !o->prefix)
            w[n++] = o->w[o->conn[o->nclauses - 1 - k]];
        for (int i = c->start; i < c->end; i++)
            w[n++] = o->w[i];
    }
    return n;
}

static int same_multiset(const char *const *a, const char *const *b, int n)
{
    int used[ORACLE_MAX_WORDS] = {0};

    for (int i = 0; i < n; i++) {
        int found = 0;

        for (int j = 0; j < n && !found; j++)
            if (!used[j] && strcmp(a[i], b[j]) == 0)
                used[j] = found = 1;
        if (!found)
            return 0;
    }
    return 1;
}

typedef struct {
    size_t multi, twins_flip, twins_same, moved, moved_flip;
} order_t;

static void order_row(char *s, int label, void *arg)
{
    order_t *r = arg;
    oracle_t o, t;
    const char *w[ORACLE_MAX_WORDS];
    char text[4096];
    int n;

    (void)label;
    parse_or_fail(s, &o);
    if (o.nclauses < 2)
        return;
    r->multi++;
    /* (1) Twins: same words, clauses reversed. */
    n = twin_of(&o, w);
    ASSERT_EQ(n, o.n);
    ASSERT_TRUE(same_multiset(w, o.w, n));
    oracle_join(w, n, text, sizeof text);
    parse_or_fail(text, &t);
    if (o.c[0].pol != o.c[o.nclauses - 1].pol) {
        ASSERT_NE(t.label, o.label);
        r->twins_flip++;
    } else {
        ASSERT_EQ(t.label, o.label);
        r->twins_same++;
    }
    /* (2) Moving "not": from the other clause into the deciding one (or back), when the
     * deciding clause has none and its copula takes one. */
    if (o.nclauses == 2) {
        const oracle_clause_t *d = &o.c[o.decider], *u = &o.c[1 - o.decider];
        const oracle_clause_t *from = NULL, *to = NULL;

        if (u->neg >= 0 && d->neg < 0)
            from = u, to = d;
        else if (d->neg >= 0 && u->neg < 0)
            from = d, to = u;
        if (from && (strcmp(o.w[to->cop], "is") == 0 || strcmp(o.w[to->cop], "was") == 0)) {
            int m = 0;

            for (int i = 0; i < o.n; i++) {
                if (i == from->neg)
                    continue;
                w[m++] = o.w[i];
                if (i == to->cop)
                    w[m++] = o.w[from->neg];
            }
            ASSERT_EQ(m, o.n);
            ASSERT_TRUE(same_multiset(w, o.w, m));
            oracle_join(w, m, text, sizeof text);
            parse_or_fail(text, &t);
            r->moved++;
            r->moved_flip += t.label != o.label;
        }
    }
}

/* The properties the bag-of-words ceiling rests on: the clause-reversed twin of a sentence has
 * the same words and, when its end clauses differ in polarity, the other label; moving "not"
 * between the clauses flips the label; and the generator draws a twin as often as the sentence
 * (the end-polarity patterns (+,-) and (-,+) are equally frequent). */
TEST(order_and_scope_decide)
{
    embedded_opts_t o;
    embedded_task_t *t;
    embedded_stats_t st;
    order_t r = {0};
    tally_t x = {0};

    embedded_opts_default(&o);
    o.dev_rows = 4000;
    t = generate(&o);
    for_rows(t, DATA_DEV, order_row, &r);
    ASSERT_EQ(embedded_stats(t, DATA_DEV, &st), 0);
    printf("dev %zu rows: %zu multi-clause; twins with the other label %zu, with the same %zu;"
           " bag-of-words ceiling 1 - %zu/(2*%zu) = %.3f\n",
           st.rows, r.multi, r.twins_flip, r.twins_same, r.twins_flip, st.rows, st.bow_ceiling);
    printf("moving not/never between the clauses: %zu rows, label flipped in %zu\n", r.moved,
           r.moved_flip);
    ASSERT_EQ_U(r.twins_flip, st.swap_flips);
    ASSERT_GT(r.twins_flip, st.rows / 2);    /* so the ceiling is below 0.75 */
    ASSERT_TRUE(st.bow_ceiling < 0.75);
    ASSERT_GT(r.moved, 100);
    ASSERT_EQ_U(r.moved_flip, r.moved);

    /* Symmetry, on the 8000 train rows. */
    for_rows(t, DATA_TRAIN, tally_row, &x);
    for (int s = ORACLE_CONTRAST; s <= ORACLE_CONCESSIVE; s++) {
        double a = (double)x.ends[s][1][0], b = (double)x.ends[s][0][1];

        printf("%s: first+/last- %.0f, first-/last+ %.0f, equal ends %zu\n",
               s == ORACLE_CONTRAST ? "contrast" : "concessive", a, b,
               x.ends[s][0][0] + x.ends[s][1][1]);
        ASSERT_GT(a + b, 1000);
        ASSERT_TRUE(fabs(a - b) <= 4.0 * sqrt(a + b));
    }
    embedded_free(&t);
}

TEST(difficulty_knobs)
{
    embedded_opts_t o;
    embedded_task_t *easy, *hard;
    embedded_stats_t e, h;

    embedded_opts_default(&o);
    easy = generate(&o);
    o.depth = 2;
    o.frame_pct = 50;
    o.negation_pct = 30;
    o.max_clauses = 3;
    o.max_words = 40;
    hard = generate(&o);
    ASSERT_EQ(embedded_stats(easy, DATA_TRAIN, &e), 0);
    ASSERT_EQ(embedded_stats(hard, DATA_TRAIN, &h), 0);
    printf("default: mean %.1f words, %zu framed, %.2f negators/row; harder: mean %.1f words, "
           "%zu framed, %.2f negators/row, max %d words\n",
           e.mean_words, e.framed, (double)e.negators / (double)e.rows, h.mean_words, h.framed,
           (double)h.negators / (double)h.rows, h.max_words);
    ASSERT_EQ_U(e.framed, 0);
    ASSERT_GT(h.framed, h.rows / 2);
    ASSERT_TRUE(h.mean_words > e.mean_words + 4.0);
    ASSERT_TRUE((double)h.negators / (double)h.rows > 2.0 * (double)e.negators / (double)e.rows);
    ASSERT_LE(e.max_words, 22);
    ASSERT_GT(h.max_words, 22);
    embedded_free(&easy);
    embedded_free(&hard);

    /* All single clauses: no twin, so nothing caps a bag-of-words model. */
    embedded_opts_default(&o);
    o.single_pct = 100;
    o.contrast_pct = o.concessive_pct = 0;
    easy = generate(&o);
    ASSERT_EQ(embedded_stats(easy, DATA_DEV, &e), 0);
    ASSERT_EQ_U(e.swap_flips, 0);
    ASSERT_NEAR(e.bow_ceiling, 1.0, 0.0);
    embedded_free(&easy);
}

TEST(bad_options_rejected)
{
    static const struct {
        const char *field;
        int code;
        const char *message;
    } cases[] = {
        {"train_rows", ERR_RANGE, "train_rows is 1; expected 2..1000000"},
        {"dev_rows", ERR_RANGE, "dev_rows is 1000001; expected 2..1000000"},
        {"max_words", ERR_RANGE, "max_words is 3; expected 4..62"},
        {"depth", ERR_RANGE, "depth is 5; expected 0..4"},
        {"max_clauses", ERR_RANGE, "max_clauses is 1; expected 2..4"},
        {"negation_pct", ERR_INVAL, "negation_pct is -1; expected 0..100"},
        {"filler_pct", ERR_INVAL, "filler_pct is 101; expected 0..100"},
        {"mix", ERR_INVAL, "single_pct + contrast_pct + concessive_pct is 20 + 40 + 41 = 101"},
        {"short", ERR_INVAL, "max_words 8 is too short for two clauses"},
    };
    /* Not NULL, so that the test sees embedded_generate clear it on failure. */
    embedded_task_t *t = (embedded_task_t *)&t;

    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        embedded_opts_t o;
        const char *f = cases[k].field;

        embedded_opts_default(&o);
        if (!strcmp(f, "train_rows"))
            o.train_rows = 1;
        else if (!strcmp(f, "dev_rows"))
            o.dev_rows = EMBEDDED_MAX_ROWS + 1;
        else if (!strcmp(f, "max_words"))
            o.max_words = 3;
        else if (!strcmp(f, "depth"))
            o.depth = 5;
        else if (!strcmp(f, "max_clauses"))
            o.max_clauses = 1;
        else if (!strcmp(f, "negation_pct"))
            o.negation_pct = -1;
        else if (!strcmp(f, "filler_pct"))
            o.filler_pct = 101;
        else if (!strcmp(f, "mix"))
            o.concessive_pct = 41;
        else {
            o.single_pct = 0;
            o.contrast_pct = 60;
            o.max_words = 8;
        }
        ASSERT_EQ(embedded_opts_check(&o), cases[k].code);
        ASSERT_CONTAINS(err_msg(), cases[k].message);
        ASSERT_EQ(embedded_generate(&o, &t), cases[k].code);
        ASSERT_TRUE(t == NULL);
    }
    ASSERT_EQ(embedded_generate(NULL, &t), ERR_INVAL);
    ASSERT_EQ(embedded_opts_check(NULL), ERR_INVAL);

    /* Valid options that cannot produce a sentence: refused after the draws, with advice. */
    {
        embedded_opts_t o;

        embedded_opts_default(&o);
        o.single_pct = 0;
        o.contrast_pct = 100;
        o.concessive_pct = 0;
        o.max_words = 10;
        o.depth = 4;
        o.frame_pct = 100;
        ASSERT_EQ(embedded_generate(&o, &t), ERR_INVAL);
        ASSERT_CONTAINS(err_msg(), "sentence of at most 10 words after 10000 draws");
        ASSERT_CONTAINS(err_msg(), "raise max_words");
        ASSERT_TRUE(t == NULL);
    }
}

TEST(write_folder)
{
    embedded_opts_t o;
    embedded_task_t *t;
    char dir[1024], path[1200], *text;
    size_t len, want;
    data_t *d = NULL;
    vocab_t *v = NULL;
    const data_task_t *task = embedded_data_task();
    FILE *f;

    embedded_opts_default(&o);
    o.train_rows = 300;
    o.dev_rows = 100;
    o.seed = 77;
    t = generate(&o);
    snprintf(dir, sizeof dir, "%s/task", harness_tmpdir());
    ASSERT_EQ(embedded_write(t, dir), 0);
    ASSERT_EQ(embedded_write(t, dir), 0); /* an existing folder is fine */
    snprintf(path, sizeof path, "%s/train.tsv", dir);
    text = harness_slurp(path, &len);
    ASSERT_NOT_NULL(embedded_tsv(t, DATA_TRAIN, &want));
    ASSERT_EQ_U(len, want);
    ASSERT_EQ(memcmp(text, embedded_tsv(t, DATA_TRAIN, NULL), len), 0);
    free(text);
    ASSERT_NOT_NULL(task);
    ASSERT_EQ(data_load_task(task, path, &d), 0);
    ASSERT_EQ_U(data_count(d), 300);
    data_free(&d);
    snprintf(path, sizeof path, "%s/dev.tsv", dir);
    ASSERT_EQ(data_load_task(task, path, &d), 0);
    ASSERT_EQ_U(data_count(d), 100);
    data_free(&d);
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    ASSERT_EQ(vocab_load(path, &v), 0);
    ASSERT_EQ(vocab_size(v), embedded_vocab_size(t));
    vocab_free(&v);
    snprintf(path, sizeof path, "%s/README.txt", dir);
    text = harness_slurp(path, &len);
    ASSERT_CONTAINS(text, "--seed 77 --train 300 --dev 100");
    ASSERT_CONTAINS(text, "bag-of-words ceiling");
    free(text);

    /* A folder that cannot be made: the path is named. */
    snprintf(path, sizeof path, "%s/plain-file", harness_tmpdir());
    f = fopen(path, "w");
    ASSERT_NOT_NULL(f);
    fclose(f);
    snprintf(dir, sizeof dir, "%s/plain-file/sub", harness_tmpdir());
    ASSERT_EQ(embedded_write(t, dir), ERR_IO);
    ASSERT_CONTAINS(err_msg(), "plain-file/sub");
    ASSERT_EQ(embedded_write(t, path), ERR_IO);
    ASSERT_CONTAINS(err_msg(), "plain-file");
    embedded_free(&t);
}

TEST(model_and_recipe_defaults)
{
    embedded_opts_t o;
    embedded_task_t *t;
    embedded_model_t m;
    embedded_recipe_t r;

    embedded_opts_default(&o);
    t = generate(&o);
    embedded_model(t, &m);
    embedded_recipe(t, &r);
    ASSERT_EQ(shape_check(&m.shape), 0);
    ASSERT_EQ(m.shape.vocab, embedded_vocab_size(t));
    ASSERT_EQ(m.shape.hidden % m.shape.heads, 0);
    ASSERT_GE(m.shape.positions, r.max_length);
    ASSERT_EQ(r.max_length, o.max_words + 2);
    ASSERT_LE(r.max_length, 24);
    ASSERT_EQ(m.shape.labels, 2);
    ASSERT_EQ_U(m.seed, o.seed);
    ASSERT_TRUE(m.initializer_range > 0.0 && m.initializer_range < 1.0);
    ASSERT_TRUE(r.epochs >= 1 && r.batch_size >= 1 && r.learning_rate > 0.0);
    printf("model: hidden %d, %d layers, %d heads, ff %d, vocab %d, %d positions, init %.2f, "
           "%llu backbone parameters; recipe: %d epochs x %d rows, batch %d, lr %g\n",
           m.shape.hidden, m.shape.layers, m.shape.heads, m.shape.intermediate, m.shape.vocab,
           m.shape.positions, m.initializer_range,
           (unsigned long long)shape_backbone_params(&m.shape), r.epochs, o.train_rows,
           r.batch_size, r.learning_rate);
    embedded_free(&t);
}
