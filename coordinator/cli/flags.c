/* The command lines of `autopeft space` and `autopeft baselines` (flags.h): one parser over a
 * command's table of flags, and the model shape both commands read from the same flags. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/parse.h"
#include "common/shape.h"
#include "coordinator/cli/flags.h"

int flags_usage_error(const char *prog, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return 2;
}

/* The table's index of the flag named by the first len bytes of arg, or nflags. */
static int lookup(const flags_cmd_t *c, const char *arg, size_t len)
{
    int f;

    for (f = 0; f < c->nflags; f++)
        if (strlen(c->spec[f].name) == len && strncmp(c->spec[f].name, arg, len) == 0)
            break;
    return f;
}

int flags_parse(const flags_cmd_t *c, int argc, char **argv, const char **val, bool *help)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *eq;
        size_t len;
        int f;

        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            fputs(c->usage, stdout);
            *help = true;
            return 0;
        }
        if (strncmp(arg, "--", 2) != 0)
            return flags_usage_error(c->prog, "unexpected argument '%s': %s", arg, c->stray);
        eq = strchr(arg, '=');
        len = eq ? (size_t)(eq - arg) : strlen(arg);
        f = lookup(c, arg, len);
        if (f == c->nflags)
            return flags_usage_error(c->prog, "unknown option '%.*s'; `%s --help` lists the "
                                     "options", (int)len, arg, c->prog);
        if (val[f])
            return flags_usage_error(c->prog, "%s is given twice", c->spec[f].name);
        if (!c->spec[f].value) {
            if (eq)
                return flags_usage_error(c->prog, "%s takes no value", c->spec[f].name);
            val[f] = "";
        } else if (eq) {
            val[f] = eq + 1;
        } else if (i + 1 < argc) {
            val[f] = argv[++i];
        } else {
            return flags_usage_error(c->prog, "%s needs a value: %s", c->spec[f].name,
                                     c->spec[f].value);
        }
    }
    return 0;
}

int flags_int(const flags_cmd_t *c, const char *const *val, int f, int min, int max, int *out)
{
    if (!val[f])
        return 0;
    if (parse_int(val[f], min, max, c->spec[f].name, out) != 0)
        return flags_usage_error(c->prog, "%s", err_msg());
    return 0;
}

/* The shape before the overrides: --shape's preset, --hidden/--layers (BERT defaults for the
 * rest, 768 and 12 for the one not given), or bert-base. */
static int base_shape(const flags_cmd_t *c, const char *const *val, shape_t *shape,
                      const char **name)
{
    int hidden = 768, layers = 12, rc;

    if (val[FLAGS_SHAPE] && (val[FLAGS_HIDDEN] || val[FLAGS_LAYERS]))
        return flags_usage_error(c->prog, "--shape and --hidden/--layers are alternatives: give "
                                 "a shape name or a width and depth");
    if (val[FLAGS_SHAPE]) {
        if (shape_preset(val[FLAGS_SHAPE], shape) != 0)
            return flags_usage_error(c->prog, "--shape: %s", err_msg());
        *name = val[FLAGS_SHAPE];
    } else if (val[FLAGS_HIDDEN] || val[FLAGS_LAYERS]) {
        if ((rc = flags_int(c, val, FLAGS_HIDDEN, 1, SHAPE_MAX_HIDDEN, &hidden)) != 0 ||
            (rc = flags_int(c, val, FLAGS_LAYERS, 1, SHAPE_MAX_LAYERS, &layers)) != 0)
            return rc;
        shape_default(shape, hidden, layers);
        *name = NULL;
    } else {
        shape_preset("bert-base", shape);
        *name = "bert-base";
    }
    return 0;
}

int flags_model(const flags_cmd_t *c, const char *const *val, shape_t *shape, const char **name)
{
    static const struct {
        int flag, max;
        size_t offset;
    } overrides[] = {
        {FLAGS_HEADS, SHAPE_MAX_HIDDEN, offsetof(shape_t, heads)},
        {FLAGS_INTERMEDIATE, SHAPE_MAX_INTERMEDIATE, offsetof(shape_t, intermediate)},
        {FLAGS_VOCAB, SHAPE_MAX_VOCAB, offsetof(shape_t, vocab)},
        {FLAGS_POSITIONS, SHAPE_MAX_POSITIONS, offsetof(shape_t, positions)},
        {FLAGS_TYPE_VOCAB, SHAPE_MAX_TYPE_VOCAB, offsetof(shape_t, type_vocab)},
        {FLAGS_LABELS, SHAPE_MAX_LABELS, offsetof(shape_t, labels)},
    };
    int rc;

    if ((rc = base_shape(c, val, shape, name)) != 0)
        return rc;
    for (size_t i = 0; i < sizeof overrides / sizeof overrides[0]; i++) {
        int *field = (int *)((char *)shape + overrides[i].offset);
        if ((rc = flags_int(c, val, overrides[i].flag, 1, overrides[i].max, field)) != 0)
            return rc;
        if (val[overrides[i].flag])
            *name = NULL; /* no longer the named shape */
    }
    if (shape_check(shape) != 0)
        return flags_usage_error(c->prog, "%s", err_msg());
    return 0;
}
