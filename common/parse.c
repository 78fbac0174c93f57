#include "common/parse.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "common/err.h"

int parse_long(const char *text, long min, long max, const char *what, long *out)
{
    char *end;
    long v;

    errno = 0;
    if (!text || !*text || isspace((unsigned char)*text))
        return err_set(ERR_PARSE, "%s: expected an integer in %ld..%ld, got '%s'", what, min, max,
                       text ? text : "");
    v = strtol(text, &end, 10);
    if (*end != '\0')
        return err_set(ERR_PARSE, "%s: expected an integer in %ld..%ld, got '%s'", what, min, max,
                       text);
    if (errno == ERANGE || v < min || v > max)
        return err_set(ERR_RANGE, "%s: %s is out of range %ld..%ld", what, text, min, max);
    *out = v;
    return 0;
}

int parse_int(const char *text, int min, int max, const char *what, int *out)
{
    long v;
    int rc = parse_long(text, min, max, what, &v);

    if (rc == 0)
        *out = (int)v;
    return rc;
}

int parse_u64(const char *text, uint64_t max, const char *what, uint64_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    if (!text || !isdigit((unsigned char)*text))
        return err_set(ERR_PARSE, "%s: expected a non-negative integer, got '%s'", what,
                       text ? text : "");
    v = strtoull(text, &end, 10);
    if (*end != '\0')
        return err_set(ERR_PARSE, "%s: expected a non-negative integer, got '%s'", what, text);
    if (errno == ERANGE || v > max)
        return err_set(ERR_RANGE, "%s: %s is out of range 0..%llu", what, text,
                       (unsigned long long)max);
    *out = (uint64_t)v;
    return 0;
}

int parse_double(const char *text, double min, double max, const char *what, double *out)
{
    char *end;
    double v;

    errno = 0;
    if (!text || !*text || isspace((unsigned char)*text))
        return err_set(ERR_PARSE, "%s: expected a number in [%g, %g], got '%s'", what, min, max,
                       text ? text : "");
    v = strtod(text, &end);
    if (*end != '\0' || !isfinite(v))
        return err_set(ERR_PARSE, "%s: expected a number in [%g, %g], got '%s'", what, min, max,
                       text);
    if (v < min || v > max)
        return err_set(ERR_RANGE, "%s: %s is out of range [%g, %g]", what, text, min, max);
    *out = v;
    return 0;
}
