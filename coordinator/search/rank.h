/* Indices ranked by a value, best (largest) first: the order in which the acquisition optimiser
 * picks its local searches' starts and the MAP fit its L-BFGS starts. Equal values keep their
 * indices' order, so that a ranking is the same whatever qsort does with ties. */
#ifndef AUTOPEFT_RANK_H
#define AUTOPEFT_RANK_H

typedef struct {
    double v;  /* the value (never NaN) */
    int i;     /* the index it belongs to */
} rank_t;

/* qsort comparator over rank_t: larger v first, then smaller i. */
int rank_cmp(const void *a, const void *b);

#endif
