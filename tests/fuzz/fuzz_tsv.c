/* Fuzz target: TSV task data, as a GLUE file (SST-2 header layout, CoLA header-less layout,
 * STS-B regression) and as a generic quoted TSV. */
#include "common/log.h"
#include "tests/fuzz/fuzz.h"
#include "worker/inputs/data.h"

static void task(const char *name, const uint8_t *data, size_t size)
{
    const data_task_t *t;
    data_t *d;

    if (data_task_find(name, &t) == 0 &&
        data_load_task_memory(t, (const char *)data, size, "fuzz.tsv", &d) == 0) {
        for (size_t i = 0; i < data_count(d); i++)
            (void)data_text(d, i);
        data_free(&d);
    }
}

FUZZ_TARGET(tsv)
{
    data_spec_t spec = {.format = TABLE_TSV, .quoted = true, .text = "text", .pair = "pair",
                        .label = "label"};
    data_t *d;

    log_set_level(LOG_LEVEL_OFF);
    task("sst2", data, size);
    task("cola", data, size);
    task("stsb", data, size);
    if (data_load_memory((const char *)data, size, "fuzz.tsv", &spec, &d) == 0)
        data_free(&d);
    return 0;
}
