/* CURVE key files (`autopeft keygen`): a key pair is two text files,
 *   NAME.key   "public-key = <Z85>" and "secret-key = <Z85>" lines, mode 0600 (keep it secret)
 *   NAME.pub   the "public-key = <Z85>" line alone, to hand to the other side
 * Z85 is ZeroMQ's 40-character text form of a 32-byte Curve25519 key. Lines starting with '#'
 * are comments. */
#ifndef AUTOPEFT_KEYS_H
#define AUTOPEFT_KEYS_H

#include <stdbool.h>

#define KEYS_Z85_LEN 40

typedef struct {
    char public_z85[KEYS_Z85_LEN + 1];
    char secret_z85[KEYS_Z85_LEN + 1];  /* "" when only the public key was read */
} keys_t;

/* Writes PREFIX.key and PREFIX.pub with a new key pair; refuses to overwrite (ERR_STATE) unless
 * force. */
int keys_generate(const char *prefix, bool force, keys_t *out);
/* Reads a .key (public and secret) or .pub (public only; need_secret must be false) file. */
int keys_load(const char *path, bool need_secret, keys_t *out);
/* Whether text is a well-formed Z85 key (40 characters of the alphabet, decoding to 32 bytes). */
bool keys_valid_z85(const char *text);

#endif
