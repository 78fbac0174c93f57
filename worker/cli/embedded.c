/* autopeft embedded: write the embedded default task to a folder, so that users can read the
 * sentences `autopeft run` trains on, or train on them with other tools. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/parse.h"
#include "worker/cli/commands.h"
#include "worker/inputs/embedded.h"

static void usage(FILE *f)
{
    embedded_opts_t d;

    embedded_opts_default(&d);
    fprintf(f,
            "Usage: autopeft embedded [--out DIR] [--seed S] [--train N] [--dev N]\n"
            "                         [--max-words N] [--depth N] [--clauses N] [--negation PCT]\n"
            "                         [--frames PCT] [--fillers PCT] [--opposite PCT]\n"
            "                         [--mix SINGLE,CONTRAST,CONCESSIVE]\n"
            "\n"
            "Generates the embedded default task (the synthetic sentiment task `autopeft run`\n"
            "searches when no task is given) and writes DIR/train.tsv, DIR/dev.tsv (SST-2\n"
            "layout), DIR/vocab.txt and DIR/README.txt. Without --out it prints a summary only.\n"
            "The same options give the same bytes on every machine.\n"
            "\n"
            "  --out DIR        folder to write (created if absent; files are overwritten)\n"
            "  --seed S         generator seed (default %llu)\n"
            "  --train N        train sentences (default %d, at most %d)\n"
            "  --dev N          dev sentences (default %d, at most %d)\n"
            "  --max-words N    words per sentence, %d..%d (default %d; the model sees N + 2)\n"
            "  --depth N        embedding frames around one clause, 0..%d (default %d)\n"
            "  --clauses N      clauses in a but-chain, 2..%d (default %d)\n"
            "  --negation PCT   clauses with not/never, negated frame verbs (default %d)\n"
            "  --frames PCT     chance of each further frame, up to --depth (default %d)\n"
            "  --fillers PCT    intensifiers, sentence adverbs, second adjectives (default %d)\n"
            "  --opposite PCT   neighbouring clauses of opposite polarity (default %d)\n"
            "  --mix S,C,K      percent single / contrast / concessive sentences, summing to\n"
            "                   100 (default %d,%d,%d)\n"
            "  -h, --help       this help\n"
            "\n"
            "The grammar, its semantics and the defaults: docs/embedded-task.md.\n",
            (unsigned long long)d.seed, d.train_rows, EMBEDDED_MAX_ROWS, d.dev_rows,
            EMBEDDED_MAX_ROWS, EMBEDDED_MIN_WORDS, EMBEDDED_MAX_WORDS, d.max_words,
            EMBEDDED_MAX_DEPTH, d.depth, EMBEDDED_MAX_CLAUSES, d.max_clauses, d.negation_pct,
            d.frame_pct, d.filler_pct, d.opposite_pct, d.single_pct, d.contrast_pct,
            d.concessive_pct);
}

/* "20,40,40": three percentages; their sum is embedded_opts_check's business. */
static int parse_mix(const char *text, embedded_opts_t *o)
{
    int *dst[3] = {&o->single_pct, &o->contrast_pct, &o->concessive_pct};
    char part[32];
    const char *p = text;

    for (int k = 0; k < 3; k++) {
        const char *end = k < 2 ? strchr(p, ',') : p + strlen(p);
        size_t n;

        if (!end || (n = (size_t)(end - p)) >= sizeof part)
            return err_set(ERR_PARSE, "--mix '%s': expected SINGLE,CONTRAST,CONCESSIVE", text);
        memcpy(part, p, n);
        part[n] = '\0';
        if (parse_int(part, 0, 100, "--mix", dst[k]) != 0)
            return err_code();
        p = end + 1;
    }
    return 0;
}

int cli_embedded(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"out", required_argument, NULL, 'o'},       {"seed", required_argument, NULL, 's'},
        {"train", required_argument, NULL, 't'},     {"dev", required_argument, NULL, 'd'},
        {"max-words", required_argument, NULL, 'w'}, {"depth", required_argument, NULL, 'p'},
        {"clauses", required_argument, NULL, 'c'},   {"negation", required_argument, NULL, 'n'},
        {"frames", required_argument, NULL, 'f'},    {"fillers", required_argument, NULL, 'F'},
        {"opposite", required_argument, NULL, 'O'},  {"mix", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0}};
    const char *out = NULL;
    embedded_opts_t o;
    embedded_task_t *t = NULL;
    char line[1024];
    int c, rc = 0;

    embedded_opts_default(&o);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 's': rc = parse_u64(optarg, UINT64_MAX, "--seed", &o.seed); break;
        case 't': rc = parse_int(optarg, 2, EMBEDDED_MAX_ROWS, "--train", &o.train_rows); break;
        case 'd': rc = parse_int(optarg, 2, EMBEDDED_MAX_ROWS, "--dev", &o.dev_rows); break;
        case 'w':
            rc = parse_int(optarg, EMBEDDED_MIN_WORDS, EMBEDDED_MAX_WORDS, "--max-words",
                           &o.max_words);
            break;
        case 'p': rc = parse_int(optarg, 0, EMBEDDED_MAX_DEPTH, "--depth", &o.depth); break;
        case 'c':
            rc = parse_int(optarg, 2, EMBEDDED_MAX_CLAUSES, "--clauses", &o.max_clauses);
            break;
        case 'n': rc = parse_int(optarg, 0, 100, "--negation", &o.negation_pct); break;
        case 'f': rc = parse_int(optarg, 0, 100, "--frames", &o.frame_pct); break;
        case 'F': rc = parse_int(optarg, 0, 100, "--fillers", &o.filler_pct); break;
        case 'O': rc = parse_int(optarg, 0, 100, "--opposite", &o.opposite_pct); break;
        case 'm': rc = parse_mix(optarg, &o); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (rc != 0) {
            fprintf(stderr, "autopeft embedded: %s\n", err_msg());
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "autopeft embedded: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (out && !*out) {
        fprintf(stderr, "autopeft embedded: --out needs a folder name\n");
        return 2;
    }
    if (embedded_generate(&o, &t) != 0) {
        fprintf(stderr, "autopeft embedded: %s\n", err_msg());
        return err_code() == ERR_NOMEM ? 1 : 2;
    }
    embedded_describe(t, line, sizeof line);
    if (out && embedded_write(t, out) != 0) {
        fprintf(stderr, "autopeft embedded: %s\n", err_msg());
        rc = 1;
        goto done;
    }
    printf("%s\n", line);
    if (out)
        printf("wrote %s/train.tsv, %s/dev.tsv, %s/vocab.txt, %s/README.txt\n", out, out, out,
               out);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "autopeft embedded: writing the output failed\n");
        rc = 1;
    }
done:
    embedded_free(&t);
    return rc;
}
