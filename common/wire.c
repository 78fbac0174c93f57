/* Frames of the coordinator/worker protocol: header, encoding and decoding (see wire.h).
 * The structural rules of each message live in wire_validate.c. */
#include "common/wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/utf8.h"

enum {
    HEADER_BYTES = AUTOPEFT__CONSTANTS__HEADER_BYTES,
    MAX_FRAME_BYTES = AUTOPEFT__CONSTANTS__MAX_FRAME_BYTES,
    MAX_TEXT_BYTES = AUTOPEFT__CONSTANTS__MAX_TEXT_BYTES,
    PROTOCOL_VERSION = AUTOPEFT__CONSTANTS__PROTOCOL_VERSION,
};

/* protobuf-c allocates on decoding far more than the body's size when a body packs many empty
 * repeated entries (an empty EpochRecord is 2 bytes on the wire and about 90 in memory). A valid
 * message is bounded by the protocol's caps (MAX_HISTORY, MAX_METRICS, MAX_TEXT_BYTES ...) to
 * well under 1 MiB decoded; this budget leaves room for unknown fields of a newer peer and
 * refuses the rest before it is allocated, instead of after validation. */
#define DECODE_BUDGET_BYTES ((size_t)4 * MAX_FRAME_BYTES)

/* ---- header ---------------------------------------------------------------------------------
 * Little-endian whatever the host, written byte by byte. */
static void put_u16(uint8_t *p, uint32_t x)
{
    p[0] = (uint8_t)x;
    p[1] = (uint8_t)(x >> 8);
}

static void put_u32(uint8_t *p, uint32_t x)
{
    put_u16(p, x);
    put_u16(p + 2, x >> 16);
}

static uint32_t get_u16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t get_u32(const uint8_t *p)
{
    return get_u16(p) | get_u16(p + 2) << 16;
}

/* ---- encoding -------------------------------------------------------------------------------- */
int wire_encode(Autopeft__Kind kind, const ProtobufCMessage *msg, uint8_t **frame, size_t *len)
{
    uint8_t *buf;
    size_t body, packed;
    int rc;

    if (!frame || !len)
        return err_set(ERR_INVAL, "wire_encode: no output");
    rc = wire_validate(kind, msg);
    if (rc != 0)
        return rc;
    body = protobuf_c_message_get_packed_size(msg);
    if (body > (size_t)(MAX_FRAME_BYTES - HEADER_BYTES))
        return err_set(ERR_RANGE, "%s: frame of %zu bytes exceeds the limit of %d bytes",
                       wire_kind_name(kind), body + HEADER_BYTES, MAX_FRAME_BYTES);
    buf = malloc(HEADER_BYTES + body);
    if (!buf)
        return err_set(ERR_NOMEM, "%s: out of memory for a frame of %zu bytes",
                       wire_kind_name(kind), body + HEADER_BYTES);
    put_u32(buf, (uint32_t)AUTOPEFT__CONSTANTS__MAGIC);
    put_u16(buf + 4, PROTOCOL_VERSION);
    put_u16(buf + 6, (uint32_t)kind);
    put_u32(buf + 8, (uint32_t)body);
    packed = protobuf_c_message_pack(msg, buf + HEADER_BYTES);
    if (packed != body) {
        free(buf);
        return err_set(ERR_INTERNAL, "%s: protobuf-c packed %zu bytes, announced %zu",
                       wire_kind_name(kind), packed, body);
    }
    *frame = buf;
    *len = HEADER_BYTES + body;
    return 0;
}

int wire_encode_error(Autopeft__ErrorCode code, const char *text, Autopeft__Kind refused_kind,
                      uint8_t **frame, size_t *len)
{
    Autopeft__Error e = AUTOPEFT__ERROR__INIT;
    const unsigned char *s = (const unsigned char *)(text ? text : "");
    size_t n = strlen((const char *)s), i = 0, o = 0;
    char *clean;
    int rc;

    /* The text is often err_msg(), which may quote a peer's bytes: make it valid UTF-8 within
     * the cap instead of failing to report the error. */
    clean = malloc((n < (size_t)MAX_TEXT_BYTES ? n : (size_t)MAX_TEXT_BYTES) + 1);
    if (!clean)
        return err_set(ERR_NOMEM, "ERROR: out of memory for its text");
    while (i < n) {
        size_t k = utf8_sequence(s + i, n - i);
        size_t w = k ? k : 1;

        if (o + w > (size_t)MAX_TEXT_BYTES)
            break;
        if (k)
            memcpy(clean + o, s + i, k);
        else
            clean[o] = '?';
        o += w;
        i += w;
    }
    clean[o] = '\0';
    e.code = code;
    e.has_code = 1;
    e.message = clean;
    if (refused_kind != AUTOPEFT__KIND__KIND_UNSPECIFIED) {
        e.refused_kind = refused_kind;
        e.has_refused_kind = 1;
    }
    e.expected_version = PROTOCOL_VERSION;
    e.has_expected_version = 1;
    rc = wire_encode(AUTOPEFT__KIND__KIND_ERROR, &e.base, frame, len);
    free(clean);
    return rc;
}

Autopeft__ErrorCode wire_error_code(int rc)
{
    switch (rc) {
    case ERR_RANGE:
        return AUTOPEFT__ERROR_CODE__ERROR_CODE_TOO_LARGE;
    case ERR_PROTOCOL:
        return AUTOPEFT__ERROR_CODE__ERROR_CODE_BAD_FRAME;
    case ERR_VERSION:
        return AUTOPEFT__ERROR_CODE__ERROR_CODE_VERSION;
    case ERR_INVAL:
        return AUTOPEFT__ERROR_CODE__ERROR_CODE_INVALID;
    default:
        return AUTOPEFT__ERROR_CODE__ERROR_CODE_INTERNAL;
    }
}

bool wire_trial_ref_equal(const Autopeft__TrialRef *a, const Autopeft__TrialRef *b)
{
    return a && b && a->has_trial_id && a->has_attempt && b->has_trial_id && b->has_attempt &&
           a->trial_id == b->trial_id && a->attempt == b->attempt;
}

/* ---- decoding -------------------------------------------------------------------------------- */
typedef struct {
    size_t used;
    bool exceeded;
} budget_t;

static void *budget_alloc(void *data, size_t size)
{
    budget_t *b = data;

    if (size > DECODE_BUDGET_BYTES - b->used) {
        b->exceeded = true;
        return NULL;
    }
    b->used += size;
    return malloc(size ? size : 1);
}

/* Blocks come from malloc, so the message is later released with protobuf-c's default
 * allocator (free) by wire_msg_free. */
static void budget_free(void *data, void *p)
{
    (void)data;
    free(p);
}

/* Reads a base-128 varint of at most 10 bytes; 0 when it is cut or too long. */
static size_t read_varint(const uint8_t *p, size_t n, uint64_t *out)
{
    uint64_t x = 0;

    for (size_t i = 0; i < n && i < 10; i++) {
        x |= (uint64_t)(p[i] & 0x7F) << (7 * i);
        if (!(p[i] & 0x80)) {
            *out = x;
            return i + 1;
        }
    }
    return 0;
}

/* Copies into out the fields 1-3 of an ERROR body of another protocol version, dropping every
 * other field whatever its wire type: only those three have a meaning this build knows. Returns
 * the length written (never more than n), or SIZE_MAX when the body is not protobuf. */
static size_t frozen_error_fields(const uint8_t *body, size_t n, uint8_t *out)
{
    size_t i = 0, o = 0;

    while (i < n) {
        uint64_t key, v;
        size_t start = i, k = read_varint(body + i, n - i, &key);

        if (k == 0)
            return SIZE_MAX;
        i += k;
        switch (key & 7) {
        case 0: /* varint */
            k = read_varint(body + i, n - i, &v);
            if (k == 0)
                return SIZE_MAX;
            i += k;
            break;
        case 1: /* 64-bit */
            if (n - i < 8)
                return SIZE_MAX;
            i += 8;
            break;
        case 2: /* length-delimited */
            k = read_varint(body + i, n - i, &v);
            if (k == 0 || v > n - i - k)
                return SIZE_MAX;
            i += k + (size_t)v;
            break;
        case 5: /* 32-bit */
            if (n - i < 4)
                return SIZE_MAX;
            i += 4;
            break;
        default: /* groups (3, 4) are not used by this protocol; 6, 7 do not exist */
            return SIZE_MAX;
        }
        if ((key >> 3) >= 1 && (key >> 3) <= 3) {
            memcpy(out + o, body + start, i - start);
            o += i - start;
        }
    }
    return o;
}

void wire_msg_free(wire_msg_t *m)
{
    if (!m)
        return;
    if (m->msg)
        protobuf_c_message_free_unpacked(m->msg, NULL);
    memset(m, 0, sizeof *m);
}

/* The 12-byte header of a frame of len bytes: magic, version, kind and body length, each
 * checked against the frame, into h (kind set only when it is known). */
typedef struct {
    uint32_t version, kind, body_len;
    const ProtobufCMessageDescriptor *desc;   /* NULL: unknown kind */
    const char *name;                         /* the kind's name, for messages */
    bool foreign;                             /* another protocol version (ERROR frames only) */
} header_t;

static int read_header(const uint8_t *p, size_t len, header_t *h)
{
    uint32_t magic;

    /* Checked before a single byte is read: a huge frame costs nothing but this comparison. */
    if (len > (size_t)MAX_FRAME_BYTES)
        return err_set(ERR_RANGE, "frame of %zu bytes exceeds the limit of %d bytes", len,
                       MAX_FRAME_BYTES);
    if (len < HEADER_BYTES)
        return err_set(ERR_PROTOCOL, "frame of %zu bytes is shorter than the %d-byte header", len,
                       HEADER_BYTES);
    magic = get_u32(p);
    h->version = get_u16(p + 4);
    h->kind = get_u16(p + 6);
    h->body_len = get_u32(p + 8);
    if (magic != (uint32_t)AUTOPEFT__CONSTANTS__MAGIC)
        return err_set(ERR_PROTOCOL, "not an autopeft frame: magic 0x%08x, expected 0x%08x", magic,
                       (unsigned)AUTOPEFT__CONSTANTS__MAGIC);
    h->desc = wire_descriptor((Autopeft__Kind)h->kind);
    h->name = wire_kind_name((Autopeft__Kind)h->kind);
    h->foreign = h->version != PROTOCOL_VERSION;
    return 0;
}

/* The header's checks that need its kind and version. */
static int check_header(const header_t *h, size_t len)
{
    if (h->body_len != len - HEADER_BYTES)
        return err_set(ERR_PROTOCOL, "%s frame of %zu bytes announces a body of %u bytes, not %zu",
                       h->name, len, h->body_len, len - HEADER_BYTES);
    if (h->foreign && h->kind != AUTOPEFT__KIND__KIND_ERROR)
        return err_set(ERR_VERSION, "%s frame of protocol version %u; this build speaks version %d",
                       h->name, h->version, PROTOCOL_VERSION);
    if (!h->desc)
        return err_set(ERR_PROTOCOL, "unknown message kind %u", h->kind);
    return 0;
}

/* The body as a message of the header's kind, within the decoding budget, then validated (a
 * foreign ERROR: only the fields frozen across versions, and their own rules). */
static int unpack_body(const header_t *h, const uint8_t *body, ProtobufCMessage **out)
{
    budget_t budget = {0};
    ProtobufCAllocator alloc = {budget_alloc, budget_free, &budget};
    ProtobufCMessage *msg = NULL;
    uint8_t *filtered = NULL;
    size_t body_len = h->body_len;
    int rc;

    if (h->foreign) {
        filtered = malloc(body_len ? body_len : 1);
        if (!filtered)
            return err_set(ERR_NOMEM, "ERROR: out of memory for a body of %zu bytes", body_len);
        body_len = frozen_error_fields(body, body_len, filtered);
        if (body_len == SIZE_MAX) {
            rc = err_set(ERR_PROTOCOL, "ERROR frame of protocol version %u: body of %u bytes is "
                         "not protobuf", h->version, h->body_len);
            goto out;
        }
        body = filtered;
    }
    msg = protobuf_c_message_unpack(h->desc, &alloc, body_len, body);
    if (!msg) {
        if (budget.exceeded)
            rc = err_set(ERR_RANGE, "%s: body of %zu bytes needs more than %zu bytes of memory to "
                         "decode", h->name, body_len, DECODE_BUDGET_BYTES);
        else
            rc = err_set(ERR_PROTOCOL, "%s: body of %zu bytes is not a valid protobuf %s",
                         h->name, body_len, h->desc->short_name);
        goto out;
    }
    rc = h->foreign ? wire__check_foreign_error((Autopeft__Error *)msg)
                    : wire_validate((Autopeft__Kind)h->kind, msg);
    if (rc != 0)
        goto out;
    *out = msg;
    msg = NULL;
out:
    if (msg)
        protobuf_c_message_free_unpacked(msg, NULL);
    free(filtered);
    return rc;
}

int wire_decode(const void *frame, size_t len, wire_msg_t *out)
{
    header_t h = {0};
    int rc;

    if (!out)
        return err_set(ERR_INVAL, "wire_decode: no output");
    memset(out, 0, sizeof *out);
    if (!frame && len > 0)
        return err_set(ERR_INVAL, "wire_decode: no frame");
    if ((rc = read_header(frame, len, &h)) != 0)
        return rc;
    out->version = h.version;
    if (h.desc)
        out->kind = (Autopeft__Kind)h.kind;
    if ((rc = check_header(&h, len)) != 0)
        return rc;
    return unpack_body(&h, (const uint8_t *)frame + HEADER_BYTES, &out->msg);
}
