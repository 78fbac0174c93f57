/* autopeft: the user-facing front end, one program holding both daemons and every command.
 *
 * This file is the one place where the coordinator's code and the worker's code meet
 * (docs/architecture.md): it includes the two sides' command lists, coordinator/cli/commands.h
 * and worker/cli/commands.h, and nothing else of either, and puts them in one table. The
 * commands themselves are thin (they parse flags and call their side's libraries) and live in
 * their side's cli/ folder. `autopeft run` starts `autopeft coordinator` and `autopeft worker`
 * as processes of this same program, so the two daemons still meet only over the wire. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/blas_startup.h"
#include "common/log.h"
#include "common/version.h"
#include "coordinator/cli/commands.h"
#include "worker/cli/commands.h"

/* What main does before a command runs: flags, or-ed. */
enum {
    /* Trains or fits: OpenBLAS's core is checked first (common/blas_startup.h). */
    CMD_NUMERIC = 1 << 0,
    /* Warnings and errors only, unless AUTOPEFT_LOG_LEVEL or --log-level say otherwise: one run
     * by hand, where the daemons' info lines are noise. */
    CMD_QUIET = 1 << 1,
};

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    unsigned flags;     /* CMD_* */
} command_t;

static const command_t commands[] = {
    {"run", cli_run,
     "run a study on this machine: a coordinator and local workers, live progress", 0},
    {"confirm", cli_confirm, "re-train points of a study with new seeds (mean and spread)", 0},
    {"status", cli_status, "show how a study is doing (from its folder's study.db)", 0},
    {"report", cli_report,
     "write a study's outputs (trials.csv, pareto.csv, ...) and show its front", 0},
    {"coordinator", coordinator_main, "the coordinator daemon (same as autopeft-coordinator)",
     CMD_NUMERIC},
    {"worker", worker_main, "the worker daemon (same as autopeft-worker)", CMD_NUMERIC},
    {"keygen", cli_keygen, "make a CURVE key pair for a coordinator or a worker", 0},
    {"embedded", cli_embedded,
     "write the embedded default task (synthetic sentiment data) to a folder", 0},
    {"space", cli_space, "sample, count, encode and check PEFT configurations of a search space",
     0},
    {"baselines", cli_baselines,
     "list the hand-designed PEFT baselines a study's front is compared against", 0},
    {"tokenize", cli_tokenize, "print the WordPiece ids of each line of text (to debug data)", 0},
    {"train", cli_train, "fine-tune one PEFT configuration of a model on a task; JSON result",
     CMD_NUMERIC | CMD_QUIET},
    {"eval", cli_eval, "evaluate PEFT weights saved by `autopeft train --save`",
     CMD_NUMERIC | CMD_QUIET},
    {"export", cli_export,
     "write weights saved by `autopeft train --save` for adapters, peft or as safetensors", 0},
    {"inputs", cli_inputs,
     "write what a trial trains on (data, batch order, initial weights) for another trainer",
     CMD_NUMERIC | CMD_QUIET},
    {"init-model", cli_init_model, "write a seeded random BERT checkpoint (Hugging Face layout)",
     0},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: autopeft COMMAND [OPTIONS]\n"
            "       autopeft help COMMAND\n"
            "\n"
            "autopeft searches for the best parameter-efficient fine-tuning (PEFT) configuration\n"
            "of a pretrained transformer for a task: multi-objective Bayesian optimisation over\n"
            "adapter sizes, prefix length and the layers that get them, trading the task metric\n"
            "against the trainable parameters.\n"
            "\nCommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\nOptions:\n"
            "  -h, --help     show this help, or a command's with `autopeft COMMAND --help`\n"
            "  -V, --version  show the version, protocol and library versions\n"
            "\nEnvironment: AUTOPEFT_LOG_LEVEL (trace..error, off), AUTOPEFT_LOG_FORMAT (text, "
            "json).\n");
}

static const command_t *find(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    const command_t *cmd;
    const char *env;

    log_init("autopeft", LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0 ||
        strcmp(argv[1], "version") == 0) {
        version_print(stdout, "autopeft");
        return 0;
    }
    if (strcmp(argv[1], "help") == 0) {
        if (argc < 3) {
            usage(stdout);
            return 0;
        }
        cmd = find(argv[2]);
        if (!cmd) {
            fprintf(stderr, "autopeft: no command '%s'; `autopeft --help` lists them\n", argv[2]);
            return 2;
        }
        char *help_argv[] = {(char *)cmd->name, "--help", NULL};
        return cmd->run(2, help_argv);
    }
    cmd = find(argv[1]);
    if (!cmd) {
        fprintf(stderr, "autopeft: no command '%s'; `autopeft --help` lists them\n", argv[1]);
        return 2;
    }
    env = getenv("AUTOPEFT_LOG_LEVEL");
    if ((cmd->flags & CMD_QUIET) && !(env && *env))
        log_set_level(LOG_LEVEL_WARN);
    /* May re-execute this program with the whole command line, before any BLAS work. */
    /* Each numeric command logs the core (blas_startup_log) once its options are read. */
    if (cmd->flags & CMD_NUMERIC)
        blas_startup(argv, 0);
    return cmd->run(argc - 1, argv + 1);
}
