/* Fuzz target: a safetensors file (header and data) read from memory, every tensor converted. */
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "worker/inputs/safetensors.h"

FUZZ_TARGET(safetensors)
{
    safetensors_t *s;

    if (safetensors_open_memory(data, size, "fuzz.safetensors", &s) != 0)
        return 0;
    for (size_t i = 0; i < safetensors_count(s); i++) {
        const safetensors_tensor_t *t = safetensors_at(s, i);
        const float *view;
        float *out;

        if (safetensors_find(s, t->name) != t)
            abort(); /* names are unique, so lookup must give the same tensor */
        /* The data lies inside the input, so numel is bounded by size. */
        out = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *out);
        if (out)
            safetensors_read_f32(s, t, out, (size_t)t->numel);
        free(out);
        if (safetensors_view_f32(s, t, &view) == 0 && t->numel)
            (void)*(volatile const float *)&view[t->numel - 1];
    }
    safetensors_metadata(s, "format");
    safetensors_free(&s);
    return 0;
}
