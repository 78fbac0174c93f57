/* Tests of common/wire.c: round trips of every message kind, and decoding of every truncation,
 * mutation, random frame, oversized frame and foreign version without a crash (the sanitizer
 * build runs these under ASan and UBSan: that is what "never crashes, never leaks" rests on).
 * The per-message rules are tested in test_wire_rules.c. */
#include <sys/mman.h>
#include <sys/stat.h>

#include "common/rng.h"
#include "common/wire.h"
#include "tests/harness.h"
#include "tests/unit/common/wire_fixtures.h"

static uint8_t *encode_ok(const wire_case_t *c, size_t *len)
{
    uint8_t *frame = NULL;
    int rc = wire_encode(c->kind, c->msg, &frame, len);

    if (rc != 0)
        FAIL("encoding fixture %s: %s", c->name, err_msg());
    return frame;
}

/* Decodes a frame that may be anything. When it decodes, the message must satisfy the rules
 * and re-encode (whatever wire_decode returns is valid); when it does not, there must be an
 * error message and no message. Returns wire_decode's code. */
static int decode_any(const uint8_t *frame, size_t len)
{
    wire_msg_t m;
    uint8_t *again = NULL;
    size_t again_len;
    int rc;

    err_clear();
    rc = wire_decode(frame, len, &m);
    if (rc != 0) {
        ASSERT_TRUE(m.msg == NULL);
        ASSERT_TRUE(err_msg()[0] != '\0');
        ASSERT_EQ(err_code(), rc);
        return rc;
    }
    ASSERT_NOT_NULL(m.msg);
    ASSERT_TRUE(m.msg->descriptor == wire_descriptor(m.kind));
    if (m.version != AUTOPEFT__CONSTANTS__PROTOCOL_VERSION) {
        /* An ERROR of another version: its code (maybe unknown here) and fields 1-3 only. */
        const Autopeft__Error *e = (const Autopeft__Error *)m.msg;
        ASSERT_EQ(m.kind, AUTOPEFT__KIND__KIND_ERROR);
        ASSERT_TRUE(e->has_code && e->code != 0);
        ASSERT_FALSE(e->has_expected_version);
        wire_msg_free(&m);
        return 0;
    }
    ASSERT_OK(wire_validate(m.kind, m.msg));
    /* Repacking may grow a frame slightly (protobuf-c writes packed repeated fields unpacked),
     * so a decoded frame at the size limit may not re-encode: that is the only excuse. */
    int rc2 = wire_encode(m.kind, m.msg, &again, &again_len);
    if (rc2 != 0)
        ASSERT_EQ(rc2, ERR_RANGE);
    free(again);
    wire_msg_free(&m);
    ASSERT_TRUE(m.msg == NULL);
    return 0;
}

/* Every field of desc's tree (paths like "spec.recipe.epochs") that msg leaves unset is added to
 * unset[]; a path already listed is not added twice. */
static void collect_unset(const ProtobufCMessageDescriptor *d, const ProtobufCMessage *m,
                          const char *prefix, char unset[][96], int *n)
{
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)m;
        char path[96];
        const void *sub = NULL;
        bool set;

        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", f->name);
        if (!m) {
            set = false;
        } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            set = *(const size_t *)(const void *)(base + f->quantifier_offset) > 0;
            if (set && f->type == PROTOBUF_C_TYPE_MESSAGE)
                sub = (*(void *const *const *)(const void *)(base + f->offset))[0];
        } else if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE) {
            sub = *(void *const *)(const void *)(base + f->offset);
            set = sub != NULL;
        } else {
            set = *(const protobuf_c_boolean *)(const void *)(base + f->quantifier_offset);
        }
        if (!set) {
            int k = 0;
            while (k < *n && strcmp(unset[k], path) != 0)
                k++;
            if (k == *n && *n < 256)
                snprintf(unset[(*n)++], 96, "%s", path);
        }
        if (f->type == PROTOBUF_C_TYPE_MESSAGE)
            collect_unset(f->descriptor, sub, path, unset, n);
    }
}

/* The fixtures are what the round-trip test covers: they must set every field of the schema
 * (the two TRIALs together), so a field added to the .proto fails here until a fixture sets it. */
TEST(fixtures_set_every_field)
{
    static char unset_a[256][96], unset_b[256][96];
    wire_fixture_t f;
    wire_case_t cases[WIRE_FIXTURE_CASES];
    int na = 0, nb = 0;

    wire_fixture_init(&f);
    wire_fixture_cases(&f, cases);
    for (int i = 0; i < WIRE_FIXTURE_CASES; i++) {
        na = 0;
        collect_unset(cases[i].msg->descriptor, cases[i].msg, "", unset_a, &na);
        if (cases[i].kind == AUTOPEFT__KIND__KIND_TRIAL)
            continue;
        if (na > 0)
            FAIL("fixture %s leaves %s unset", cases[i].name, unset_a[0]);
    }
    na = nb = 0;
    collect_unset(&autopeft__trial__descriptor, &f.trial.base, "", unset_a, &na);
    collect_unset(&autopeft__trial__descriptor, &f.syn_trial.base, "", unset_b, &nb);
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++)
            if (strcmp(unset_a[i], unset_b[j]) == 0)
                FAIL("neither TRIAL fixture sets %s", unset_a[i]);
    /* Every kind has a fixture. */
    for (int k = 1; wire_descriptor((Autopeft__Kind)k); k++) {
        int found = 0;
        for (int i = 0; i < WIRE_FIXTURE_CASES; i++)
            found |= cases[i].kind == (Autopeft__Kind)k;
        if (!found)
            FAIL("no fixture of kind %s", wire_kind_name((Autopeft__Kind)k));
    }
}

TEST(round_trip_every_kind_bytes_identical)
{
    wire_fixture_t f;
    wire_case_t cases[WIRE_FIXTURE_CASES];

    wire_fixture_init(&f);
    wire_fixture_cases(&f, cases);
    for (int i = 0; i < WIRE_FIXTURE_CASES; i++) {
        size_t len, len2;
        uint8_t *frame = encode_ok(&cases[i], &len), *frame2 = NULL;
        wire_msg_t m;

        ASSERT_OK(wire_decode(frame, len, &m));
        ASSERT_EQ(m.kind, cases[i].kind);
        ASSERT_EQ(m.version, AUTOPEFT__CONSTANTS__PROTOCOL_VERSION);
        ASSERT_OK(wire_encode(m.kind, m.msg, &frame2, &len2));
        ASSERT_EQ_U(len2, len);
        if (memcmp(frame, frame2, len) != 0)
            FAIL("%s: re-encoded frame differs", cases[i].name);
        /* The header, byte by byte. */
        ASSERT_EQ(frame[0], 'A');
        ASSERT_EQ(frame[1], 'P');
        ASSERT_EQ(frame[2], 'F');
        ASSERT_EQ(frame[3], 'T');
        ASSERT_EQ(frame[4] | frame[5] << 8, AUTOPEFT__CONSTANTS__PROTOCOL_VERSION);
        ASSERT_EQ(frame[6] | frame[7] << 8, cases[i].kind);
        ASSERT_EQ_U((size_t)frame[8] | (size_t)frame[9] << 8 | (size_t)frame[10] << 16 |
                        (size_t)frame[11] << 24,
                    len - 12);
        wire_msg_free(&m);
        free(frame);
        free(frame2);
    }
}

/* Field values survive the trip (the byte comparison above would also pass if both encodings
 * lost the same field). */
TEST(round_trip_field_values)
{
    wire_fixture_t f;
    wire_case_t cases[WIRE_FIXTURE_CASES];
    wire_msg_t m[WIRE_FIXTURE_CASES];

    wire_fixture_init(&f);
    wire_fixture_cases(&f, cases);
    for (int i = 0; i < WIRE_FIXTURE_CASES; i++) {
        size_t len;
        uint8_t *frame = encode_ok(&cases[i], &len);
        ASSERT_OK(wire_decode(frame, len, &m[i]));
        free(frame);
    }
    const Autopeft__Hello *h = (const Autopeft__Hello *)m[0].msg;
    ASSERT_STR_EQ(h->worker_id, f.hello.worker_id);
    ASSERT_EQ(h->pid, 31337);
    ASSERT_EQ_U(h->memory_bytes, 64ull << 30);
    ASSERT_EQ_U(h->n_capabilities, 3);
    ASSERT_EQ(h->capabilities[2], AUTOPEFT__CAPABILITY__CAPABILITY_SYNTHETIC);
    ASSERT_TRUE(wire_trial_ref_equal(h->running, &f.running));

    const Autopeft__Welcome *w = (const Autopeft__Welcome *)m[1].msg;
    ASSERT_EQ(w->heartbeat_liveness, 5);
    ASSERT_TRUE(w->has_keep_running && w->keep_running);

    const Autopeft__Trial *t = (const Autopeft__Trial *)m[2].msg;
    ASSERT_EQ_U(t->ref->trial_id, 41);
    ASSERT_EQ(t->ref->attempt, 3);
    ASSERT_STR_EQ(t->spec->model->path, "/scratch/models/bert-base-uncased");
    ASSERT_TRUE(t->spec->model->has_embedded_default && !t->spec->model->embedded_default);
    ASSERT_STR_EQ(t->spec->task->dev_file, "/scratch/glue/SST-2/dev.tsv");
    ASSERT_EQ(t->spec->recipe->learning_rate, 1e-4f);
    ASSERT_EQ(t->spec->recipe->eval_batch_size, 128);
    ASSERT_STR_EQ(t->spec->peft->lora_layers, "000011111111");
    ASSERT_EQ_U(t->spec->seed, 0x5eed0000deadbeefull);
    ASSERT_EQ(t->spec->mode, AUTOPEFT__TRIAL_MODE__TRIAL_MODE_TRAIN);

    const Autopeft__Trial *ts = (const Autopeft__Trial *)m[3].msg;
    ASSERT_EQ(ts->spec->synthetic->layers, 4);
    ASSERT_EQ(ts->spec->synthetic->noise, 0.01f);
    ASSERT_STR_EQ(ts->spec->peft->serial_layers, "");
    ASSERT_TRUE(ts->spec->peft->parallel_layers == NULL);

    const Autopeft__Progress *p = (const Autopeft__Progress *)m[5].msg;
    ASSERT_EQ_U(p->steps_total, 6315);
    ASSERT_TRUE(p->metric == 0.9128440366972477);
    ASSERT_STR_EQ(p->message, f.progress.message);

    const Autopeft__Result *r = (const Autopeft__Result *)m[6].msg;
    ASSERT_EQ(r->status, AUTOPEFT__RESULT_STATUS__RESULT_STATUS_OK);
    ASSERT_TRUE(r->objective == 0.9243119266055045);
    ASSERT_EQ_U(r->n_metrics, 3);
    ASSERT_STR_EQ(r->metrics[1]->name, "f1");
    ASSERT_EQ_U(r->n_history, 4);
    ASSERT_TRUE(r->history[3]->seconds == 184.25);
    ASSERT_EQ_U(r->params->deployed, 1295106);
    ASSERT_TRUE(r->params->percent == f.params.percent);
    ASSERT_TRUE(r->timings->total_s == 731.0);

    const Autopeft__Error *e = (const Autopeft__Error *)m[10].msg;
    ASSERT_EQ(e->code, AUTOPEFT__ERROR_CODE__ERROR_CODE_INVALID);
    ASSERT_EQ(e->refused_kind, AUTOPEFT__KIND__KIND_TRIAL);
    ASSERT_STR_EQ(e->message, "TRIAL: spec.recipe.batch_size missing");
    for (int i = 0; i < WIRE_FIXTURE_CASES; i++)
        wire_msg_free(&m[i]);
}

/* Every prefix of every valid frame is refused (the header's length says what is missing), and
 * so is every frame with bytes appended. */
TEST(every_truncation_refused)
{
    wire_fixture_t f;
    wire_case_t cases[WIRE_FIXTURE_CASES];

    wire_fixture_init(&f);
    wire_fixture_cases(&f, cases);
    for (int i = 0; i < WIRE_FIXTURE_CASES; i++) {
        size_t len;
        uint8_t *frame = encode_ok(&cases[i], &len);

        for (size_t n = 0; n < len; n++) {
            /* An exactly sized copy, so that ASan sees any read past its end. */
            uint8_t *cut = malloc(n ? n : 1);
            wire_msg_t m;

            memcpy(cut, frame, n);
            ASSERT_ERR(wire_decode(n ? cut : NULL, n, &m), ERR_PROTOCOL);
            ASSERT_TRUE(m.msg == NULL);
            if (n < 12)
                ASSERT_CONTAINS(err_msg(), "shorter than the 12-byte header");
            else
                ASSERT_CONTAINS(err_msg(), "announces a body of");
            free(cut);
        }
        uint8_t *longer = malloc(len + 1);
        wire_msg_t m;
        memcpy(longer, frame, len);
        longer[len] = 0;
        ASSERT_ERR(wire_decode(longer, len + 1, &m), ERR_PROTOCOL);
        free(longer);
        free(frame);
    }
    /* The message names the size. */
    wire_msg_t m;
    uint8_t seven[7] = {0};
    ASSERT_ERR(wire_decode(seven, 7, &m), ERR_PROTOCOL);
    ASSERT_STR_EQ(err_msg(), "frame of 7 bytes is shorter than the 12-byte header");
}

/* A truncated body under a header that announces the shorter length: a cut at a field boundary
 * may still be a valid message (then it must pass the rules), anything else is refused. */
TEST(truncated_body_with_consistent_header)
{
    wire_fixture_t f;
    wire_case_t cases[WIRE_FIXTURE_CASES];
    int decoded = 0, refused = 0;

    wire_fixture_init(&f);
    wire_fixture_cases(&f, cases);
    for (int i = 0; i < WIRE_FIXTURE_CASES; i++) {
        size_t len;
        uint8_t *frame = encode_ok(&cases[i], &len);

        for (size_t n = 12; n < len; n++) {
            uint8_t *cut = malloc(n);
            size_t body = n - 12;

            memcpy(cut, frame, n);
            for (int b = 0; b < 4; b++)
                cut[8 + b] = (uint8_t)(body >> (8 * b));
            if (decode_any(cut, n) == 0)
                decoded++;
            else
                refused++;
            free(cut);
        }
        free(frame);
    }
    printf("body truncations: %d refused, %d decoded as shorter valid messages\n", refused,
           decoded);
    ASSERT_GT(refused, 0);
}

TEST(random_bytes_never_crash)
{
    static const size_t lengths[] = {0, 1, 4, 11, 12, 13, 16, 31, 64, 100, 255, 256, 1000, 4096};
    rng_t r;
    uint8_t *buf;
    int decoded = 0;

    rng_seed(&r, 20240611);
    for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
        for (int it = 0; it < 200; it++) {
            size_t n = lengths[li];

            buf = malloc(n ? n : 1);
            for (size_t i = 0; i < n; i++)
                buf[i] = (uint8_t)rng_next(&r);
            /* Half of them start with the magic, so that they get past the first check. */
            if (n >= 4 && (it & 1)) {
                memcpy(buf, "APFT", 4);
            }
            decoded += decode_any(buf, n) == 0;
            free(buf);
        }
    }
    printf("random frames decoded: %d\n", decoded);
}

/* A correct header of every kind over a random body: exercises protobuf-c and the rules rather
 * than the header checks. */
TEST(valid_header_random_body)
{
    rng_t r;
    int decoded = 0, total = 0;

    rng_seed(&r, 77);
    for (int kind = 1; wire_descriptor((Autopeft__Kind)kind); kind++) {
        for (int it = 0; it < 400; it++) {
            size_t body = (size_t)rng_below(&r, it < 200 ? 16 : 600);
            uint8_t *buf = malloc(12 + body);
            uint32_t magic = (uint32_t)AUTOPEFT__CONSTANTS__MAGIC;

            for (int b = 0; b < 4; b++) {
                buf[b] = (uint8_t)(magic >> (8 * b));
                buf[8 + b] = (uint8_t)(body >> (8 * b));
            }
            buf[4] = AUTOPEFT__CONSTANTS__PROTOCOL_VERSION, buf[5] = 0;
            buf[6] = (uint8_t)kind, buf[7] = 0;
            for (size_t i = 0; i < body; i++) {
                /* Small values look like protobuf tags and lengths more often. */
                buf[12 + i] = (uint8_t)(rng_below(&r, 2) ? rng_below(&r, 128) : rng_next(&r));
            }
            decoded += decode_any(buf, 12 + body) == 0;
            total++;
            free(buf);
        }
    }
    printf("random bodies: %d of %d decoded\n", decoded, total);
}

/* Every single-bit flip of every fixture frame, and random byte overwrites. */
TEST(mutations_never_crash)
{
    wire_fixture_t f;
    wire_case_t cases[WIRE_FIXTURE_CASES];
    rng_t r;
    int decoded = 0, total = 0;

    rng_seed(&r, 4242);
    wire_fixture_init(&f);
    wire_fixture_cases(&f, cases);
    for (int i = 0; i < WIRE_FIXTURE_CASES; i++) {
        size_t len;
        uint8_t *frame = encode_ok(&cases[i], &len);
        uint8_t *mut = malloc(len);

        for (size_t bit = 0; bit < len * 8; bit++) {
            memcpy(mut, frame, len);
            mut[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            decoded += decode_any(mut, len) == 0;
            total++;
        }
        for (int it = 0; it < 500; it++) {
            int nmut = 1 + (int)rng_below(&r, 4);

            memcpy(mut, frame, len);
            for (int k = 0; k < nmut; k++) {
                /* Bytes of the body, mostly: header mutations are refused at once. */
                size_t pos = 12 + (size_t)rng_below(&r, len - 12);
                static const uint8_t special[] = {0x00, 0x01, 0x7F, 0x80, 0xFF, 0x08, 0x12};
                mut[pos] = rng_below(&r, 2) ? special[rng_below(&r, sizeof special)]
                                            : (uint8_t)rng_next(&r);
            }
            decoded += decode_any(mut, len) == 0;
            total++;
        }
        free(mut);
        free(frame);
    }
    printf("mutated frames: %d of %d still decode\n", decoded, total);
}

/* A frame over MAX_FRAME_BYTES is refused without reading it: its memory is not readable. */
TEST(oversized_frame_refused_unread)
{
    size_t len = (size_t)AUTOPEFT__CONSTANTS__MAX_FRAME_BYTES + 1;
    void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    wire_msg_t m;

    ASSERT_TRUE(p != MAP_FAILED);
    ASSERT_ERR(wire_decode(p, len, &m), ERR_RANGE);
    ASSERT_STR_EQ(err_msg(), "frame of 1048577 bytes exceeds the limit of 1048576 bytes");
    ASSERT_ERR(wire_decode(p, SIZE_MAX, &m), ERR_RANGE);
    ASSERT_TRUE(m.msg == NULL);
    munmap(p, len);
    ASSERT_EQ(wire_error_code(ERR_RANGE), AUTOPEFT__ERROR_CODE__ERROR_CODE_TOO_LARGE);
}

/* A body of many empty repeated entries would decode to ~45x its size: refused by the decode
 * memory budget, not after allocating it. Fewer entries fit the budget and meet the cap rule. */
TEST(memory_amplification_refused)
{
    size_t nent = ((size_t)AUTOPEFT__CONSTANTS__MAX_FRAME_BYTES - 12) / 2, len = 12 + 2 * nent;
    uint8_t *buf = malloc(len);
    uint32_t magic = (uint32_t)AUTOPEFT__CONSTANTS__MAGIC;
    wire_msg_t m;

    for (int b = 0; b < 4; b++) {
        buf[b] = (uint8_t)(magic >> (8 * b));
        buf[8 + b] = (uint8_t)((len - 12) >> (8 * b));
    }
    buf[4] = AUTOPEFT__CONSTANTS__PROTOCOL_VERSION, buf[5] = 0;
    buf[6] = AUTOPEFT__KIND__KIND_RESULT, buf[7] = 0;
    for (size_t i = 0; i < nent; i++) {
        buf[12 + 2 * i] = 12 << 3 | 2; /* history, length-delimited */
        buf[13 + 2 * i] = 0;           /* an empty EpochRecord */
    }
    ASSERT_ERR(wire_decode(buf, len, &m), ERR_RANGE);
    ASSERT_CONTAINS(err_msg(), "bytes of memory to decode");
    free(buf);

    /* A valid RESULT followed by 1001 more (empty) history entries fits the budget, decodes, and
     * the history cap refuses it. */
    wire_fixture_t f;
    size_t flen;
    uint8_t *frame;

    wire_fixture_init(&f);
    ASSERT_OK(wire_encode(AUTOPEFT__KIND__KIND_RESULT, &f.result.base, &frame, &flen));
    len = flen + 2 * 1001;
    buf = malloc(len);
    memcpy(buf, frame, flen);
    for (size_t i = 0; i < 1001; i++) {
        buf[flen + 2 * i] = 12 << 3 | 2;
        buf[flen + 2 * i + 1] = 0;
    }
    for (int b = 0; b < 4; b++)
        buf[8 + b] = (uint8_t)((len - 12) >> (8 * b));
    ASSERT_ERR(wire_decode(buf, len, &m), ERR_INVAL);
    ASSERT_STR_EQ(err_msg(), "RESULT: history has 1005 entries, at most 1000");
    free(buf);
    free(frame);
}

TEST(bad_magic_and_unknown_kind)
{
    wire_fixture_t f;
    size_t len;
    uint8_t *frame;
    wire_msg_t m;

    wire_fixture_init(&f);
    ASSERT_OK(wire_encode(AUTOPEFT__KIND__KIND_GOODBYE, &f.goodbye.base, &frame, &len));
    frame[0] = 'X';
    ASSERT_ERR(wire_decode(frame, len, &m), ERR_PROTOCOL);
    ASSERT_CONTAINS(err_msg(), "not an autopeft frame: magic 0x54465058");
    frame[0] = 'A';
    frame[6] = 99;
    ASSERT_ERR(wire_decode(frame, len, &m), ERR_PROTOCOL);
    ASSERT_STR_EQ(err_msg(), "unknown message kind 99");
    ASSERT_EQ(m.kind, 0);
    ASSERT_EQ(m.version, AUTOPEFT__CONSTANTS__PROTOCOL_VERSION);
    frame[6] = 0;
    ASSERT_ERR(wire_decode(frame, len, &m), ERR_PROTOCOL);
    /* A GOODBYE body (field 1: a string) read as a HELLO: a worker_id and nothing else. */
    frame[6] = AUTOPEFT__KIND__KIND_HELLO;
    ASSERT_ERR(wire_decode(frame, len, &m), ERR_INVAL);
    ASSERT_STR_EQ(err_msg(), "HELLO: host missing");
    ASSERT_EQ(m.kind, AUTOPEFT__KIND__KIND_HELLO);
    /* Not protobuf at all: a length that runs past the body. */
    frame[12] = 1 << 3 | 2;
    frame[13] = 0x7F;
    frame[6] = AUTOPEFT__KIND__KIND_GOODBYE;
    ASSERT_ERR(wire_decode(frame, len, &m), ERR_PROTOCOL);
    ASSERT_CONTAINS(err_msg(), "GOODBYE: body of");
    ASSERT_CONTAINS(err_msg(), "is not a valid protobuf Goodbye");
    free(frame);
}

/* Another version is refused with ERR_VERSION, naming both versions, whatever the kind... */
TEST(other_version_refused)
{
    wire_fixture_t f;
    wire_case_t cases[WIRE_FIXTURE_CASES];

    wire_fixture_init(&f);
    wire_fixture_cases(&f, cases);
    for (int i = 0; i < WIRE_FIXTURE_CASES; i++) {
        size_t len;
        uint8_t *frame;
        wire_msg_t m;

        if (cases[i].kind == AUTOPEFT__KIND__KIND_ERROR)
            continue;
        frame = encode_ok(&cases[i], &len);
        frame[4] = 2;
        ASSERT_ERR(wire_decode(frame, len, &m), ERR_VERSION);
        ASSERT_CONTAINS(err_msg(), "of protocol version 2; this build speaks version 1");
        ASSERT_EQ(m.kind, cases[i].kind);
        ASSERT_EQ(m.version, 2);
        ASSERT_TRUE(m.msg == NULL);
        ASSERT_EQ(wire_error_code(ERR_VERSION), AUTOPEFT__ERROR_CODE__ERROR_CODE_VERSION);
        free(frame);
    }
}

/* ... except ERROR, of which fields 1-3 are read whatever the version; the rest is dropped,
 * even when a later version gave field 4 another type. */
TEST(other_version_error_still_decoded)
{
    wire_fixture_t f;
    size_t len;
    uint8_t *frame, *big;
    wire_msg_t m;
    const Autopeft__Error *e;
    /* Field 4 as a string (here a uint32) and field 9 as a fixed64. */
    static const uint8_t extra[] = {4 << 3 | 2, 3, 'v', '2', '!', 9 << 3 | 1, 1, 2, 3, 4, 5, 6, 7, 8};

    wire_fixture_init(&f);
    f.error.code = AUTOPEFT__ERROR_CODE__ERROR_CODE_VERSION;
    f.error.message = "protocol version 1 refused: this coordinator speaks version 2";
    f.error.has_expected_version = 0;
    frame = wire_fixture_raw_frame(AUTOPEFT__KIND__KIND_ERROR, 2, &f.error.base, &len);
    big = malloc(len + sizeof extra);
    memcpy(big, frame, len);
    memcpy(big + len, extra, sizeof extra);
    for (int b = 0; b < 4; b++)
        big[8 + b] = (uint8_t)((len + sizeof extra - 12) >> (8 * b));
    ASSERT_OK(wire_decode(big, len + sizeof extra, &m));
    ASSERT_EQ(m.kind, AUTOPEFT__KIND__KIND_ERROR);
    ASSERT_EQ(m.version, 2);
    e = (const Autopeft__Error *)m.msg;
    ASSERT_EQ(e->code, AUTOPEFT__ERROR_CODE__ERROR_CODE_VERSION);
    ASSERT_STR_EQ(e->message, f.error.message);
    ASSERT_EQ(e->refused_kind, AUTOPEFT__KIND__KIND_TRIAL);
    ASSERT_FALSE(e->has_expected_version);
    ASSERT_EQ_U(e->base.n_unknown_fields, 0);
    wire_msg_free(&m);
    /* The same body is refused under this version: field 4 has the wrong type. */
    big[4] = AUTOPEFT__CONSTANTS__PROTOCOL_VERSION;
    ASSERT_ERR(wire_decode(big, len + sizeof extra, &m), ERR_PROTOCOL);
    free(big);
    free(frame);

    /* A code and a kind this version does not know: the code is kept, the kind dropped. */
    f.error.code = (Autopeft__ErrorCode)57;
    f.error.refused_kind = (Autopeft__Kind)40;
    frame = wire_fixture_raw_frame(AUTOPEFT__KIND__KIND_ERROR, 3, &f.error.base, &len);
    ASSERT_OK(wire_decode(frame, len, &m));
    e = (const Autopeft__Error *)m.msg;
    ASSERT_EQ(e->code, 57);
    ASSERT_FALSE(e->has_refused_kind);
    wire_msg_free(&m);
    free(frame);
    /* Under this version the same ERROR is invalid. */
    frame = wire_fixture_raw_frame(AUTOPEFT__KIND__KIND_ERROR, 1, &f.error.base, &len);
    ASSERT_ERR(wire_decode(frame, len, &m), ERR_INVAL);
    ASSERT_STR_EQ(err_msg(), "ERROR: code has unknown value 57, which is not a valid ErrorCode");
    free(frame);
    /* A foreign ERROR without a code, or with a text that is not UTF-8, is still refused. */
    f.error.has_code = 0;
    frame = wire_fixture_raw_frame(AUTOPEFT__KIND__KIND_ERROR, 2, &f.error.base, &len);
    ASSERT_ERR(wire_decode(frame, len, &m), ERR_INVAL);
    ASSERT_STR_EQ(err_msg(), "ERROR: code missing");
    free(frame);
    f.error.has_code = 1;
    f.error.message = "bad \xff byte";
    frame = wire_fixture_raw_frame(AUTOPEFT__KIND__KIND_ERROR, 2, &f.error.base, &len);
    ASSERT_ERR(wire_decode(frame, len, &m), ERR_INVAL);
    ASSERT_STR_EQ(err_msg(), "ERROR: message is not valid UTF-8 at offset 4");
    free(frame);
}

TEST(encode_refuses_invalid_and_oversized)
{
    wire_fixture_t f;
    uint8_t *frame = (uint8_t *)"untouched";
    size_t len = 12345;
    ProtobufCMessageUnknownField big;

    wire_fixture_init(&f);
    f.recipe.has_batch_size = 0;
    ASSERT_ERR(wire_encode(AUTOPEFT__KIND__KIND_TRIAL, &f.trial.base, &frame, &len), ERR_INVAL);
    ASSERT_STR_EQ(err_msg(), "TRIAL: spec.recipe.batch_size missing");
    ASSERT_STR_EQ((const char *)frame, "untouched");
    ASSERT_EQ_U(len, 12345);
    ASSERT_ERR(wire_encode(AUTOPEFT__KIND__KIND_HELLO, &f.trial.base, &frame, &len), ERR_INVAL);
    ASSERT_STR_EQ(err_msg(), "HELLO: message is a Trial, expected a Hello");
    ASSERT_ERR(wire_encode((Autopeft__Kind)12, &f.goodbye.base, &frame, &len), ERR_INVAL);
    ASSERT_STR_EQ(err_msg(), "unknown message kind 12");
    ASSERT_ERR(wire_encode(AUTOPEFT__KIND__KIND_GOODBYE, NULL, &frame, &len), ERR_INVAL);
    ASSERT_ERR(wire_encode(AUTOPEFT__KIND__KIND_GOODBYE, &f.goodbye.base, NULL, &len), ERR_INVAL);

    /* A message whose unknown fields (say, forwarded from a newer peer) push it over the limit. */
    big.tag = 15;
    big.wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
    big.len = AUTOPEFT__CONSTANTS__MAX_FRAME_BYTES;
    big.data = calloc(1, big.len);
    f.goodbye.base.n_unknown_fields = 1;
    f.goodbye.base.unknown_fields = &big;
    ASSERT_ERR(wire_encode(AUTOPEFT__KIND__KIND_GOODBYE, &f.goodbye.base, &frame, &len), ERR_RANGE);
    ASSERT_CONTAINS(err_msg(), "exceeds the limit of 1048576 bytes");
    free(big.data);
}

TEST(unknown_fields_of_a_newer_peer_ignored)
{
    wire_fixture_t f;
    size_t len;
    uint8_t *frame, *ext;
    wire_msg_t m;
    static const uint8_t extra[] = {20 << 3 | 0, 42, 21 << 3 | 2, 2, 'h', 'i'};

    wire_fixture_init(&f);
    ASSERT_OK(wire_encode(AUTOPEFT__KIND__KIND_ACK, &f.ack.base, &frame, &len));
    ext = malloc(len + sizeof extra);
    memcpy(ext, frame, len);
    memcpy(ext + len, extra, sizeof extra);
    for (int b = 0; b < 4; b++)
        ext[8 + b] = (uint8_t)((len + sizeof extra - 12) >> (8 * b));
    ASSERT_OK(wire_decode(ext, len + sizeof extra, &m));
    ASSERT_EQ(((Autopeft__Ack *)m.msg)->status, AUTOPEFT__ACK_STATUS__ACK_STATUS_DUPLICATE);
    wire_msg_free(&m);
    free(ext);
    free(frame);
}

TEST(encode_error_frames)
{
    size_t len;
    uint8_t *frame;
    wire_msg_t m;
    const Autopeft__Error *e;
    char *text;
    const size_t n = 70000;

    ASSERT_OK(wire_encode_error(AUTOPEFT__ERROR_CODE__ERROR_CODE_BAD_FRAME,
                                "frame of 7 bytes \xc3\x28 \xe2\x82\xac", AUTOPEFT__KIND__KIND_UNSPECIFIED,
                                &frame, &len));
    ASSERT_OK(wire_decode(frame, len, &m));
    e = (const Autopeft__Error *)m.msg;
    ASSERT_STR_EQ(e->message, "frame of 7 bytes ?( \xe2\x82\xac");
    ASSERT_FALSE(e->has_refused_kind);
    ASSERT_EQ(e->expected_version, AUTOPEFT__CONSTANTS__PROTOCOL_VERSION);
    wire_msg_free(&m);
    free(frame);

    /* Cut on a character boundary: 21845 three-byte euro signs fit in 65536 bytes. */
    text = malloc(n + 1);
    for (size_t i = 0; i + 3 <= n; i += 3)
        memcpy(text + i, "\xe2\x82\xac", 3);
    text[n / 3 * 3] = '\0';
    ASSERT_OK(wire_encode_error(AUTOPEFT__ERROR_CODE__ERROR_CODE_INVALID, text,
                                AUTOPEFT__KIND__KIND_RESULT, &frame, &len));
    ASSERT_OK(wire_decode(frame, len, &m));
    e = (const Autopeft__Error *)m.msg;
    ASSERT_EQ_U(strlen(e->message), 65535);
    ASSERT_EQ(e->refused_kind, AUTOPEFT__KIND__KIND_RESULT);
    wire_msg_free(&m);
    free(frame);
    free(text);
    ASSERT_OK(wire_encode_error(AUTOPEFT__ERROR_CODE__ERROR_CODE_INTERNAL, NULL,
                                AUTOPEFT__KIND__KIND_HELLO, &frame, &len));
    free(frame);
    ASSERT_ERR(wire_encode_error((Autopeft__ErrorCode)0, "x", AUTOPEFT__KIND__KIND_HELLO, &frame,
                                 &len),
               ERR_INVAL);
}

TEST(names_codes_and_refs)
{
    Autopeft__TrialRef a = AUTOPEFT__TRIAL_REF__INIT, b = AUTOPEFT__TRIAL_REF__INIT;

    ASSERT_STR_EQ(wire_kind_name(AUTOPEFT__KIND__KIND_HELLO), "HELLO");
    ASSERT_STR_EQ(wire_kind_name(AUTOPEFT__KIND__KIND_GOODBYE), "GOODBYE");
    ASSERT_STR_EQ(wire_kind_name((Autopeft__Kind)0), "KIND_0");
    ASSERT_STR_EQ(wire_kind_name((Autopeft__Kind)4000), "KIND_4000");
    ASSERT_TRUE(wire_descriptor((Autopeft__Kind)-1) == NULL);
    ASSERT_EQ(wire_error_code(ERR_PROTOCOL), AUTOPEFT__ERROR_CODE__ERROR_CODE_BAD_FRAME);
    ASSERT_EQ(wire_error_code(ERR_INVAL), AUTOPEFT__ERROR_CODE__ERROR_CODE_INVALID);
    ASSERT_EQ(wire_error_code(ERR_NOMEM), AUTOPEFT__ERROR_CODE__ERROR_CODE_INTERNAL);
    ASSERT_FALSE(wire_trial_ref_equal(&a, &b));
    a.trial_id = b.trial_id = 5, a.has_trial_id = b.has_trial_id = 1;
    ASSERT_FALSE(wire_trial_ref_equal(&a, &b));
    a.attempt = b.attempt = 2, a.has_attempt = b.has_attempt = 1;
    ASSERT_TRUE(wire_trial_ref_equal(&a, &b));
    b.attempt = 3;
    ASSERT_FALSE(wire_trial_ref_equal(&a, &b));
    ASSERT_FALSE(wire_trial_ref_equal(&a, NULL));
    wire_msg_free(NULL);
}

/* protobuf-c accepts field number 0 when its key is a long varint (0x80 0x00), and numbers past
 * protobuf's 2^29 - 1, then writes them back in forms it refuses: the fuzzer found that a frame
 * decoded, re-encoded, no longer decoded. Such fields are refused, at any depth. */
TEST(field_numbers_outside_protobuf_refused)
{
    /* HEARTBEAT { state = 3, <key 0x80 0x00: field 0, varint> = 0x3e } */
    static const uint8_t zero[] = {8, 3, 0x80, 0x00, 0x3e};
    /* HEARTBEAT { state = 3, <field 2^29, varint> = 1 } */
    static const uint8_t big[] = {8, 3, 0x80, 0x80, 0x80, 0x80, 0x10, 1};
    /* HEARTBEAT { trial = TrialRef { trial_id 1, attempt 1, <field 0> = 0 } } */
    static const uint8_t nested[] = {0x12, 7, 8, 1, 16, 1, 0x80, 0x00, 0};
    const struct {
        const uint8_t *body;
        size_t len;
        const char *msg;
    } cases[] = {
        {zero, sizeof zero, "HEARTBEAT: message carries field number 0, outside protobuf's 1..536870911"},
        {big, sizeof big, "HEARTBEAT: message carries field number 536870912, outside protobuf's 1..536870911"},
        {nested, sizeof nested, "HEARTBEAT: trial carries field number 0, outside protobuf's 1..536870911"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = 12 + cases[i].len;
        uint8_t *frame = malloc(len);
        uint32_t magic = (uint32_t)AUTOPEFT__CONSTANTS__MAGIC;
        wire_msg_t m;

        for (int b = 0; b < 4; b++) {
            frame[b] = (uint8_t)(magic >> (8 * b));
            frame[8 + b] = (uint8_t)(cases[i].len >> (8 * b));
        }
        frame[4] = 1, frame[5] = 0, frame[6] = AUTOPEFT__KIND__KIND_HEARTBEAT, frame[7] = 0;
        memcpy(frame + 12, cases[i].body, cases[i].len);
        ASSERT_ERR(wire_decode(frame, len, &m), ERR_INVAL);
        ASSERT_STR_EQ(err_msg(), cases[i].msg);
        free(frame);
    }
}
