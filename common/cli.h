/* Subcommands of the `autopeft` program. Each lives beside what it drives (common/cli_space.c,
 * ...), takes the arguments after its name (argv[0] is the subcommand) and returns the
 * process exit status: 0 done, 1 failed, 2 bad usage. */
#ifndef AUTOPEFT_CLI_H
#define AUTOPEFT_CLI_H

int cli_embedded(int argc, char **argv);
int cli_space(int argc, char **argv);
int cli_tokenize(int argc, char **argv);
int cli_train(int argc, char **argv);      /* worker/cli_train.c */
int cli_eval(int argc, char **argv);       /* worker/cli_train.c */
int cli_init_model(int argc, char **argv); /* worker/cli_init_model.c */
int cli_keygen(int argc, char **argv);   /* common/cli_keygen.c */
int cli_run(int argc, char **argv);      /* coordinator/cli_run.c */
int cli_status(int argc, char **argv);   /* coordinator/cli_status.c */
int cli_report(int argc, char **argv);   /* coordinator/cli_status.c */

#endif
