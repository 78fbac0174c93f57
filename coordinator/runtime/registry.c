/* Registered workers (registry.h): chained hash tables of fixed width. Thousands of workers
 * keep the chains short; a study never has millions. */
#include "coordinator/runtime/registry.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/rng.h"

#define NBUCKETS 4096

struct registry {
    reg_worker_t *by_rid[NBUCKETS], *by_id[NBUCKETS];
    reg_worker_t *idle_head, *idle_tail;
    size_t count, idle;
};

static size_t hash_bytes(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 0x9e3779b97f4a7c15ull;

    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return (size_t)(rng_mix64(h) % NBUCKETS);
}

registry_t *registry_new(void)
{
    return mem_alloc(1, sizeof(registry_t), "worker registry");
}

void registry_free(registry_t **rp)
{
    registry_t *r = *rp;

    if (!r)
        return;
    for (size_t i = 0; i < NBUCKETS; i++) {
        reg_worker_t *w = r->by_id[i];
        while (w) {
            reg_worker_t *next = w->id_next;
            free(w);
            w = next;
        }
    }
    free(r);
    *rp = NULL;
}

reg_worker_t *registry_by_rid(registry_t *r, const uint8_t *rid, size_t len)
{
    for (reg_worker_t *w = r->by_rid[hash_bytes(rid, len)]; w; w = w->rid_next)
        if (w->rid_len == len && memcmp(w->rid, rid, len) == 0)
            return w;
    return NULL;
}

reg_worker_t *registry_by_id(registry_t *r, const char *id)
{
    for (reg_worker_t *w = r->by_id[hash_bytes(id, strlen(id))]; w; w = w->id_next)
        if (strcmp(w->id, id) == 0)
            return w;
    return NULL;
}

static void rid_unlink(registry_t *r, reg_worker_t *w)
{
    reg_worker_t **pp = &r->by_rid[hash_bytes(w->rid, w->rid_len)];

    while (*pp && *pp != w)
        pp = &(*pp)->rid_next;
    if (*pp)
        *pp = w->rid_next;
    w->rid_next = NULL;
}

void registry_set_rid(registry_t *r, reg_worker_t *w, const uint8_t *rid, size_t len)
{
    size_t h;
    reg_worker_t *other;

    if (len > REGISTRY_RID_MAX)
        len = REGISTRY_RID_MAX;
    rid_unlink(r, w);
    /* A routing id belongs to one connection: a stale record holding it loses it. */
    other = registry_by_rid(r, rid, len);
    if (other)
        rid_unlink(r, other), other->rid_len = 0;
    memcpy(w->rid, rid, len);
    w->rid_len = len;
    h = hash_bytes(rid, len);
    w->rid_next = r->by_rid[h];
    r->by_rid[h] = w;
}

reg_worker_t *registry_add(registry_t *r, const char *id, const uint8_t *rid, size_t len)
{
    reg_worker_t *w = mem_alloc(1, sizeof *w, "worker record");
    size_t h, n = strlen(id);

    if (!w)
        return NULL;
    if (n >= REGISTRY_ID_MAX)
        n = REGISTRY_ID_MAX - 1;
    memcpy(w->id, id, n);
    h = hash_bytes(w->id, n);
    w->id_next = r->by_id[h];
    r->by_id[h] = w;
    registry_set_rid(r, w, rid, len);
    r->count++;
    return w;
}

void registry_remove(registry_t *r, reg_worker_t *w)
{
    reg_worker_t **pp = &r->by_id[hash_bytes(w->id, strlen(w->id))];

    registry_idle_remove(r, w);
    rid_unlink(r, w);
    while (*pp && *pp != w)
        pp = &(*pp)->id_next;
    if (*pp)
        *pp = w->id_next;
    r->count--;
    free(w);
}

size_t registry_count(const registry_t *r)
{
    return r->count;
}

void registry_idle_push(registry_t *r, reg_worker_t *w)
{
    if (w->in_idle || !w->fits)
        return;
    w->in_idle = true;
    w->idle_next = NULL;
    w->idle_prev = r->idle_tail;
    if (r->idle_tail)
        r->idle_tail->idle_next = w;
    else
        r->idle_head = w;
    r->idle_tail = w;
    r->idle++;
}

void registry_idle_remove(registry_t *r, reg_worker_t *w)
{
    if (!w->in_idle)
        return;
    if (w->idle_prev)
        w->idle_prev->idle_next = w->idle_next;
    else
        r->idle_head = w->idle_next;
    if (w->idle_next)
        w->idle_next->idle_prev = w->idle_prev;
    else
        r->idle_tail = w->idle_prev;
    w->in_idle = false;
    w->idle_prev = w->idle_next = NULL;
    r->idle--;
}

reg_worker_t *registry_idle_pop(registry_t *r)
{
    reg_worker_t *w = r->idle_head;

    if (w)
        registry_idle_remove(r, w);
    return w;
}

size_t registry_idle_count(const registry_t *r)
{
    return r->idle;
}

void registry_each(registry_t *r, void (*fn)(void *ctx, reg_worker_t *w), void *ctx)
{
    for (size_t i = 0; i < NBUCKETS; i++) {
        reg_worker_t *w = r->by_id[i];
        while (w) {
            reg_worker_t *next = w->id_next;
            fn(ctx, w);
            w = next;
        }
    }
}
