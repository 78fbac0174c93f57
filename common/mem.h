/* Allocation helpers: sizes are overflow-checked, failures are reported through err_set, and
 * every allocation is zeroed so that a forgotten field is 0, not garbage.
 *
 * Sizes that come from outside (files, sockets, users) are checked against their own hard caps
 * before they get here; these helpers only make sure the arithmetic itself cannot wrap. */
#ifndef AUTOPEFT_MEM_H
#define AUTOPEFT_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Alignment of numerical buffers: one cache line, enough for AVX-512 loads. */
#define MEM_ALIGN 64

/* n * size bytes, zeroed; NULL (and err_set ERR_NOMEM naming what) on overflow or failure. */
void *mem_alloc(size_t n, size_t size, const char *what);
/* Same, aligned to MEM_ALIGN; released with free(). */
void *mem_alloc_aligned(size_t n, size_t size, const char *what);
/* Resizes p to n * size bytes; on failure p is untouched and NULL is returned. New bytes are
 * not zeroed (callers track their own lengths). */
void *mem_realloc(void *p, size_t n, size_t size, const char *what);
char *mem_strdup(const char *s);
char *mem_strndup(const char *s, size_t n);

/* *out = a * b (or a + b); false when that overflows size_t. */
bool mem_mul(size_t a, size_t b, size_t *out);
bool mem_add(size_t a, size_t b, size_t *out);

/* Makes room for element n of the array *pp, which has room for *cap elements of size bytes:
 * when n == *cap, doubles *cap (from first when it is 0) and reallocates. 0; ERR_NOMEM naming
 * what (the array and *cap unchanged) when that fails or *cap would pass INT_MAX. */
int mem_grow(void *pp, int *cap, int n, size_t size, int first, const char *what);
/* Frees *p and sets it to NULL. */
void mem_freep(void *pp);

#endif
