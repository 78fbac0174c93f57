/* autopeft init-model: a seeded, randomly initialised BERT in Hugging Face's folder layout, for
 * tests, demos, benchmarks and the "pretrained vs random" baseline. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/hfconfig.h"
#include "common/mem.h"
#include "common/parse.h"
#include "worker/cli/commands.h"
#include "worker/inputs/checkpoint.h"

#define PROG "autopeft init-model"

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: autopeft init-model (--hidden H --layers L | --shape NAME | --like DIR)\n"
            "                           [OPTIONS] --out DIR\n"
            "\n"
            "Writes a BERT whose weights are drawn as Hugging Face initialises one (N(0, 0.02)\n"
            "weights, zero biases, LayerNorm 1 and 0, a zero padding embedding) from a seed, in\n"
            "the layout of a pretrained checkpoint: DIR/config.json, DIR/model.safetensors\n"
            "(\"bert.\" names, no classifier: a task adds its own), DIR/vocab.txt and\n"
            "DIR/tokenizer_config.json. Same options and seed, same bytes.\n"
            "\n"
            "Shape:\n"
            "  --hidden H             width (heads default to H/64, FFN to 4H)\n"
            "  --layers L             encoder layers\n"
            "  --shape NAME           bert-tiny, bert-mini, bert-small, bert-medium, bert-base,\n"
            "                         bert-large\n"
            "  --like DIR             the shape of the checkpoint in DIR (its config.json), and\n"
            "                         its vocab.txt and tokenizer_config.json\n"
            "  --heads N, --intermediate N, --positions N, --type-vocab N\n"
            "                         override one size\n"
            "Vocabulary:\n"
            "  --vocab-file FILE      copy this vocab.txt (its size sets vocab_size); without it\n"
            "                         (and --like), a small vocabulary is generated: the special\n"
            "                         tokens, ASCII letters, digits and punctuation, and '##'\n"
            "                         continuations, so any lower-case ASCII text tokenises\n"
            "                         letter by letter\n"
            "  --cased                tokenizer_config.json says do_lower_case false\n"
            "Weights:\n"
            "  --seed S               (default 1)\n"
            "  --init-range R         standard deviation of the weights (default 0.02)\n"
            "  --no-pooler            leave the pooler out, as MLM checkpoints do\n"
            "  --out DIR              the folder to write (created; files in it are replaced)\n"
            "  -h, --help             this help\n");
}

static int usage_error(const char *msg)
{
    fprintf(stderr, PROG ": %s\nTry 'autopeft init-model --help'.\n", msg);
    return 2;
}

/* The special tokens, printable ASCII (but upper case, which lower-casing never lets through)
 * and '##' continuations of letters and digits. */
static char *generated_vocab(size_t *len)
{
    static const char *const special[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    size_t cap = 4096, n = 0;
    char *buf = mem_alloc(cap, 1, "vocabulary");

    if (!buf)
        return NULL;
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s\n", special[i]);
    for (int c = 33; c < 127; c++)
        if (c < 'A' || c > 'Z')
            n += (size_t)snprintf(buf + n, cap - n, "%c\n", c);
    for (int c = '0'; c <= 'z'; c++)
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'))
            n += (size_t)snprintf(buf + n, cap - n, "##%c\n", c);
    *len = n;
    return buf;
}

static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = NULL;
    char buf[65536];
    size_t n;
    int rc = 0;

    if (!in)
        return err_set(ERR_IO, "%s: %s", from, strerror(errno));
    out = fopen(to, "wb");
    if (!out) {
        rc = err_set(ERR_IO, "%s: %s", to, strerror(errno));
        goto out;
    }
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) {
            rc = err_set(ERR_IO, "%s: write failed: %s", to, strerror(errno));
            goto out;
        }
    if (ferror(in))
        rc = err_set(ERR_IO, "%s: read failed", from);
out:
    if (out && fclose(out) != 0 && rc == 0)
        rc = err_set(ERR_IO, "%s: %s", to, strerror(errno));
    fclose(in);
    return rc;
}

/* The command line. */
typedef struct {
    const char *shape_name, *like, *vocab_file, *out_dir;
    int hidden, layers, heads, inter, positions, types;   /* 0: not given */
    bool cased, no_pooler;
    uint64_t seed;
    double range;
} init_args_t;

/* Parses argv into a: -1 to go on, else the exit status (help shown, or a usage error). */
static int parse_args(int argc, char **argv, init_args_t *a)
{
    static const struct option longopts[] = {
        {"hidden", required_argument, NULL, 'H'},
        {"layers", required_argument, NULL, 'L'},
        {"heads", required_argument, NULL, 'a'},
        {"intermediate", required_argument, NULL, 'i'},
        {"positions", required_argument, NULL, 'p'},
        {"type-vocab", required_argument, NULL, 't'},
        {"shape", required_argument, NULL, 's'},
        {"like", required_argument, NULL, 'k'},
        {"vocab-file", required_argument, NULL, 'v'},
        {"cased", no_argument, NULL, 'c'},
        {"seed", required_argument, NULL, 'S'},
        {"init-range", required_argument, NULL, 'r'},
        {"no-pooler", no_argument, NULL, 'n'},
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt, li = 0;

    memset(a, 0, sizeof *a);
    a->seed = 1;
    a->range = 0.02;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, &li)) != -1) {
        int *target = NULL, max = 0;
        switch (opt) {
        case 'H': target = &a->hidden, max = SHAPE_MAX_HIDDEN; break;
        case 'L': target = &a->layers, max = SHAPE_MAX_LAYERS; break;
        case 'a': target = &a->heads, max = SHAPE_MAX_HIDDEN; break;
        case 'i': target = &a->inter, max = SHAPE_MAX_INTERMEDIATE; break;
        case 'p': target = &a->positions, max = SHAPE_MAX_POSITIONS; break;
        case 't': target = &a->types, max = SHAPE_MAX_TYPE_VOCAB; break;
        case 's': a->shape_name = optarg; break;
        case 'k': a->like = optarg; break;
        case 'v': a->vocab_file = optarg; break;
        case 'c': a->cased = true; break;
        case 'n': a->no_pooler = true; break;
        case 'o': a->out_dir = optarg; break;
        case 'S':
            if (parse_u64(optarg, UINT64_MAX, "--seed", &a->seed) != 0)
                return usage_error(err_msg());
            break;
        case 'r':
            if (parse_double(optarg, 1e-6, 1, "--init-range", &a->range) != 0)
                return usage_error(err_msg());
            break;
        case 'h': usage(stdout); return 0;
        default: fputs("Try 'autopeft init-model --help'.\n", stderr); return 2;
        }
        if (target) {
            char what[64];
            snprintf(what, sizeof what, "--%s", longopts[li].name);
            if (parse_int(optarg, 1, max, what, target) != 0)
                return usage_error(err_msg());
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument (options only)");
    if (!a->out_dir)
        return usage_error("--out DIR is required");
    if ((a->shape_name != NULL) + (a->like != NULL) + (a->hidden || a->layers) != 1)
        return usage_error("give the shape with exactly one of --hidden H --layers L, --shape "
                           "NAME or --like DIR");
    if ((a->hidden || a->layers) && !(a->hidden && a->layers))
        return usage_error("--hidden and --layers go together");
    if (a->like && a->vocab_file)
        return usage_error("--like takes DIR's vocabulary; --vocab-file would replace it");
    return -1;
}

/* The shape from --shape, --like or --hidden/--layers, with the sizes given one by one:
 * -1 to go on, else the exit status (reported). vocab_size is the vocabulary's, set later. */
static int shape_of(const init_args_t *a, shape_t *s)
{
    if (a->shape_name && shape_preset(a->shape_name, s) != 0)
        return usage_error(err_msg());
    if (a->like && hfconfig_shape(a->like, 2, s) != 0) {
        fprintf(stderr, PROG ": %s\n", err_msg());
        return 1;
    }
    if (a->hidden)
        shape_default(s, a->hidden, a->layers);
    if (a->heads)
        s->heads = a->heads;
    if (a->inter)
        s->intermediate = a->inter;
    if (a->positions)
        s->positions = a->positions;
    if (a->types)
        s->type_vocab = a->types;
    s->labels = 2;
    return -1;
}

/* The vocabulary: a file's (--vocab-file, or --like's vocab.txt), or a generated one. */
typedef struct {
    char path[CHECKPOINT_PATH_MAX + 32];
    const char *file;              /* the vocab.txt to copy, or NULL: text */
    char *text;                    /* generated */
    size_t len;
    vocab_t *vocab;
} init_vocab_t;

static int load_vocab(const init_args_t *a, init_vocab_t *v)
{
    v->file = a->vocab_file;
    if (a->like) {
        snprintf(v->path, sizeof v->path, "%s/vocab.txt", a->like);
        v->file = v->path;
    }
    if (v->file)
        return vocab_load(v->file, &v->vocab);
    v->text = generated_vocab(&v->len);
    if (!v->text)
        return err_code() ? err_code() : ERR_NOMEM;
    return vocab_parse(v->text, v->len, "generated vocab.txt", &v->vocab);
}

/* DIR/config.json and DIR/model.safetensors: the seeded random weights of shape s. */
static int write_model(const init_args_t *a, const shape_t *s)
{
    hfconfig_t *cfg = NULL;
    model_t *m = NULL;
    model_opts_t mo;
    int rc;

    if ((rc = hfconfig_new(s, &cfg)) != 0)
        goto out;
    cfg->initializer_range = a->range;
    checkpoint_opts_from_config(cfg, 2, &mo);
    m = model_new(&mo);
    if (!m) {
        rc = err_code() ? err_code() : ERR_NOMEM;
        goto out;
    }
    model_init_random(m, a->seed);
    rc = checkpoint_write(a->out_dir, m, cfg, a->no_pooler ? CHECKPOINT_WRITE_NO_POOLER : 0);
out:
    hfconfig_free(&cfg);
    model_free(&m);
    return rc;
}

/* DIR/vocab.txt (a copy, or the generated text, said on stderr) and DIR/tokenizer_config.json
 * (--like's, or one for the casing). 0 or 1 (reported). */
static int write_vocab(const init_args_t *a, const init_vocab_t *v, const shape_t *s)
{
    char path[CHECKPOINT_PATH_MAX + 32], src[CHECKPOINT_PATH_MAX + 32];

    snprintf(path, sizeof path, "%s/vocab.txt", a->out_dir);
    if (v->file) {
        if (copy_file(v->file, path) != 0) {
            fprintf(stderr, PROG ": %s\n", err_msg());
            return 1;
        }
    } else {
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(v->text, 1, v->len, f) != v->len || fclose(f) != 0) {
            fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
            return 1;
        }
        fprintf(stderr, PROG ": no --vocab-file: wrote a generated vocabulary of %d tokens "
                "(special tokens, ASCII characters and their ## continuations: text tokenises "
                "letter by letter)\n", s->vocab);
    }
    snprintf(src, sizeof src, "%s/tokenizer_config.json", a->like ? a->like : "");
    if (a->like && access(src, R_OK) == 0) {
        snprintf(path, sizeof path, "%s/tokenizer_config.json", a->out_dir);
        if (copy_file(src, path) != 0) {
            fprintf(stderr, PROG ": %s\n", err_msg());
            return 1;
        }
    } else if (checkpoint_write_tokenizer_config(a->out_dir, !a->cased, s->positions) != 0) {
        fprintf(stderr, PROG ": %s\n", err_msg());
        return 1;
    }
    return 0;
}

int cli_init_model(int argc, char **argv)
{
    init_args_t a;
    init_vocab_t v;
    shape_t s;
    int status = parse_args(argc, argv, &a);

    if (status >= 0)
        return status;
    if ((status = shape_of(&a, &s)) >= 0)
        return status;
    memset(&v, 0, sizeof v);
    status = 1;
    if (load_vocab(&a, &v) != 0) {
        fprintf(stderr, PROG ": %s\n", err_msg());
        goto out;
    }
    s.vocab = vocab_size(v.vocab);   /* the vocabulary decides vocab_size */
    if (shape_check(&s) != 0) {
        fprintf(stderr, PROG ": %s\n", err_msg());
        status = 2;
        goto out;
    }
    if (write_model(&a, &s) != 0) {
        fprintf(stderr, PROG ": %s\n", err_msg());
        goto out;
    }
    if (write_vocab(&a, &v, &s) != 0)
        goto out;
    printf("%s: random BERT, hidden %d, %d layer%s, %d heads, intermediate %d, vocab %d, "
           "%d positions; %llu backbone parameters; seed %llu, init N(0, %g)%s\n",
           a.out_dir, s.hidden, s.layers, s.layers == 1 ? "" : "s", s.heads, s.intermediate,
           s.vocab, s.positions, (unsigned long long)shape_backbone_params(&s),
           (unsigned long long)a.seed, a.range, a.no_pooler ? ", no pooler" : "");
    status = 0;
out:
    free(v.text);
    vocab_free(&v.vocab);
    return status;
}
