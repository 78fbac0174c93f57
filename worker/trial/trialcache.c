/* The worker's cache across trials: see trialcache.h. A short list with a use counter is enough:
 * a worker holds a handful of entries, looked up a few times per trial. */
#include "worker/trial/trialcache.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"

typedef struct entry {
    struct entry *next;
    trialcache_kind_t kind;
    char *key;
    void *obj;
    size_t bytes;
    void (*free_fn)(void *obj);
    unsigned long used;     /* clock of the last use */
    bool pinned;
} entry_t;

struct trialcache {
    trialcache_opts_t o;
    entry_t *head;
    unsigned long clock, hits, misses;
};

void trialcache_opts_default(trialcache_opts_t *o)
{
    o->max_models = 2;
    o->max_vocabs = 4;
    o->max_data_bytes = (size_t)2 << 30;
}

trialcache_t *trialcache_new(const trialcache_opts_t *o)
{
    trialcache_t *c = mem_alloc(1, sizeof *c, "trial cache");

    if (!c)
        return NULL;
    if (o)
        c->o = *o;
    else
        trialcache_opts_default(&c->o);
    return c;
}

static void drop(entry_t *e)
{
    if (e->free_fn)
        e->free_fn(e->obj);
    free(e->key);
    free(e);
}

void trialcache_free(trialcache_t **cp)
{
    trialcache_t *c = cp ? *cp : NULL;

    if (!c)
        return;
    while (c->head) {
        entry_t *e = c->head;
        c->head = e->next;
        drop(e);
    }
    free(c);
    *cp = NULL;
}

void *trialcache_get(trialcache_t *c, trialcache_kind_t kind, const char *key)
{
    for (entry_t *e = c->head; e; e = e->next)
        if (e->kind == kind && strcmp(e->key, key) == 0) {
            e->used = ++c->clock;
            e->pinned = true;
            c->hits++;
            return e->obj;
        }
    c->misses++;
    return NULL;
}

static bool over(const trialcache_t *c, trialcache_kind_t kind)
{
    switch (kind) {
    case TRIALCACHE_MODEL:
        return trialcache_entries(c, kind) > c->o.max_models;
    case TRIALCACHE_VOCAB:
        return trialcache_entries(c, kind) > c->o.max_vocabs;
    default:
        return trialcache_bytes(c, kind) > c->o.max_data_bytes;
    }
}

/* Evicts least recently used unpinned entries of a kind while it is over its bound. */
static void evict(trialcache_t *c, trialcache_kind_t kind)
{
    while (over(c, kind)) {
        entry_t **victim = NULL;
        for (entry_t **pp = &c->head; *pp; pp = &(*pp)->next)
            if ((*pp)->kind == kind && !(*pp)->pinned && (!victim || (*pp)->used < (*victim)->used))
                victim = pp;
        if (!victim)
            return;
        entry_t *e = *victim;
        *victim = e->next;
        log_debug("cache: evicted %s (%zu bytes)", e->key, e->bytes);
        drop(e);
    }
}

int trialcache_put(trialcache_t *c, trialcache_kind_t kind, const char *key, void *obj,
                   size_t bytes, void (*free_fn)(void *obj))
{
    entry_t *e;

    if (strlen(key) >= TRIALCACHE_KEY_MAX) {
        if (free_fn)
            free_fn(obj);
        return err_set(ERR_INVAL, "cache key of %zu bytes", strlen(key));
    }
    e = mem_alloc(1, sizeof *e, "cache entry");
    if (e)
        e->key = mem_strdup(key);
    if (!e || !e->key) {
        free(e);
        if (free_fn)
            free_fn(obj);
        return ERR_NOMEM;
    }
    e->kind = kind;
    e->obj = obj;
    e->bytes = bytes;
    e->free_fn = free_fn;
    e->used = ++c->clock;
    e->pinned = true;
    e->next = c->head;
    c->head = e;
    evict(c, kind);
    return 0;
}

void trialcache_unpin_all(trialcache_t *c)
{
    for (entry_t *e = c->head; e; e = e->next)
        e->pinned = false;
    for (int k = 0; k < TRIALCACHE__KINDS; k++)
        evict(c, (trialcache_kind_t)k);
}

int trialcache_entries(const trialcache_t *c, trialcache_kind_t kind)
{
    int n = 0;

    for (const entry_t *e = c->head; e; e = e->next)
        n += e->kind == kind;
    return n;
}

size_t trialcache_bytes(const trialcache_t *c, trialcache_kind_t kind)
{
    size_t n = 0;

    for (const entry_t *e = c->head; e; e = e->next)
        if (e->kind == kind)
            n += e->bytes;
    return n;
}

void trialcache_counts(const trialcache_t *c, unsigned long *hits, unsigned long *misses)
{
    *hits = c->hits;
    *misses = c->misses;
}

int trialcache_key_add(char *key, size_t len, const char *fmt, ...)
{
    size_t used = strlen(key);
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(key + used, len - used, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len - used) {
        key[used] = '\0';
        return err_set(ERR_RANGE, "cache key longer than %zu bytes", len);
    }
    return 0;
}

int trialcache_key_file(char *key, size_t len, const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return err_set(ERR_IO, "%s: %s", path, strerror(errno));
    return trialcache_key_add(key, len, "%s@%llu:%llu:%lld:%lld%09ld;", path,
                              (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
                              (long long)st.st_size, (long long)st.st_mtim.tv_sec,
                              (long)st.st_mtim.tv_nsec);
}
