/* The synthetic PEFT problem of the search benchmarks (docs/search.md, "Benchmarks").
 *
 * Over AutoPEFT's space for BERT-base (12 layers, width 768) or BERT-large (24 layers, 1024):
 *   c_m  = log2(1 + size_m) / log2(1 + width)            diminishing returns in each size
 *   A    = 1 - (1 - 0.9 c_sa)(1 - 0.75 c_pa)             serial and parallel adapters overlap
 *   q    = 1 - (1 - A)(1 - 0.55 c_pt)                    prefix tuning complements them
 *   U    = sum_l v_l b_l + g sum_l b_l b_(l+1)           layer-dependent value, adjacent layers
 *                                                        reinforce each other
 *   v_l  = 0.2 + 0.8 t^1.5 + 0.6 exp(-((t - 0.6)/0.12)^2), t = l/(L-1); g = 0.15 mean(v)
 *   e    = q (U / U_max)^0.6                             sizes and layers interact
 *   pen  = 0.04 max(0, c_sa + c_pa + c_pt - 1.6)^2       very large configurations overfit
 *   f    = 0.55 + 0.35 (1 - exp(-3e)) / (1 - exp(-3)) - pen
 * observed with Gaussian noise of sd 0.005 (seed-to-seed noise of a GLUE score); the second
 * objective is the exact deployed parameter % (space_config_count).
 *
 * The true Pareto front. For fixed sizes, f increases with U, and the parameter % depends only
 * on the sizes and the number of layers switched on, c. So the best configurations of every
 * (sizes, c) use a mask maximising U among masks with c bits, which a dynamic programme over the
 * layers finds exactly (state: layers seen, bits used, last bit): 24 values, shared by all
 * 11^3 - 1 size triples. The front is the non-dominated set of those 1330 x 24 points. For 12
 * layers the benchmark also enumerates all 5,446,350 configurations and checks that both give
 * the same hypervolume. */
#ifndef AUTOPEFT_BENCH_SYNTH_H
#define AUTOPEFT_BENCH_SYNTH_H

#include "common/shape.h"
#include "common/space.h"

#define SYNTH_NOISE_SD 0.005
#define SYNTH_METRIC_REF 0.55  /* the hypervolume's reference metric: no adaptation */

typedef struct {
    int layers, hidden, nlev;
    space_t *space;
    shape_t shape;
    double v[SPACE_MAX_LAYERS], gamma, umax;
    double *pct;       /* nlev^3 x (layers + 1): parameter % by size levels and layer count */
    double pct_max;    /* the most expensive configuration's */
} synth_t;

/* layers 12 (bert-base) or 24 (bert-large). */
int synth_init(synth_t *p, int layers);
void synth_free(synth_t *p);

/* Noise-free metric and exact parameter % of a valid configuration. */
double synth_metric(const synth_t *p, const space_config_t *c);
double synth_cost(const synth_t *p, const space_config_t *c);
/* The metric from size levels and a mask value U (the formula above, for the exact front). */
double synth_metric_levels(const synth_t *p, const int lev[3], double u);

/* The true front by the dynamic programme: (metric, -percent) pairs written to front (cap
 * pairs), returns their number. */
int synth_front(const synth_t *p, double *front, int cap);
/* The same by enumerating every configuration (12 layers only; seconds). */
int synth_front_enumerate(const synth_t *p, double *front, int cap);

/* Hypervolume of (metric, -percent) points with the benchmark's reference point
 * (SYNTH_METRIC_REF, -pct_max). */
double synth_hv(const synth_t *p, const double *pts, int n);

#endif
