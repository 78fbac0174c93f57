/* An independent reader of the embedded task's sentences, for the tests: it parses a sentence
 * from its words alone (its own word lists and grammar, written from docs/embedded-task.md, not
 * from worker/inputs/embedded.c) and computes the label the semantics give. The tests compare it with
 * the generator's labels and use its parse to build order-changed variants of sentences. */
#ifndef AUTOPEFT_TEST_EMBEDDED_ORACLE_H
#define AUTOPEFT_TEST_EMBEDDED_ORACLE_H

#define ORACLE_MAX_WORDS 160
#define ORACLE_MAX_CLAUSES 8

typedef enum { ORACLE_SINGLE = 0, ORACLE_CONTRAST, ORACLE_CONCESSIVE } oracle_structure_t;

typedef struct {
    int start, end;       /* words [start, end): frames and clause */
    int frames;
    int flips;            /* negators in scope */
    int pol;              /* 1 positive, after the flips */
    int cop;              /* index of the copula */
    int neg;              /* index of the clause's not/never, or -1 */
} oracle_clause_t;

typedef struct {
    int n;
    const char *w[ORACLE_MAX_WORDS];   /* point into the caller's copy of the sentence */
    int adverb;                        /* a sentence adverb first */
    oracle_structure_t structure;
    int prefix;                        /* "although C C" */
    int nclauses;
    oracle_clause_t c[ORACLE_MAX_CLAUSES];
    int conn[ORACLE_MAX_CLAUSES];      /* index of the connective before clause i (i >= 1) */
    int decider;
    int label;
} oracle_t;

/* Splits text (modified in place: spaces become NULs) and parses it. 0 on success; -1 with a
 * reason in err (naming the word) when the sentence is not in the language. */
int oracle_parse(char *text, oracle_t *o, char *err, size_t errlen);
/* Writes the words of o joined by spaces into buf. */
void oracle_join(const char *const *w, int n, char *buf, size_t len);
/* True for the words the tests know: every word of the grammar. */
int oracle_known_word(const char *w);

#endif
