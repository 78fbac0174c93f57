/* Training precisions by name (precision.h). */
#include "common/precision.h"

#include <strings.h>

#include "common/err.h"

static const char *const names[PRECISION_COUNT] = {"fp32", "bf16", "fp16"};

const char *precision_name(precision_t p)
{
    return (unsigned)p < PRECISION_COUNT ? names[p] : names[PRECISION_FP32];
}

int precision_parse(const char *text, precision_t *out)
{
    for (int i = 0; i < PRECISION_COUNT; i++)
        if (strcasecmp(text, names[i]) == 0) {
            *out = (precision_t)i;
            return 0;
        }
    return err_set(ERR_PARSE, "expected fp32, bf16 or fp16, got '%.64s'", text);
}
