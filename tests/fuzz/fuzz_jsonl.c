/* Fuzz target: JSON-lines task data (classification with inferred labels, and regression). */
#include "common/log.h"
#include "tests/fuzz/fuzz.h"
#include "worker/inputs/data.h"

FUZZ_TARGET(jsonl)
{
    data_spec_t spec = {.format = TABLE_JSONL, .text = "text", .pair = "pair", .label = "label"};
    data_t *d;

    log_set_level(LOG_LEVEL_OFF);
    if (data_load_memory((const char *)data, size, "fuzz.jsonl", &spec, &d) == 0)
        data_free(&d);
    spec.pair = NULL;
    spec.regression = true;
    if (data_load_memory((const char *)data, size, "fuzz.jsonl", &spec, &d) == 0)
        data_free(&d);
    return 0;
}
