/* libFuzzer target of the frame decoder (common/wire.c): any bytes a peer can send.
 *
 *   make fuzz && build/fuzz/fuzz/fuzz_wire tests/fuzz/work/wire tests/fuzz/corpus/wire
 *
 * (the first folder collects new inputs; tests/fuzz/corpus/wire holds the seeds, kept current
 * by the test wire_corpus.seeds_current, and saved crash inputs, replayed by the test suite).
 *
 * Besides "no crash, no leak, no undefined behaviour", each input checks the decoder's promise:
 * whatever decodes is valid and re-encodes (an ERROR of another version: has its code and no
 * field beyond the frozen three), and the re-encoded frame decodes and re-encodes to
 * the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/wire.h"
#include "tests/fuzz/fuzz.h"

FUZZ_TARGET(wire)
{
    wire_msg_t m, m2;
    uint8_t *f1 = NULL, *f2 = NULL;
    size_t l1, l2;
    int rc;

    if (wire_decode(data, size, &m) != 0) {
        if (m.msg != NULL)
            abort();
        return 0;
    }
    if (m.version != AUTOPEFT__CONSTANTS__PROTOCOL_VERSION) {
        /* An ERROR of another version: fields 1-3 only, with a code this build may not know
         * (so it need not re-encode under this version's rules). */
        const Autopeft__Error *e = (const Autopeft__Error *)m.msg;
        if (m.kind != AUTOPEFT__KIND__KIND_ERROR || !e->has_code || e->code == 0 ||
            e->has_expected_version)
            abort();
        wire_msg_free(&m);
        return 0;
    }
    rc = wire_encode(m.kind, m.msg, &f1, &l1);
    /* Repacking may grow a frame a little (packed repeated fields are written unpacked), so a
     * decoded frame at the size limit may be refused as too large; nothing else may fail. */
    if (rc != 0 && rc != ERR_RANGE)
        abort();
    if (rc == 0) {
        if (wire_decode(f1, l1, &m2) != 0)
            abort();
        if (wire_encode(m2.kind, m2.msg, &f2, &l2) != 0 || l2 != l1 || memcmp(f1, f2, l1) != 0)
            abort();
        wire_msg_free(&m2);
    }
    free(f1);
    free(f2);
    wire_msg_free(&m);
    return 0;
}
