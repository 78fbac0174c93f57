/* Fixture reader: see fixture.h. */
#include "tests/fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/harness.h"

struct fixture {
    json_t *root;
    float *data;
    size_t count;
};

fixture_t *fixture_load(const char *rel)
{
    char path[1024], bin[1200];
    json_error_t jerr;
    fixture_t *f = calloc(1, sizeof *f);
    FILE *fp = NULL;
    const char *data, *slash;
    long size;

    if (!f)
        return NULL;
    harness_src_path(rel, path, sizeof path);
    f->root = json_load_file(path, 0, &jerr);
    if (!f->root) {
        fprintf(stderr, "fixture %s: %s (line %d)\n", path, jerr.text, jerr.line);
        goto fail;
    }
    data = json_string_value(json_object_get(f->root, "data"));
    slash = strrchr(path, '/');
    if (!data || !slash) {
        fprintf(stderr, "fixture %s: no \"data\" file named\n", path);
        goto fail;
    }
    snprintf(bin, sizeof bin, "%.*s/%s", (int)(slash - path), path, data);
    fp = fopen(bin, "rb");
    if (!fp || fseek(fp, 0, SEEK_END) != 0 || (size = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0) {
        fprintf(stderr, "fixture %s: cannot read\n", bin);
        goto fail;
    }
    f->count = (size_t)size / sizeof(float);
    f->data = malloc((size_t)size + 1);
    if (!f->data || fread(f->data, 1, (size_t)size, fp) != (size_t)size) {
        fprintf(stderr, "fixture %s: short read\n", bin);
        goto fail;
    }
    fclose(fp);
    return f;
fail:
    if (fp)
        fclose(fp);
    fixture_free(&f);
    return NULL;
}

void fixture_free(fixture_t **fp)
{
    if (!fp || !*fp)
        return;
    json_decref((*fp)->root);
    free((*fp)->data);
    free(*fp);
    *fp = NULL;
}

json_t *fixture_root(const fixture_t *f)
{
    return f->root;
}

const float *fixture_data(const fixture_t *f, const json_t *entry, size_t *count, int *dims,
                          int *ndim)
{
    json_t *shape = json_object_get(entry, "shape");
    json_int_t off = json_integer_value(json_object_get(entry, "offset"));
    size_t n = 1, i;
    json_t *v;

    if (!json_is_array(shape) || off < 0 || json_array_size(shape) > 4)
        return NULL;
    json_array_foreach(shape, i, v)
    {
        if (dims)
            dims[i] = (int)json_integer_value(v);
        n *= (size_t)json_integer_value(v);
    }
    if (ndim)
        *ndim = (int)json_array_size(shape);
    if ((size_t)off > f->count || n > f->count - (size_t)off)
        return NULL;
    if (count)
        *count = n;
    return f->data + off;
}

const float *fixture_get(const fixture_t *f, const json_t *table, const char *name, size_t *count)
{
    json_t *e = json_object_get(table, name);

    return e ? fixture_data(f, e, count, NULL, NULL) : NULL;
}
