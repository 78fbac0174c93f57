/* Fuzz targets: one file tests/fuzz/fuzz_NAME.c per decoder of outside bytes, with
 *
 *     FUZZ_TARGET(NAME) { ...decode data[0..size)...; return 0; }
 *
 * Built by `make fuzz` (clang, -DFUZZ_LIBFUZZER) the body is libFuzzer's entry point:
 *     build/fuzz/fuzz/fuzz_NAME tests/fuzz/corpus/NAME
 * Built into the test suite it becomes the test fuzz_NAME.replay_corpus, which feeds every
 * file of tests/fuzz/corpus/NAME/ (seeds and saved crash inputs) through the same body, so a
 * crash once found stays fixed (and, under SANITIZE=address,undefined, stays memory-clean). */
#ifndef AUTOPEFT_FUZZ_H
#define AUTOPEFT_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#ifdef FUZZ_LIBFUZZER
#define FUZZ_TARGET(name)                                                 \
    static int fuzz_one_##name(const uint8_t *data, size_t size);        \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);         \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)          \
    {                                                                     \
        return fuzz_one_##name(data, size);                               \
    }                                                                     \
    static int fuzz_one_##name(const uint8_t *data, size_t size)
#else
#include "tests/harness.h"

/* Runs fn on every file of tests/fuzz/corpus/<name>/; fails when the folder has none. */
void fuzz_replay(const char *name, int (*fn)(const uint8_t *data, size_t size));

#define FUZZ_TARGET(name)                                                 \
    static int fuzz_one_##name(const uint8_t *data, size_t size);        \
    TEST_TIMEOUT(replay_corpus, 300)                                      \
    {                                                                     \
        fuzz_replay(#name, fuzz_one_##name);                              \
    }                                                                     \
    static int fuzz_one_##name(const uint8_t *data, size_t size)
#endif

#endif
