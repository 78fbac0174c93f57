/* Fuzz target: study configuration files (config_parse), typed by users and stored in study.db.
 *
 * Whatever the bytes, parsing must not crash or read past the input, and must either succeed
 * with values inside their documented ranges or fail with a message. Model paths are not
 * followed (a path key makes the parse read config.json; the fuzzer may name any file, which is
 * fine: it is only read). */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "coordinator/runtime/config.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_CHECK(cond)        \
    do {                        \
        if (!(cond))            \
            __builtin_trap();   \
    } while (0)

#define FUZZ_MAX_TEXT 65536

FUZZ_TARGET(config)
{
    config_t *c;
    char *text;
    int rc;

    if (size > FUZZ_MAX_TEXT)
        return 0;
    text = malloc(size + 1);
    c = malloc(sizeof *c);
    if (!text || !c) {
        free(text);
        free(c);
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    rc = config_parse(text, "fuzz.conf", NULL, c);
    if (rc == 0) {
        FUZZ_CHECK(c->budget >= 1 && c->budget <= CONFIG_MAX_BUDGET);
        FUZZ_CHECK(c->n_init >= 1 && c->n_init <= c->budget);
        FUZZ_CHECK(c->max_attempts >= 1 && c->max_attempts <= 100);
        FUZZ_CHECK(c->heartbeat_interval_ms >= 10 && c->heartbeat_liveness >= 1);
        FUZZ_CHECK(shape_check(&c->shape) == 0);
        FUZZ_CHECK(c->space.hidden == c->shape.hidden && c->space.layers == c->shape.layers);
        FUZZ_CHECK(memchr(c->name, '\0', sizeof c->name) != NULL);
    } else {
        FUZZ_CHECK(err_msg()[0] != '\0');
    }
    free(text);
    free(c);
    return 0;
}
