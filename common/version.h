/* Version of autopeft, its wire protocol, and the libraries it runs on. */
#ifndef AUTOPEFT_VERSION_H
#define AUTOPEFT_VERSION_H

#include <stdio.h>

/* "0.1.0" */
const char *version_string(void);
/* "0.1.0 (commit 1a2b3c4, protocol 1)" */
const char *version_long(void);
/* What --version prints: the program, version_long(), then one line per library. */
void version_print(FILE *f, const char *program);

#endif
