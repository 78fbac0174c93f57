/* Reader of the PyTorch reference fixtures under tests/reference/fixtures/ (written by
 * tests/reference/make_fixtures.py): a JSON manifest whose tensor entries give an offset and a
 * shape into one little-endian float32 file. For tests only: a malformed fixture fails the
 * test that reads it. */
#ifndef AUTOPEFT_TESTS_FIXTURE_H
#define AUTOPEFT_TESTS_FIXTURE_H

#include <jansson.h>
#include <stddef.h>

typedef struct fixture fixture_t;

/* rel: path under the source tree ("tests/reference/fixtures/engine.json"). NULL with a
 * message on stderr when it cannot be read. */
fixture_t *fixture_load(const char *rel);
void fixture_free(fixture_t **fp);
json_t *fixture_root(const fixture_t *f);

/* The floats of a tensor entry ({"offset": .., "shape": [..]}); *count receives their number,
 * dims (up to 4, NULL: not wanted) the shape and *ndim its rank. NULL if out of bounds. */
const float *fixture_data(const fixture_t *f, const json_t *entry, size_t *count, int *dims,
                          int *ndim);
/* The same for table[name]. */
const float *fixture_get(const fixture_t *f, const json_t *table, const char *name, size_t *count);

#endif
