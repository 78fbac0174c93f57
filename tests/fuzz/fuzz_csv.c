/* Fuzz target: RFC 4180 CSV task data through the generic reader (labels inferred, then given). */
#include "common/log.h"
#include "tests/fuzz/fuzz.h"
#include "worker/inputs/data.h"

FUZZ_TARGET(csv)
{
    static const char *const labels[] = {"neg", "pos", "0", "1"};
    data_spec_t spec = {.format = TABLE_CSV, .text = "text", .label = "label"};
    data_t *d;

    log_set_level(LOG_LEVEL_OFF);
    if (data_load_memory((const char *)data, size, "fuzz.csv", &spec, &d) == 0)
        data_free(&d);
    spec.labels = labels;
    spec.nlabels = 4;
    spec.pair = "pair";
    if (data_load_memory((const char *)data, size, "fuzz.csv", &spec, &d) == 0)
        data_free(&d);
    return 0;
}
