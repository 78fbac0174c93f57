/* A tokenised data set: every example of a data_t (worker/inputs/data.h) as the model's input ids and
 * token types ([CLS] a [SEP] (b [SEP]), truncated longest-first to max_length), with its label,
 * packed into flat arrays so that batches are copied out without tokenising again.
 *
 * Built once per (file, tokenizer, max_length) and kept in the worker's cache across trials
 * (worker/trial/trialcache.h): tokenising SST-2's 67k sentences costs far more than a small trial's
 * first steps. Tokenisation runs on a thread pool, one tokenizer per thread; the result does
 * not depend on the number of threads. */
#ifndef AUTOPEFT_TOKSET_H
#define AUTOPEFT_TOKSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker/inputs/data.h"
#include "worker/inputs/tokenizer.h"
#include "worker/inputs/vocab.h"

/* Tokens of one set: far more than the largest GLUE task needs (MNLI: about 16M). */
#define TOKSET_MAX_TOKENS (1ull << 31)

typedef struct tokset tokset_t;

/* Tokenises every example of d. max_length: 2 (3 with pairs) .. 65536. threads >= 1. */
int tokset_build(const data_t *d, const vocab_t *vocab, const tokenizer_options_t *opts,
                 int max_length, int threads, tokset_t **out);
void tokset_free(tokset_t **tp);

size_t tokset_count(const tokset_t *t);
/* Example i: its ids and token types (len of each), and its label. */
const int32_t *tokset_ids(const tokset_t *t, size_t i, int *len);
const int32_t *tokset_types(const tokset_t *t, size_t i);
int tokset_len(const tokset_t *t, size_t i);
int32_t tokset_class(const tokset_t *t, size_t i);    /* classification */
float tokset_target(const tokset_t *t, size_t i);     /* regression */
bool tokset_regression(const tokset_t *t);
int tokset_num_labels(const tokset_t *t);             /* 1 for regression */
/* Examples cut to max_length, tokens in all, bytes held. */
size_t tokset_truncated(const tokset_t *t);
size_t tokset_tokens(const tokset_t *t);
size_t tokset_bytes(const tokset_t *t);

#endif
