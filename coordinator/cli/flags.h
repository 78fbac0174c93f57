/* The `--flag VALUE` command lines of `autopeft space` and `autopeft baselines`: a table of
 * flags parsed into one value per flag, usage errors that name the program, integer flags, and
 * the model shape that both commands take from the same flags. Every error is printed to stderr
 * as "PROG: ..." and returns 2, the commands' exit status for bad usage. */
#ifndef AUTOPEFT_COORDINATOR_CLI_FLAGS_H
#define AUTOPEFT_COORDINATOR_CLI_FLAGS_H

#include <stdbool.h>

#include "common/shape.h"

/* One flag of a command's table. */
typedef struct {
    const char *name;  /* "--shape" */
    const char *value; /* what the value is, for messages ("a shape name"); NULL: a switch */
} flags_spec_t;

/* A command's flags: what messages are prefixed with, its help, its table and what to tell a
 * user who gave an argument that is not a flag. */
typedef struct {
    const char *prog;         /* "autopeft space" */
    const char *usage;        /* the help text, printed for -h and --help */
    const flags_spec_t *spec; /* nflags rows, indexed by the command's own enum */
    int nflags;
    const char *stray;        /* follows "unexpected argument 'X': " */
} flags_cmd_t;

/* The model's flags open the table of every command that takes a model: the command's own
 * flags are numbered from FLAGS_NMODEL, its table's initialiser starts with FLAGS_MODEL_ROWS,
 * and its help text has FLAGS_MODEL_USAGE. */
enum {
    FLAGS_SHAPE, FLAGS_HIDDEN, FLAGS_LAYERS, FLAGS_HEADS, FLAGS_INTERMEDIATE, FLAGS_VOCAB,
    FLAGS_POSITIONS, FLAGS_TYPE_VOCAB, FLAGS_LABELS, FLAGS_NMODEL
};

#define FLAGS_MODEL_ROWS                                                                       \
    [FLAGS_SHAPE] = {"--shape", "a shape name"},                                               \
    [FLAGS_HIDDEN] = {"--hidden", "the model width"},                                          \
    [FLAGS_LAYERS] = {"--layers", "the number of layers"},                                     \
    [FLAGS_HEADS] = {"--heads", "the number of attention heads"},                              \
    [FLAGS_INTERMEDIATE] = {"--intermediate", "the FFN width"},                                \
    [FLAGS_VOCAB] = {"--vocab", "the vocabulary size"},                                        \
    [FLAGS_POSITIONS] = {"--positions", "the number of positions"},                            \
    [FLAGS_TYPE_VOCAB] = {"--type-vocab", "the number of token types"},                        \
    [FLAGS_LABELS] = {"--labels", "the number of labels"}

/* The model flags' part of a command's help text: its heading, then --shape to --labels. */
#define FLAGS_MODEL_USAGE \
    "Model (default: bert-base):\n" \
    "  --shape NAME           a named shape: bert-tiny, bert-mini, bert-small, bert-medium,\n" \
    "                         bert-base, bert-large, roberta-base, roberta-large\n" \
    "  --hidden H             model width, 1..65536 (instead of --shape; BERT defaults for the\n" \
    "                         rest: heads hidden/64, intermediate 4*hidden, the bert-base vocab)\n" \
    "  --layers L             encoder layers, 1..256 (instead of --shape; default 12)\n" \
    "  --heads N              attention heads; must divide the width\n" \
    "  --intermediate N       FFN width\n" \
    "  --vocab N              word-piece vocabulary (default 30522)\n" \
    "  --positions N          position embeddings (default 512)\n" \
    "  --type-vocab N         token types (default 2)\n" \
    "  --labels N             classifier outputs, 1 for regression (default 2)\n"

/* Prints "PROG: " and the message to stderr; returns 2. */
int flags_usage_error(const char *prog, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Reads argv[1..argc-1] into val[0..nflags-1], which starts all NULL: a flag's value as
 * `--flag VALUE` or `--flag=VALUE`, "" for a given switch, NULL for a flag not given. Stops
 * at -h or --help, prints the help text to stdout and sets *help. 0, or 2 (reported) for an
 * argument that is not a flag, an unknown flag, one given twice, a value missing or given to
 * a switch. */
int flags_parse(const flags_cmd_t *c, int argc, char **argv, const char **val, bool *help);

/* Flag f's value as an integer in min..max into *out, which is left as it is when the flag
 * was not given; 2 (reported) when it is malformed or out of range. */
int flags_int(const flags_cmd_t *c, const char *const *val, int f, int min, int max, int *out);

/* The model from the model flags: --shape's preset or a BERT shape of --hidden/--layers
 * (bert-base when neither is given), then --heads, --intermediate, --vocab, --positions,
 * --type-vocab and --labels over it, checked. *name is the preset's name, or NULL when the
 * shape was built from --hidden/--layers or changed by an override. 0, or 2 (reported). */
int flags_model(const flags_cmd_t *c, const char *const *val, shape_t *shape, const char **name);

#endif
