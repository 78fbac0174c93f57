#include "worker/inputs/safetensors.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/file.h"
#include "common/mem.h"

/* Messages quote at most this much of a tensor name (names come from the file). */
#define NAME_SHOWN 200
#define LABEL_MAX 1024

struct safetensors {
    char label[LABEL_MAX];
    const uint8_t *base;     /* whole file (or caller's bytes) */
    size_t size;
    bool mapped;
    const uint8_t *data;     /* the data area: base + 8 + header length */
    uint64_t data_size;
    safetensors_tensor_t *tensors;   /* file order */
    size_t ntensors;
    size_t *by_name;                 /* indices into tensors, sorted by name */
    json_t *metadata;                /* the "__metadata__" object, or NULL */
    /* Names point into the parsed header; keeping the tree alive is simpler than copying them,
     * and it is small next to the tensors. */
    json_t *root;
};

static const struct {
    const char *name;
    size_t size;
} dtypes[SAFETENSORS__NDTYPES] = {
    [SAFETENSORS_BOOL] = {"BOOL", 1},       [SAFETENSORS_U8] = {"U8", 1},
    [SAFETENSORS_I8] = {"I8", 1},           [SAFETENSORS_F8_E5M2] = {"F8_E5M2", 1},
    [SAFETENSORS_F8_E4M3] = {"F8_E4M3", 1}, [SAFETENSORS_I16] = {"I16", 2},
    [SAFETENSORS_U16] = {"U16", 2},         [SAFETENSORS_F16] = {"F16", 2},
    [SAFETENSORS_BF16] = {"BF16", 2},       [SAFETENSORS_I32] = {"I32", 4},
    [SAFETENSORS_U32] = {"U32", 4},         [SAFETENSORS_F32] = {"F32", 4},
    [SAFETENSORS_F64] = {"F64", 8},         [SAFETENSORS_I64] = {"I64", 8},
    [SAFETENSORS_U64] = {"U64", 8},
};

const char *safetensors_dtype_name(safetensors_dtype_t dtype)
{
    if ((int)dtype < 0 || dtype >= SAFETENSORS__NDTYPES)
        return NULL;
    return dtypes[dtype].name;
}

size_t safetensors_dtype_size(safetensors_dtype_t dtype)
{
    if ((int)dtype < 0 || dtype >= SAFETENSORS__NDTYPES)
        return 0;
    return dtypes[dtype].size;
}

int safetensors_dtype_parse(const char *name, safetensors_dtype_t *out)
{
    for (int i = 0; i < SAFETENSORS__NDTYPES; i++) {
        if (strcmp(name, dtypes[i].name) == 0) {
            *out = (safetensors_dtype_t)i;
            return 0;
        }
    }
    return err_set(ERR_UNSUPPORTED,
                   "dtype '%.32s' is not supported (known: BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, "
                   "U16, F16, BF16, I32, U32, F32, F64, I64, U64)",
                   name);
}

/* ---- number conversions ---------------------------------------------------------------------- */

static float bits_to_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t f32_to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

float safetensors_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;

    if (exp == 0) {
        /* Zero or subnormal: mant * 2^-24, exact in binary32 (a 10-bit integer times a power
         * of two that stays in binary32's normal range). */
        float v = (float)mant * 0x1p-24f;
        return bits_to_f32(f32_to_bits(v) | sign);
    }
    if (exp == 31) /* infinity, or NaN with its payload moved to the top mantissa bits */
        return bits_to_f32(sign | 0x7f800000u | (mant << 13));
    return bits_to_f32(sign | ((exp + 127 - 15) << 23) | (mant << 13));
}

float safetensors_bf16_to_f32(uint16_t b)
{
    return bits_to_f32((uint32_t)b << 16);
}

/* Rounds m right by shift (1..31) bits, to nearest, ties to even. */
static uint32_t round_shift(uint32_t m, int shift)
{
    uint32_t keep = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);

    if (rem > half || (rem == half && (keep & 1u)))
        keep++;
    return keep;
}

uint16_t safetensors_f32_to_f16(float f)
{
    uint32_t u = f32_to_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    int exp = (int)((u >> 23) & 0xffu);
    uint32_t mant = u & 0x7fffffu;
    int e = exp - 127;

    if (exp == 255) {
        if (mant == 0)
            return sign | 0x7c00u;
        /* Keep the top payload bits; a payload living only in the low bits must still read as
         * NaN, not infinity. */
        uint16_t h = (uint16_t)(0x7c00u | (mant >> 13));
        return sign | (h == 0x7c00u ? 0x7c01u : h);
    }
    if (e > 15)
        return sign | 0x7c00u;
    if (e >= -14) {
        /* Normal half; a carry out of the mantissa correctly bumps the exponent (to infinity
         * at the top). */
        uint32_t h = ((uint32_t)(e + 15) << 10) + round_shift(mant, 13);
        return sign | (uint16_t)h;
    }
    if (exp == 0 || e < -25) /* binary32 subnormals and anything below 2^-25 round to zero */
        return sign;
    /* Half subnormal: value = (mant | 2^23) * 2^(e-23), in units of 2^-24. */
    return sign | (uint16_t)round_shift(mant | 0x800000u, -e - 1);
}

/* ---- reading --------------------------------------------------------------------------------- */

static uint64_t load_u64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static int fail(const safetensors_t *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(const safetensors_t *s, int code, const char *fmt, ...)
{
    char msg[900];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(code, "%s: %s", s->label, msg);
}

static int read_dims(const safetensors_t *s, const char *name, json_t *shape,
                     safetensors_tensor_t *t)
{
    size_t i;
    json_t *dim;

    if (!json_is_array(shape))
        return fail(s, ERR_PARSE, "tensor '%.*s': \"shape\" is not an array", NAME_SHOWN, name);
    if (json_array_size(shape) > SAFETENSORS_MAX_DIMS)
        return fail(s, ERR_RANGE, "tensor '%.*s': %zu dimensions, more than the limit of %d",
                    NAME_SHOWN, name, json_array_size(shape), SAFETENSORS_MAX_DIMS);
    t->ndim = (int)json_array_size(shape);
    t->numel = 1;
    json_array_foreach(shape, i, dim) {
        json_int_t v;

        if (!json_is_integer(dim) || (v = json_integer_value(dim)) < 0)
            return fail(s, ERR_PARSE, "tensor '%.*s': dimension %zu is not a non-negative integer",
                        NAME_SHOWN, name, i);
        t->shape[i] = (uint64_t)v;
        if (__builtin_mul_overflow(t->numel, t->shape[i], &t->numel) ||
            t->numel > SAFETENSORS_MAX_NUMEL)
            return fail(s, ERR_RANGE, "tensor '%.*s': shape has more than 2^40 elements",
                        NAME_SHOWN, name);
    }
    return 0;
}

static int read_entry(const safetensors_t *s, const char *name, json_t *info,
                      safetensors_tensor_t *t)
{
    json_t *dtype = json_object_get(info, "dtype");
    json_t *offsets = json_object_get(info, "data_offsets");
    json_int_t begin, end;
    int rc;

    if (strlen(name) > SAFETENSORS_MAX_NAME)
        return fail(s, ERR_RANGE, "tensor name '%.*s...' is longer than %d bytes", NAME_SHOWN,
                    name, SAFETENSORS_MAX_NAME);
    if (!json_is_object(info))
        return fail(s, ERR_PARSE, "tensor '%.*s': entry is not an object", NAME_SHOWN, name);
    if (!json_is_string(dtype))
        return fail(s, ERR_PARSE, "tensor '%.*s': \"dtype\" is missing or not a string",
                    NAME_SHOWN, name);
    if ((rc = safetensors_dtype_parse(json_string_value(dtype), &t->dtype)) != 0)
        return err_prefix(rc, "%s: tensor '%.*s': ", s->label, NAME_SHOWN, name);
    if ((rc = read_dims(s, name, json_object_get(info, "shape"), t)) != 0)
        return rc;
    if (!json_is_array(offsets) || json_array_size(offsets) != 2 ||
        !json_is_integer(json_array_get(offsets, 0)) ||
        !json_is_integer(json_array_get(offsets, 1)))
        return fail(s, ERR_PARSE, "tensor '%.*s': \"data_offsets\" is not [begin, end]",
                    NAME_SHOWN, name);
    begin = json_integer_value(json_array_get(offsets, 0));
    end = json_integer_value(json_array_get(offsets, 1));
    if (begin < 0 || end < begin)
        return fail(s, ERR_PARSE, "tensor '%.*s': data_offsets [%lld, %lld] are inconsistent "
                    "(negative or end before begin)", NAME_SHOWN, name, (long long)begin,
                    (long long)end);
    t->name = name;
    t->offset = (uint64_t)begin;
    /* numel <= 2^40 and a dtype has at most 8 bytes: no overflow. */
    t->nbytes = t->numel * dtypes[t->dtype].size;
    if ((uint64_t)(end - begin) != t->nbytes)
        return fail(s, ERR_PARSE, "tensor '%.*s': data_offsets [%lld, %lld] hold %lld bytes but "
                    "shape and %s need %llu (inconsistent)", NAME_SHOWN, name, (long long)begin,
                    (long long)end, (long long)(end - begin), dtypes[t->dtype].name,
                    (unsigned long long)t->nbytes);
    if (t->offset > s->data_size || t->nbytes > s->data_size - t->offset)
        return fail(s, ERR_PARSE, "tensor '%.*s': data_offsets [%lld, %lld] reach past the %llu "
                    "bytes of data the file holds (truncated)", NAME_SHOWN, name,
                    (long long)begin, (long long)end, (unsigned long long)s->data_size);
    return 0;
}

static int cmp_offset(const void *a, const void *b)
{
    const safetensors_tensor_t *x = a, *y = b;

    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    if (x->nbytes != y->nbytes)
        return x->nbytes < y->nbytes ? -1 : 1;
    return 0;
}

/* qsort has no context argument in C11: the table being sorted is passed through this. */
static _Thread_local const safetensors_tensor_t *sort_table;

static int cmp_name(const void *a, const void *b)
{
    return strcmp(sort_table[*(const size_t *)a].name, sort_table[*(const size_t *)b].name);
}

static int check_metadata(const safetensors_t *s, json_t *meta)
{
    const char *key;
    json_t *value;

    if (!json_is_object(meta))
        return fail(s, ERR_PARSE, "\"__metadata__\" is not an object");
    json_object_foreach(meta, key, value) {
        if (!json_is_string(value))
            return fail(s, ERR_PARSE, "\"__metadata__\" value of '%.*s' is not a string",
                        NAME_SHOWN, key);
    }
    return 0;
}

/* Checks the layout: sorted by offset, the tensors must tile [0, data_size) exactly. */
static int check_tiling(const safetensors_t *s)
{
    uint64_t at = 0;

    for (size_t i = 0; i < s->ntensors; i++) {
        const safetensors_tensor_t *t = &s->tensors[i];

        if (t->offset < at)
            return fail(s, ERR_PARSE, "tensor '%.*s' at data bytes [%llu, %llu) overlaps tensor "
                        "'%.*s' (inconsistent)", NAME_SHOWN, t->name,
                        (unsigned long long)t->offset,
                        (unsigned long long)(t->offset + t->nbytes), NAME_SHOWN,
                        s->tensors[i - 1].name);
        if (t->offset > at)
            return fail(s, ERR_PARSE, "tensor '%.*s' begins at data byte %llu, leaving a gap "
                        "after byte %llu (inconsistent)", NAME_SHOWN, t->name,
                        (unsigned long long)t->offset, (unsigned long long)at);
        at = t->offset + t->nbytes;
    }
    if (at != s->data_size)
        return fail(s, ERR_PARSE, "the tensors cover %llu bytes of data but the file holds %llu "
                    "(oversized: trailing bytes)", (unsigned long long)at,
                    (unsigned long long)s->data_size);
    return 0;
}

static int parse(safetensors_t *s)
{
    uint64_t n;
    json_error_t jerr;
    json_t *root, *value;
    const char *key;
    size_t count, i = 0;
    int rc;

    if (s->size < 8)
        return fail(s, ERR_PARSE, "truncated: %zu bytes, shorter than the 8-byte header length",
                    s->size);
    n = load_u64le(s->base);
    if (n > SAFETENSORS_MAX_HEADER)
        return fail(s, ERR_RANGE, "header length %llu is over the limit of %llu bytes (oversized "
                    "or not a safetensors file)", (unsigned long long)n,
                    (unsigned long long)SAFETENSORS_MAX_HEADER);
    if (n > s->size - 8)
        return fail(s, ERR_PARSE, "truncated: the header needs %llu bytes but only %zu follow "
                    "the length", (unsigned long long)n, s->size - 8);
    if (n < 2 || s->base[8] != '{')
        return fail(s, ERR_PARSE, "the header does not begin with '{' (not a safetensors file)");
    s->data = s->base + 8 + n;
    s->data_size = s->size - 8 - n;

    root = json_loadb((const char *)s->base + 8, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return fail(s, ERR_PARSE, "header JSON, byte %d: %s", jerr.position, jerr.text);
    s->root = root;
    if (!json_is_object(root))
        return fail(s, ERR_PARSE, "the header is not a JSON object");
    count = json_object_size(root);
    if ((value = json_object_get(root, "__metadata__")) != NULL) {
        if ((rc = check_metadata(s, value)) != 0)
            return rc;
        s->metadata = json_incref(value);
        count--;
    }
    if (count > SAFETENSORS_MAX_TENSORS)
        return fail(s, ERR_RANGE, "%zu tensors, more than the limit of %d", count,
                    SAFETENSORS_MAX_TENSORS);
    s->tensors = mem_alloc(count, sizeof *s->tensors, "safetensors index");
    s->by_name = mem_alloc(count, sizeof *s->by_name, "safetensors index");
    if (!s->tensors || !s->by_name)
        return err_code();
    json_object_foreach(root, key, value) {
        if (strcmp(key, "__metadata__") == 0)
            continue;
        if ((rc = read_entry(s, key, value, &s->tensors[i])) != 0)
            return rc;
        i++;
    }
    s->ntensors = count;
    qsort(s->tensors, count, sizeof *s->tensors, cmp_offset);
    if ((rc = check_tiling(s)) != 0)
        return rc;
    for (i = 0; i < count; i++)
        s->by_name[i] = i;
    sort_table = s->tensors;
    qsort(s->by_name, count, sizeof *s->by_name, cmp_name);
    return 0;
}

static int open_common(safetensors_t *s, safetensors_t **out)
{
    int rc = parse(s);

    if (rc != 0) {
        safetensors_free(&s);
        return rc;
    }
    *out = s;
    return 0;
}

int safetensors_open_memory(const void *data, size_t size, const char *label,
                            safetensors_t **out)
{
    safetensors_t *s;

    *out = NULL;
    if (!data && size)
        return err_set(ERR_INVAL, "safetensors_open_memory: NULL data");
    s = mem_alloc(1, sizeof *s, "safetensors reader");
    if (!s)
        return ERR_NOMEM;
    snprintf(s->label, sizeof s->label, "%s", label ? label : "(memory)");
    s->base = data;
    s->size = size;
    return open_common(s, out);
}

int safetensors_open(const char *path, safetensors_t **out)
{
    safetensors_t *s;
    const void *map;
    size_t size;
    int rc;

    *out = NULL;
    if ((rc = file_map(path, 0, "safetensors file", &map, &size)) != 0)
        return rc;
    s = mem_alloc(1, sizeof *s, "safetensors reader");
    if (!s) {
        file_unmap(map, size);
        return ERR_NOMEM;
    }
    snprintf(s->label, sizeof s->label, "%s", path);
    s->base = map;
    s->size = size;
    s->mapped = map != NULL;
    return open_common(s, out);
}

void safetensors_free(safetensors_t **sp)
{
    safetensors_t *s;

    if (!sp || !*sp)
        return;
    s = *sp;
    if (s->mapped)
        file_unmap(s->base, s->size);
    free(s->tensors);
    free(s->by_name);
    json_decref(s->metadata);
    json_decref(s->root);
    free(s);
    *sp = NULL;
}

const char *safetensors_label(const safetensors_t *s)
{
    return s->label;
}

size_t safetensors_count(const safetensors_t *s)
{
    return s->ntensors;
}

const safetensors_tensor_t *safetensors_at(const safetensors_t *s, size_t i)
{
    return i < s->ntensors ? &s->tensors[i] : NULL;
}

const safetensors_tensor_t *safetensors_find(const safetensors_t *s, const char *name)
{
    size_t lo = 0, hi = s->ntensors;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, s->tensors[s->by_name[mid]].name);

        if (c == 0)
            return &s->tensors[s->by_name[mid]];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *safetensors_metadata(const safetensors_t *s, const char *key)
{
    return s->metadata ? json_string_value(json_object_get(s->metadata, key)) : NULL;
}

const void *safetensors_data(const safetensors_t *s, const safetensors_tensor_t *t)
{
    return s->data + t->offset;
}

int safetensors_read_f32(const safetensors_t *s, const safetensors_tensor_t *t, float *out,
                         size_t n)
{
    const uint8_t *p = s->data + t->offset;

    if (n != t->numel)
        return err_set(ERR_INVAL, "%s: tensor '%.*s' has %llu elements, not %zu", s->label,
                       NAME_SHOWN, t->name, (unsigned long long)t->numel, n);
    switch (t->dtype) {
    case SAFETENSORS_F32:
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(out, p, n * sizeof *out);
#else
        for (size_t i = 0; i < n; i++, p += 4)
            out[i] = bits_to_f32((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                                 (uint32_t)p[3] << 24);
#endif
        return 0;
    case SAFETENSORS_F16:
        for (size_t i = 0; i < n; i++, p += 2)
            out[i] = safetensors_f16_to_f32((uint16_t)(p[0] | p[1] << 8));
        return 0;
    case SAFETENSORS_BF16:
        for (size_t i = 0; i < n; i++, p += 2)
            out[i] = safetensors_bf16_to_f32((uint16_t)(p[0] | p[1] << 8));
        return 0;
    case SAFETENSORS_F64:
        for (size_t i = 0; i < n; i++, p += 8) {
            uint64_t u = load_u64le(p);
            double d;
            memcpy(&d, &u, sizeof d);
            out[i] = (float)d;
        }
        return 0;
    default:
        return err_set(ERR_UNSUPPORTED, "%s: tensor '%.*s' is %s; only F32, F16, BF16 and F64 "
                       "convert to float32", s->label, NAME_SHOWN, t->name,
                       dtypes[t->dtype].name);
    }
}

int safetensors_view_f32(const safetensors_t *s, const safetensors_tensor_t *t,
                         const float **out)
{
    const uint8_t *p = s->data + t->offset;

    *out = NULL;
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    return err_set(ERR_UNSUPPORTED, "%s: zero-copy views need a little-endian host", s->label);
#endif
    if (t->dtype != SAFETENSORS_F32)
        return err_set(ERR_UNSUPPORTED, "%s: tensor '%.*s' is %s, not F32", s->label, NAME_SHOWN,
                       t->name, dtypes[t->dtype].name);
    if ((uintptr_t)p % sizeof(float) != 0)
        return err_set(ERR_UNSUPPORTED, "%s: tensor '%.*s' is misaligned (data at file offset "
                       "%llu is not a multiple of 4; the header is not padded)", s->label,
                       NAME_SHOWN, t->name, (unsigned long long)(p - s->base));
    *out = (const float *)(const void *)p;
    return 0;
}

/* ---- writing --------------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Names unique and sane, sizes computed; fills nbytes[i]. */
static int check_entries(const char *path, const safetensors_entry_t *e, size_t n,
                         uint64_t *nbytes)
{
    const char **names;
    int rc = 0;

    if (n > SAFETENSORS_MAX_TENSORS)
        return err_set(ERR_RANGE, "%s: %zu tensors, more than the limit of %d", path, n,
                       SAFETENSORS_MAX_TENSORS);
    for (size_t i = 0; i < n; i++) {
        uint64_t numel = 1;

        if (!e[i].name || !e[i].name[0] || strlen(e[i].name) > SAFETENSORS_MAX_NAME ||
            strcmp(e[i].name, "__metadata__") == 0)
            return err_set(ERR_INVAL, "%s: tensor %zu has an empty, reserved or over-long name",
                           path, i);
        if (!safetensors_dtype_name(e[i].dtype))
            return err_set(ERR_INVAL, "%s: tensor '%.*s' has an invalid dtype", path, NAME_SHOWN,
                           e[i].name);
        if (e[i].ndim < 0 || e[i].ndim > SAFETENSORS_MAX_DIMS || (e[i].ndim && !e[i].shape))
            return err_set(ERR_INVAL, "%s: tensor '%.*s' has %d dimensions (0..%d allowed)", path,
                           NAME_SHOWN, e[i].name, e[i].ndim, SAFETENSORS_MAX_DIMS);
        for (int d = 0; d < e[i].ndim; d++)
            if (__builtin_mul_overflow(numel, e[i].shape[d], &numel) ||
                numel > SAFETENSORS_MAX_NUMEL)
                return err_set(ERR_RANGE, "%s: tensor '%.*s' has more than 2^40 elements", path,
                               NAME_SHOWN, e[i].name);
        nbytes[i] = numel * dtypes[e[i].dtype].size;
        if (nbytes[i] && !e[i].data)
            return err_set(ERR_INVAL, "%s: tensor '%.*s' has no data", path, NAME_SHOWN,
                           e[i].name);
    }
    names = mem_alloc(n, sizeof *names, "tensor names");
    if (!names)
        return ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        names[i] = e[i].name;
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 1; i < n && rc == 0; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            rc = err_set(ERR_INVAL, "%s: tensor name '%.*s' appears twice", path, NAME_SHOWN,
                         names[i]);
    free(names);
    return rc;
}

/* The header JSON: "__metadata__" first, then the tensors in order, each as
 * {"dtype","shape","data_offsets"}, compact; jansson keeps insertion order. */
static json_t *build_header(const safetensors_entry_t *e, size_t n, const uint64_t *nbytes,
                            const char *const *metadata)
{
    json_t *root = json_object();
    uint64_t at = 0;

    if (!root)
        return NULL;
    if (metadata) {
        json_t *meta = json_object();

        if (!meta || json_object_set_new(root, "__metadata__", meta) != 0)
            goto fail;
        for (size_t i = 0; metadata[i] && metadata[i + 1]; i += 2)
            if (json_object_set_new(meta, metadata[i], json_string(metadata[i + 1])) != 0)
                goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *info = json_object(), *shape = json_array(), *offsets = json_array();

        if (!info || !shape || !offsets || json_object_set_new(root, e[i].name, info) != 0) {
            json_decref(info);
            json_decref(shape);
            json_decref(offsets);
            goto fail;
        }
        for (int d = 0; d < e[i].ndim; d++)
            json_array_append_new(shape, json_integer((json_int_t)e[i].shape[d]));
        json_array_append_new(offsets, json_integer((json_int_t)at));
        json_array_append_new(offsets, json_integer((json_int_t)(at + nbytes[i])));
        at += nbytes[i];
        if (json_object_set_new(info, "dtype", json_string(dtypes[e[i].dtype].name)) != 0 ||
            json_object_set_new(info, "shape", shape) != 0 ||
            json_object_set_new(info, "data_offsets", offsets) != 0)
            goto fail;
    }
    return root;
fail:
    json_decref(root);
    return NULL;
}

static int write_all(int fd, const void *buf, uint64_t len, const char *path)
{
    const uint8_t *p = buf;

    while (len > 0) {
        size_t chunk = len > (1u << 30) ? (1u << 30) : (size_t)len;
        ssize_t w = write(fd, p, chunk);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return err_set(ERR_IO, "%s: write failed: %s", path, strerror(errno));
        p += w;
        len -= (uint64_t)w;
    }
    return 0;
}

int safetensors_write(const char *path, const safetensors_entry_t *entries, size_t n,
                      const char *const *metadata)
{
    uint64_t *nbytes = NULL;
    json_t *root = NULL;
    char *header = NULL, *tmp = NULL;
    size_t hlen, padded;
    uint8_t len8[8];
    int fd = -1, rc;

    if (n && !entries)
        return err_set(ERR_INVAL, "%s: no tensors given", path);
    nbytes = mem_alloc(n ? n : 1, sizeof *nbytes, "tensor sizes");
    if (!nbytes)
        return ERR_NOMEM;
    if ((rc = check_entries(path, entries, n, nbytes)) != 0)
        goto out;
    root = build_header(entries, n, nbytes, metadata);
    header = root ? json_dumps(root, JSON_COMPACT) : NULL;
    if (!header) {
        rc = err_set(ERR_NOMEM, "%s: cannot build the header", path);
        goto out;
    }
    hlen = strlen(header);
    padded = (hlen + 7) & ~(size_t)7;
    if (padded > SAFETENSORS_MAX_HEADER) {
        rc = err_set(ERR_RANGE, "%s: header of %zu bytes is over the limit", path, padded);
        goto out;
    }
    tmp = mem_alloc(strlen(path) + 5, 1, "path");
    if (!tmp) {
        rc = ERR_NOMEM;
        goto out;
    }
    sprintf(tmp, "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = err_set(ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        goto out;
    }
    for (int i = 0; i < 8; i++)
        len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    if ((rc = write_all(fd, len8, 8, tmp)) != 0 || (rc = write_all(fd, header, hlen, tmp)) != 0 ||
        (rc = write_all(fd, "        ", padded - hlen, tmp)) != 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        if ((rc = write_all(fd, entries[i].data, nbytes[i], tmp)) != 0)
            goto out;
    if (fsync(fd) != 0) {
        rc = err_set(ERR_IO, "%s: fsync failed: %s", tmp, strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = err_set(ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        rc = err_set(ERR_IO, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
out:
    if (fd >= 0)
        close(fd);
    if (rc != 0 && tmp)
        unlink(tmp);
    free(tmp);
    free(header);
    json_decref(root);
    free(nbytes);
    return rc;
}
