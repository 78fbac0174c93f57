/* Strict number parsing for flags, config values and text fields: the whole text must be the
 * number, in range, or the call fails with ERR_PARSE / ERR_RANGE naming `what` and the text. */
#ifndef AUTOPEFT_PARSE_H
#define AUTOPEFT_PARSE_H

#include <stdint.h>

int parse_long(const char *text, long min, long max, const char *what, long *out);
int parse_int(const char *text, int min, int max, const char *what, int *out);
int parse_u64(const char *text, uint64_t max, const char *what, uint64_t *out);
/* Finite doubles only: "nan" and "inf" are refused. */
int parse_double(const char *text, double min, double max, const char *what, double *out);

#endif
