/* autopeft tokenize: show what the model will see of each line of text (for debugging data). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/parse.h"
#include "worker/cli/commands.h"
#include "worker/inputs/tokenizer.h"
#include "worker/inputs/vocab.h"

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: autopeft tokenize (--vocab FILE | --model DIR) [--pair] [--max-length N]\n"
            "                         [--no-lower-case] [--tokens]\n"
            "\n"
            "Reads one text per line on standard input (with --pair: two texts separated by a\n"
            "tab) and prints the input ids BERT gets for it, [CLS] a [SEP] (b [SEP]),\n"
            "space-separated, one line each. Tokenization is Hugging Face BertTokenizer's.\n"
            "\n"
            "  --vocab FILE       WordPiece vocabulary (vocab.txt), lower-casing on\n"
            "  --model DIR        DIR/vocab.txt, with DIR/tokenizer_config.json's settings\n"
            "  --pair             each line is TEXT<tab>TEXT\n"
            "  --max-length N     truncate longest-first to N ids (default: no truncation)\n"
            "  --no-lower-case    keep case and accents (cased vocabularies)\n"
            "  --tokens           print the word pieces instead of their ids\n"
            "  -h, --help         this help\n");
}

/* The command line. */
typedef struct {
    const char *vocab_path, *model;
    bool pair;              /* each line is TEXT<tab>TEXT */
    bool tokens;            /* print word pieces, not ids */
    bool no_lower;
    int max_length;         /* 0: no truncation */
} tokenize_args_t;

static int print_line(tokenizer_t *tok, const vocab_t *vocab, const tokenize_args_t *a,
                      char *line, size_t len, long lineno)
{
    tokenizer_encoding_t enc;
    char *b = NULL, *tab;
    size_t blen = 0;
    int rc;

    if (a->pair) {
        tab = memchr(line, '\t', len);
        if (!tab) {
            fprintf(stderr, "autopeft tokenize: stdin:%ld: no tab between the two texts\n",
                    lineno);
            putchar('\n');
            return 1;
        }
        b = tab + 1;
        blen = len - (size_t)(b - line);
        len = (size_t)(tab - line);
    }
    rc = tokenizer_encode(tok, line, len, b, blen, a->max_length, &enc);
    if (rc != 0) {
        fprintf(stderr, "autopeft tokenize: stdin:%ld: %s\n", lineno, err_msg());
        putchar('\n');
        return 1;
    }
    for (int i = 0; i < enc.len; i++) {
        if (i)
            putchar(' ');
        if (a->tokens)
            fputs(vocab_token(vocab, enc.ids[i]), stdout);
        else
            printf("%d", enc.ids[i]);
    }
    putchar('\n');
    return 0;
}

/* Parses argv into a: -1 to go on, else the exit status (help shown, or a usage error). */
static int parse_args(int argc, char **argv, tokenize_args_t *a)
{
    static const struct option longopts[] = {
        {"vocab", required_argument, NULL, 'v'},   {"model", required_argument, NULL, 'm'},
        {"pair", no_argument, NULL, 'p'},          {"max-length", required_argument, NULL, 'n'},
        {"no-lower-case", no_argument, NULL, 'l'}, {"tokens", no_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    int c;

    memset(a, 0, sizeof *a);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'v': a->vocab_path = optarg; break;
        case 'm': a->model = optarg; break;
        case 'p': a->pair = true; break;
        case 'l': a->no_lower = true; break;
        case 't': a->tokens = true; break;
        case 'n':
            if (parse_int(optarg, 0, SHAPE_MAX_POSITIONS, "--max-length", &a->max_length) != 0) {
                fprintf(stderr, "autopeft tokenize: %s\n", err_msg());
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc || !!a->vocab_path == !!a->model) {
        fprintf(stderr, "autopeft tokenize: give exactly one of --vocab FILE or --model DIR%s\n",
                optind < argc ? " (and no other arguments)" : "");
        usage(stderr);
        return 2;
    }
    if (a->max_length && a->max_length < (a->pair ? 3 : 2)) {
        fprintf(stderr, "autopeft tokenize: --max-length %d leaves no room for [CLS] and [SEP]\n",
                a->max_length);
        return 2;
    }
    return -1;
}

/* The vocabulary and the tokenizer: --vocab's with lower-casing, or --model's with its
 * tokenizer_config.json; 0 or 1 (reported). */
static int open_tokenizer(const tokenize_args_t *a, vocab_t **vocab, tokenizer_t **tok)
{
    tokenizer_options_t opt;
    char path[4096];

    tokenizer_options_default(&opt);
    if (a->model)
        snprintf(path, sizeof path, "%s/vocab.txt", a->model);
    if (vocab_load(a->model ? path : a->vocab_path, vocab) != 0) {
        fprintf(stderr, "autopeft tokenize: %s\n", err_msg());
        return 1;
    }
    if (a->model) {
        snprintf(path, sizeof path, "%s/tokenizer_config.json", a->model);
        if (access(path, F_OK) == 0 && tokenizer_config_load(path, *vocab, &opt) != 0) {
            fprintf(stderr, "autopeft tokenize: %s\n", err_msg());
            return 1;
        }
    }
    if (a->no_lower)
        opt.do_lower_case = false;
    if (tokenizer_new(*vocab, &opt, tok) != 0) {
        fprintf(stderr, "autopeft tokenize: %s\n", err_msg());
        return 1;
    }
    return 0;
}

int cli_tokenize(int argc, char **argv)
{
    tokenize_args_t a;
    vocab_t *vocab = NULL;
    tokenizer_t *tok = NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long lineno = 0;
    int status = parse_args(argc, argv, &a);

    if (status >= 0)
        return status;
    if ((status = open_tokenizer(&a, &vocab, &tok)) != 0)
        goto out;
    while ((got = getline(&line, &cap, stdin)) >= 0) {
        size_t len = (size_t)got;

        lineno++;
        if (len && line[len - 1] == '\n')
            len--;
        if (len && line[len - 1] == '\r')
            len--;
        status |= print_line(tok, vocab, &a, line, len, lineno);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "autopeft tokenize: writing the output failed\n");
        status = 1;
    }
out:
    free(line);
    tokenizer_free(&tok);
    vocab_free(&vocab);
    return status;
}
