/* A small fork-join thread pool for the engine's kernels.
 *
 * pool_run(p, ntasks, fn, ctx) runs fn(ctx, task, tid) for every task in [0, ntasks) on the
 * pool's threads and the calling thread, and returns when all are done. Tasks are handed out
 * dynamically, so uneven tasks (attention of sequences of different lengths) balance; tid in
 * [0, pool_threads(p)) names the thread, for per-thread scratch memory. A pool of one thread
 * runs everything on the caller and starts no thread.
 *
 * The engine calls OpenBLAS single-threaded from these threads (blas_set_threads(1)) and splits
 * the large products itself, so that one pool decides how the worker's cores are used and no
 * OpenBLAS thread spins while the element-wise kernels run.
 *
 * One thread at a time may call pool_run on a pool; fn must not call pool_run. */
#ifndef AUTOPEFT_POOL_H
#define AUTOPEFT_POOL_H

#define POOL_MAX_THREADS 256

typedef struct pool pool_t;
typedef void (*pool_fn)(void *ctx, int task, int tid);

/* nthreads in [1, POOL_MAX_THREADS], the caller included. NULL (err_set says why) on failure. */
pool_t *pool_new(int nthreads);
void pool_free(pool_t **pp);
int pool_threads(const pool_t *p);

void pool_run(pool_t *p, int ntasks, pool_fn fn, void *ctx);

/* [*begin, *end) of part `part` when n items are split into `parts` near-equal contiguous
 * parts, each a multiple of `align` items except the last. */
void pool_split(long n, int parts, int part, long align, long *begin, long *end);

#endif
