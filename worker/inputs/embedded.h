/* The embedded default task: a seeded synthetic sentiment task generated in code, which
 * `autopeft run` searches when the user names no task, and which tests and demos use instead
 * of real data.
 *
 * Sentences come from a small grammar of film reviews: clauses ("the plot was not very good"),
 * embedding frames with scope over the clause after them ("nobody doubted that ..."), contrast
 * ("X but Y": Y decides) and concession ("X although Y" and "although Y X": X decides). The
 * label is the polarity of the deciding clause after every negation in its scope. Because the
 * same words in another order mean the opposite ("X but Y" and "Y but X"; moving "not" from one
 * clause to the other), no bag-of-words model can do much better than chance on the
 * multi-clause sentences: the generator reports that ceiling (docs/embedded-task.md gives the
 * argument and the measured figures).
 *
 * The task is produced as the bytes of the files a user would bring: train.tsv and dev.tsv in
 * SST-2's layout (header "sentence<TAB>label", labels 0 negative / 1 positive) and a WordPiece
 * vocab.txt in which every word of the grammar is one token. They go through the same readers
 * as real data (data_load_task_memory with the "sst2" layout, vocab_parse), so the trial runner
 * has one path for both. Same options, same bytes, on every machine: every choice is an integer
 * drawn from common/rng.h; no floating point, locale or hash-table order decides anything. */
#ifndef AUTOPEFT_EMBEDDED_H
#define AUTOPEFT_EMBEDDED_H

#include <stddef.h>
#include <stdint.h>

#include "common/embedded_spec.h"
#include "common/shape.h"
#include "worker/inputs/data.h"
#include "worker/inputs/vocab.h"

/* Hard caps on the options (they may come from flags and config files). */
#define EMBEDDED_MAX_ROWS 1000000   /* per split */
#define EMBEDDED_MIN_WORDS 4        /* the shortest sentence: "the plot was good" */
#define EMBEDDED_MAX_WORDS 62       /* so [CLS] + words + [SEP] fit 64 positions */
#define EMBEDDED_MAX_DEPTH 4        /* embedding frames around one clause */
#define EMBEDDED_MAX_CLAUSES 4      /* clauses in a "but" chain */
/* A row is drawn again when it is too long, has the wrong label or repeats a train sentence
 * (dev); options under which this many draws give nothing are refused as impossible. */
#define EMBEDDED_MAX_ATTEMPTS 10000

typedef struct {
    uint64_t seed;
    int train_rows, dev_rows;   /* sentences per split, 2..EMBEDDED_MAX_ROWS */
    int max_words;              /* words per sentence (model length = max_words + 2) */
    int depth;                  /* most frames around one clause (0: none) */
    int max_clauses;            /* most clauses in a "but"/"yet" chain, 2.. */
    /* Percentages: integers, so that no floating-point rounding can change the data. */
    int single_pct;             /* structures: one clause, */
    int contrast_pct;           /* a "but"/"yet" chain, */
    int concessive_pct;         /* "although"/"though" (infix or prefix); the three sum to 100 */
    int opposite_pct;           /* neighbouring clauses of opposite polarity */
    int negation_pct;           /* a clause says "not"/"never"; a frame "never"/"did not" */
    int frame_pct;              /* a clause gets a(nother) frame, up to depth */
    int filler_pct;             /* intensifiers, a sentence adverb, a second adjective */
} embedded_opts_t;

/* The model and recipe (embedded_model_t, embedded_recipe_t) are common/embedded_spec.h's:
 * the coordinator needs them too. */

/* What a split holds, from the generator's own bookkeeping (tests check it independently). */
typedef struct {
    size_t rows, positive;
    int min_words, max_words;
    double mean_words;
    size_t single, contrast, concessive;  /* rows by structure */
    size_t framed;           /* rows with at least one frame */
    size_t negators;         /* negating words in all (not, never, nobody, doubted, ...) */
    /* Rows whose twin, the same words with the clauses in reverse order (a grammatical sentence
     * the generator draws as often), has the other label. No classifier that sees only the
     * multiset of words can be right on both of a twin pair, so on this distribution its
     * accuracy is at most 1 - swap_flips / (2 rows): bow_ceiling. */
    size_t swap_flips;
    double bow_ceiling;
} embedded_stats_t;

typedef struct embedded_task embedded_task_t;

/* Defaults: seed 1, 8000 train and 1000 dev sentences, at most 22 words (24 word pieces), no
 * frames (depth 0; frame_pct 25 once depth is raised), chains of up to 2 clauses, 20% single /
 * 40% contrast / 40% concessive, 80% opposite, 15% negation, 10% fillers. */
void embedded_opts_default(embedded_opts_t *o);
/* Every field in range and the structure shares summing to 100; ERR_INVAL (ERR_RANGE for sizes
 * past the caps) naming the option and its range otherwise. */
int embedded_opts_check(const embedded_opts_t *o);

/* Generates the task: the default in about 20 ms, a million train sentences in about a second.
 * Dev sentences never repeat a train sentence (with very large train splits that thins out the
 * short single-clause ones in dev). ERR_INVAL when the options are bad or cannot produce
 * sentences within max_words. */
int embedded_generate(const embedded_opts_t *o, embedded_task_t **out);
void embedded_free(embedded_task_t **tp);

const embedded_opts_t *embedded_options(const embedded_task_t *t);
/* The TSV text of a split and its length (NUL-terminated, owned by t). */
const char *embedded_tsv(const embedded_task_t *t, data_split_t split, size_t *len);
/* vocab.txt: [PAD] [UNK] [CLS] [SEP] [MASK], then every word of the grammar, one a line. */
const char *embedded_vocab(const embedded_task_t *t, size_t *len);
int embedded_vocab_size(const embedded_task_t *t);
void embedded_model(const embedded_task_t *t, embedded_model_t *out);
void embedded_recipe(const embedded_task_t *t, embedded_recipe_t *out);
int embedded_stats(const embedded_task_t *t, data_split_t split, embedded_stats_t *out);
/* One line for logs: sizes, balance, lengths, structure mix, bag-of-words ceiling, vocab. */
void embedded_describe(const embedded_task_t *t, char *buf, size_t len);

/* The splits and the vocabulary through the project's readers (labels named "embedded:train",
 * "embedded:dev", "embedded:vocab.txt" in messages). */
int embedded_load_data(const embedded_task_t *t, data_split_t split, data_t **out);
int embedded_load_vocab(const embedded_task_t *t, vocab_t **out);
/* The data layout of the splits: SST-2's. */
const data_task_t *embedded_data_task(void);

/* Writes dir/train.tsv, dir/dev.tsv, dir/vocab.txt and dir/README.txt (creating dir, which may
 * exist). ERR_IO naming the file on failure. */
int embedded_write(const embedded_task_t *t, const char *dir);

#endif
