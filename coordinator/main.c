/* autopeft-coordinator: the daemon that owns a study (search space, surrogate, history) and
 * hands trials to autopeft-worker processes over ZeroMQ. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "err.h"
#include "log.h"
#include "version.h"

static const char usage_text[] =
    "Usage: autopeft-coordinator [OPTIONS]\n"
    "\n"
    "The coordinator of an autopeft study: it owns the search history and the Gaussian-process\n"
    "surrogate, and dispatches PEFT configurations (trials) to autopeft-worker processes over\n"
    "ZeroMQ. This build has no dispatcher yet: it answers the options below and exits.\n"
    "\n"
    "Options:\n"
    "  --log-level LEVEL    trace, debug, info (default), warn, error or off\n"
    "  --log-format FORMAT  text (default) or json (one JSON object per line)\n"
    "  -h, --help           show this help and exit\n"
    "  -V, --version        show the version, protocol and library versions and exit\n"
    "\n"
    "Environment: AUTOPEFT_LOG_LEVEL and AUTOPEFT_LOG_FORMAT override the log options' defaults.\n";

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

    log_init("autopeft-coordinator", LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
    while ((opt = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'L':
            if (log_parse_level(optarg, &level) != 0) {
                fprintf(stderr, "autopeft-coordinator: --log-level: %s\n", err_msg());
                return 2;
            }
            log_set_level(level);
            break;
        case 'F':
            if (log_parse_format(optarg, &format) != 0) {
                fprintf(stderr, "autopeft-coordinator: --log-format: %s\n", err_msg());
                return 2;
            }
            log_set_format(format);
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        case 'V':
            version_print(stdout, "autopeft-coordinator");
            return 0;
        default:
            fputs("Try 'autopeft-coordinator --help'.\n", stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "autopeft-coordinator: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    fprintf(stderr, "autopeft-coordinator: this build has no dispatcher yet; see --help\n");
    return 2;
}
