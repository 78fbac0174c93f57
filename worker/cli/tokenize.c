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

static int print_line(tokenizer_t *tok, const vocab_t *vocab, char *line, size_t len, bool pair,
                      int max_length, bool tokens, long lineno)
{
    tokenizer_encoding_t enc;
    char *b = NULL, *tab;
    size_t blen = 0;
    int rc;

    if (pair) {
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
    rc = tokenizer_encode(tok, line, len, b, blen, max_length, &enc);
    if (rc != 0) {
        fprintf(stderr, "autopeft tokenize: stdin:%ld: %s\n", lineno, err_msg());
        putchar('\n');
        return 1;
    }
    for (int i = 0; i < enc.len; i++) {
        if (i)
            putchar(' ');
        if (tokens)
            fputs(vocab_token(vocab, enc.ids[i]), stdout);
        else
            printf("%d", enc.ids[i]);
    }
    putchar('\n');
    return 0;
}

int cli_tokenize(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"vocab", required_argument, NULL, 'v'},   {"model", required_argument, NULL, 'm'},
        {"pair", no_argument, NULL, 'p'},          {"max-length", required_argument, NULL, 'n'},
        {"no-lower-case", no_argument, NULL, 'l'}, {"tokens", no_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    const char *vocab_path = NULL, *model = NULL;
    bool pair = false, tokens = false, no_lower = false;
    int max_length = 0, c, status = 0;
    tokenizer_options_t opt;
    vocab_t *vocab = NULL;
    tokenizer_t *tok = NULL;
    char path[4096], *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long lineno = 0;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'v': vocab_path = optarg; break;
        case 'm': model = optarg; break;
        case 'p': pair = true; break;
        case 'l': no_lower = true; break;
        case 't': tokens = true; break;
        case 'n':
            if (parse_int(optarg, 0, SHAPE_MAX_POSITIONS, "--max-length", &max_length) != 0) {
                fprintf(stderr, "autopeft tokenize: %s\n", err_msg());
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc || !!vocab_path == !!model) {
        fprintf(stderr, "autopeft tokenize: give exactly one of --vocab FILE or --model DIR%s\n",
                optind < argc ? " (and no other arguments)" : "");
        usage(stderr);
        return 2;
    }
    if (max_length && max_length < (pair ? 3 : 2)) {
        fprintf(stderr, "autopeft tokenize: --max-length %d leaves no room for [CLS] and [SEP]\n",
                max_length);
        return 2;
    }
    tokenizer_options_default(&opt);
    if (model)
        snprintf(path, sizeof path, "%s/vocab.txt", model);
    if (vocab_load(model ? path : vocab_path, &vocab) != 0) {
        fprintf(stderr, "autopeft tokenize: %s\n", err_msg());
        return 1;
    }
    if (model) {
        snprintf(path, sizeof path, "%s/tokenizer_config.json", model);
        if (access(path, F_OK) == 0 && tokenizer_config_load(path, vocab, &opt) != 0) {
            fprintf(stderr, "autopeft tokenize: %s\n", err_msg());
            status = 1;
            goto out;
        }
    }
    if (no_lower)
        opt.do_lower_case = false;
    if (tokenizer_new(vocab, &opt, &tok) != 0) {
        fprintf(stderr, "autopeft tokenize: %s\n", err_msg());
        status = 1;
        goto out;
    }
    while ((got = getline(&line, &cap, stdin)) >= 0) {
        size_t len = (size_t)got;

        lineno++;
        if (len && line[len - 1] == '\n')
            len--;
        if (len && line[len - 1] == '\r')
            len--;
        status |= print_line(tok, vocab, line, len, pair, max_length, tokens, lineno);
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
