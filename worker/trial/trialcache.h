/* The worker's cache across trials: loaded checkpoints, vocabularies and tokenised data sets,
 * so that the second trial on a worker starts at once instead of reading and tokenising again.
 *
 * Entries are found by a text key that the trial runner builds from what determines the
 * object: each input file's identity (path, device, inode, size and modification time in
 * nanoseconds: a file rewritten in place, or replaced, gets a new key) and the options that
 * shape the result (labels, tokenizer settings, maximum length). A cached object is never
 * stale: a changed file is a different key, and the old entry ages out.
 *
 * Bounded by kind: at most max_models models (the large entries: a BERT-base is 440 MB) and
 * max_data_bytes of tokenised data; least recently used entries go first. Entries handed out
 * during a trial are pinned until trialcache_unpin_all (the end of the trial), so eviction never
 * frees an object in use; the cache may exceed its bounds meanwhile.
 *
 * Not thread-safe: one trial at a time uses a cache (the worker daemon runs its trials on one
 * thread). Trials may change the mutable parts of a cached model (the randomly initialised head
 * tensors a checkpoint lacks, dropout), which the runner sets again at every trial. */
#ifndef AUTOPEFT_TRIALCACHE_H
#define AUTOPEFT_TRIALCACHE_H

#include <stdbool.h>
#include <stddef.h>

#define TRIALCACHE_KEY_MAX 8192

typedef enum {
    TRIALCACHE_MODEL = 0,   /* model_t */
    TRIALCACHE_VOCAB,       /* vocabulary and tokenizer options */
    TRIALCACHE_DATA,        /* tokset_t */
    TRIALCACHE__KINDS
} trialcache_kind_t;

typedef struct {
    int max_models;          /* default 2 */
    int max_vocabs;          /* default 4 */
    size_t max_data_bytes;   /* default 2 GiB */
} trialcache_opts_t;

typedef struct trialcache trialcache_t;

void trialcache_opts_default(trialcache_opts_t *o);
trialcache_t *trialcache_new(const trialcache_opts_t *o);
void trialcache_free(trialcache_t **cp);

/* The object under key (pinned, and now the most recently used), or NULL. */
void *trialcache_get(trialcache_t *c, trialcache_kind_t kind, const char *key);
/* Takes ownership of obj (freed with free_fn on eviction or trialcache_free), pinned. ERR_NOMEM
 * (obj freed) when the entry cannot be stored; ERR_INVAL for a key too long. */
int trialcache_put(trialcache_t *c, trialcache_kind_t kind, const char *key, void *obj,
                   size_t bytes, void (*free_fn)(void *obj));
/* Ends a trial: its entries may be evicted again; evicts down to the bounds. */
void trialcache_unpin_all(trialcache_t *c);

/* Entries and bytes held of a kind; hits and misses since creation (all kinds). */
int trialcache_entries(const trialcache_t *c, trialcache_kind_t kind);
size_t trialcache_bytes(const trialcache_t *c, trialcache_kind_t kind);
void trialcache_counts(const trialcache_t *c, unsigned long *hits, unsigned long *misses);

/* Appends "path@dev:ino:size:mtime_ns;" for a file to key (of capacity len). ERR_IO naming the
 * file when it cannot be examined, ERR_RANGE when the key would not fit. */
int trialcache_key_file(char *key, size_t len, const char *path);
/* Appends formatted text to key. ERR_RANGE when it would not fit. */
int trialcache_key_add(char *key, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
