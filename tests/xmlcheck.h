/* A small well-formedness checker for the XML the report writes (SVG, and the HTML page, which
 * is written so that it is also well-formed XML), and element counting in XML or in the HTML
 * Chromium serialises. For tests only; Python is not needed to run the suite.
 *
 * Checked: every start tag is closed in order, tag and attribute names are names, attribute
 * values are quoted and hold no '<', every '&' starts one of the five predefined entities or a
 * character reference, comments, processing instructions and <!DOCTYPE> are closed, and there
 * is exactly one root element. Not checked: DTDs, namespaces, encodings. */
#ifndef AUTOPEFT_TESTS_XMLCHECK_H
#define AUTOPEFT_TESTS_XMLCHECK_H

#include <stdbool.h>
#include <stddef.h>

/* 0 when doc is well-formed; otherwise -1 with why (and the byte offset) in err. */
int xmlcheck(const char *doc, char *err, size_t len);

/* Start tags named tag whose class attribute has the token cls (NULL: any), in XML or HTML. */
int xmlcheck_count(const char *doc, const char *tag, const char *cls);

/* An element named tag with class token cls whose text (up to the next tag, with the five
 * predefined entities decoded) is exactly text. */
bool xmlcheck_has_text(const char *doc, const char *tag, const char *cls, const char *text);

#endif
