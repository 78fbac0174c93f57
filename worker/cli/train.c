/* autopeft train and autopeft eval: one trial from the command line, through the same runner
 * the worker daemon uses (worker/trial/trial.h). Progress on stderr (rewritten in place on a
 * terminal, plain lines otherwise), the result as JSON on stdout. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/blas_startup.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/hfconfig.h"
#include "common/log.h"
#include "common/parse.h"
#include "worker/cli/commands.h"
#include "worker/inputs/data.h"
#include "worker/inputs/embedded.h"
#include "worker/trial/trial.h"
#include "worker/trial/trial_spec_json.h"

/* Plain progress lines (not a terminal) at most this often. */
#define PLAIN_EVERY_S 10.0

static const char common_help[] =
    "Task and data:\n"
    "  --task NAME            a GLUE task: cola, sst2, mrpc, stsb, qqp, mnli, mnli-mm, qnli,\n"
    "                         rte, wnli; custom (your own files, with the columns below); or\n"
    "                         embedded (the generated task of `autopeft run`, no data needed;\n"
    "                         its recipe becomes the default: docs/embedded-task.md)\n"
    "  --embedded-seed S      seed of the embedded task and model (default 1)\n"
    "  --data DIR             the GLUE root (DIR/SST-2/train.tsv) or the task's folder\n"
    "                         (DIR/train.tsv, DIR/dev.tsv; custom: train.FORMAT, dev.FORMAT)\n"
    "  --train FILE --dev FILE  explicit files instead of --data\n"
    "  --format F             custom: tsv, csv or jsonl (default: from the extension)\n"
    "  --text-column C, --pair-column C, --label-column C   custom: column names (keys)\n"
    "  --num-labels K         custom: 1 = regression (default: the classes in the train file)\n"
    "  --metric M             the objective: accuracy, f1, mcc, pearson, spearman (default:\n"
    "                         the task's: MCC for CoLA, Spearman for STS-B, else accuracy)\n"
    "  --max-eval-examples N  evaluate on a seeded sample of N dev examples (default: all)\n"
    "  --eval-batch-size N    sequences per evaluation batch (default 64)\n"
    "  --threads N            cores to use (default: all online)\n"
    "  --log-level LEVEL      trace, debug, info, warn (default), error, off\n"
    "  --quiet                no progress on stderr\n"
    "  -h, --help             this help\n";

static const char train_help[] =
    "Usage: autopeft train --model DIR --task NAME (--data DIR | --train F --dev F)\n"
    "                      [--peft CONFIG | --full-finetune] [OPTIONS]\n"
    "\n"
    "Fine-tunes one PEFT configuration of a Hugging Face BERT checkpoint on a task, as one\n"
    "trial of a study would (docs/training.md): the modules and the classification head\n"
    "train, the backbone stays frozen; the dev set is evaluated after every epoch. Progress\n"
    "goes to stderr; the result (best dev metric and its epoch, every metric, exact trainable\n"
    "and deployed parameter counts, timings) is printed as JSON on stdout.\n"
    "\n"
    "Model and configuration:\n"
    "  --model DIR            config.json, model.safetensors, vocab.txt (and\n"
    "                         tokenizer_config.json); or embedded: the seeded random model of\n"
    "                         `autopeft run`\n"
    "  --peft CONFIG          'sa=48 pa=0 pt=0 layers=111111111111' (docs/search-space.md);\n"
    "                         default: no module (the head alone)\n"
    "  --full-finetune        train every weight (the baseline)\n"
    "  --save DIR             write the best epoch's weights (DIR/peft.safetensors) and\n"
    "                         DIR/trial.json, for autopeft eval\n"
    "Recipe (AutoPEFT's defaults):\n"
    "  --epochs N (3), --lr X (1e-4), --batch-size N (32), --max-length N (128),\n"
    "  --seed S (1), --warmup-ratio X (0.06), --weight-decay X (0.01),\n"
    "  --max-grad-norm X (1.0; 0 = no clipping), --dropout X (default: config.json's),\n"
    "  --lora-alpha X (default: the rank), --prefix-bottleneck N (800)\n"
    "  --precision P          fp32 (the default, and the only one this trainer trains in);\n"
    "                         bf16 or fp16 with --write-inputs, for a trainer that autocasts\n"
    "Fidelity and stopping:\n"
    "  --max-train-examples N train on a seeded sample of N examples (default: all)\n"
    "  --patience N           stop after N epochs without a better dev objective\n"
    "For other trainers (docs/training.md):\n"
    "  --write-inputs DIR     write what training would use (tokenised data, each epoch's\n"
    "                         batch order, the initial weights, the counts) to DIR; no training\n"
    "  --trace FILE           JSON lines: every step's loss, learning rate, batch rows and\n"
    "                         logits, and every evaluation's dev logits\n";

static const char eval_help[] =
    "Usage: autopeft eval --peft SAVED_DIR [--model DIR] [--task NAME] (--data DIR | --dev F)\n"
    "                     [OPTIONS]\n"
    "\n"
    "Evaluates the weights `autopeft train --save SAVED_DIR` wrote, on the dev set, and prints\n"
    "the metrics as JSON. The model, task, maximum length and dev sample default to the saved\n"
    "trial's (SAVED_DIR/trial.json), so the metric is the one training reported.\n"
    "\n"
    "  --peft SAVED_DIR       the folder written by --save\n"
    "  --model DIR            the base checkpoint (default: the one it was trained from)\n"
    "  --max-length N         (default: the saved trial's)\n"
    "  --logits FILE          also write every dev example's logits and gold label (JSON)\n";

static atomic_bool cancel_flag;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&cancel_flag, true);
}

static void fmt_time(double s, char *buf, size_t len)
{
    if (!(s >= 0) || s > 1e7)
        snprintf(buf, len, "?");
    else if (s < 90)
        snprintf(buf, len, "%.0fs", s);
    else if (s < 5400)
        snprintf(buf, len, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else
        snprintf(buf, len, "%.1fh", s / 3600);
}

typedef struct {
    bool quiet, tty, dirty;
    double last;
    uint32_t last_epoch;
    const char *metric;
} show_t;

/* Progress on stderr: a line rewritten in place on a terminal; plain lines every
 * PLAIN_EVERY_S seconds and at every evaluation otherwise. */
static void show(void *ctx, const trainer_progress_t *p)
{
    show_t *s = ctx;
    char eta[32], line[256];
    double t = clock_s();
    bool evaluated = p->has_metric;

    if (s->quiet)
        return;
    if (p->state == TRAINER_STATE_LOADING) {
        snprintf(line, sizeof line, "loading model and data");
    } else if (p->state == TRAINER_STATE_EVALUATING) {
        snprintf(line, sizeof line, "epoch %u/%u  evaluating", p->epoch, p->epochs);
    } else if (evaluated) {
        snprintf(line, sizeof line, "epoch %u/%u  train loss %.4f  dev %s %.4f", p->epoch,
                 p->epochs, p->loss, s->metric ? s->metric : "objective", p->metric);
    } else {
        fmt_time(p->eta_s, eta, sizeof eta);
        snprintf(line, sizeof line, "epoch %u/%u  step %llu/%llu  loss %.4f  %.1f ex/s  ETA %s",
                 p->epoch, p->epochs, (unsigned long long)p->step,
                 (unsigned long long)p->steps_total, p->loss, p->examples_per_s, eta);
    }
    if (s->tty) {
        if (!evaluated && t - s->last < 0.25 && p->state ==
                                                     TRAINER_STATE_TRAINING)
            return;
        fprintf(stderr, "\r\033[K%s%s", line, evaluated ? "\n" : "");
        s->dirty = !evaluated;
    } else {
        if (!evaluated && p->state != TRAINER_STATE_LOADING &&
            t - s->last < PLAIN_EVERY_S)
            return;
        fprintf(stderr, "%s\n", line);
    }
    s->last = t;
}

typedef struct {
    trial_spec_t spec;
    const char *peft_text;
    bool quiet, eval;
    bool set[64];   /* options given (index: option - 256) */
} args_t;

enum {
    O_MODEL = 256, O_TASK, O_DATA, O_TRAIN, O_DEV, O_FORMAT, O_TEXT, O_PAIR, O_LABEL,
    O_NUM_LABELS, O_METRIC, O_PEFT, O_FULL, O_SAVE, O_EPOCHS, O_LR, O_BATCH, O_EVAL_BATCH,
    O_MAXLEN, O_SEED, O_WARMUP, O_WD, O_CLIP, O_DROPOUT, O_ALPHA, O_BOTTLENECK, O_MAX_TRAIN,
    O_MAX_EVAL, O_PATIENCE, O_THREADS, O_LOG, O_QUIET, O_EMB_SEED, O_WRITE_INPUTS, O_TRACE,
    O_LOGITS, O_PRECISION
};

static const struct option longopts[] = {
    {"model", required_argument, NULL, O_MODEL},
    {"task", required_argument, NULL, O_TASK},
    {"data", required_argument, NULL, O_DATA},
    {"train", required_argument, NULL, O_TRAIN},
    {"dev", required_argument, NULL, O_DEV},
    {"format", required_argument, NULL, O_FORMAT},
    {"text-column", required_argument, NULL, O_TEXT},
    {"pair-column", required_argument, NULL, O_PAIR},
    {"label-column", required_argument, NULL, O_LABEL},
    {"num-labels", required_argument, NULL, O_NUM_LABELS},
    {"metric", required_argument, NULL, O_METRIC},
    {"peft", required_argument, NULL, O_PEFT},
    {"full-finetune", no_argument, NULL, O_FULL},
    {"save", required_argument, NULL, O_SAVE},
    {"epochs", required_argument, NULL, O_EPOCHS},
    {"lr", required_argument, NULL, O_LR},
    {"batch-size", required_argument, NULL, O_BATCH},
    {"eval-batch-size", required_argument, NULL, O_EVAL_BATCH},
    {"max-length", required_argument, NULL, O_MAXLEN},
    {"seed", required_argument, NULL, O_SEED},
    {"warmup-ratio", required_argument, NULL, O_WARMUP},
    {"weight-decay", required_argument, NULL, O_WD},
    {"max-grad-norm", required_argument, NULL, O_CLIP},
    {"dropout", required_argument, NULL, O_DROPOUT},
    {"lora-alpha", required_argument, NULL, O_ALPHA},
    {"prefix-bottleneck", required_argument, NULL, O_BOTTLENECK},
    {"max-train-examples", required_argument, NULL, O_MAX_TRAIN},
    {"max-eval-examples", required_argument, NULL, O_MAX_EVAL},
    {"patience", required_argument, NULL, O_PATIENCE},
    {"threads", required_argument, NULL, O_THREADS},
    {"log-level", required_argument, NULL, O_LOG},
    {"quiet", no_argument, NULL, O_QUIET},
    {"embedded-seed", required_argument, NULL, O_EMB_SEED},
    {"write-inputs", required_argument, NULL, O_WRITE_INPUTS},
    {"trace", required_argument, NULL, O_TRACE},
    {"logits", required_argument, NULL, O_LOGITS},
    {"precision", required_argument, NULL, O_PRECISION},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Options only training takes. */
static bool train_only(int opt)
{
    return opt == O_FULL || opt == O_SAVE || opt == O_EPOCHS || opt == O_LR || opt == O_BATCH ||
           opt == O_SEED || opt == O_WARMUP || opt == O_WD || opt == O_CLIP || opt == O_DROPOUT ||
           opt == O_ALPHA || opt == O_BOTTLENECK || opt == O_MAX_TRAIN || opt == O_PATIENCE ||
           opt == O_WRITE_INPUTS || opt == O_TRACE || opt == O_PRECISION;
}

/* The embedded task's recipe (embedded_recipe) for every recipe option not given: AutoPEFT's
 * recipe is made for pretrained BERTs, not for a small random model. */
static void embedded_defaults(args_t *a)
{
    trial_spec_t *s = &a->spec;
    embedded_opts_t eo;
    embedded_task_t *t = NULL;
    embedded_recipe_t r;

    embedded_opts_default(&eo);
    eo.seed = s->model_seed;
    if (embedded_generate(&eo, &t) != 0)
        return;   /* trial_run reports the error */
    embedded_recipe(t, &r);
    embedded_free(&t);
#define DEF(opt, field, value)      \
    do {                            \
        if (!a->set[(opt) - 256])   \
            s->field = (value);     \
    } while (0)
    DEF(O_EPOCHS, epochs, r.epochs);
    DEF(O_BATCH, batch_size, r.batch_size);
    DEF(O_EVAL_BATCH, eval_batch_size, r.eval_batch_size);
    DEF(O_MAXLEN, max_length, r.max_length);
    DEF(O_PATIENCE, patience, r.patience);
    DEF(O_LR, learning_rate, r.learning_rate);
    DEF(O_WARMUP, warmup_ratio, r.warmup_ratio);
    DEF(O_WD, weight_decay, r.weight_decay);
    DEF(O_CLIP, max_grad_norm, r.max_grad_norm);
    DEF(O_DROPOUT, dropout, r.dropout);
    DEF(O_BOTTLENECK, prefix_bottleneck, r.prefix_bottleneck);
#undef DEF
}

/* One option's value into a (optarg; what names the option in messages): 0, or an error
 * code with err_msg() saying what is wrong. */
static int apply_option(args_t *a, int opt, const char *what)
{
    trial_spec_t *s = &a->spec;

    switch (opt) {
    case O_MODEL: s->model_dir = optarg; return 0;
    case O_TASK: s->task = optarg; return 0;
    case O_DATA: s->data_dir = optarg; return 0;
    case O_TRAIN: s->train_file = optarg; return 0;
    case O_DEV: s->dev_file = optarg; return 0;
    case O_FORMAT: s->format = optarg; return 0;
    case O_TEXT: s->text_column = optarg; return 0;
    case O_PAIR: s->pair_column = optarg; return 0;
    case O_LABEL: s->label_column = optarg; return 0;
    case O_METRIC: s->metric = optarg; return 0;
    case O_PEFT: a->peft_text = optarg; return 0;
    case O_FULL: s->full_finetune = true; return 0;
    case O_SAVE: s->save_dir = optarg; return 0;
    case O_WRITE_INPUTS: s->inputs_dir = optarg; return 0;
    case O_TRACE: s->trace_path = optarg; return 0;
    case O_LOGITS: s->logits_path = optarg; return 0;
    case O_QUIET: a->quiet = true; return 0;
    case O_NUM_LABELS: return parse_int(optarg, 1, SHAPE_MAX_LABELS, what, &s->num_labels);
    case O_EPOCHS: return parse_int(optarg, 1, TRIAL_MAX_EPOCHS, what, &s->epochs);
    case O_BATCH: return parse_int(optarg, 1, TRIAL_MAX_BATCH, what, &s->batch_size);
    case O_EVAL_BATCH: return parse_int(optarg, 1, TRIAL_MAX_BATCH, what, &s->eval_batch_size);
    case O_MAXLEN: return parse_int(optarg, 3, SHAPE_MAX_POSITIONS, what, &s->max_length);
    case O_SEED: return parse_u64(optarg, UINT64_MAX, what, &s->seed);
    case O_LR: return parse_double(optarg, 1e-12, 9.99, what, &s->learning_rate);
    case O_WARMUP: return parse_double(optarg, 0, 1, what, &s->warmup_ratio);
    case O_WD: return parse_double(optarg, 0, 100, what, &s->weight_decay);
    case O_CLIP: return parse_double(optarg, 0, 1e6, what, &s->max_grad_norm);
    case O_DROPOUT: return parse_double(optarg, 0, 0.999, what, &s->dropout);
    case O_ALPHA: return parse_double(optarg, 1e-6, 1e6, what, &s->lora_alpha);
    case O_BOTTLENECK:
        return parse_int(optarg, 1, SPACE_MAX_PREFIX_BOTTLENECK, what, &s->prefix_bottleneck);
    case O_MAX_TRAIN: return parse_int(optarg, 0, INT32_MAX, what, &s->max_train_examples);
    case O_MAX_EVAL: return parse_int(optarg, 0, INT32_MAX, what, &s->max_eval_examples);
    case O_PATIENCE: return parse_int(optarg, 0, TRIAL_MAX_EPOCHS, what, &s->patience);
    case O_THREADS: return parse_int(optarg, 1, 4096, what, &s->threads);
    case O_EMB_SEED: return parse_u64(optarg, UINT64_MAX, what, &s->model_seed);
    case O_LOG: return log_apply_level(optarg);
    case O_PRECISION:
        return precision_parse(optarg, &s->precision) != 0 ? err_prefix(ERR_INVAL, "%s: ", what)
                                                           : 0;
    default: return 0;
    }
}

/* What the options say together: "embedded" model and task, and the required ones. 0 or 2
 * (usage error, reported). */
static int check_args(args_t *a, const char *prog)
{
    trial_spec_t *s = &a->spec;

    if (s->model_dir && strcmp(s->model_dir, "embedded") == 0) {
        s->model_dir = NULL;
        s->model_embedded = true;
    }
    if (s->task && strcmp(s->task, "embedded") == 0) {
        s->task = NULL;
        s->task_embedded = true;
        embedded_defaults(a);
    }
    if (!a->eval && !s->model_dir && !s->model_embedded) {
        fprintf(stderr, "%s: --model DIR is required\n", prog);
        return 2;
    }
    if (s->inputs_dir && (s->save_dir || s->trace_path)) {
        fprintf(stderr, "%s: --write-inputs trains nothing: --save and --trace do not go with "
                "it\n", prog);
        return 2;
    }
    if (a->eval && !a->peft_text) {
        fprintf(stderr, "%s: --peft SAVED_DIR is required (a folder written by autopeft train "
                "--save)\n", prog);
        return 2;
    }
    if (!a->eval && !s->task && !s->text_column && !s->task_embedded) {
        fprintf(stderr, "%s: --task NAME is required (a GLUE task, or custom with "
                "--text-column and --label-column)\n", prog);
        return 2;
    }
    if (!s->data_dir && !s->dev_file && !s->task_embedded) {
        fprintf(stderr, "%s: give the data: --data DIR, or --train FILE --dev FILE\n", prog);
        return 2;
    }
    if (s->data_dir && (s->train_file || s->dev_file)) {
        fprintf(stderr, "%s: --data and --train/--dev exclude each other\n", prog);
        return 2;
    }
    if (!a->eval && !s->task_embedded && !s->data_dir && !(s->train_file && s->dev_file)) {
        fprintf(stderr, "%s: --train and --dev go together\n", prog);
        return 2;
    }
    return 0;
}

/* Parses argv into a; 0, 1 (help shown) or 2 (usage error, reported). */
static int parse_args(int argc, char **argv, args_t *a, const char *prog)
{
    trial_spec_t *s = &a->spec;
    int opt, li = 0;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    trial_spec_default(s);
    s->model_seed = 1;
    s->threads = ncpu > 0 ? (int)ncpu : 1;
    if (a->eval) {
        s->max_length = 0;          /* the saved trial's */
        s->max_eval_examples = -1;  /* the saved trial's sample */
        s->eval_batch_size = 0;     /* and batches */
    }
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, &li)) != -1) {
        char what[64];
        snprintf(what, sizeof what, "--%s", opt == 'h' || opt == '?' ? "" : longopts[li].name);
        if (a->eval ? train_only(opt) : opt == O_LOGITS) {
            fprintf(stderr, "%s: %s is an option of autopeft %s\n", prog, what,
                    a->eval ? "train" : "eval");
            return 2;
        }
        if (opt >= 256 && opt - 256 < 64)
            a->set[opt - 256] = true;
        if (opt == 'h') {
            fputs(a->eval ? eval_help : train_help, stdout);
            fputs("\n", stdout);
            fputs(common_help, stdout);
            return 1;
        }
        if (opt < 256) {
            fprintf(stderr, "Try '%s --help'.\n", prog);
            return 2;
        }
        if (apply_option(a, opt, what) != 0) {
            fprintf(stderr, "%s: %s\n", prog, err_msg());
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s' (options only)\n", prog, argv[optind]);
        return 2;
    }
    return check_args(a, prog);
}

/* The configuration text needs the model's depth: read it from config.json. */
static int parse_config(args_t *a, const char *prog)
{
    shape_t shape;

    if (!a->peft_text)
        return 0;
    if (a->spec.model_embedded) {
        embedded_opts_t eo;
        embedded_task_t *t = NULL;
        embedded_model_t em;
        embedded_opts_default(&eo);
        eo.seed = a->spec.model_seed;
        if (embedded_generate(&eo, &t) != 0) {
            fprintf(stderr, "%s: %s\n", prog, err_msg());
            return 1;
        }
        embedded_model(t, &em);
        embedded_free(&t);
        shape = em.shape;
    } else if (hfconfig_shape(a->spec.model_dir, 2, &shape) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err_msg());
        return 1;
    }
    if (space_config_parse(a->peft_text, shape.layers, &a->spec.config) != 0) {
        fprintf(stderr, "%s: --peft: %s\n", prog, err_msg());
        return 2;
    }
    return 0;
}

static json_t *result_json(const args_t *a, const trainer_result_t *r, const trial_info_t *in)
{
    const trial_spec_t *s = &a->spec;
    json_t *metrics = json_object(), *hist = json_array(), *o;

    for (int i = 0; i < r->nmetrics; i++)
        json_object_set_new(metrics, r->metrics[i].name, json_real(r->metrics[i].value));
    for (int i = 0; i < r->nhistory; i++)
        json_array_append_new(hist, json_pack("{s:i, s:f, s:f, s:f}", "epoch",
                                              (int)r->history[i].epoch, "objective",
                                              r->history[i].objective, "train_loss",
                                              (double)r->history[i].train_loss, "seconds",
                                              r->history[i].seconds));
    o = json_pack("{s:s, s:s, s:s, s:b, s:{s:s, s:f}, s:i, s:i, s:o, s:o}", "status", "ok",
                  "task", in->task, "config", in->config_text, "full_finetune",
                  in->full_finetune, "objective", "name", r->objective_name, "value",
                  r->objective, "best_epoch", (int)r->best_epoch, "epochs_run",
                  (int)r->epochs_run, "metrics", metrics, "history", hist);
    if (!o)
        return NULL;
    json_object_set_new(o, "params",
                        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f}", "trainable",
                                  (json_int_t)r->trainable, "deployed", (json_int_t)r->deployed,
                                  "modules_trainable", (json_int_t)r->modules_trainable,
                                  "modules_deployed", (json_int_t)r->modules_deployed, "head",
                                  (json_int_t)r->head, "backbone", (json_int_t)r->backbone,
                                  "percent_deployed", r->percent, "percent_trainable",
                                  100.0 * (double)r->modules_trainable / (double)r->backbone));
    json_object_set_new(o, "data",
                        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "train_examples",
                                  (json_int_t)in->train_used, "train_total",
                                  (json_int_t)in->train_total, "eval_examples",
                                  (json_int_t)in->eval_used, "eval_total",
                                  (json_int_t)in->eval_total, "train_truncated",
                                  (json_int_t)in->train_truncated, "eval_truncated",
                                  (json_int_t)in->eval_truncated));
    json_object_set_new(o, "timings",
                        json_pack("{s:f, s:f, s:f, s:f, s:f, s:f}", "load_s", r->load_s,
                                  "tokenize_s", r->tokenize_s, "train_s", r->train_s, "eval_s",
                                  r->eval_s, "total_s", r->total_s, "examples_per_s",
                                  r->examples_per_s));
    json_object_set_new(o, "model",
                        json_pack("{s:s?, s:b, s:i, s:i, s:i, s:i, s:i}", "path",
                                  s->model_dir, "embedded", s->model_embedded, "hidden", in->shape.hidden, "layers", in->shape.layers,
                                  "heads", in->shape.heads, "vocab", in->shape.vocab, "labels",
                                  in->shape.labels));
    json_object_set_new(o, "recipe",
                        json_pack("{s:i, s:f, s:i, s:i, s:f, s:f, s:f, s:I, s:i, s:i, s:s}",
                                  "epochs", s->epochs, "learning_rate", s->learning_rate,
                                  "batch_size", s->batch_size, "max_length", s->max_length,
                                  "warmup_ratio", s->warmup_ratio, "weight_decay",
                                  s->weight_decay, "max_grad_norm", s->max_grad_norm, "seed",
                                  (json_int_t)s->seed, "patience", s->patience, "threads",
                                  in->threads, "precision", precision_name(s->precision)));
    json_object_set_new(o, "steps", json_integer((json_int_t)in->steps));
    if (s->save_dir)
        json_object_set_new(o, "saved", json_string(s->save_dir));
    return o;
}

/* What --write-inputs (and autopeft inputs) wrote: the folder and the trial it is for. */
static json_t *inputs_json(const args_t *a, const trainer_result_t *r, const trial_info_t *in)
{
    json_t *o = result_json(a, r, in);
    static const char *const untrained[] = {"objective", "best_epoch", "epochs_run", "metrics",
                                            "history", "timings", "steps"};

    for (size_t i = 0; o && i < sizeof untrained / sizeof untrained[0]; i++)
        json_object_del(o, untrained[i]);
    if (o)
        json_object_set_new(o, "inputs", json_string(a->spec.inputs_dir));
    return o;
}

/* Progress on stderr, naming the objective the trial will report. */
static void show_init(show_t *sh, const args_t *a)
{
    memset(sh, 0, sizeof *sh);
    sh->quiet = a->quiet;
    sh->tty = isatty(2);
    sh->metric = a->spec.metric;
    if (!sh->metric && a->spec.task_embedded)
        sh->metric = "accuracy";
    if (!sh->metric && a->spec.task) {
        const data_task_t *t;
        if (data_task_find(a->spec.task, &t) == 0)
            sh->metric = metrics_name(t->objective);
    }
}

/* The trial, with SIGINT and SIGTERM cancelling it meanwhile. */
static int run_trial(const args_t *a, show_t *sh, trialcache_t *cache, trainer_result_t *res,
                     trial_info_t *info)
{
    struct sigaction sa, old_int, old_term;
    trainer_env_t env;
    int rc;

    memset(&env, 0, sizeof env);
    env.progress = show;
    env.ctx = sh;
    env.cancel = &cancel_flag;
    env.threads = a->spec.threads;
    env.worker_id = "cli";
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    rc = trial_run(cache, &a->spec, &env, res, info);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (sh->tty && !sh->quiet)
        fprintf(stderr, "\r\033[K");
    return rc;
}

/* The result as JSON on stdout, or why there is none on stderr: the exit status. */
static int report(const args_t *a, const char *prog, const trainer_result_t *res,
                  const trial_info_t *info)
{
    json_t *o;
    int status = 1;

    if (res->status == TRAINER_STATUS_CANCELLED) {
        fprintf(stderr, "%s: %s\n", prog, res->error);
        return 130;
    }
    if (res->status != TRAINER_STATUS_OK) {
        fprintf(stderr, "%s: %s\n", prog, res->error);
        return 1;
    }
    o = a->spec.inputs_dir ? inputs_json(a, res, info) : result_json(a, res, info);
    if (!o || json_dumpf(o, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) != 0) {
        fprintf(stderr, "%s: cannot write the result\n", prog);
    } else {
        putchar('\n');
        fflush(stdout);
        status = 0;
    }
    json_decref(o);
    return status;
}

static int execute(const args_t *a, const char *prog);

static int run(int argc, char **argv, bool eval)
{
    const char *prog = eval ? "autopeft eval" : "autopeft train";
    args_t a;
    int rc;

    memset(&a, 0, sizeof a);
    a.eval = eval;
    /* Warnings (a missing pooler, skipped rows) matter to someone running one trial by hand;
     * the info-level chatter of the daemons does not: `autopeft` starts train and eval at
     * warn unless AUTOPEFT_LOG_LEVEL is set (autopeft.c). */
    rc = parse_args(argc, argv, &a, prog);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    blas_startup_log();
    if (eval) {
        a.spec.eval_dir = a.peft_text;
        a.peft_text = NULL;
    } else if ((rc = parse_config(&a, prog)) != 0) {
        return rc;
    }
    return execute(&a, prog);
}

/* The parsed trial, run, and its result reported: the exit status. */
static int execute(const args_t *a, const char *prog)
{
    show_t sh;
    trainer_result_t *res = NULL;
    trial_info_t info;
    trialcache_t *cache = NULL;
    int status = 1;

    show_init(&sh, a);
    res = calloc(1, sizeof *res);
    cache = trialcache_new(NULL);
    if (!res || !cache) {
        fprintf(stderr, "%s: out of memory\n", prog);
        goto out;
    }
    if (run_trial(a, &sh, cache, res, &info) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err_msg());
        goto out;
    }
    status = report(a, prog, res, &info);
out:
    trialcache_free(&cache);
    free(res);
    return status;
}

int cli_train(int argc, char **argv)
{
    return run(argc, argv, false);
}

int cli_eval(int argc, char **argv)
{
    return run(argc, argv, true);
}

static const char inputs_help[] =
    "Usage: autopeft inputs --spec FILE --out DIR [--threads N] [--quiet] [--log-level L]\n"
    "\n"
    "Writes what the built-in trainer would train on for one trial, for a trainer of your own\n"
    "(autopeft-torch-train, docs/training.md): the tokenised train and dev subsets, each epoch's\n"
    "batch order, the initial weights of the head and the modules, the recipe's schedule and\n"
    "the exact parameter counts, as DIR/inputs.json, DIR/data.safetensors,\n"
    "DIR/init.safetensors and DIR/trial.json. Nothing is trained. FILE is the trial JSON an\n"
    "--exec trainer gets on stdin (docs/guide.md), or - for stdin. Prints a JSON summary.\n"
    "\n"
    "  --spec FILE            the trial (--exec JSON)\n"
    "  --out DIR              the folder to write (created; files in it are replaced)\n"
    "  --threads N            cores for tokenising (default: all online)\n"
    "  --log-level LEVEL      trace, debug, info, warn (default), error, off\n"
    "  --quiet                no progress on stderr\n"
    "  -h, --help             this help\n";

/* The spec file's bytes (stdin for "-"); NULL with err_msg() set. */
static char *read_spec(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;

    if (!f) {
        err_set(ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (n + 4096 > cap) {
            char *b;
            if (cap > (64u << 20)) {
                err_set(ERR_RANGE, "%s: larger than 64 MiB: not a trial", path);
                break;
            }
            cap = cap ? cap * 2 : 65536;
            if (!(b = realloc(buf, cap))) {
                err_set(ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            buf = b;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                err_set(ERR_IO, "%s: read failed", path);
            else
                *len = n;
            break;
        }
    }
    if (f != stdin)
        fclose(f);
    if (*len != n) {
        free(buf);
        return NULL;
    }
    return buf;
}

int cli_inputs(int argc, char **argv)
{
    static const struct option opts[] = {
        {"spec", required_argument, NULL, 's'},    {"out", required_argument, NULL, 'o'},
        {"threads", required_argument, NULL, 't'}, {"log-level", required_argument, NULL, 'l'},
        {"quiet", no_argument, NULL, 'q'},         {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *prog = "autopeft inputs", *spec = NULL;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    char *text = NULL;
    void *doc = NULL;
    size_t len = (size_t)-1;
    int threads = ncpu > 0 ? (int)ncpu : 1, c, status;
    args_t a;

    memset(&a, 0, sizeof a);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': spec = optarg; break;
        case 'o': a.spec.inputs_dir = optarg; break;
        case 'q': a.quiet = true; break;
        case 't':
        case 'l':
            if ((c == 't' ? parse_int(optarg, 1, 4096, "--threads", &threads)
                          : log_apply_level(optarg)) != 0) {
                fprintf(stderr, "%s: %s\n", prog, err_msg());
                return 2;
            }
            break;
        case 'h': fputs(inputs_help, stdout); return 0;
        default: fprintf(stderr, "Try '%s --help'.\n", prog); return 2;
        }
    }
    if (optind < argc || !spec || !a.spec.inputs_dir) {
        fprintf(stderr, "%s: %s\n", prog,
                optind < argc ? "unexpected argument (options only)"
                              : "--spec FILE and --out DIR are required");
        return 2;
    }
    {
        const char *out = a.spec.inputs_dir;
        if (!(text = read_spec(spec, &len)) ||
            trial_spec_from_exec_json(text, len, strcmp(spec, "-") ? spec : "stdin", &a.spec,
                                      &doc) != 0) {
            fprintf(stderr, "%s: %s\n", prog, err_msg());
            free(text);
            return 2;
        }
        a.spec.inputs_dir = out;
    }
    /* The trainer asking saves its own weights; this run only writes the inputs. */
    a.spec.save_dir = NULL;
    a.spec.threads = threads;
    blas_startup_log();
    status = execute(&a, prog);
    trial_spec_json_free(&doc);
    free(text);
    return status;
}
