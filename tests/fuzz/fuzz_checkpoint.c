/* Fuzz target: a model.safetensors matched by name into a small model (worker/inputs/checkpoint.c):
 * the safetensors reader's checks first, then the names, shapes, dtypes and values. The model's
 * shape is that of `autopeft init-model --hidden 8 --layers 1 --heads 2 --intermediate 8
 * --positions 8` (generated vocabulary of 109 tokens), whose files seed the corpus. */
#include "tests/fuzz/fuzz.h"
#include "worker/inputs/checkpoint.h"

FUZZ_TARGET(checkpoint)
{
    static model_t *m;
    safetensors_t *st = NULL;

    if (!m) {
        model_opts_t o;
        shape_t s;
        shape_default(&s, 8, 1);
        s.heads = 2;
        s.intermediate = 8;
        s.positions = 8;
        s.vocab = 109;
        model_opts_default(&o, &s);
        m = model_new(&o);
        if (!m)
            return 0;
    }
    for (int i = 0; i < model_tensor_count(m); i++)
        model_tensor(m, i)->loaded = false;
    if (safetensors_open_memory(data, size, "model.safetensors", &st) == 0)
        checkpoint_fill(m, st, NULL);
    safetensors_free(&st);
    return 0;
}
