/* The coordinator side's commands of the `autopeft` program (autopeft.c joins them with the
 * worker side's, worker/cli/commands.h). Each takes the arguments after its name (argv[0] is
 * the command) and returns the process exit status: 0 done, 1 failed, 2 bad usage. */
#ifndef AUTOPEFT_COORDINATOR_CLI_COMMANDS_H
#define AUTOPEFT_COORDINATOR_CLI_COMMANDS_H

#include "coordinator/cli/coordinator.h"   /* coordinator_main: `autopeft coordinator` */

int cli_run(int argc, char **argv);      /* run.c: a study on this machine */
int cli_confirm(int argc, char **argv);  /* confirm.c: points re-trained with new seeds */
int cli_status(int argc, char **argv);   /* status.c */
int cli_report(int argc, char **argv);   /* status.c */
int cli_space(int argc, char **argv);    /* space.c: configurations of a search space */
int cli_baselines(int argc, char **argv); /* baselines.c: the hand-designed PEFT baselines */
int cli_keygen(int argc, char **argv);   /* keygen.c: CURVE key pairs */

#endif
