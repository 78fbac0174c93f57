/* Benchmarks: `autopeft-bench NAME [ARGS]` runs one registered with BENCH(NAME). Each prints a
 * table of what it measured, with the reference it is compared against measured in the same
 * run, and ends with one line "BENCH NAME key=value ...". */
#ifndef AUTOPEFT_BENCH_H
#define AUTOPEFT_BENCH_H

typedef int (*bench_fn)(int argc, char **argv);

void bench_register(const char *name, bench_fn fn, const char *summary);
/* Monotonic seconds. */
double bench_now(void);

#define BENCH(bname, summary)                                              \
    static int bench_##bname(int argc, char **argv);                       \
    __attribute__((constructor)) static void bench_register_##bname(void) \
    {                                                                      \
        bench_register(#bname, bench_##bname, summary);                    \
    }                                                                      \
    static int bench_##bname(int argc, char **argv)

#endif
