/* AutoPEFT's search space, and concrete PEFT configurations.
 *
 * A configuration (space_config_t) gives, for each PEFT module, its size (serial/parallel
 * adapter bottleneck, prefix length, LoRA rank; 0 = off) and the layers it is inserted in. It
 * stands alone: the engine, the wire and parameter counting use it without a space.
 *
 * A space (space_t) is the set of configurations the search may choose from. Its default is
 * AutoPEFT's exactly: SA, PA and PT sizes from the ladder hidden/2^k for k = 0..8, then 1 (k=9)
 * and 0 (k=10, off), and one insertion bit per layer shared by the three modules; a
 * configuration is valid when at least one layer is on and at least one module is non-zero.
 * Extensions, off by default: LoRA on Wq/Wv with its own rank ladder, Houlsby's two serial
 * adapters per layer (after attention and after the FFN) with their own ladder, and one layer
 * mask per module. The ladder's level index k follows AutoPEFT: k = 0 is the largest size, the last
 * level is "off". Where hidden/2^k repeats a size (small widths), the repeat is dropped, so
 * every level is a distinct size. docs/search-space.md explains the encoding and the counts. */
#ifndef AUTOPEFT_SPACE_H
#define AUTOPEFT_SPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/rng.h"
#include "common/shape.h"

#define SPACE_MAX_LAYERS 256
#define SPACE_MASK_WORDS (SPACE_MAX_LAYERS / 64)
#define SPACE_MAX_LEVELS 16
/* AutoPEFT's prefix reparameterisation width. */
#define SPACE_PREFIX_BOTTLENECK 800
/* Hard cap on a module size read from text or a ladder (a bottleneck, prefix length or rank far
 * beyond any model's width), so that sizes from outside stay bounded for the engine. */
#define SPACE_MAX_SIZE (1u << 20)
/* Hard cap on the prefix reparameterisation width. */
#define SPACE_MAX_PREFIX_BOTTLENECK 65536

typedef enum {
    SPACE_SA = 0,   /* serial adapter (Pfeiffer placement) bottleneck: "sa" */
    SPACE_PA = 1,   /* parallel adapter bottleneck: "pa" */
    SPACE_PT = 2,   /* prefix-tuning length: "pt" */
    SPACE_LORA = 3, /* LoRA rank on Wq and Wv: "lora" */
    SPACE_HA = 4,   /* Houlsby serial adapters, after attention and after the FFN: "ha" */
    SPACE_NMODULES = 5
} space_module_t;

/* The extensions (lora, ha) are off in the default space and appear in a configuration's text
 * only when active. */
#define SPACE_FIRST_EXTENSION SPACE_LORA

/* Longest canonical text of a configuration, terminating NUL included: per module its name,
 * size and own mask, then " layers=" and a mask. */
#define SPACE_TEXT_MAX (SPACE_NMODULES * (16 + SPACE_MAX_LAYERS) + 16)

typedef struct {
    int layers;                                       /* 1..SPACE_MAX_LAYERS */
    uint32_t size[SPACE_NMODULES];                    /* 0 = module off */
    uint64_t mask[SPACE_NMODULES][SPACE_MASK_WORDS];  /* bit l set: module in layer l (0 = bottom) */
} space_config_t;

/* Exact parameter counts of a configuration on a model shape. */
typedef struct {
    uint64_t backbone;                          /* shape_backbone_params */
    uint64_t head;                              /* shape_head_params */
    uint64_t module_trainable[SPACE_NMODULES];  /* as trained (prefix MLP included) */
    uint64_t module_deployed[SPACE_NMODULES];   /* as deployed (prefix ejected to flat K/V) */
    uint64_t modules_trainable;
    uint64_t modules_deployed;
    uint64_t trainable;                         /* modules_trainable + head */
    uint64_t deployed;                          /* modules_deployed + head */
    double percent;                             /* 100 * modules_deployed / backbone */
    uint64_t module_approx[SPACE_NMODULES];     /* AutoPEFT's estimate: layers*2*hidden*size per
                                                 * adapter (ha: two per layer) */
    uint64_t approx_autopeft;                   /* their sum */
} space_counts_t;

/* ---- configurations ------------------------------------------------------------------------ */

const char *space_module_name(space_module_t m);   /* "sa", "pa", "pt", "lora", "ha" */
bool space_config_layer(const space_config_t *c, space_module_t m, int layer);
void space_config_set_layer(space_config_t *c, space_module_t m, int layer, bool on);
int space_config_layer_count(const space_config_t *c, space_module_t m);
/* A module is active when its size is non-zero and its mask is not empty. */
bool space_config_active(const space_config_t *c, space_module_t m);
/* Makes the representation unique: an inactive module gets size 0 and an empty mask, and bits
 * at or above `layers` are cleared. Equal configurations then have equal fields (compare them
 * with space_config_equal, not memcmp: the struct has padding). */
void space_config_canonicalise(space_config_t *c);
bool space_config_equal(const space_config_t *a, const space_config_t *b);
uint64_t space_config_hash(const space_config_t *c);

/* Canonical text: "sa=48 pa=0 pt=12 layers=111011110111" (bits bottom layer first; modules in
 * the order sa, pa, pt, then lora and ha only when active). When the active modules' masks
 * differ, each active module carries its own: "sa=48@110000000000 pa=0 pt=12@000000001111".
 * ERR_RANGE when len is too small. */
int space_config_format(const space_config_t *c, char *buf, size_t len);
/* Parses the text form for a model of `layers` layers: sizes are any integers in
 * 0..SPACE_MAX_SIZE (membership in a space is space_check's business); keys in any order,
 * separated by white space; modules not named are off; "layers=" is the mask of modules without
 * their own "@" (a non-zero module with neither is an error). ERR_PARSE (ERR_RANGE for a size
 * over the cap) naming the token and what was expected; empty text is an error. The result is
 * canonical. */
int space_config_parse(const char *text, int layers, space_config_t *out);

/* Exact counts; prefix_bottleneck is the reparameterisation width (SPACE_PREFIX_BOTTLENECK,
 * 1..SPACE_MAX_PREFIX_BOTTLENECK). Inactive modules count 0. ERR_INVAL when the shape fails
 * shape_check or the configuration does not fit it (layer count). */
int space_config_count(const space_config_t *c, const shape_t *shape, int prefix_bottleneck,
                       space_counts_t *out);

/* ---- spaces -------------------------------------------------------------------------------- */

typedef struct space space_t;

typedef struct {
    int hidden;
    int layers;
    bool separate_masks;    /* extension: one layer mask per module */
    /* Size ladders. nsizes[m] == 0 takes the default: AutoPEFT's ladder for sa, pa and pt,
     * {0} (off) for lora and ha. A given ladder is any set of distinct sizes (0 meaning the
     * module may be off); it is sorted largest first. {0} alone takes the module out of the
     * space. */
    int nsizes[SPACE_NMODULES];
    uint32_t sizes[SPACE_NMODULES][SPACE_MAX_LEVELS];
} space_opts_t;

/* AutoPEFT's space for the width and depth. */
void space_opts_default(space_opts_t *o, int hidden, int layers);
/* Turns on LoRA with ranks {64, 32, 16, 8, 4, 2, 1, 0}, each capped at hidden. */
void space_opts_enable_lora(space_opts_t *o);
/* Parses a ladder "768,384,0" into o->sizes[m] (sizes 0..SPACE_MAX_SIZE, distinct, at most
 * SPACE_MAX_LEVELS); ERR_PARSE / ERR_RANGE with the reason, o unchanged then. */
int space_opts_parse_sizes(space_opts_t *o, space_module_t m, const char *list);

/* NULL (err_set says why) on a bad width, depth or ladder. */
space_t *space_new(const space_opts_t *o);
void space_free(space_t **sp);

int space_hidden(const space_t *s);
int space_layers(const space_t *s);
bool space_separate_masks(const space_t *s);
int space_nlevels(const space_t *s, space_module_t m);
uint32_t space_level_size(const space_t *s, space_module_t m, int level);
/* The level of a size in the module's ladder, or -1. */
int space_level_of(const space_t *s, space_module_t m, uint32_t size);
/* Number of valid configurations (as a double: 24-layer spaces exceed 2^32; exact below 2^53,
 * +inf beyond double's range, which only huge separate-mask spaces reach). */
double space_cardinality(const space_t *s);

/* 0 when c belongs to the space; ERR_INVAL naming what does not fit otherwise. */
int space_check(const space_t *s, const space_config_t *c);
/* Uniformly random valid configuration (uniform over the valid set of the default space; with
 * separate masks, uniform over each module's level and non-empty mask, then rejected until
 * valid). */
void space_sample(const space_t *s, rng_t *r, space_config_t *out);

/* The GP's view: a point of [0,1]^dims. Each module with more than one level contributes one
 * ordinal coordinate, (levels-1-k)/(levels-1), so 0 is off and 1 the largest size; then the
 * layer bits as 0/1 (one mask, or one per module that can be on with separate masks). */
int space_dims(const space_t *s);
/* A short name for coordinate i, for reports and the CLI: "sa", "lora", "layer3" with one mask,
 * "pt.layer3" with separate masks. ERR_RANGE for i outside 0..dims-1 or a short buffer. */
int space_dim_name(const space_t *s, int i, char *buf, size_t len);
/* c should pass space_check; a size off the ladder encodes as its nearest level. */
void space_encode(const space_t *s, const space_config_t *c, double *x);
/* Rounds x to the nearest level and bit; 0 when the result is valid, ERR_INVAL (out still
 * filled, canonical) when it is not. Coordinates outside [0,1] are clamped. */
int space_decode(const space_t *s, const double *x, space_config_t *out);

/* One-exchange neighbours of c that are valid: each layer bit flipped, each size stepped one
 * level up or down. With one mask, a module stepped on from off joins the shared mask. With
 * separate masks, bits are flipped only in active modules' masks (a flip that would empty a mask
 * is left to the size step that turns the module off), and a module stepped on from off is
 * inserted in the union of the other modules' layers. All are distinct and differ from c.
 * Returns how many were written (at most cap), or ERR_INVAL (space_check's message) when c is
 * not in the space. */
int space_neighbours(const space_t *s, const space_config_t *c, space_config_t *out, int cap);
int space_max_neighbours(const space_t *s);

/* The valid configurations with the fewest and the most deployed parameters on a model of the
 * space's width and depth (the bounds of the cost objective, e.g. for a hypervolume reference
 * point). ERR_INVAL when the shape does not match the space or fails shape_check. */
int space_extremes(const space_t *s, const shape_t *shape, int prefix_bottleneck,
                   space_config_t *smallest, space_config_t *largest);

#endif
