/* Well-formedness checks and element counting for tests (xmlcheck.h). */
#include "tests/xmlcheck.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 256
#define MAX_NAME 64

typedef struct {
    const char *doc, *p;
    char stack[MAX_DEPTH][MAX_NAME];
    int depth, roots;
    char *err;
    size_t len;
} checker_t;

static int fail(checker_t *c, const char *why)
{
    snprintf(c->err, c->len, "%s at byte %ld", why, (long)(c->p - c->doc));
    return -1;
}

static bool name_char(char ch, bool first)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch == ':' ||
           (!first && ((ch >= '0' && ch <= '9') || ch == '-' || ch == '.'));
}

/* A name at c->p into out; false when there is none. */
static bool read_name(checker_t *c, char *out)
{
    int n = 0;

    if (!name_char(*c->p, true))
        return false;
    while (name_char(*c->p, false) && n < MAX_NAME - 1)
        out[n++] = *c->p++;
    out[n] = '\0';
    return !name_char(*c->p, false);
}

/* '&' at c->p starts a predefined entity or a character reference; moves past it. */
static bool entity(checker_t *c)
{
    static const char *const names[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    const char *q = c->p + 1;

    for (int i = 0; i < 5; i++)
        if (!strncmp(c->p, names[i], strlen(names[i]))) {
            c->p += strlen(names[i]);
            return true;
        }
    if (*q++ != '#')
        return false;
    if (*q == 'x')
        q++;
    if (!strchr("0123456789abcdefABCDEF", *q) || !*q)
        return false;
    while (*q && strchr("0123456789abcdefABCDEF", *q))
        q++;
    if (*q != ';')
        return false;
    c->p = q + 1;
    return true;
}

static void skip_space(checker_t *c)
{
    while (*c->p == ' ' || *c->p == '\n' || *c->p == '\t' || *c->p == '\r')
        c->p++;
}

/* The attributes and end of a start tag (c->p after its name); *empty for "/>". */
static int attributes(checker_t *c, bool *empty)
{
    char name[MAX_NAME];

    for (;;) {
        skip_space(c);
        if (*c->p == '>' || (c->p[0] == '/' && c->p[1] == '>')) {
            *empty = *c->p == '/';
            c->p += *empty ? 2 : 1;
            return 0;
        }
        if (!read_name(c, name))
            return fail(c, "bad attribute name");
        skip_space(c);
        if (*c->p++ != '=')
            return fail(c, "attribute without '='");
        skip_space(c);
        char q = *c->p++;
        if (q != '"' && q != '\'')
            return fail(c, "unquoted attribute value");
        while (*c->p && *c->p != q) {
            if (*c->p == '<')
                return fail(c, "'<' in an attribute value");
            if (*c->p == '&' ? !entity(c) : (c->p++, false))
                return fail(c, "bad entity in an attribute value");
        }
        if (*c->p++ != q)
            return fail(c, "unterminated attribute value");
    }
}

/* A tag at c->p ('<' seen). */
static int tag(checker_t *c)
{
    char name[MAX_NAME];
    bool empty = false;
    const char *end;

    if (!strncmp(c->p, "<!--", 4) || !strncmp(c->p, "<?", 2) || !strncmp(c->p, "<!DOCTYPE", 9)) {
        const char *close = c->p[1] == '!' && c->p[2] == '-' ? "-->" : c->p[1] == '?' ? "?>" : ">";
        if (!(end = strstr(c->p + 2, close)))
            return fail(c, "unterminated comment, instruction or doctype");
        c->p = end + strlen(close);
        return 0;
    }
    if (c->p[1] == '/') {
        c->p += 2;
        if (!read_name(c, name) || c->depth == 0 || strcmp(name, c->stack[c->depth - 1]) != 0)
            return fail(c, "end tag does not match the open element");
        skip_space(c);
        if (*c->p++ != '>')
            return fail(c, "bad end tag");
        c->depth--;
        return 0;
    }
    c->p++;
    if (!read_name(c, name))
        return fail(c, "bad tag name");
    if (c->depth == 0 && c->roots++ > 0)
        return fail(c, "a second root element");
    if (attributes(c, &empty) != 0)
        return -1;
    if (!empty) {
        if (c->depth == MAX_DEPTH)
            return fail(c, "elements nested too deep");
        snprintf(c->stack[c->depth++], MAX_NAME, "%s", name);
    }
    return 0;
}

int xmlcheck(const char *doc, char *err, size_t len)
{
    checker_t *c = calloc(1, sizeof *c);
    int rc = 0;

    if (!c)
        return -1;
    c->doc = c->p = doc;
    c->err = err;
    c->len = len;
    while (rc == 0 && *c->p) {
        if (*c->p == '<')
            rc = tag(c);
        else if (*c->p == '&')
            rc = entity(c) ? 0 : fail(c, "bad entity in text");
        else
            c->p++;
    }
    if (rc == 0 && c->depth > 0)
        rc = fail(c, "elements left open at the end");
    if (rc == 0 && c->roots != 1)
        rc = fail(c, "no root element");
    free(c);
    return rc;
}

/* The class attribute of the start tag at s (just after its name), up to its '>', has the
 * token cls. */
static bool has_class(const char *s, const char *cls)
{
    const char *end = strchr(s, '>'), *a = strstr(s, " class=\"");
    size_t n = strlen(cls);

    if (!end || !a || a > end)
        return false;
    for (a += 8; *a && *a != '"'; a++)
        if ((a[-1] == '"' || a[-1] == ' ') && !strncmp(a, cls, n) && (a[n] == ' ' || a[n] == '"'))
            return true;
    return false;
}

/* The next start tag named tag at or after s, just after its name; NULL when none. */
static const char *next_tag(const char *s, const char *tag)
{
    size_t n = strlen(tag);

    while ((s = strchr(s, '<'))) {
        s++;
        if (!strncmp(s, tag, n) && strchr(" \t\n/>", s[n]))
            return s + n;
    }
    return NULL;
}

int xmlcheck_count(const char *doc, const char *tag, const char *cls)
{
    int n = 0;

    for (const char *s = doc; (s = next_tag(s, tag));)
        n += !cls || has_class(s, cls);
    return n;
}

/* The text at s (after a start tag's '>') up to the next '<', entities decoded, equals want. */
static bool text_is(const char *s, const char *want)
{
    static const char *const ent[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&apos;"};
    static const char chr[] = "&<>\"''";

    while (*s && *s != '<') {
        int k = -1;
        for (int i = 0; i < 6 && *s == '&'; i++)
            if (!strncmp(s, ent[i], strlen(ent[i])))
                k = i;
        if (*want++ != (k >= 0 ? chr[k] : *s))
            return false;
        s += k >= 0 ? strlen(ent[k]) : 1;
    }
    return *want == '\0';
}

bool xmlcheck_has_text(const char *doc, const char *tag, const char *cls, const char *text)
{
    for (const char *s = doc; (s = next_tag(s, tag));) {
        const char *gt = strchr(s, '>');
        if (gt && (!cls || has_class(s, cls)) && text_is(gt + 1, text))
            return true;
    }
    return false;
}
