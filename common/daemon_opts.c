/* See daemon_opts.h. */
#include "common/daemon_opts.h"

#include <stdio.h>

#include "common/err.h"
#include "common/log.h"
#include "common/version.h"

int daemon_opts_usage_error(const char *prog, const char *msg)
{
    fprintf(stderr, "%s: %s\nTry '%s --help'.\n", prog, msg, prog);
    return 2;
}

int daemon_opts_shared(int c, const char *arg, const char *prog, const char *usage)
{
    switch (c) {
    case 'L':
        return log_apply_level(arg) != 0 ? daemon_opts_usage_error(prog, err_msg())
                                         : DAEMON_OPTS_GO_ON;
    case 'F':
        return log_apply_format(arg) != 0 ? daemon_opts_usage_error(prog, err_msg())
                                          : DAEMON_OPTS_GO_ON;
    case 'h':
        fputs(usage, stdout);
        return 0;
    case 'V':
        version_print(stdout, prog);
        return 0;
    default:
        fprintf(stderr, "Try '%s --help'.\n", prog);
        return 2;
    }
}
