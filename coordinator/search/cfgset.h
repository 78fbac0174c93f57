/* A set of PEFT configurations with an optional value each: the search's memory of what was
 * observed, is running or failed, and the acquisition optimiser's cache of scored candidates.
 * Open addressing on space_config_hash; configurations compare with space_config_equal, so
 * non-canonical copies of one configuration are one member. */
#ifndef AUTOPEFT_CFGSET_H
#define AUTOPEFT_CFGSET_H

#include <stdbool.h>

#include "common/space.h"

/* Hard cap on members: far beyond any study or optimiser pool. */
#define CFGSET_MAX (1 << 24)

typedef struct cfgset cfgset_t;

cfgset_t *cfgset_new(void);
void cfgset_free(cfgset_t **sp);
void cfgset_clear(cfgset_t *s);
int cfgset_count(const cfgset_t *s);

/* Adds c with value v (replacing the value of an existing member). 1 when c was new, 0 when it
 * was already there, ERR_NOMEM / ERR_RANGE on failure. */
int cfgset_put(cfgset_t *s, const space_config_t *c, double v);
static inline int cfgset_add(cfgset_t *s, const space_config_t *c) { return cfgset_put(s, c, 0.0); }
/* Whether c is a member; *v (may be NULL) gets its value. */
bool cfgset_get(const cfgset_t *s, const space_config_t *c, double *v);
static inline bool cfgset_has(const cfgset_t *s, const space_config_t *c)
{
    return cfgset_get(s, c, NULL);
}
/* The i-th member in insertion order (0 <= i < count). */
const space_config_t *cfgset_at(const cfgset_t *s, int i, double *v);

#endif
