/* Configuration set: see cfgset.h. */
#include "coordinator/search/cfgset.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"

typedef struct {
    space_config_t c;
    uint64_t hash;
    double v;
} member_t;

struct cfgset {
    member_t *m;     /* members in insertion order */
    int n, cap;
    int *slot;       /* index into m, or -1; tcap is a power of two kept at least 2 n */
    int tcap;
};

cfgset_t *cfgset_new(void)
{
    return mem_alloc(1, sizeof(cfgset_t), "configuration set");
}

void cfgset_free(cfgset_t **sp)
{
    cfgset_t *s = sp ? *sp : NULL;

    if (!s)
        return;
    free(s->m);
    free(s->slot);
    free(s);
    *sp = NULL;
}

void cfgset_clear(cfgset_t *s)
{
    s->n = 0;
    if (s->slot)
        memset(s->slot, 0xff, (size_t)s->tcap * sizeof(int));
}

int cfgset_count(const cfgset_t *s)
{
    return s->n;
}

static int find(const cfgset_t *s, const space_config_t *c, uint64_t h)
{
    if (!s->tcap)
        return -1;
    for (uint64_t i = h & (uint64_t)(s->tcap - 1);; i = (i + 1) & (uint64_t)(s->tcap - 1)) {
        int k = s->slot[i];
        if (k < 0)
            return -(int)i - 2;  /* the free slot where c would go */
        if (s->m[k].hash == h && space_config_equal(&s->m[k].c, c))
            return k;
    }
}

static int grow(cfgset_t *s)
{
    int tcap = s->tcap ? 2 * s->tcap : 64;
    int *slot = mem_alloc((size_t)tcap, sizeof(int), "configuration set");

    if (!slot)
        return ERR_NOMEM;
    memset(slot, 0xff, (size_t)tcap * sizeof(int));
    for (int k = 0; k < s->n; k++) {
        uint64_t i = s->m[k].hash & (uint64_t)(tcap - 1);
        while (slot[i] >= 0)
            i = (i + 1) & (uint64_t)(tcap - 1);
        slot[i] = k;
    }
    free(s->slot);
    s->slot = slot;
    s->tcap = tcap;
    return 0;
}

int cfgset_put(cfgset_t *s, const space_config_t *c, double v)
{
    uint64_t h = space_config_hash(c);
    int k = find(s, c, h);

    if (k >= 0) {
        s->m[k].v = v;
        return 0;
    }
    if (s->n >= CFGSET_MAX)
        return err_set(ERR_RANGE, "configuration set: more than %d members", CFGSET_MAX);
    if (mem_grow(&s->m, &s->cap, s->n, sizeof *s->m, 32, "configuration set") != 0)
        return ERR_NOMEM;
    if (2 * (s->n + 1) > s->tcap) {
        int rc = grow(s);
        if (rc)
            return rc;
        k = find(s, c, h);
    }
    s->m[s->n] = (member_t){.c = *c, .hash = h, .v = v};
    space_config_canonicalise(&s->m[s->n].c);
    s->slot[-k - 2] = s->n;
    s->n++;
    return 1;
}

bool cfgset_get(const cfgset_t *s, const space_config_t *c, double *v)
{
    int k = find(s, c, space_config_hash(c));

    if (k < 0)
        return false;
    if (v)
        *v = s->m[k].v;
    return true;
}

const space_config_t *cfgset_at(const cfgset_t *s, int i, double *v)
{
    if (v)
        *v = s->m[i].v;
    return &s->m[i].c;
}
