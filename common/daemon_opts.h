/* The command-line options both daemons share (--log-level, --log-format, --help, --version)
 * and their usage errors. */
#ifndef AUTOPEFT_DAEMON_OPTS_H
#define AUTOPEFT_DAEMON_OPTS_H

/* daemon_opts_shared's result when the daemon carries on parsing. */
#define DAEMON_OPTS_GO_ON (-1)

/* For a getopt_long result the daemon's own options did not take: 'L' (--log-level) and 'F'
 * (--log-format) are applied (DAEMON_OPTS_GO_ON; a bad value is a usage error), 'h' prints
 * usage and 'V' the version (0), anything else is an unknown option (2). Otherwise the exit
 * status to return at once. */
int daemon_opts_shared(int c, const char *arg, const char *prog, const char *usage);
/* "PROG: MSG" and a pointer to --help on stderr; returns 2, the usage-error exit status. */
int daemon_opts_usage_error(const char *prog, const char *msg);

#endif
