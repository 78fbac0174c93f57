/* A tiny, learnable sentiment task and a tiny random BERT for the trial runner's tests (unit and
 * integration): sentences of filler words with one polar word that decides the label, in
 * SST-2's layout, and a vocabulary in which every word is one token. Written by the tests into
 * their own folders; nothing here is real data. */
#ifndef AUTOPEFT_TESTS_TINY_TASK_H
#define AUTOPEFT_TESTS_TINY_TASK_H

#include <stdbool.h>
#include <stdint.h>

/* dir/vocab.txt: the special tokens and the task's words. */
void tiny_write_vocab(const char *dir);
/* dir/train.tsv and dir/dev.tsv (header "sentence<TAB>label"), ntrain and ndev rows from a
 * seed. With regression, the label is a score in [0, 5] (STS-B-like) instead of 0/1. */
void tiny_write_task(const char *dir, int ntrain, int ndev, uint64_t seed, bool regression);
/* A random BERT (hidden 32, `layers` layers, 4 heads, intermediate 64, 32 positions, the tiny
 * vocabulary; weights N(0, 0.1)) in dir: config.json, model.safetensors (no pooler, no
 * classifier, as a pretraining checkpoint), vocab.txt, tokenizer_config.json. */
void tiny_write_model(const char *dir, int layers, uint64_t seed);

#endif
