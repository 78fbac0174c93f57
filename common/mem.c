#include "common/mem.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

bool mem_mul(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

bool mem_add(size_t a, size_t b, size_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

static bool total(size_t n, size_t size, const char *what, size_t *bytes)
{
    if (!mem_mul(n, size, bytes)) {
        err_set(ERR_NOMEM, "allocating %s: %zu x %zu bytes overflows", what ? what : "memory", n,
                size);
        return false;
    }
    return true;
}

void *mem_alloc(size_t n, size_t size, const char *what)
{
    size_t bytes;
    void *p;

    if (!total(n, size, what, &bytes))
        return NULL;
    p = calloc(bytes ? bytes : 1, 1);
    if (!p)
        err_set(ERR_NOMEM, "allocating %s: out of memory for %zu bytes", what ? what : "memory",
                bytes);
    return p;
}

void *mem_alloc_aligned(size_t n, size_t size, const char *what)
{
    size_t bytes;
    void *p = NULL;

    if (!total(n, size, what, &bytes))
        return NULL;
    /* Round up so that vector loops may read a whole last line. */
    if (!mem_add(bytes, MEM_ALIGN - 1, &bytes)) {
        err_set(ERR_NOMEM, "allocating %s: size overflows", what ? what : "memory");
        return NULL;
    }
    bytes &= ~(size_t)(MEM_ALIGN - 1);
    if (posix_memalign(&p, MEM_ALIGN, bytes ? bytes : MEM_ALIGN) != 0) {
        err_set(ERR_NOMEM, "allocating %s: out of memory for %zu bytes", what ? what : "memory",
                bytes);
        return NULL;
    }
    memset(p, 0, bytes);
    return p;
}

void *mem_realloc(void *p, size_t n, size_t size, const char *what)
{
    size_t bytes;
    void *q;

    if (!total(n, size, what, &bytes))
        return NULL;
    q = realloc(p, bytes ? bytes : 1);
    if (!q)
        err_set(ERR_NOMEM, "growing %s: out of memory for %zu bytes", what ? what : "memory",
                bytes);
    return q;
}

char *mem_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = mem_alloc(len + 1, 1, "string");

    if (d)
        memcpy(d, s, len);
    return d;
}

char *mem_strdup(const char *s)
{
    return mem_strndup(s, strlen(s));
}

int mem_grow(void *pp, int *cap, int n, size_t size, int first, const char *what)
{
    void **p = pp, *grown;
    int ncap;

    if (n < *cap)
        return 0;
    if (*cap > INT_MAX / 2)
        return err_set(ERR_NOMEM, "%s: more than %d elements", what, INT_MAX / 2);
    ncap = *cap ? 2 * *cap : first;
    grown = mem_realloc(*p, (size_t)ncap, size, what);
    if (!grown)
        return ERR_NOMEM;
    *p = grown;
    *cap = ncap;
    return 0;
}

void mem_freep(void *pp)
{
    void **p = pp;

    free(*p);
    *p = NULL;
}
