/* Subcommands of the `autopeft` program. Each lives beside what it drives (common/cli_space.c,
 * ...), takes the arguments after its name (argv[0] is the subcommand) and returns the
 * process exit status: 0 done, 1 failed, 2 bad usage. */
#ifndef AUTOPEFT_CLI_H
#define AUTOPEFT_CLI_H

int cli_embedded(int argc, char **argv);
int cli_space(int argc, char **argv);
int cli_tokenize(int argc, char **argv);

#endif
