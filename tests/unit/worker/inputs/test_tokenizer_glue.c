/* The tokenizer against the independent Python reference on every example of the shared GLUE
 * files (tests/reference/tokenizer_glue.txt, from tokenizer_reference.py): ids and token types
 * must be identical for all of them, without truncation and at max length 24. On a mismatch
 * the test finds the first differing example and shows both id lists (running the reference on
 * that block when /usr/bin/python3 is there). */
#include <unistd.h>

#include "tests/harness.h"
#include "worker/inputs/data.h"
#include "worker/inputs/tokenizer.h"

#define BLOCK 256

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t example_hash(uint64_t h, const tokenizer_encoding_t *e)
{
    uint32_t len = (uint32_t)e->len;

    h = fnv(h, &len, 4);
    for (int i = 0; i < e->len; i++) {
        uint32_t id = (uint32_t)e->ids[i];
        uint8_t type = (uint8_t)e->types[i];
        h = fnv(h, &id, 4);
        h = fnv(h, &type, 1);
    }
    return h;
}

static void encode(tokenizer_t *tok, const data_t *d, size_t i, int max_length,
                   tokenizer_encoding_t *e)
{
    const char *a = data_text(d, i), *b = data_pair(d, i);
    ASSERT_OK(tokenizer_encode(tok, a, strlen(a), b, b ? strlen(b) : 0, max_length, e));
}

/* Finds and prints the first example of the block whose ids differ from the reference's. */
static void explain(tokenizer_t *tok, const data_t *d, size_t first, size_t count, int max_length,
                    const char *vocab_path)
{
    char file[1024], cmd[4096], script[1024], *line = NULL;
    size_t cap = 0;
    FILE *f, *py;

    snprintf(file, sizeof file, "%s/block.txt", harness_tmpdir());
    f = fopen(file, "w");
    ASSERT_NOT_NULL(f);
    for (size_t i = first; i < first + count; i++)
        fprintf(f, "%s%s%s\n", data_text(d, i), data_pair(d, i) ? "\t" : "",
                data_pair(d, i) ? data_pair(d, i) : "");
    fclose(f);
    harness_src_path("tests/reference/tokenizer_reference.py", script, sizeof script);
    if (access("/usr/bin/python3", X_OK) != 0) {
        printf("examples %zu..%zu of %s differ; run %s --ids %s %s%s to see the reference ids\n",
               first, first + count - 1, data_path(d), script, vocab_path, file,
               data_has_pair(d) ? " --pair" : "");
        return;
    }
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s --ids %s %s %s --max-length %d", script,
             vocab_path, file, data_has_pair(d) ? "--pair" : "", max_length);
    py = popen(cmd, "r");
    ASSERT_NOT_NULL(py);
    for (size_t i = first; i < first + count && getline(&line, &cap, py) > 0; i++) {
        tokenizer_encoding_t e;
        char mine[65536];
        size_t at = 0;

        encode(tok, d, i, max_length, &e);
        for (int k = 0; k < e.len && at < sizeof mine - 16; k++)
            at += (size_t)snprintf(mine + at, sizeof mine - at, "%s%d", k ? " " : "", e.ids[k]);
        line[strcspn(line, "\n")] = '\0';
        if (strcmp(mine, line) != 0) {
            printf("first mismatch: %s example %zu\n  text: %s\n  pair: %s\n  C:      %s\n"
                   "  Python: %s\n", data_path(d), i, data_text(d, i),
                   data_pair(d, i) ? data_pair(d, i) : "(none)", mine, line);
            break;
        }
    }
    while (getline(&line, &cap, py) > 0) /* let the reference finish writing */
        ;
    free(line);
    pclose(py);
}

TEST_TIMEOUT(identical_ids_on_all_glue_examples, 240)
{
    char vocab_path[1024], dir[1024], fixture[1024], line[512], path[1100];
    const data_task_t *task = NULL;
    data_t *d = NULL;
    vocab_t *vocab;
    tokenizer_t *tok;
    size_t examples = 0, blocks = 0, mismatched = 0;
    FILE *f;

    harness_shared_path("data/vocab/bert-base-uncased-vocab.txt", vocab_path, sizeof vocab_path);
    harness_shared_path("data/glue", dir, sizeof dir);
    ASSERT_OK(vocab_load(vocab_path, &vocab));
    ASSERT_OK(tokenizer_new(vocab, NULL, &tok));
    f = fopen(harness_src_path("tests/reference/tokenizer_glue.txt", fixture, sizeof fixture),
              "r");
    ASSERT_NOT_NULL(f);
    while (fgets(line, sizeof line, f)) {
        char name[32], split[16], mode[16];
        size_t first, count, tokens, ntok = 0;
        unsigned long long want;
        uint64_t h = 0xcbf29ce484222325ull;
        int max_length = 0;

        if (sscanf(line, "count %31s %15s %zu", name, split, &count) == 3) {
            ASSERT_EQ_U(data_count(d), count);
            examples += count;
            continue;
        }
        if (sscanf(line, "block %31s %15s %15s %zu %zu %zu %llx", name, split, mode, &first,
                   &count, &tokens, &want) != 7)
            continue;
        if (first == 0 && strcmp(mode, "full") == 0) {
            data_free(&d);
            ASSERT_OK(data_task_find(name, &task));
            ASSERT_OK(data_task_path(task, dir, strcmp(split, "train") == 0 ? DATA_TRAIN
                                                                          : DATA_DEV,
                                     path, sizeof path));
            ASSERT_OK(data_load_task(task, path, &d));
        }
        if (strncmp(mode, "max", 3) == 0)
            max_length = atoi(mode + 3);
        ASSERT_NOT_NULL(d);
        ASSERT_TRUE(first + count <= data_count(d));
        for (size_t i = first; i < first + count; i++) {
            tokenizer_encoding_t e;
            encode(tok, d, i, max_length, &e);
            h = example_hash(h, &e);
            ntok += (size_t)e.len;
        }
        blocks++;
        if (h != want || ntok != tokens) {
            if (mismatched == 0)
                explain(tok, d, first, count, max_length, vocab_path);
            if (mismatched++ < 10)
                printf("mismatch: %s %s %s examples %zu..%zu (%zu tokens, reference %zu)\n",
                       name, split, mode, first, first + count - 1, ntok, tokens);
        }
    }
    fclose(f);
    printf("%zu examples in %zu blocks (2 modes): %zu blocks differ\n", examples, blocks,
           mismatched);
    ASSERT_EQ_U(examples, 89140);
    ASSERT_EQ_U(mismatched, 0);
    data_free(&d);
    tokenizer_free(&tok);
    vocab_free(&vocab);
}
