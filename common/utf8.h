/* Strict UTF-8 decoding and encoding.
 *
 * Shared by the vocabulary, tokenizer and data readers, the wire's string checks and the
 * worker's error texts. Well-formed means what Python's "utf-8" codec accepts: no overlong forms, no surrogates
 * (U+D800..U+DFFF), nothing above U+10FFFF. */
#ifndef AUTOPEFT_UTF8_H
#define AUTOPEFT_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UTF8_REPLACEMENT 0xFFFDu

/* Decodes the code point at s[0..len), len >= 1, into *cp and returns its length (1..4). On an
 * ill-formed sequence sets *cp = UTF8_REPLACEMENT and returns 1, so that decoding resumes at the
 * next byte and a valid character after a broken one is never swallowed. *valid says which. */
int utf8_decode(const uint8_t *s, size_t len, uint32_t *cp, bool *valid);
/* The length (1..4) of the well-formed sequence at s[0..len), len >= 1; 0 when it is ill-formed
 * or cut short. */
size_t utf8_sequence(const uint8_t *s, size_t len);
/* Writes cp (a Unicode scalar value) to out; returns the bytes written (1..4). */
int utf8_encode(uint32_t cp, uint8_t out[4]);
/* True when s[0..len) is well-formed; otherwise *bad_at (if not NULL) is the first bad byte. */
bool utf8_valid(const char *s, size_t len, size_t *bad_at);

#endif
