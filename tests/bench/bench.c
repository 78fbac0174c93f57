/* Benchmark runner: see bench.h. */
#include "tests/bench/bench.h"

#include <cblas.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/blas_startup.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/version.h"

typedef struct {
    const char *name;
    bench_fn fn;
    const char *summary;
} entry_t;

static entry_t entries[64];
static int nentries;

void bench_register(const char *name, bench_fn fn, const char *summary)
{
    if (nentries < 64)
        entries[nentries++] = (entry_t){name, fn, summary};
}

double bench_now(void)
{
    return clock_s();
}

static void usage(FILE *f)
{
    fprintf(f, "usage: autopeft-bench NAME [ARGS]\n\nBenchmarks:\n");
    for (int i = 0; i < nentries; i++)
        fprintf(f, "  %-12s %s\n", entries[i].name, entries[i].summary);
}

int main(int argc, char **argv)
{
    log_init("autopeft-bench", LOG_LEVEL_WARN, LOG_FORMAT_TEXT);
    blas_startup(argv, 0);   /* may restart on a faster OpenBLAS core (common/blas_startup.h) */
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (int i = 0; i < nentries; i++) {
        if (strcmp(entries[i].name, argv[1]) != 0)
            continue;
        printf("autopeft %s; OpenBLAS core %s; %ld CPUs online\n", version_long(),
               openblas_get_corename(), sysconf(_SC_NPROCESSORS_ONLN));
        return entries[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "autopeft-bench: no benchmark '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
