/* autopeft export: a saved trial's weights in the layout of another library (AdapterHub
 * adapters, Hugging Face peft) or in autopeft's own, with its configuration
 * (worker/trial/trial_export.h, docs/export.md). The saved trial is a folder of `autopeft train
 * --save`, or trial N of a study folder that kept its weights (STUDY/weights/trial-N). */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/parse.h"
#include "worker/cli/commands.h"
#include "worker/trial/trial_export.h"

#define PROG "autopeft export"

static const char help[] =
    "Usage: autopeft export SAVED|STUDY [--trial N] --format FORMAT --out DIR\n"
    "\n"
    "Writes the weights of a saved trial for other software. SAVED is a folder written by\n"
    "`autopeft train --save` (trial.json, peft.safetensors); STUDY is a study folder, whose\n"
    "trial N's weights are in STUDY/weights/trial-N when the study keeps them ([study]\n"
    "keep_weights). FORMAT is one of\n"
    "\n"
    "  safetensors  DIR/model.safetensors (the weights under autopeft's names, as saved) and\n"
    "               DIR/autopeft_config.json (configuration, each module's size and layers,\n"
    "               LoRA alpha, model shape, task and labels)\n"
    "  adapters     the AdapterHub adapters library: DIR/adapter_config.json,\n"
    "               DIR/adapter.safetensors, DIR/head_config.json, DIR/model_head.safetensors;\n"
    "               BertAdapterModel's load_adapter(DIR, use_safetensors=True) reads them\n"
    "  peft         Hugging Face peft, LoRA configurations only: DIR/adapter_config.json,\n"
    "               DIR/adapter_model.safetensors, for PeftModel.from_pretrained\n"
    "\n"
    "A configuration that a library cannot compute exactly as autopeft does is refused with\n"
    "a message saying why (docs/export.md lists what each library can hold).\n"
    "\n"
    "  --trial N        the trial of a study folder (required there; not for a saved trial)\n"
    "  --format FORMAT  adapters, peft or safetensors\n"
    "  --out DIR        the folder to write (created; files of the same names are replaced)\n"
    "  -h, --help       this help\n"
    "\n"
    "Exit status: 0 written, 1 failed (or the format cannot hold the configuration), 2 bad\n"
    "usage.\n";

static const char *const written[] = {
    [TRIAL_EXPORT_SAFETENSORS] = "model.safetensors, autopeft_config.json",
    [TRIAL_EXPORT_ADAPTERS] = "adapter_config.json, adapter.safetensors, head_config.json, "
                              "model_head.safetensors",
    [TRIAL_EXPORT_PEFT] = "adapter_config.json, adapter_model.safetensors",
};

typedef struct {
    const char *from, *out, *format_name;
    trial_export_format_t format;
    int trial;                  /* 0: none given */
} export_args_t;

static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, PROG ": %s%s%s%s\nTry '" PROG " --help'.\n", what, arg ? " '" : "",
            arg ? arg : "", arg ? "'" : "");
    return 2;
}

/* Parses argv into a: -1 to go on, else the exit status (help shown, or a usage error). */
static int parse_args(int argc, char **argv, export_args_t *a)
{
    static const struct option longopts[] = {
        {"trial", required_argument, NULL, 't'}, {"format", required_argument, NULL, 'f'},
        {"out", required_argument, NULL, 'o'},   {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;

    memset(a, 0, sizeof *a);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (a->trial)
                return usage_error("--trial is given twice", NULL);
            if (parse_int(optarg, 1, INT32_MAX, "--trial", &a->trial) != 0)
                return usage_error(err_msg(), NULL);
            break;
        case 'f':
            if (a->format_name)
                return usage_error("--format is given twice", NULL);
            a->format_name = optarg;
            if (trial_export_format_parse(optarg, &a->format) != 0)
                return usage_error(err_msg(), NULL);
            break;
        case 'o':
            if (a->out)
                return usage_error("--out is given twice", NULL);
            a->out = optarg;
            break;
        case 'h': fputs(help, stdout); return 0;
        case ':': return usage_error("this option needs a value:", argv[optind - 1]);
        default: return usage_error("unknown option", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return usage_error("give the saved trial's folder (or a study folder with --trial N)",
                           NULL);
    if (optind + 1 < argc)
        return usage_error("one folder only; unexpected argument", argv[optind + 1]);
    a->from = argv[optind];
    if (!a->format_name)
        return usage_error("--format is required (adapters, peft or safetensors)", NULL);
    if (!a->out || !a->out[0])
        return usage_error("--out DIR is required", NULL);
    return -1;
}

static bool exists(const char *dir, const char *name)
{
    char path[4200];

    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* The saved trial's folder: a.from itself, or the kept weights of trial a.trial of the study in
 * a.from. -1 with path set to go on, else the exit status (reported). */
static int saved_folder(const export_args_t *a, char *path, size_t len)
{
    if (strlen(a->from) > 4000)
        return usage_error("the folder's path is too long", NULL);
    if (exists(a->from, "trial.json")) {
        if (a->trial) {
            fprintf(stderr, PROG ": %s is a saved trial (it has trial.json): --trial is only for "
                    "a study folder\n", a->from);
            return 2;
        }
        snprintf(path, len, "%s", a->from);
        return -1;
    }
    if (!exists(a->from, "study.db") && !exists(a->from, "weights")) {
        fprintf(stderr, PROG ": %s: neither a saved trial (no trial.json: a folder of `autopeft "
                "train --save`) nor a study folder (no study.db)\n", a->from);
        return 1;
    }
    if (!a->trial) {
        fprintf(stderr, PROG ": %s is a study folder: give --trial N, the trial to export\n",
                a->from);
        return 2;
    }
    snprintf(path, len, "%s/weights/trial-%d", a->from, a->trial);
    if (!exists(path, "trial.json")) {
        fprintf(stderr, PROG ": %s: the study did not keep trial %d's weights (no %s/trial.json); "
                "a study keeps them with keep_weights in its [study] section\n", a->from,
                a->trial, path);
        return 1;
    }
    return -1;
}

int cli_export(int argc, char **argv)
{
    export_args_t a;
    char saved[4200];
    int status = parse_args(argc, argv, &a);

    if (status >= 0)
        return status;
    if ((status = saved_folder(&a, saved, sizeof saved)) >= 0)
        return status;
    if (trial_export(saved, a.format, a.out) != 0) {
        fprintf(stderr, PROG ": %s\n", err_msg());
        return 1;
    }
    printf("%s: %s\n", a.out, written[a.format]);
    return fflush(stdout) == 0 ? 0 : 1;
}
