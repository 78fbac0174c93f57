/* Fuzz target: the same bytes as a model config.json and as a tokenizer_config.json. */
#include "common/hfconfig.h"
#include "tests/fuzz/fuzz.h"
#include "worker/inputs/tokenizer.h"

FUZZ_TARGET(hfconfig)
{
    hfconfig_t *c;
    tokenizer_options_t o;

    if (hfconfig_parse((const char *)data, size, "config.json", &c) == 0)
        hfconfig_free(&c);
    tokenizer_options_default(&o);
    tokenizer_config_parse((const char *)data, size, "tokenizer_config.json", NULL, &o);
    return 0;
}
