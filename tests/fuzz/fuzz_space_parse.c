/* Fuzz target: the text form of a configuration (space_config_parse), the one decoder of
 * configurations typed by users and carried in study files.
 *
 * Whatever the bytes, parsing must not crash or read past the input; when it succeeds, the
 * result must be canonical, print back to a text that parses to the same configuration, count
 * without error on a shape of its depth, and, when it belongs to AutoPEFT's space, encode and
 * decode to itself and have only valid neighbours. */
#include <stdlib.h>
#include <string.h>

#include "common/shape.h"
#include "common/space.h"
#include "tests/fuzz/fuzz.h"

/* An invariant broken: crash loudly, so that libFuzzer saves the input (and the replay test
 * fails). */
#define FUZZ_CHECK(cond)        \
    do {                        \
        if (!(cond))            \
            __builtin_trap();   \
    } while (0)

#define FUZZ_MAX_TEXT 4096

/* The depth the text implies: the length of its first run of mask bits, else 12. */
static int layers_of(const char *text)
{
    const char *p = strstr(text, "layers=");
    size_t n;

    p = p ? p + 7 : strchr(text, '@');
    if (p && *p == '@')
        p++;
    if (!p)
        return 12;
    n = strspn(p, "01");
    return n >= 1 && n <= SPACE_MAX_LAYERS ? (int)n : 12;
}

FUZZ_TARGET(space_parse)
{
    char text[FUZZ_MAX_TEXT + 1], back_text[SPACE_TEXT_MAX];
    space_config_t c, back;
    space_counts_t k;
    space_opts_t o;
    space_t *s;
    shape_t shape;
    int layers;

    if (size > FUZZ_MAX_TEXT)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    layers = layers_of(text);
    if (space_config_parse(text, layers, &c) != 0)
        return 0;

    back = c;
    space_config_canonicalise(&back);
    FUZZ_CHECK(space_config_equal(&back, &c));
    FUZZ_CHECK(space_config_format(&c, back_text, sizeof back_text) == 0);
    FUZZ_CHECK(space_config_parse(back_text, layers, &back) == 0);
    FUZZ_CHECK(space_config_equal(&back, &c));
    FUZZ_CHECK(space_config_hash(&back) == space_config_hash(&c));

    shape_default(&shape, 768, layers);
    FUZZ_CHECK(space_config_count(&c, &shape, SPACE_PREFIX_BOTTLENECK, &k) == 0);
    for (int m = 0; m < SPACE_NMODULES; m++)
        FUZZ_CHECK(m == SPACE_PT || k.module_trainable[m] == k.module_deployed[m]);
    FUZZ_CHECK((k.module_deployed[SPACE_PT] == 0) == !space_config_active(&c, SPACE_PT));
    FUZZ_CHECK(k.trainable == k.modules_trainable + k.head);

    space_opts_default(&o, 768, layers);
    space_opts_enable_lora(&o);
    o.separate_masks = text[0] == ' ';
    s = space_new(&o);
    FUZZ_CHECK(s != NULL);
    if (space_check(s, &c) == 0) {
        int dims = space_dims(s), cap = space_max_neighbours(s), n;
        double *x = malloc((size_t)dims * sizeof *x);
        space_config_t *nb = malloc((size_t)cap * sizeof *nb);

        FUZZ_CHECK(x && nb);
        space_encode(s, &c, x);
        FUZZ_CHECK(space_decode(s, x, &back) == 0);
        FUZZ_CHECK(space_config_equal(&back, &c));
        n = space_neighbours(s, &c, nb, cap);
        FUZZ_CHECK(n >= 0 && n <= cap);
        for (int i = 0; i < n; i++) {
            FUZZ_CHECK(space_check(s, &nb[i]) == 0);
            FUZZ_CHECK(!space_config_equal(&nb[i], &c));
        }
        free(x);
        free(nb);
    }
    space_free(&s);
    return 0;
}
