/* Fuzz target: a vocab.txt; every token must be found again under its own id. */
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "worker/inputs/vocab.h"

FUZZ_TARGET(vocab)
{
    vocab_t *v;

    if (vocab_parse((const char *)data, size, "vocab.txt", &v) != 0)
        return 0;
    for (int i = 0; i < vocab_size(v); i++) {
        const char *t = vocab_token(v, i);
        if (t[0] && vocab_find(v, t, strlen(t)) != i)
            abort();
    }
    vocab_free(&v);
    return 0;
}
