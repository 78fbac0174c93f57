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

int cli_init_model(int argc, char **argv)
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
    const char *shape_name = NULL, *like = NULL, *vocab_file = NULL, *out_dir = NULL;
    int hidden = 0, layers = 0, heads = 0, inter = 0, positions = 0, types = 0, opt, status = 1;
    int li = 0;
    int ntokens = 0;
    bool cased = false, no_pooler = false;
    uint64_t seed = 1;
    double range = 0.02;
    char path[CHECKPOINT_PATH_MAX + 32], src[CHECKPOINT_PATH_MAX + 32];
    char *vocab_text = NULL;
    size_t vocab_len = 0;
    hfconfig_t *cfg = NULL;
    vocab_t *vocab = NULL;
    model_t *m = NULL;
    model_opts_t mo;
    shape_t s;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, &li)) != -1) {
        int *target = NULL, max = 0;
        switch (opt) {
        case 'H': target = &hidden, max = SHAPE_MAX_HIDDEN; break;
        case 'L': target = &layers, max = SHAPE_MAX_LAYERS; break;
        case 'a': target = &heads, max = SHAPE_MAX_HIDDEN; break;
        case 'i': target = &inter, max = SHAPE_MAX_INTERMEDIATE; break;
        case 'p': target = &positions, max = SHAPE_MAX_POSITIONS; break;
        case 't': target = &types, max = SHAPE_MAX_TYPE_VOCAB; break;
        case 's': shape_name = optarg; break;
        case 'k': like = optarg; break;
        case 'v': vocab_file = optarg; break;
        case 'c': cased = true; break;
        case 'n': no_pooler = true; break;
        case 'o': out_dir = optarg; break;
        case 'S':
            if (parse_u64(optarg, UINT64_MAX, "--seed", &seed) != 0)
                return usage_error(err_msg());
            break;
        case 'r':
            if (parse_double(optarg, 1e-6, 1, "--init-range", &range) != 0)
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
    if (!out_dir)
        return usage_error("--out DIR is required");
    if ((shape_name != NULL) + (like != NULL) + (hidden || layers) != 1)
        return usage_error("give the shape with exactly one of --hidden H --layers L, --shape "
                           "NAME or --like DIR");
    if ((hidden || layers) && !(hidden && layers))
        return usage_error("--hidden and --layers go together");
    if (like && vocab_file)
        return usage_error("--like takes DIR's vocabulary; --vocab-file would replace it");

    if (shape_name && shape_preset(shape_name, &s) != 0)
        return usage_error(err_msg());
    if (like && hfconfig_shape(like, 2, &s) != 0) {
        fprintf(stderr, PROG ": %s\n", err_msg());
        return 1;
    }
    if (hidden)
        shape_default(&s, hidden, layers);
    if (heads)
        s.heads = heads;
    if (inter)
        s.intermediate = inter;
    if (positions)
        s.positions = positions;
    if (types)
        s.type_vocab = types;
    s.labels = 2;

    /* The vocabulary decides vocab_size. */
    if (like)
        snprintf(src, sizeof src, "%s/vocab.txt", like), vocab_file = src;
    if (vocab_file) {
        if (vocab_load(vocab_file, &vocab) != 0) {
            fprintf(stderr, PROG ": %s\n", err_msg());
            goto out;
        }
        ntokens = vocab_size(vocab);
    } else {
        vocab_text = generated_vocab(&vocab_len);
        if (!vocab_text || vocab_parse(vocab_text, vocab_len, "generated vocab.txt", &vocab) != 0) {
            fprintf(stderr, PROG ": %s\n", err_msg());
            goto out;
        }
        ntokens = vocab_size(vocab);
    }
    s.vocab = ntokens;
    if (shape_check(&s) != 0) {
        fprintf(stderr, PROG ": %s\n", err_msg());
        status = 2;
        goto out;
    }
    if (hfconfig_new(&s, &cfg) != 0) {
        fprintf(stderr, PROG ": %s\n", err_msg());
        goto out;
    }
    cfg->initializer_range = range;
    checkpoint_opts_from_config(cfg, 2, &mo);
    m = model_new(&mo);
    if (!m) {
        fprintf(stderr, PROG ": %s\n", err_msg());
        goto out;
    }
    model_init_random(m, seed);
    if (checkpoint_write(out_dir, m, cfg, no_pooler ? CHECKPOINT_WRITE_NO_POOLER : 0) != 0) {
        fprintf(stderr, PROG ": %s\n", err_msg());
        goto out;
    }
    snprintf(path, sizeof path, "%s/vocab.txt", out_dir);
    if (vocab_file) {
        if (copy_file(vocab_file, path) != 0) {
            fprintf(stderr, PROG ": %s\n", err_msg());
            goto out;
        }
    } else {
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(vocab_text, 1, vocab_len, f) != vocab_len || fclose(f) != 0) {
            fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
            goto out;
        }
        fprintf(stderr, PROG ": no --vocab-file: wrote a generated vocabulary of %d tokens "
                "(special tokens, ASCII characters and their ## continuations: text tokenises "
                "letter by letter)\n", ntokens);
    }
    snprintf(src, sizeof src, "%s/tokenizer_config.json", like ? like : "");
    if (like && access(src, R_OK) == 0) {
        snprintf(path, sizeof path, "%s/tokenizer_config.json", out_dir);
        if (copy_file(src, path) != 0) {
            fprintf(stderr, PROG ": %s\n", err_msg());
            goto out;
        }
    } else if (checkpoint_write_tokenizer_config(out_dir, !cased, s.positions) != 0) {
        fprintf(stderr, PROG ": %s\n", err_msg());
        goto out;
    }
    printf("%s: random BERT, hidden %d, %d layer%s, %d heads, intermediate %d, vocab %d, "
           "%d positions; %llu backbone parameters; seed %llu, init N(0, %g)%s\n",
           out_dir, s.hidden, s.layers, s.layers == 1 ? "" : "s", s.heads, s.intermediate, s.vocab, s.positions,
           (unsigned long long)shape_backbone_params(&s), (unsigned long long)seed, range,
           no_pooler ? ", no pooler" : "");
    status = 0;
out:
    free(vocab_text);
    vocab_free(&vocab);
    hfconfig_free(&cfg);
    model_free(&m);
    return status;
}
