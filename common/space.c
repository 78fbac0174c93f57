/* AutoPEFT's search space (space.h): size ladders, validity, uniform sampling, the GP's
 * unit-cube encoding and one-exchange neighbours. Configurations on their own (text form,
 * parameter counts) are in space_config.c. */
#include "common/space.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"
#include "common/parse.h"

/* AutoPEFT's ladder: hidden/2^k for k = 0..8, then 1 (k = 9), then 0 (k = 10, off). */
#define LADDER_HALVINGS 8

struct space {
    int hidden;
    int layers;
    bool separate_masks;
    int nlevels[SPACE_NMODULES];
    uint32_t sizes[SPACE_NMODULES][SPACE_MAX_LEVELS]; /* largest first */
    int dims;
};

/* ---- options ------------------------------------------------------------------------------- */

/* Appends v to a ladder unless it is already the last entry (ladders are built decreasing). */
static void ladder_push(uint32_t *sizes, int *n, uint32_t v)
{
    if (*n > 0 && sizes[*n - 1] == v)
        return;
    sizes[(*n)++] = v;
}

static int default_ladder(int hidden, uint32_t *sizes)
{
    int n = 0;

    for (int k = 0; k <= LADDER_HALVINGS; k++)
        if ((hidden >> k) >= 1)
            ladder_push(sizes, &n, (uint32_t)(hidden >> k));
    ladder_push(sizes, &n, 1);
    ladder_push(sizes, &n, 0);
    return n;
}

void space_opts_default(space_opts_t *o, int hidden, int layers)
{
    memset(o, 0, sizeof *o);
    o->hidden = hidden;
    o->layers = layers;
}

void space_opts_enable_lora(space_opts_t *o)
{
    static const uint32_t ranks[] = {64, 32, 16, 8, 4, 2, 1, 0};
    uint32_t cap = o->hidden > 0 ? (uint32_t)o->hidden : 1;
    int n = 0;

    for (size_t i = 0; i < sizeof ranks / sizeof ranks[0]; i++)
        ladder_push(o->sizes[SPACE_LORA], &n, ranks[i] < cap ? ranks[i] : cap);
    o->nsizes[SPACE_LORA] = n;
}

int space_opts_parse_sizes(space_opts_t *o, space_module_t m, const char *list)
{
    uint32_t sizes[SPACE_MAX_LEVELS];
    const char *p = list;
    int n = 0;

    if ((unsigned)m >= SPACE_NMODULES)
        return err_set(ERR_INVAL, "size ladder: no module %d", (int)m);
    if (!list || !*list)
        return err_set(ERR_PARSE, "%s sizes: empty list; expected distinct sizes separated by "
                       "commas, e.g. 768,384,0", space_module_name(m));
    for (;;) {
        size_t len = strspn(p, "0123456789");
        char num[24];
        uint64_t v;

        if (len == 0 || (p[len] != ',' && p[len] != '\0'))
            return err_set(ERR_PARSE, "%s sizes '%s': expected non-negative integers separated "
                           "by commas, e.g. 768,384,0", space_module_name(m), list);
        if (len >= sizeof num)
            return err_set(ERR_RANGE, "%s sizes '%s': a size is over the cap %u",
                           space_module_name(m), list, SPACE_MAX_SIZE);
        memcpy(num, p, len);
        num[len] = '\0';
        if (parse_u64(num, SPACE_MAX_SIZE, "size", &v) != 0)
            return err_set(ERR_RANGE, "%s sizes '%s': %s is over the cap %u",
                           space_module_name(m), list, num, SPACE_MAX_SIZE);
        if (n == SPACE_MAX_LEVELS)
            return err_set(ERR_RANGE, "%s sizes '%s': more than %d sizes", space_module_name(m),
                           list, SPACE_MAX_LEVELS);
        for (int i = 0; i < n; i++)
            if (sizes[i] == v)
                return err_set(ERR_PARSE, "%s sizes '%s': %s is given twice; sizes must be "
                               "distinct", space_module_name(m), list, num);
        sizes[n++] = (uint32_t)v;
        p += len;
        if (*p == '\0')
            break;
        p++;
    }
    memcpy(o->sizes[m], sizes, (size_t)n * sizeof sizes[0]);
    o->nsizes[m] = n;
    return 0;
}

/* ---- the space ----------------------------------------------------------------------------- */

static int cmp_desc(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x < y) - (x > y);
}

/* Whether module m's ladder has a non-zero size, i.e. the module can be on. */
static bool can_be_on(const space_t *s, int m)
{
    return s->sizes[m][0] != 0; /* largest first */
}

/* Whether the ladder has 0, i.e. the module can be off. */
static bool can_be_off(const space_t *s, int m)
{
    return s->sizes[m][s->nlevels[m] - 1] == 0;
}

/* Modules whose layer bits appear in the encoding: one shared mask, or one per module that can
 * be on. */
static int nmasks(const space_t *s)
{
    int n = 0;

    if (!s->separate_masks)
        return 1;
    for (int m = 0; m < SPACE_NMODULES; m++)
        n += can_be_on(s, m);
    return n;
}

static int nsize_dims(const space_t *s)
{
    int n = 0;

    for (int m = 0; m < SPACE_NMODULES; m++)
        n += s->nlevels[m] > 1;
    return n;
}

space_t *space_new(const space_opts_t *o)
{
    space_t *s;
    bool any_on = false;

    if (!o) {
        err_set(ERR_INVAL, "search space: no options given");
        return NULL;
    }
    if (o->hidden < 1 || o->hidden > SHAPE_MAX_HIDDEN) {
        err_set(ERR_INVAL, "search space: hidden size %d, expected 1..%d", o->hidden,
                SHAPE_MAX_HIDDEN);
        return NULL;
    }
    if (o->layers < 1 || o->layers > SPACE_MAX_LAYERS) {
        err_set(ERR_INVAL, "search space: %d layers, expected 1..%d", o->layers, SPACE_MAX_LAYERS);
        return NULL;
    }
    s = mem_alloc(1, sizeof *s, "search space");
    if (!s)
        return NULL;
    s->hidden = o->hidden;
    s->layers = o->layers;
    s->separate_masks = o->separate_masks;
    for (int m = 0; m < SPACE_NMODULES; m++) {
        int n = o->nsizes[m];

        if (n < 0 || n > SPACE_MAX_LEVELS) {
            err_set(ERR_RANGE, "search space: %s has %d sizes, expected 1..%d",
                    space_module_name(m), n, SPACE_MAX_LEVELS);
            goto fail;
        }
        if (n == 0 && m >= SPACE_FIRST_EXTENSION) {
            s->sizes[m][0] = 0;
            n = 1;
        } else if (n == 0) {
            n = default_ladder(o->hidden, s->sizes[m]);
        } else {
            memcpy(s->sizes[m], o->sizes[m], (size_t)n * sizeof o->sizes[m][0]);
            qsort(s->sizes[m], (size_t)n, sizeof s->sizes[m][0], cmp_desc);
            for (int i = 0; i < n; i++) {
                if (s->sizes[m][i] > SPACE_MAX_SIZE) {
                    err_set(ERR_RANGE, "search space: %s size %" PRIu32 " is over the cap %u",
                            space_module_name(m), s->sizes[m][i], SPACE_MAX_SIZE);
                    goto fail;
                }
                if (i > 0 && s->sizes[m][i] == s->sizes[m][i - 1]) {
                    err_set(ERR_INVAL, "search space: %s size %" PRIu32 " is given twice",
                            space_module_name(m), s->sizes[m][i]);
                    goto fail;
                }
            }
        }
        s->nlevels[m] = n;
        any_on |= can_be_on(s, m);
    }
    if (!any_on) {
        err_set(ERR_INVAL, "search space: every module's sizes are {0}, so no configuration is "
                "valid");
        goto fail;
    }
    s->dims = nsize_dims(s) + nmasks(s) * s->layers;
    return s;
fail:
    free(s);
    return NULL;
}

void space_free(space_t **sp)
{
    if (sp) {
        free(*sp);
        *sp = NULL;
    }
}

int space_hidden(const space_t *s)
{
    return s->hidden;
}

int space_layers(const space_t *s)
{
    return s->layers;
}

bool space_separate_masks(const space_t *s)
{
    return s->separate_masks;
}

int space_nlevels(const space_t *s, space_module_t m)
{
    return (unsigned)m < SPACE_NMODULES ? s->nlevels[m] : 0;
}

uint32_t space_level_size(const space_t *s, space_module_t m, int level)
{
    if ((unsigned)m >= SPACE_NMODULES || level < 0 || level >= s->nlevels[m])
        return 0;
    return s->sizes[m][level];
}

int space_level_of(const space_t *s, space_module_t m, uint32_t size)
{
    if ((unsigned)m >= SPACE_NMODULES)
        return -1;
    for (int k = 0; k < s->nlevels[m]; k++)
        if (s->sizes[m][k] == size)
            return k;
    return -1;
}

double space_cardinality(const space_t *s)
{
    double masks = ldexp(1.0, s->layers) - 1.0; /* non-empty masks */
    double all = 1.0, none = 1.0;

    /* Count (level tuple, mask) pairs and subtract those with every module off; with one mask
     * the mask is chosen once, with separate masks each module that is on picks its own. */
    for (int m = 0; m < SPACE_NMODULES; m++) {
        double on = (double)(s->nlevels[m] - can_be_off(s, m));
        double off = can_be_off(s, m) ? 1.0 : 0.0;

        all *= s->separate_masks ? off + on * masks : off + on;
        none *= off;
    }
    return s->separate_masks ? all - none : (all - none) * masks;
}

/* ---- validity ------------------------------------------------------------------------------ */

static void ladder_text(const space_t *s, int m, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (int k = 0; k < s->nlevels[m] && used < len; k++) {
        int n = snprintf(buf + used, len - used, "%s%" PRIu32, k ? ", " : "", s->sizes[m][k]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* space_check's work; messages only when report is set, so that neighbour and decode searches
 * do not overwrite the caller's last error with their rejected candidates. */
static int check(const space_t *s, const space_config_t *c, bool report)
{
    space_config_t k;
    const uint64_t *shared = NULL;
    int first = -1;
    bool any_size = false;

    if (c->layers != s->layers)
        return report ? err_set(ERR_INVAL, "configuration has %d layers, the space %d",
                                c->layers, s->layers)
                      : ERR_INVAL;
    k = *c;
    space_config_canonicalise(&k);
    for (int m = 0; m < SPACE_NMODULES; m++) {
        any_size |= c->size[m] != 0;
        if (space_level_of(s, m, k.size[m]) < 0) {
            char ladder[SPACE_MAX_LEVELS * 12];
            if (!report)
                return ERR_INVAL;
            ladder_text(s, m, ladder, sizeof ladder);
            if (k.size[m] == 0)
                return err_set(ERR_INVAL, "%s is off (size 0 or no layer), but this space "
                               "keeps it on: its sizes are %s", space_module_name(m), ladder);
            return err_set(ERR_INVAL, "%s=%" PRIu32 " is not one of this space's %s sizes (%s)",
                           space_module_name(m), k.size[m], space_module_name(m), ladder);
        }
        if (!space_config_active(&k, m))
            continue;
        if (!shared) {
            shared = k.mask[m];
            first = m;
        } else if (!s->separate_masks &&
                   memcmp(shared, k.mask[m], sizeof k.mask[m]) != 0) {
            return report ? err_set(ERR_INVAL, "%s and %s are in different layers, but this "
                                    "space shares one layer mask among its modules",
                                    space_module_name(first), space_module_name(m))
                          : ERR_INVAL;
        }
    }
    if (!shared) {
        if (!report)
            return ERR_INVAL;
        if (!any_size)
            return err_set(ERR_INVAL, "no module is on: at least one module needs a non-zero "
                           "size and at least one layer");
        return err_set(ERR_INVAL, "no layer is on: the modules with a non-zero size need at "
                       "least one layer");
    }
    return 0;
}

int space_check(const space_t *s, const space_config_t *c)
{
    return check(s, c, true);
}

/* ---- sampling ------------------------------------------------------------------------------ */

static void random_mask(const space_t *s, rng_t *r, uint64_t *mask)
{
    memset(mask, 0, SPACE_MASK_WORDS * sizeof mask[0]);
    for (int w = 0; w * 64 < s->layers; w++) {
        int bits = s->layers - w * 64;
        mask[w] = rng_next(r);
        if (bits < 64)
            mask[w] &= ((uint64_t)1 << bits) - 1;
    }
}

static bool mask_empty(const uint64_t *mask)
{
    for (int w = 0; w < SPACE_MASK_WORDS; w++)
        if (mask[w])
            return false;
    return true;
}

void space_sample(const space_t *s, rng_t *r, space_config_t *out)
{
    /* Rejection: each draw is uniform over (level tuple, mask), and valid draws are in one-to-one
     * correspondence with valid configurations, so the accepted draw is uniform over them. A
     * draw is rejected with probability P(every module off) + P(empty mask), under 1/1331 +
     * 1/4096 for BERT-base; the worst space (one layer, one module with sizes {d, 0}) still
     * accepts a quarter of its draws. With separate masks each module that is on redraws its
     * mask until it is non-empty, and only all-off draws are rejected. */
    for (;;) {
        uint64_t mask[SPACE_MASK_WORDS];

        memset(out, 0, sizeof *out);
        out->layers = s->layers;
        for (int m = 0; m < SPACE_NMODULES; m++)
            if (s->nlevels[m] > 1)
                out->size[m] = s->sizes[m][rng_below(r, (uint64_t)s->nlevels[m])];
            else
                out->size[m] = s->sizes[m][0];
        if (!s->separate_masks)
            random_mask(s, r, mask);
        for (int m = 0; m < SPACE_NMODULES; m++) {
            if (out->size[m] == 0)
                continue;
            if (s->separate_masks) {
                do
                    random_mask(s, r, mask);
                while (mask_empty(mask));
            }
            memcpy(out->mask[m], mask, sizeof mask);
        }
        space_config_canonicalise(out);
        if (check(s, out, false) == 0)
            return;
    }
}

/* ---- the GP's encoding --------------------------------------------------------------------- */

int space_dims(const space_t *s)
{
    return s->dims;
}

int space_dim_name(const space_t *s, int i, char *buf, size_t len)
{
    int nsz = nsize_dims(s), n;

    if (i < 0 || i >= s->dims || !buf || len == 0)
        return err_set(ERR_RANGE, "search space: no coordinate %d (the space has %d)", i, s->dims);
    if (i < nsz) {
        int m = 0;
        for (int seen = -1; m < SPACE_NMODULES; m++)
            if (s->nlevels[m] > 1 && ++seen == i)
                break;
        n = snprintf(buf, len, "%s", space_module_name(m));
    } else if (!s->separate_masks) {
        n = snprintf(buf, len, "layer%d", i - nsz);
    } else {
        int j = (i - nsz) / s->layers, m = 0;
        for (int seen = -1; m < SPACE_NMODULES; m++)
            if (can_be_on(s, m) && ++seen == j)
                break;
        n = snprintf(buf, len, "%s.layer%d", space_module_name(m), (i - nsz) % s->layers);
    }
    if (n < 0 || (size_t)n >= len)
        return err_set(ERR_RANGE, "search space: name buffer of %zu bytes is too small", len);
    return 0;
}

/* The level of a size, or of the ladder size nearest to it when it is not on the ladder. */
static int nearest_level(const space_t *s, int m, uint32_t size)
{
    int best = 0;
    uint32_t best_d = UINT32_MAX;

    for (int k = 0; k < s->nlevels[m]; k++) {
        uint32_t v = s->sizes[m][k];
        uint32_t d = v > size ? v - size : size - v;
        if (d < best_d) {
            best_d = d;
            best = k;
        }
    }
    return best;
}

static void encode_bits(const space_t *s, const uint64_t *mask, double *x)
{
    for (int l = 0; l < s->layers; l++)
        x[l] = (double)((mask[l / 64] >> (l % 64)) & 1);
}

void space_encode(const space_t *s, const space_config_t *c, double *x)
{
    space_config_t k = *c;
    int i = 0;

    space_config_canonicalise(&k);
    for (int m = 0; m < SPACE_NMODULES; m++) {
        int n = s->nlevels[m];
        if (n > 1)
            x[i++] = (double)(n - 1 - nearest_level(s, m, k.size[m])) / (double)(n - 1);
    }
    if (!s->separate_masks) {
        uint64_t shared[SPACE_MASK_WORDS] = {0};
        for (int m = 0; m < SPACE_NMODULES; m++)
            for (int w = 0; w < SPACE_MASK_WORDS; w++)
                shared[w] |= k.mask[m][w];
        encode_bits(s, shared, x + i);
        return;
    }
    for (int m = 0; m < SPACE_NMODULES; m++) {
        if (!can_be_on(s, m))
            continue;
        encode_bits(s, k.mask[m], x + i);
        i += s->layers;
    }
}

/* [0, 1], with NaN taken as 0 so that a broken optimiser cannot index outside a ladder. */
static double clamp01(double v)
{
    if (!(v >= 0.0))
        return 0.0;
    return v > 1.0 ? 1.0 : v;
}

static void decode_bits(const space_t *s, const double *x, uint64_t *mask)
{
    memset(mask, 0, SPACE_MASK_WORDS * sizeof mask[0]);
    for (int l = 0; l < s->layers; l++)
        if (clamp01(x[l]) >= 0.5)
            mask[l / 64] |= (uint64_t)1 << (l % 64);
}

int space_decode(const space_t *s, const double *x, space_config_t *out)
{
    uint64_t mask[SPACE_MASK_WORDS];
    int i = 0, rc;

    memset(out, 0, sizeof *out);
    out->layers = s->layers;
    for (int m = 0; m < SPACE_NMODULES; m++) {
        int n = s->nlevels[m];
        if (n > 1) {
            long j = lround(clamp01(x[i++]) * (double)(n - 1));
            out->size[m] = s->sizes[m][n - 1 - (int)j];
        } else {
            out->size[m] = s->sizes[m][0];
        }
    }
    if (!s->separate_masks) {
        decode_bits(s, x + i, mask);
        for (int m = 0; m < SPACE_NMODULES; m++)
            if (out->size[m] != 0)
                memcpy(out->mask[m], mask, sizeof mask);
    } else {
        for (int m = 0; m < SPACE_NMODULES; m++) {
            if (!can_be_on(s, m))
                continue;
            decode_bits(s, x + i, mask);
            i += s->layers;
            if (out->size[m] != 0)
                memcpy(out->mask[m], mask, sizeof mask);
        }
    }
    /* checked before canonicalising, so that sizes without a layer are reported as such */
    rc = space_check(s, out);
    space_config_canonicalise(out);
    return rc;
}

/* ---- neighbours ---------------------------------------------------------------------------- */

int space_max_neighbours(const space_t *s)
{
    return nmasks(s) * s->layers + 2 * nsize_dims(s);
}

/* Appends cand to out when it is valid and there is room. */
static void offer(const space_t *s, space_config_t *cand, space_config_t *out, int cap, int *n)
{
    space_config_canonicalise(cand);
    if (*n < cap && check(s, cand, false) == 0)
        out[(*n)++] = *cand;
}

int space_neighbours(const space_t *s, const space_config_t *c, space_config_t *out, int cap)
{
    uint64_t all[SPACE_MASK_WORDS] = {0};
    space_config_t k = *c;
    int n = 0, rc;

    if ((rc = space_check(s, c)) != 0)
        return rc;
    space_config_canonicalise(&k);
    for (int m = 0; m < SPACE_NMODULES; m++)
        for (int w = 0; w < SPACE_MASK_WORDS; w++)
            all[w] |= k.mask[m][w];

    /* Layer bits: the shared mask, or each active module's own. A flip that empties a mask is
     * dropped by the validity check (one mask) or skipped (separate masks: turning a module off
     * is the size step's job, so the two do not produce the same neighbour twice). */
    for (int m = 0; m < SPACE_NMODULES; m++) {
        if (!space_config_active(&k, m))
            continue;
        for (int l = 0; l < s->layers; l++) {
            space_config_t cand = k;
            if (!s->separate_masks) {
                for (int j = 0; j < SPACE_NMODULES; j++)
                    if (space_config_active(&k, j))
                        space_config_set_layer(&cand, j, l, !space_config_layer(&k, j, l));
            } else {
                space_config_set_layer(&cand, m, l, !space_config_layer(&k, m, l));
                if (space_config_layer_count(&cand, m) == 0)
                    continue;
            }
            offer(s, &cand, out, cap, &n);
        }
        if (!s->separate_masks)
            break; /* the one mask is flipped once, through every active module together */
    }

    /* Sizes: one level up (smaller index, larger size) and one down. A module that comes on
     * joins the layers already in use: the shared mask, or the union of the others' masks. */
    for (int m = 0; m < SPACE_NMODULES; m++) {
        int level = space_level_of(s, m, k.size[m]);
        for (int d = -1; d <= 1; d += 2) {
            space_config_t cand = k;
            int to = level + d;
            if (to < 0 || to >= s->nlevels[m])
                continue;
            cand.size[m] = s->sizes[m][to];
            if (k.size[m] == 0 && cand.size[m] != 0)
                memcpy(cand.mask[m], all, sizeof all);
            offer(s, &cand, out, cap, &n);
        }
    }
    return n;
}

/* ---- extremes ------------------------------------------------------------------------------ */

int space_extremes(const space_t *s, const shape_t *shape, int prefix_bottleneck,
                   space_config_t *smallest, space_config_t *largest)
{
    space_config_t lo, hi;
    space_counts_t k;
    bool forced = false;
    int rc;

    if (shape->hidden != s->hidden || shape->layers != s->layers)
        return err_set(ERR_INVAL, "model of width %d and depth %d for a space of width %d and "
                       "depth %d", shape->hidden, shape->layers, s->hidden, s->layers);
    memset(&lo, 0, sizeof lo);
    memset(&hi, 0, sizeof hi);
    lo.layers = hi.layers = s->layers;
    /* Counts grow with every size and every layer: the largest configuration puts each module
     * at its largest size in every layer; the smallest uses one layer and the smallest size of
     * each module that cannot be off. */
    for (int m = 0; m < SPACE_NMODULES; m++) {
        hi.size[m] = s->sizes[m][0];
        for (int l = 0; l < s->layers; l++)
            space_config_set_layer(&hi, m, l, true);
        if (!can_be_off(s, m)) {
            lo.size[m] = s->sizes[m][s->nlevels[m] - 1];
            space_config_set_layer(&lo, m, 0, true);
            forced = true;
        }
    }
    /* When every module can be off, the smallest turns on the one module whose smallest
     * non-zero size in one layer costs least. */
    if (!forced) {
        uint64_t best = UINT64_MAX;
        for (int m = 0; m < SPACE_NMODULES; m++) {
            space_config_t one;
            if (!can_be_on(s, m))
                continue;
            memset(&one, 0, sizeof one);
            one.layers = s->layers;
            one.size[m] = s->sizes[m][s->nlevels[m] - 2];
            space_config_set_layer(&one, m, 0, true);
            if ((rc = space_config_count(&one, shape, prefix_bottleneck, &k)) != 0)
                return rc;
            if (k.modules_deployed < best) {
                best = k.modules_deployed;
                lo = one;
            }
        }
    }
    if ((rc = space_config_count(&hi, shape, prefix_bottleneck, &k)) != 0)
        return rc;
    space_config_canonicalise(&lo);
    space_config_canonicalise(&hi);
    *smallest = lo;
    *largest = hi;
    return 0;
}
