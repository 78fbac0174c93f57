/* Fuzz target: a saved trial's trial.json (worker/trial/trial_save.c), which `autopeft eval` reads. */
#include "tests/fuzz/fuzz.h"
#include "worker/trial/trial_int.h"

FUZZ_TARGET(trialjson)
{
    trial__saved_t s;

    if (trial__saved_parse((const char *)data, size, "trial.json", &s) == 0)
        trial__saved_free(&s);
    return 0;
}
