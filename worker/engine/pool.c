/* Thread pool: see pool.h.
 *
 * Workers wait on a condition variable for a new generation of work; a run publishes the
 * function and task count under the mutex, bumps the generation and broadcasts. Tasks are taken
 * with an atomic counter. Completion is counted per thread; the caller spins briefly (runs are
 * short and frequent: a training step makes a few hundred) and then sleeps on a second
 * condition variable, so an idle pool costs no CPU. */
#include "worker/engine/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/err.h"
#include "common/mem.h"

/* Spin iterations before sleeping, on both sides: a few microseconds. */
#define POOL_SPIN 2000

struct pool {
    int nthreads;
    pthread_t *threads;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t work_cv;
    pthread_cond_t done_cv;
    /* The current run, published under mu before generation is bumped. */
    pool_fn fn;
    void *ctx;
    int ntasks;
    atomic_int next;          /* next task to hand out */
    atomic_int busy;          /* workers still inside the current run */
    atomic_uint generation;   /* bumped once per run */
    atomic_bool stop;
};

typedef struct {
    pool_t *pool;
    int tid;
} worker_arg_t;

static void drain(pool_t *p, int tid)
{
    int t;

    while ((t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed)) < p->ntasks)
        p->fn(p->ctx, t, tid);
}

static void *worker_main(void *arg)
{
    worker_arg_t *a = arg;
    pool_t *p = a->pool;
    int tid = a->tid;
    unsigned seen = 0;

    free(a);
    for (;;) {
        unsigned gen;
        int spins = 0;

        while ((gen = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen &&
               spins < POOL_SPIN) {
            spins++;
            if (spins % 64 == 0)
                sched_yield();
        }
        if (gen == seen) {
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->generation) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->work_cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
            gen = atomic_load(&p->generation);
        }
        if (atomic_load(&p->stop))
            return NULL;
        seen = gen;
        drain(p, tid);
        if (atomic_fetch_sub_explicit(&p->busy, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done_cv);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

pool_t *pool_new(int nthreads)
{
    pool_t *p;

    if (nthreads < 1 || nthreads > POOL_MAX_THREADS) {
        err_set(ERR_RANGE, "pool: %d threads; expected 1..%d", nthreads, POOL_MAX_THREADS);
        return NULL;
    }
    p = mem_alloc(1, sizeof *p, "thread pool");
    if (!p)
        return NULL;
    p->nthreads = nthreads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work_cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    atomic_init(&p->next, 0);
    atomic_init(&p->busy, 0);
    atomic_init(&p->generation, 0);
    atomic_init(&p->stop, false);
    if (nthreads == 1)
        return p;
    p->threads = mem_alloc((size_t)nthreads - 1, sizeof *p->threads, "pool threads");
    if (!p->threads)
        goto fail;
    for (int i = 0; i < nthreads - 1; i++) {
        worker_arg_t *a = malloc(sizeof *a);
        int rc;

        if (!a) {
            err_set(ERR_NOMEM, "pool: thread argument");
            goto fail;
        }
        a->pool = p;
        a->tid = i + 1;
        rc = pthread_create(&p->threads[i], NULL, worker_main, a);
        if (rc != 0) {
            free(a);
            err_set(ERR_NOMEM, "pool: cannot start thread %d of %d", i + 2, nthreads);
            goto fail;
        }
        p->started++;
    }
    return p;
fail:
    pool_free(&p);
    return NULL;
}

void pool_free(pool_t **pp)
{
    pool_t *p = pp ? *pp : NULL;

    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, true);
    atomic_fetch_add(&p->generation, 1);
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->started; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work_cv);
    pthread_cond_destroy(&p->done_cv);
    free(p->threads);
    free(p);
    *pp = NULL;
}

int pool_threads(const pool_t *p)
{
    return p->nthreads;
}

void pool_run(pool_t *p, int ntasks, pool_fn fn, void *ctx)
{
    if (ntasks <= 0)
        return;
    if (p->nthreads == 1 || ntasks == 1) {
        for (int t = 0; t < ntasks; t++)
            fn(ctx, t, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->ntasks = ntasks;
    atomic_store(&p->next, 0);
    atomic_store(&p->busy, p->nthreads - 1);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);

    drain(p, 0);
    for (int spins = 0; atomic_load_explicit(&p->busy, memory_order_acquire) != 0; spins++) {
        if (spins < POOL_SPIN) {
            if (spins % 64 == 63)
                sched_yield();
            continue;
        }
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->busy) != 0)
            pthread_cond_wait(&p->done_cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
        break;
    }
}

void pool_split(long n, int parts, int part, long align, long *begin, long *end)
{
    long units, per, extra, b, e;

    if (align < 1)
        align = 1;
    units = (n + align - 1) / align;
    per = units / parts;
    extra = units % parts;
    b = part * per + (part < extra ? part : extra);
    e = b + per + (part < extra ? 1 : 0);
    b *= align;
    e *= align;
    *begin = b < n ? b : n;
    *end = e < n ? e : n;
}
