/* The tests' own reader of embedded-task sentences (see embedded_oracle.h). */
#include <stdio.h>
#include <string.h>

#include "tests/unit/worker/inputs/embedded_oracle.h"

static const char *const adverbs[] = {"honestly", "frankly", "overall", "basically", NULL};
static const char *const dets[] = {"the", "this", "his", "her", NULL};
static const char *const nouns[] = {"movie",  "film",   "plot",     "story",  "acting",
                                    "script", "music",  "ending",   "cast",   "dialogue",
                                    "pacing", "humor",  "soundtrack", "editing", "lead",
                                    "finale", NULL};
static const char *const copulas[] = {"is", "was", "seems", "looks", NULL};
static const char *const intensifiers[] = {"very",   "really", "quite",
                                           "truly",  "rather", "so", NULL};
static const char *const good[] = {"good",   "great",  "brilliant", "charming", "clever",
                                   "funny",  "moving", "superb",    "lovely",   "fresh",
                                   "gripping", "solid", NULL};
static const char *const bad[] = {"bad",     "dull",  "boring", "awful", "weak",  "clumsy",
                                  "tedious", "bland", "silly",  "messy", "stale", "poor", NULL};
static const char *const subjects[] = {"i", "we", "critics", "everyone", "nobody", NULL};
static const char *const past_plain[] = {"thought", "said", "believed", "felt", NULL};
static const char *const past_neg[] = {"doubted", "denied", NULL};
static const char *const base_plain[] = {"think", "say", "believe", "feel", NULL};
static const char *const base_neg[] = {"doubt", "deny", NULL};
static const char *const contrasts[] = {"but", "yet", NULL};
static const char *const concessives[] = {"although", "though", NULL};
static const char *const others[] = {"not", "never", "and", "did", "that", NULL};

static int in(const char *const *list, const char *w)
{
    if (!w)
        return 0;
    for (int i = 0; list[i]; i++)
        if (strcmp(list[i], w) == 0)
            return 1;
    return 0;
}

int oracle_known_word(const char *w)
{
    const char *const *lists[] = {adverbs,  dets,       nouns,      copulas,  intensifiers,
                                  good,     bad,        subjects,   past_plain, past_neg,
                                  base_plain, base_neg, contrasts,  concessives, others};

    for (size_t k = 0; k < sizeof lists / sizeof lists[0]; k++)
        if (in(lists[k], w))
            return 1;
    return 0;
}

typedef struct {
    oracle_t *o;
    int i;
    char *err;
    size_t errlen;
} reader_t;

static const char *peek(reader_t *r)
{
    return r->i < r->o->n ? r->o->w[r->i] : NULL;
}

static int fail(reader_t *r, const char *what)
{
    snprintf(r->err, r->errlen, "word %d ('%s'): expected %s", r->i + 1,
             peek(r) ? peek(r) : "end", what);
    return -1;
}

/* FRAME* CLAUSE */
static int clause(reader_t *r, oracle_clause_t *c)
{
    int flips = 0, adj;

    c->start = r->i;
    c->frames = 0;
    c->neg = -1;
    while (in(subjects, peek(r))) {
        int base = 0;

        flips += strcmp(peek(r), "nobody") == 0;
        r->i++;
        if (peek(r) && strcmp(peek(r), "never") == 0) {
            flips++;
            r->i++;
        } else if (peek(r) && strcmp(peek(r), "did") == 0) {
            r->i++;
            if (!peek(r) || strcmp(peek(r), "not") != 0)
                return fail(r, "'not' after 'did'");
            flips++;
            r->i++;
            base = 1;
        }
        if (in(base ? base_neg : past_neg, peek(r)))
            flips++;
        else if (!in(base ? base_plain : past_plain, peek(r)))
            return fail(r, base ? "a verb's base form" : "a verb in the past tense");
        r->i++;
        if (!peek(r) || strcmp(peek(r), "that") != 0)
            return fail(r, "'that'");
        r->i++;
        c->frames++;
    }
    if (!in(dets, peek(r)))
        return fail(r, "a determiner or a frame's subject");
    r->i++;
    if (!in(nouns, peek(r)))
        return fail(r, "a noun");
    r->i++;
    if (!in(copulas, peek(r)))
        return fail(r, "a copula");
    c->cop = r->i++;
    if (peek(r) && (strcmp(peek(r), "not") == 0 || strcmp(peek(r), "never") == 0)) {
        const char *cop = r->o->w[c->cop];

        if (strcmp(cop, "is") != 0 && strcmp(cop, "was") != 0)
            return fail(r, "no negation after 'seems'/'looks'");
        c->neg = r->i++;
        flips++;
    }
    if (in(intensifiers, peek(r)))
        r->i++;
    if (in(good, peek(r)))
        adj = 1;
    else if (in(bad, peek(r)))
        adj = 0;
    else
        return fail(r, "an adjective");
    r->i++;
    if (peek(r) && strcmp(peek(r), "and") == 0) {
        r->i++;
        if (in(intensifiers, peek(r)))
            r->i++;
        if (!in(adj ? good : bad, peek(r)))
            return fail(r, "a second adjective of the same polarity");
        r->i++;
    }
    c->end = r->i;
    c->flips = flips;
    c->pol = adj ^ (flips & 1);
    return 0;
}

int oracle_parse(char *text, oracle_t *o, char *err, size_t errlen)
{
    reader_t r = {.o = o, .i = 0, .err = err, .errlen = errlen};
    char *save = NULL;

    memset(o, 0, sizeof *o);
    for (char *t = strtok_r(text, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        if (o->n == ORACLE_MAX_WORDS) {
            snprintf(err, errlen, "more than %d words", ORACLE_MAX_WORDS);
            return -1;
        }
        o->w[o->n++] = t;
    }
    if (in(adverbs, peek(&r))) {
        o->adverb = 1;
        r.i++;
    }
    if (in(concessives, peek(&r))) {
        o->structure = ORACLE_CONCESSIVE;
        o->prefix = 1;
        o->conn[1] = r.i++;
        if (clause(&r, &o->c[0]) != 0 || clause(&r, &o->c[1]) != 0)
            return -1;
        o->nclauses = 2;
        o->decider = 1;
    } else {
        if (clause(&r, &o->c[0]) != 0)
            return -1;
        o->nclauses = 1;
        if (in(concessives, peek(&r))) {
            o->structure = ORACLE_CONCESSIVE;
            o->conn[1] = r.i++;
            if (clause(&r, &o->c[1]) != 0)
                return -1;
            o->nclauses = 2;
            o->decider = 0;
        } else {
            while (in(contrasts, peek(&r))) {
                if (o->nclauses == ORACLE_MAX_CLAUSES)
                    return fail(&r, "fewer clauses");
                o->structure = ORACLE_CONTRAST;
                o->conn[o->nclauses] = r.i++;
                if (clause(&r, &o->c[o->nclauses]) != 0)
                    return -1;
                o->nclauses++;
            }
            o->decider = o->nclauses - 1;
        }
    }
    if (r.i != o->n)
        return fail(&r, "the end of the sentence");
    o->label = o->c[o->decider].pol;
    return 0;
}

void oracle_join(const char *const *w, int n, char *buf, size_t len)
{
    size_t at = 0;

    buf[0] = '\0';
    for (int i = 0; i < n && at < len; i++) {
        int k = snprintf(buf + at, len - at, "%s%s", i ? " " : "", w[i]);
        if (k < 0)
            break;
        at += (size_t)k;
    }
}
