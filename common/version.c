#include "common/version.h"

#include <cblas.h>
#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <sqlite3.h>
#include <utf8proc.h>
#include <uv.h>
#include <zmq.h>

#include "autopeft.pb-c.h"
#include "buildinfo.h"

const char *version_string(void)
{
    return AUTOPEFT_VERSION;
}

const char *version_long(void)
{
    static char buf[128];

    if (!buf[0])
        snprintf(buf, sizeof buf, "%s (commit %s, protocol %d)", AUTOPEFT_VERSION, AUTOPEFT_COMMIT,
                 AUTOPEFT__CONSTANTS__PROTOCOL_VERSION);
    return buf;
}

void version_print(FILE *f, const char *program)
{
    int zmaj, zmin, zpatch;

    zmq_version(&zmaj, &zmin, &zpatch);
    fprintf(f, "%s %s\n", program, version_long());
    fprintf(f, "  libzmq      %d.%d.%d\n", zmaj, zmin, zpatch);
    fprintf(f, "  protobuf-c  %s\n", protobuf_c_version());
    fprintf(f, "  libuv       %s\n", uv_version_string());
    fprintf(f, "  OpenBLAS    %s\n", openblas_get_config());
    fprintf(f, "  SQLite      %s\n", sqlite3_libversion());
    fprintf(f, "  jansson     %s\n", jansson_version_str());
    fprintf(f, "  utf8proc    %s\n", utf8proc_version());
}
