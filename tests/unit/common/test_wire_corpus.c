/* The seed corpus of the wire fuzzer (tests/fuzz/corpus/wire/) stays current: every seed is
 * the frame the fixtures encode to today (valid-*.bin) or a malformed frame refused with its
 * expected error (bad-*.bin), and no file of another name is there except saved fuzzer finds
 * (crash-*, leak-*, oom-*, timeout-*), which the fuzz_wire.replay_corpus test replays.
 *
 * To (re)write the seeds after a schema or fixture change:
 *   AUTOPEFT_WRITE_CORPUS=1 build/tests/autopeft-tests -t wire_corpus.seeds_current */
#include <dirent.h>
#include <errno.h>

#include "common/wire.h"
#include "tests/harness.h"
#include "tests/unit/common/wire_fixtures.h"

#define MAX_SEEDS 32

typedef struct {
    char name[64];
    uint8_t *bytes;
    size_t len;
    int rc; /* what wire_decode must return */
} seed_t;

static void put_len(uint8_t *frame, size_t len)
{
    for (int b = 0; b < 4; b++)
        frame[8 + b] = (uint8_t)((len - 12) >> (8 * b));
}

static void add(seed_t *s, int *n, const char *name, uint8_t *bytes, size_t len, int rc)
{
    ASSERT_LT(*n, MAX_SEEDS);
    snprintf(s[*n].name, sizeof s[*n].name, "%s.bin", name);
    s[*n].bytes = bytes;
    s[*n].len = len;
    s[*n].rc = rc;
    (*n)++;
}

static uint8_t *copy(const uint8_t *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);

    ASSERT_NOT_NULL(c);
    memcpy(c, p, n);
    return c;
}

/* The seeds as the current code makes them. */
static int make_seeds(seed_t *s)
{
    wire_fixture_t f;
    wire_case_t cases[WIRE_FIXTURE_CASES];
    uint8_t *frame, *trial = NULL, *hello = NULL;
    size_t len, trial_len = 0, hello_len = 0;
    char name[64];
    int n = 0;

    wire_fixture_init(&f);
    wire_fixture_cases(&f, cases);
    for (int i = 0; i < WIRE_FIXTURE_CASES; i++) {
        ASSERT_OK(wire_encode(cases[i].kind, cases[i].msg, &frame, &len));
        snprintf(name, sizeof name, "valid-%s", cases[i].name);
        add(s, &n, name, frame, len, 0);
        if (strcmp(cases[i].name, "trial") == 0)
            trial = frame, trial_len = len;
        if (strcmp(cases[i].name, "hello") == 0)
            hello = frame, hello_len = len;
    }
    ASSERT_NOT_NULL(trial);
    ASSERT_NOT_NULL(hello);

    frame = copy(trial, trial_len / 2);
    add(s, &n, "bad-truncated-trial", frame, trial_len / 2, ERR_PROTOCOL);
    frame = copy(hello, hello_len);
    frame[0] = 'G', frame[1] = 'E', frame[2] = 'T', frame[3] = ' ';
    add(s, &n, "bad-magic", frame, hello_len, ERR_PROTOCOL);
    frame = copy(hello, hello_len);
    frame[4] = 2;
    add(s, &n, "bad-version-hello", frame, hello_len, ERR_VERSION);
    frame = copy(hello, hello_len);
    frame[6] = 99;
    add(s, &n, "bad-kind", frame, hello_len, ERR_PROTOCOL);
    frame = copy(hello, hello_len);
    frame[12] = 1 << 3 | 2, frame[13] = 0x7F; /* worker_id's length runs past the body */
    add(s, &n, "bad-not-protobuf", frame, hello_len, ERR_PROTOCOL);
    frame = copy(hello, 12);
    put_len(frame, 12);
    add(s, &n, "bad-empty-hello", frame, 12, ERR_INVAL);

    f.recipe.has_batch_size = 0;
    frame = wire_fixture_raw_frame(AUTOPEFT__KIND__KIND_TRIAL, 1, &f.trial.base, &len);
    add(s, &n, "bad-invalid-trial", frame, len, ERR_INVAL);
    f.recipe.has_batch_size = 1;
    f.peft.serial_layers = "1110111101x1";
    frame = wire_fixture_raw_frame(AUTOPEFT__KIND__KIND_TRIAL, 1, &f.trial.base, &len);
    add(s, &n, "bad-mask-trial", frame, len, ERR_INVAL);
    f.result.objective = NAN;
    frame = wire_fixture_raw_frame(AUTOPEFT__KIND__KIND_RESULT, 1, &f.result.base, &len);
    add(s, &n, "bad-nan-result", frame, len, ERR_INVAL);

    f.error.code = AUTOPEFT__ERROR_CODE__ERROR_CODE_VERSION;
    f.error.message = "protocol version 1 refused: this coordinator speaks version 2";
    f.error.has_expected_version = 0;
    frame = wire_fixture_raw_frame(AUTOPEFT__KIND__KIND_ERROR, 2, &f.error.base, &len);
    add(s, &n, "foreign-error-v2", frame, len, 0);
    return n;
}

static bool saved_find(const char *name)
{
    static const char *const prefixes[] = {"crash-", "leak-", "oom-", "timeout-", "slow-unit-"};

    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

TEST(seeds_current)
{
    seed_t seeds[MAX_SEEDS];
    int n = make_seeds(seeds);
    const char *write = getenv("AUTOPEFT_WRITE_CORPUS");
    char dir[1024], path[4096];
    DIR *d;
    struct dirent *de;

    harness_src_path("tests/fuzz/corpus/wire", dir, sizeof dir);
    for (int i = 0; i < n; i++) {
        wire_msg_t m;
        uint8_t *buf;
        size_t got;
        FILE *fp;

        /* The seed does what it is meant to. */
        if (wire_decode(seeds[i].bytes, seeds[i].len, &m) != seeds[i].rc)
            FAIL("seed %s: decoding gives %s (%s), expected %s", seeds[i].name,
                 err_name(err_code()), err_msg(), err_name(seeds[i].rc));
        wire_msg_free(&m);

        snprintf(path, sizeof path, "%s/%s", dir, seeds[i].name);
        if (write && *write) {
            fp = fopen(path, "wb");
            if (!fp || fwrite(seeds[i].bytes, 1, seeds[i].len, fp) != seeds[i].len ||
                fclose(fp) != 0)
                FAIL("cannot write %s: %s", path, strerror(errno));
            printf("wrote %s (%zu bytes)\n", path, seeds[i].len);
        }
        fp = fopen(path, "rb");
        if (!fp)
            FAIL("seed %s is missing (rewrite the seeds: see test_wire_corpus.c)", path);
        buf = malloc(seeds[i].len + 1);
        got = fread(buf, 1, seeds[i].len + 1, fp);
        fclose(fp);
        if (got != seeds[i].len || memcmp(buf, seeds[i].bytes, got) != 0)
            FAIL("seed %s is stale: it differs from the %zu bytes the code makes (rewrite the "
                 "seeds: see test_wire_corpus.c)", path, seeds[i].len);
        free(buf);
    }
    d = opendir(dir);
    ASSERT_NOT_NULL(d);
    while ((de = readdir(d)) != NULL) {
        bool known = de->d_name[0] == '.' || saved_find(de->d_name);

        for (int i = 0; i < n && !known; i++)
            known = strcmp(de->d_name, seeds[i].name) == 0;
        if (!known)
            FAIL("%s/%s is neither a current seed nor a saved fuzzer find", dir, de->d_name);
    }
    closedir(d);
    for (int i = 0; i < n; i++)
        free(seeds[i].bytes);
}
