/* Ranking by value: see rank.h. */
#include "coordinator/search/rank.h"

int rank_cmp(const void *pa, const void *pb)
{
    const rank_t *a = pa, *b = pb;

    if (a->v != b->v)
        return a->v > b->v ? -1 : 1;
    return a->i - b->i;
}
