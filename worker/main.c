/* autopeft-worker: a stateless daemon that fine-tunes the PEFT configurations the coordinator
 * sends it and reports their metric and parameter counts. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "blas.h"
#include "err.h"
#include "log.h"
#include "version.h"

static const char usage_text[] =
    "Usage: autopeft-worker [OPTIONS]\n"
    "\n"
    "A worker of an autopeft study: it connects to an autopeft-coordinator, fine-tunes the PEFT\n"
    "configurations it is sent, and reports each one's task metric and exact parameter counts.\n"
    "Workers keep no state of their own, so any number can join or leave a study at any time.\n"
    "This build has no trainer or network loop yet: it answers the options below and exits.\n"
    "\n"
    "Options:\n"
    "  --log-level LEVEL    trace, debug, info (default), warn, error or off\n"
    "  --log-format FORMAT  text (default) or json (one JSON object per line)\n"
    "  -h, --help           show this help and exit\n"
    "  -V, --version        show the version, protocol and library versions and exit\n"
    "\n"
    "Environment: AUTOPEFT_LOG_LEVEL and AUTOPEFT_LOG_FORMAT override the log options' defaults;\n"
    "AUTOPEFT_NO_BLAS_CORE_FIX=1 keeps the OpenBLAS core OpenBLAS chose (see the log's first line).\n";

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"log-level", required_argument, NULL, 'L'},
        {"log-format", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    log_level_t level;
    log_format_t format;
    int opt;

    log_init("autopeft-worker", LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
    while ((opt = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'L':
            if (log_parse_level(optarg, &level) != 0) {
                fprintf(stderr, "autopeft-worker: --log-level: %s\n", err_msg());
                return 2;
            }
            log_set_level(level);
            break;
        case 'F':
            if (log_parse_format(optarg, &format) != 0) {
                fprintf(stderr, "autopeft-worker: --log-format: %s\n", err_msg());
                return 2;
            }
            log_set_format(format);
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        case 'V':
            version_print(stdout, "autopeft-worker");
            return 0;
        default:
            fputs("Try 'autopeft-worker --help'.\n", stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "autopeft-worker: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    /* before any work: may restart the program on a faster OpenBLAS core (common/blas.h) */
    blas_startup(argv, 0);
    fprintf(stderr, "autopeft-worker: this build has no trainer or network loop yet; see --help\n");
    return 2;
}
