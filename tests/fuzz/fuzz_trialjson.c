/* Fuzz target: a saved trial's trial.json (worker/trial_save.c), which `autopeft eval` reads. */
#include "fuzz/fuzz.h"
#include "trial_int.h"

FUZZ_TARGET(trialjson)
{
    trial__saved_t s;

    if (trial__saved_parse((const char *)data, size, "trial.json", &s) == 0)
        trial__saved_free(&s);
    return 0;
}
