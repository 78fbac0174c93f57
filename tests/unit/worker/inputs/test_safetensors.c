/* Tests of worker/inputs/safetensors.c: conversions against numpy (tests/reference/f16_table.txt), a
 * numpy-written file read and re-written byte for byte, the real bert-mini-mlm checkpoint, and
 * every kind of bad file the reader must refuse with a message naming file, tensor and reason. */
#include <fcntl.h>
#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/mem.h"
#include "tests/harness.h"
#include "worker/inputs/safetensors.h"

static uint64_t fnv1a(const void *data, size_t n, uint64_t h)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint8_t *read_file(const char *path, size_t *size)
{
    struct stat st;
    uint8_t *buf;
    FILE *f = fopen(path, "rb");

    if (!f || fstat(fileno(f), &st) != 0)
        FAIL("cannot read %s", path);
    buf = malloc((size_t)st.st_size + 1);
    ASSERT_NOT_NULL(buf);
    if (fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size)
        FAIL("short read of %s", path);
    fclose(f);
    *size = (size_t)st.st_size;
    return buf;
}

static uint32_t xorshift32(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static float f32_of_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t bits_of_f32(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

TEST(f16_conversions_match_numpy)
{
    char path[1024], line[256];
    uint32_t seed = 2463534242u;
    uint16_t out16[1024];
    uint32_t out32[1024];
    int blocks32 = 0, blocks16 = 0, edges = 0, halves = 0;
    uint32_t inputs_done = 0;
    FILE *f = fopen(harness_src_path("tests/reference/f16_table.txt", path, sizeof path), "r");

    ASSERT_NOT_NULL(f);
    while (fgets(line, sizeof line, f)) {
        unsigned b, x, y;
        unsigned long long want;

        if (sscanf(line, "to_f32 %u %llx", &b, &want) == 2) {
            for (unsigned i = 0; i < 1024; i++)
                out32[i] = bits_of_f32(safetensors_f16_to_f32((uint16_t)(b * 1024 + i)));
            if (fnv1a(out32, sizeof out32, 0xcbf29ce484222325ull) != want)
                FAIL("f16 -> f32 differs from numpy in block %u (half patterns %#x..%#x)", b,
                     b * 1024, b * 1024 + 1023);
            blocks32++;
        } else if (sscanf(line, "to_f16 %u %llx", &b, &want) == 2) {
            ASSERT_EQ(b * 1024, inputs_done);
            for (unsigned i = 0; i < 1024; i++)
                out16[i] = safetensors_f32_to_f16(f32_of_bits(xorshift32(&seed)));
            inputs_done += 1024;
            if (fnv1a(out16, sizeof out16, 0xcbf29ce484222325ull) != want)
                FAIL("f32 -> f16 differs from numpy in block %u", b);
            blocks16++;
        } else if (sscanf(line, "edge %x %x", &x, &y) == 2) {
            uint16_t h = safetensors_f32_to_f16(f32_of_bits(x));
            if (h != y)
                FAIL("f32 %08x (%g) -> f16 %04x, numpy says %04x", x, f32_of_bits(x), h, y);
            edges++;
        } else if (sscanf(line, "half %x %x", &x, &y) == 2) {
            ASSERT_EQ_U(bits_of_f32(safetensors_f16_to_f32((uint16_t)x)), y);
            halves++;
        }
    }
    fclose(f);
    ASSERT_EQ(blocks32, 64);
    ASSERT_EQ(blocks16, 64);
    ASSERT_GT(edges, 20);
    ASSERT_GT(halves, 10);
    /* bfloat16 is the top half of binary32. */
    ASSERT_EQ_U(bits_of_f32(safetensors_bf16_to_f32(0x7fc1)), 0x7fc10000u);
    ASSERT_TRUE(safetensors_bf16_to_f32(0x3f80) == 1.0f);
}

static const char *small_path(char *buf, size_t len)
{
    return harness_src_path("tests/reference/safetensors_small.safetensors", buf, len);
}

TEST(reads_numpy_written_file)
{
    char path[1024], jpath[1024];
    json_error_t jerr;
    json_t *root, *tensors, *e;
    safetensors_t *s;
    size_t i;

    ASSERT_OK(safetensors_open(small_path(path, sizeof path), &s));
    root = json_load_file(harness_src_path("tests/reference/safetensors_small.json", jpath,
                                           sizeof jpath), 0, &jerr);
    ASSERT_NOT_NULL(root);
    tensors = json_object_get(root, "tensors");
    ASSERT_EQ(safetensors_count(s), json_array_size(tensors));
    ASSERT_STR_EQ(safetensors_metadata(s, "format"), "pt");
    ASSERT_STR_EQ(safetensors_metadata(s, "note"), "autopeft fixture");
    ASSERT_TRUE(safetensors_metadata(s, "absent") == NULL);
    ASSERT_TRUE(safetensors_find(s, "absent") == NULL);
    json_array_foreach(tensors, i, e) {
        const char *name = json_string_value(json_object_get(e, "name"));
        const safetensors_tensor_t *t = safetensors_find(s, name);
        json_t *shape = json_object_get(e, "shape"), *bits = json_object_get(e, "f32_bits");
        safetensors_dtype_t dt;

        ASSERT_NOT_NULL(t);
        ASSERT_TRUE(t == safetensors_at(s, i)); /* file order is the fixture's order */
        ASSERT_STR_EQ(t->name, name);
        ASSERT_OK(safetensors_dtype_parse(json_string_value(json_object_get(e, "dtype")), &dt));
        ASSERT_EQ(t->dtype, dt);
        ASSERT_EQ(t->ndim, json_array_size(shape));
        for (int d = 0; d < t->ndim; d++)
            ASSERT_EQ_U(t->shape[d], json_integer_value(json_array_get(shape, d)));
        if (bits) {
            float *v = malloc((t->numel ? t->numel : 1) * sizeof *v);
            ASSERT_EQ_U(t->numel, json_array_size(bits));
            ASSERT_OK(safetensors_read_f32(s, t, v, t->numel));
            for (uint64_t k = 0; k < t->numel; k++)
                ASSERT_EQ_U(bits_of_f32(v[k]), json_integer_value(json_array_get(bits, k)));
            free(v);
        } else {
            json_t *ints = json_object_get(e, "ints");
            float v;
            ASSERT_ERR(safetensors_read_f32(s, t, &v, t->numel), ERR_UNSUPPORTED);
            ASSERT_CONTAINS(err_msg(), name);
            if (t->dtype == SAFETENSORS_I64) {
                const uint8_t *p = safetensors_data(s, t);
                for (uint64_t k = 0; k < t->numel; k++) {
                    int64_t x;
                    memcpy(&x, p + 8 * k, 8);
                    ASSERT_EQ(x, json_integer_value(json_array_get(ints, k)));
                }
            }
        }
    }
    {
        const float *view;
        const safetensors_tensor_t *w = safetensors_find(s, "weight");
        float v[6];
        ASSERT_OK(safetensors_view_f32(s, w, &view));
        ASSERT_TRUE(view[0] == 0.5f && view[1] == -1.25f);
        ASSERT_ERR(safetensors_read_f32(s, w, v, 5), ERR_INVAL);
        ASSERT_ERR(safetensors_view_f32(s, safetensors_find(s, "half"), &view), ERR_UNSUPPORTED);
        ASSERT_EQ_U(safetensors_find(s, "scalar")->numel, 1);
        ASSERT_EQ_U(safetensors_find(s, "empty")->numel, 0);
    }
    json_decref(root);
    safetensors_free(&s);
    ASSERT_TRUE(s == NULL);
}

/* Every tensor of src written again, in file order, with the given metadata. */
static void rewrite(const safetensors_t *s, const char *out, const char *const *meta)
{
    size_t n = safetensors_count(s);
    safetensors_entry_t *e = calloc(n ? n : 1, sizeof *e);

    for (size_t i = 0; i < n; i++) {
        const safetensors_tensor_t *t = safetensors_at(s, i);
        e[i] = (safetensors_entry_t){t->name, t->dtype, t->ndim, t->shape,
                                     safetensors_data(s, t)};
    }
    ASSERT_OK(safetensors_write(out, e, n, meta));
    free(e);
}

TEST(writer_reproduces_numpy_file)
{
    char path[1024], out[1024];
    const char *meta[] = {"format", "pt", "note", "autopeft fixture", NULL};
    size_t na, nb;
    uint8_t *a, *b;
    safetensors_t *s;

    ASSERT_OK(safetensors_open(small_path(path, sizeof path), &s));
    snprintf(out, sizeof out, "%s/copy.safetensors", harness_tmpdir());
    rewrite(s, out, meta);
    safetensors_free(&s);
    a = read_file(path, &na);
    b = read_file(out, &nb);
    ASSERT_EQ_U(na, nb);
    ASSERT_TRUE(memcmp(a, b, na) == 0);
    free(a);
    free(b);
}

TEST(writer_refuses_bad_entries)
{
    char out[1024];
    uint64_t shape[2] = {2, 2};
    float data[4] = {0};
    safetensors_entry_t e[2] = {{"a", SAFETENSORS_F32, 2, shape, data},
                                {"a", SAFETENSORS_F32, 2, shape, data}};
    uint64_t huge[3] = {1ull << 20, 1ull << 20, 1ull << 20};

    snprintf(out, sizeof out, "%s/bad.safetensors", harness_tmpdir());
    ASSERT_ERR(safetensors_write(out, e, 2, NULL), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "twice");
    e[1].name = "__metadata__";
    ASSERT_ERR(safetensors_write(out, e, 2, NULL), ERR_INVAL);
    e[1] = (safetensors_entry_t){"b", SAFETENSORS_F32, 3, huge, data};
    ASSERT_ERR(safetensors_write(out, e, 2, NULL), ERR_RANGE);
    e[1] = (safetensors_entry_t){"b", SAFETENSORS_F32, 2, shape, NULL};
    ASSERT_ERR(safetensors_write(out, e, 2, NULL), ERR_INVAL);
    ASSERT_TRUE(access(out, F_OK) != 0);
    /* An empty file is valid: "{}" padded. */
    ASSERT_OK(safetensors_write(out, NULL, 0, NULL));
    {
        safetensors_t *s;
        size_t n;
        uint8_t *b = read_file(out, &n);
        ASSERT_EQ_U(n, 16);
        ASSERT_TRUE(memcmp(b + 8, "{}      ", 8) == 0);
        free(b);
        ASSERT_OK(safetensors_open(out, &s));
        ASSERT_EQ_U(safetensors_count(s), 0);
        safetensors_free(&s);
    }
}

TEST(reads_bert_mini_mlm)
{
    char path[1024], out[1024];
    const char *meta[] = {"format", "pt", NULL};
    safetensors_t *s;
    uint64_t params = 0;
    const safetensors_tensor_t *t;
    const float *view;
    double sum = 0;

    harness_shared_path("models/bert-mini-mlm/model.safetensors", path, sizeof path);
    ASSERT_OK(safetensors_open(path, &s));
    ASSERT_EQ_U(safetensors_count(s), 106);
    for (size_t i = 0; i < safetensors_count(s); i++) {
        t = safetensors_at(s, i);
        ASSERT_EQ(t->dtype, SAFETENSORS_F32);
        ASSERT_OK(safetensors_view_f32(s, t, &view));
        params += t->numel;
    }
    ASSERT_EQ_U(params, 12781114);
    ASSERT_STR_EQ(safetensors_metadata(s, "format"), "pt");
    t = safetensors_find(s, "bert.embeddings.word_embeddings.weight");
    ASSERT_NOT_NULL(t);
    ASSERT_EQ(t->ndim, 2);
    ASSERT_EQ_U(t->shape[0], 30522);
    ASSERT_EQ_U(t->shape[1], 256);
    t = safetensors_find(s, "bert.encoder.layer.5.output.LayerNorm.weight");
    ASSERT_NOT_NULL(t);
    ASSERT_OK(safetensors_view_f32(s, t, &view));
    for (uint64_t i = 0; i < t->numel; i++)
        sum += view[i];
    ASSERT_TRUE(isfinite(sum) && sum != 0);
    ASSERT_TRUE(safetensors_find(s, "bert.pooler.dense.weight") == NULL); /* README: no pooler */
    /* Written again in the same order, the file is byte-identical: same header layout,
     * padding and data. */
    snprintf(out, sizeof out, "%s/copy.safetensors", harness_tmpdir());
    rewrite(s, out, meta);
    safetensors_free(&s);
    {
        size_t na, nb;
        uint8_t *a = read_file(path, &na), *b = read_file(out, &nb);
        ASSERT_EQ_U(na, nb);
        ASSERT_TRUE(memcmp(a, b, na) == 0);
        free(a);
        free(b);
    }
}

/* ---- bad files ----------------------------------------------------------------------------- */

/* A file image: length, header (padded to 8 unless raw), then data bytes. */
static uint8_t *image(const char *header, size_t data_len, bool pad, size_t *size)
{
    size_t h = strlen(header), hp = pad ? (h + 7) / 8 * 8 : h;
    uint8_t *b = calloc(8 + hp + data_len + 1, 1);

    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)hp >> (8 * i));
    memcpy(b + 8, header, h);
    memset(b + 8 + h, ' ', hp - h);
    for (size_t i = 0; i < data_len; i++)
        b[8 + hp + i] = (uint8_t)i;
    *size = 8 + hp + data_len;
    return b;
}

static void expect_bad(const char *header, size_t data_len, int code, const char *words)
{
    size_t size;
    uint8_t *b = image(header, data_len, true, &size);
    safetensors_t *s = (safetensors_t *)1;
    int rc = safetensors_open_memory(b, size, "bad.safetensors", &s);

    if (rc != code)
        FAIL("header %s: expected %s, got %s (%s)", header, err_name(code), err_name(rc),
             rc ? err_msg() : "accepted");
    ASSERT_TRUE(s == NULL);
    ASSERT_CONTAINS(err_msg(), "bad.safetensors");
    ASSERT_CONTAINS(err_msg(), words);
    free(b);
}

#define T(name, dt, shape, b, e) \
    "\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

TEST(rejects_bad_headers_with_reasons)
{
    expect_bad("{" T("w", "F32", "[2]", 0, 8) "}", 12, ERR_PARSE, "trailing");
    expect_bad("{" T("w", "F32", "[2]", 0, 8) "}", 4, ERR_PARSE, "truncated");
    expect_bad("{" T("w", "F32", "[3]", 0, 8) "}", 8, ERR_PARSE, "'w'");
    expect_bad("{" T("w", "F32", "[3]", 0, 8) "}", 8, ERR_PARSE, "inconsistent");
    expect_bad("{" T("w", "F32", "[2]", 8, 0) "}", 8, ERR_PARSE, "end before begin");
    expect_bad("{" T("w", "F32", "[2]", -8, 0) "}", 8, ERR_PARSE, "negative");
    expect_bad("{" T("a", "F32", "[2]", 0, 8) "," T("b", "F32", "[2]", 4, 12) "}", 12, ERR_PARSE,
               "overlaps");
    expect_bad("{" T("a", "F32", "[2]", 0, 8) "," T("b", "F32", "[2]", 12, 20) "}", 20, ERR_PARSE,
               "gap");
    expect_bad("{" T("a", "F32", "[2]", 4, 12) "}", 12, ERR_PARSE, "gap");
    expect_bad("{" T("w", "F31", "[2]", 0, 8) "}", 8, ERR_UNSUPPORTED, "F31");
    expect_bad("{" T("w", "F32", "[-2]", 0, 8) "}", 8, ERR_PARSE, "dimension 0");
    expect_bad("{" T("w", "F32", "[2.0]", 0, 8) "}", 8, ERR_PARSE, "dimension 0");
    expect_bad("{" T("w", "F32", "[1,1,1,1,1,1,1,1,1]", 0, 4) "}", 4, ERR_RANGE, "dimensions");
    expect_bad("{" T("w", "F32", "[1048576,1048576,1048576]", 0, 8) "}", 8, ERR_RANGE, "2^40");
    expect_bad("{" T("w", "F32", "[2]", 0, 18446744073709551615) "}", 8, ERR_PARSE, "JSON");
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, ERR_PARSE, "data_offsets");
    expect_bad("{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, ERR_PARSE, "dtype");
    expect_bad("{\"w\":[1]}", 8, ERR_PARSE, "not an object");
    expect_bad("{" T("w", "F32", "[2]", 0, 8) "," T("w", "F32", "[2]", 0, 8) "}", 8, ERR_PARSE,
               "duplicate");
    expect_bad("{\"__metadata__\":{\"a\":1}}", 0, ERR_PARSE, "__metadata__");
    expect_bad("{\"__metadata__\":[]}", 0, ERR_PARSE, "__metadata__");
    expect_bad("[]", 0, ERR_PARSE, "'{'");
    expect_bad("{\"w\":", 0, ERR_PARSE, "JSON");
    expect_bad("{}\"x\"", 0, ERR_PARSE, "JSON");
}

TEST(rejects_truncated_and_oversized_lengths)
{
    char path[1024];
    size_t size;
    uint8_t *b = read_file(small_path(path, sizeof path), &size);
    safetensors_t *s;
    uint8_t big[16] = {0};

    /* Every proper prefix of a valid file is refused, and names the file. */
    for (size_t cut = 0; cut < size; cut++) {
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, b, cut);
        if (safetensors_open_memory(p, cut, "cut.safetensors", &s) == 0)
            FAIL("a prefix of %zu of %zu bytes was accepted", cut, size);
        ASSERT_CONTAINS(err_msg(), "cut.safetensors");
        free(p);
    }
    ASSERT_ERR(safetensors_open_memory(b, 7, "x", &s), ERR_PARSE);
    ASSERT_CONTAINS(err_msg(), "8-byte");
    free(b);
    big[0] = 0x01;
    big[4] = 0x01; /* 2^32 + 1 bytes of header */
    ASSERT_ERR(safetensors_open_memory(big, sizeof big, "big", &s), ERR_RANGE);
    ASSERT_CONTAINS(err_msg(), "limit");
    big[4] = 0;
    big[0] = 200;
    ASSERT_ERR(safetensors_open_memory(big, sizeof big, "big", &s), ERR_PARSE);
    ASSERT_CONTAINS(err_msg(), "truncated");
    ASSERT_ERR(safetensors_open("/nonexistent/model.safetensors", &s), ERR_IO);
    ASSERT_CONTAINS(err_msg(), "/nonexistent/model.safetensors");
}

TEST(unpadded_header_gives_misaligned_view_but_copy_works)
{
    /* 41 bytes of header: data starts at offset 49, not a multiple of 4. */
    const char *h = "{" T("w", "F32", "[2]", 0, 8) "}";
    size_t size;
    uint8_t *b, *buf;
    safetensors_t *s;
    const float *view;
    float v[2];

    ASSERT_EQ(strlen(h) % 4 != 0, 1);
    b = image(h, 8, false, &size);
    /* An 8-aligned copy, so that the misalignment is the file's, not malloc's. */
    buf = mem_alloc_aligned(size, 1, "image");
    memcpy(buf, b, size);
    ASSERT_OK(safetensors_open_memory(buf, size, "unpadded", &s));
    ASSERT_ERR(safetensors_view_f32(s, safetensors_find(s, "w"), &view), ERR_UNSUPPORTED);
    ASSERT_CONTAINS(err_msg(), "misaligned");
    ASSERT_OK(safetensors_read_f32(s, safetensors_find(s, "w"), v, 2));
    {
        float want[2];
        memcpy(want, b + size - 8, 8);
        ASSERT_TRUE(memcmp(v, want, 8) == 0);
    }
    safetensors_free(&s);
    free(buf);
    free(b);
}
