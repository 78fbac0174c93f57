/* The worker side's commands of the `autopeft` program (autopeft.c joins them with the
 * coordinator side's, coordinator/cli/commands.h). Each takes the arguments after its name
 * (argv[0] is the command) and returns the process exit status: 0 done, 1 failed, 2 bad
 * usage. */
#ifndef AUTOPEFT_WORKER_CLI_COMMANDS_H
#define AUTOPEFT_WORKER_CLI_COMMANDS_H

#include "worker/cli/worker.h"   /* worker_main: `autopeft worker` */

int cli_train(int argc, char **argv);      /* train.c: one configuration, JSON result */
int cli_eval(int argc, char **argv);       /* train.c: weights saved by train --save */
int cli_inputs(int argc, char **argv);     /* train.c: a trial's inputs, for other trainers */
int cli_tokenize(int argc, char **argv);   /* tokenize.c */
int cli_init_model(int argc, char **argv); /* init_model.c: a seeded random checkpoint */
int cli_embedded(int argc, char **argv);   /* embedded.c: the embedded task's files */
int cli_export(int argc, char **argv);     /* export.c: saved weights for adapters, peft */

#endif
