/* safetensors files: the checkpoint format of Hugging Face models (model.safetensors) and the
 * format autopeft saves PEFT weights in.
 *
 * Layout: an unsigned 64-bit little-endian length N, then N bytes of UTF-8 JSON (the header),
 * then the data area. The header maps each tensor name to {"dtype", "shape", "data_offsets":
 * [begin, end]} (byte offsets into the data area, end exclusive) and may hold "__metadata__", an
 * object of string values. Tensor data is little-endian, row-major (C order).
 *
 * The reader memory-maps the file and checks everything the header claims before any byte of
 * data is touched: header length (capped), JSON syntax (jansson, duplicate keys refused), dtype
 * names, shapes (rank and element count capped, products overflow-checked), and that the
 * tensors tile the data area exactly: sorted by offset, each begins where the previous ends,
 * the first at 0 and the last at the end of the file, with end - begin == numel * dtype size.
 * These are the rules of the reference implementation (huggingface/safetensors, Rust), so a
 * file accepted here is accepted there and the other way round. Every rejection names the
 * file, the tensor and the reason. */
#ifndef AUTOPEFT_SAFETENSORS_H
#define AUTOPEFT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

/* The reference implementation refuses headers over 100 MB; so do we. */
#define SAFETENSORS_MAX_HEADER 100000000ull
/* Far more than any encoder needs (BERT-large has under 400) and small enough to index. */
#define SAFETENSORS_MAX_TENSORS 1000000
#define SAFETENSORS_MAX_DIMS 8
#define SAFETENSORS_MAX_NAME 1024
/* Elements of one tensor: 2^40 (4 TiB of float32) bounds every product below. */
#define SAFETENSORS_MAX_NUMEL (1ull << 40)

/* In the reference implementation's order (increasing alignment). */
typedef enum {
    SAFETENSORS_BOOL = 0,
    SAFETENSORS_U8,
    SAFETENSORS_I8,
    SAFETENSORS_F8_E5M2,
    SAFETENSORS_F8_E4M3,
    SAFETENSORS_I16,
    SAFETENSORS_U16,
    SAFETENSORS_F16,
    SAFETENSORS_BF16,
    SAFETENSORS_I32,
    SAFETENSORS_U32,
    SAFETENSORS_F32,
    SAFETENSORS_F64,
    SAFETENSORS_I64,
    SAFETENSORS_U64,
    SAFETENSORS__NDTYPES
} safetensors_dtype_t;

typedef struct {
    const char *name;
    safetensors_dtype_t dtype;
    int ndim;                                /* 0 for a scalar */
    uint64_t shape[SAFETENSORS_MAX_DIMS];
    uint64_t numel;                          /* product of shape; 1 for a scalar */
    uint64_t offset;                         /* bytes from the start of the data area */
    uint64_t nbytes;                         /* numel * dtype size */
} safetensors_tensor_t;

typedef struct safetensors safetensors_t;

/* Maps and validates path. Errors: ERR_IO (cannot open or map), ERR_PARSE (malformed header or
 * layout), ERR_RANGE (a cap exceeded), ERR_UNSUPPORTED (a dtype this reader does not know). */
int safetensors_open(const char *path, safetensors_t **out);
/* The same checks over bytes in memory (borrowed, not copied: they must outlive the object);
 * label names them in messages. For tests and fuzzing. */
int safetensors_open_memory(const void *data, size_t size, const char *label,
                            safetensors_t **out);
void safetensors_free(safetensors_t **sp);

const char *safetensors_label(const safetensors_t *s);
size_t safetensors_count(const safetensors_t *s);
/* The i-th tensor in file order (increasing offset). */
const safetensors_tensor_t *safetensors_at(const safetensors_t *s, size_t i);
/* NULL when absent. */
const safetensors_tensor_t *safetensors_find(const safetensors_t *s, const char *name);
/* A "__metadata__" value, or NULL. */
const char *safetensors_metadata(const safetensors_t *s, const char *key);
/* The tensor's raw little-endian bytes (t->nbytes of them). */
const void *safetensors_data(const safetensors_t *s, const safetensors_tensor_t *t);

/* Converts a F32, F16, BF16 or F64 tensor to float32 into out[0..n), n == t->numel. F16 and BF16
 * convert exactly (subnormals, infinities, NaN payloads kept); F64 rounds to nearest.
 * ERR_UNSUPPORTED for integer and 8-bit float tensors, ERR_INVAL when n differs. */
int safetensors_read_f32(const safetensors_t *s, const safetensors_tensor_t *t, float *out,
                         size_t n);
/* A zero-copy float view of a F32 tensor in the mapping. ERR_UNSUPPORTED when the tensor is not
 * F32 or its data is not 4-byte aligned in memory (possible when a writer does not pad the
 * header: then use safetensors_read_f32, which copies). */
int safetensors_view_f32(const safetensors_t *s, const safetensors_tensor_t *t,
                         const float **out);

/* "F32", ...; NULL for an out-of-range value. */
const char *safetensors_dtype_name(safetensors_dtype_t dtype);
/* ERR_UNSUPPORTED naming the known dtypes when name is not one. */
int safetensors_dtype_parse(const char *name, safetensors_dtype_t *out);
size_t safetensors_dtype_size(safetensors_dtype_t dtype);

/* IEEE binary16 and bfloat16 to binary32: exact, NaN payloads kept bit for bit (as numpy does). */
float safetensors_f16_to_f32(uint16_t h);
float safetensors_bf16_to_f32(uint16_t b);
/* binary32 to binary16, rounding to nearest even; overflow gives infinity, NaN stays NaN with its
 * top payload bits (as numpy's astype(float16)). */
uint16_t safetensors_f32_to_f16(float f);

/* One tensor for the writer: data holds numel * dtype size little-endian bytes. */
typedef struct {
    const char *name;
    safetensors_dtype_t dtype;
    int ndim;
    const uint64_t *shape;
    const void *data;
} safetensors_entry_t;

/* Writes the entries, in the given order, contiguously, with an optional "__metadata__" object
 * (metadata: key, value, key, value, ..., NULL; or NULL for none), the header padded with
 * spaces to a multiple of 8 bytes as Hugging Face's writer does (so float data is aligned). The
 * file is written to path.tmp and renamed, so a reader never sees half a file. Names must be
 * unique and non-empty. */
int safetensors_write(const char *path, const safetensors_entry_t *entries, size_t n,
                      const char *const *metadata);

#endif
