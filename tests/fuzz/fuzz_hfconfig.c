/* Fuzz target: the same bytes as a model config.json and as a tokenizer_config.json. */
#include "fuzz/fuzz.h"
#include "hfconfig.h"
#include "tokenizer.h"

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
