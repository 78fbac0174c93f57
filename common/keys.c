/* CURVE key files (keys.h). */
#include "common/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "common/err.h"

#define KEY_FILE_MAX 4096

bool keys_valid_z85(const char *text)
{
    uint8_t raw[32];

    if (!text || strlen(text) != KEYS_Z85_LEN)
        return false;
    return zmq_z85_decode(raw, text) != NULL;
}

static int write_file(const char *path, const char *text, mode_t mode, bool force)
{
    int fd = open(path, O_WRONLY | O_CREAT | (force ? O_TRUNC : O_EXCL), mode);
    size_t n = strlen(text);

    if (fd < 0) {
        if (errno == EEXIST)
            return err_set(ERR_STATE, "%s exists (use --force to replace it)", path);
        return err_set(ERR_IO, "%s: %s", path, strerror(errno));
    }
    if (write(fd, text, n) != (ssize_t)n || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        return err_set(ERR_IO, "%s: %s", path, strerror(e));
    }
    fchmod(fd, mode);
    close(fd);
    return 0;
}

int keys_generate(const char *prefix, bool force, keys_t *out)
{
    char path[4200], text[512];
    keys_t k;
    int rc;

    memset(&k, 0, sizeof k);
    if (zmq_curve_keypair(k.public_z85, k.secret_z85) != 0)
        return err_set(ERR_UNSUPPORTED, "zmq_curve_keypair: %s (libzmq built without CURVE?)",
                       zmq_strerror(errno));
    snprintf(text, sizeof text,
             "# autopeft CURVE key pair: keep this file secret (mode 0600)\n"
             "public-key = %s\nsecret-key = %s\n", k.public_z85, k.secret_z85);
    if ((size_t)snprintf(path, sizeof path, "%s.key", prefix) >= sizeof path)
        return err_set(ERR_RANGE, "%s: path too long", prefix);
    if ((rc = write_file(path, text, 0600, force)) != 0)
        return rc;
    snprintf(text, sizeof text, "# autopeft CURVE public key\npublic-key = %s\n", k.public_z85);
    snprintf(path, sizeof path, "%s.pub", prefix);
    if ((rc = write_file(path, text, 0644, force)) != 0)
        return rc;
    if (out)
        *out = k;
    return 0;
}

int keys_load(const char *path, bool need_secret, keys_t *out)
{
    FILE *f = fopen(path, "r");
    char line[512];
    int lineno = 0, rc = 0;
    keys_t k;

    memset(&k, 0, sizeof k);
    if (!f)
        return err_set(ERR_IO, "%s: %s", path, strerror(errno));
    while (fgets(line, sizeof line, f)) {
        char *p = line, *eq, *key, *val, *end;
        lineno++;
        if (lineno > 100) {
            rc = err_set(ERR_PARSE, "%s: too many lines for a key file", path);
            goto out;
        }
        p += strspn(p, " \t");
        if (*p == '#' || *p == '\n' || *p == '\0')
            continue;
        eq = strchr(p, '=');
        if (!eq) {
            rc = err_set(ERR_PARSE, "%s:%d: expected 'public-key = ...' or 'secret-key = ...'",
                         path, lineno);
            goto out;
        }
        key = p;
        end = eq;
        while (end > key && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        *end = '\0';
        val = eq + 1 + strspn(eq + 1, " \t");
        val[strcspn(val, " \t\r\n")] = '\0';
        if (!keys_valid_z85(val)) {
            rc = err_set(ERR_PARSE, "%s:%d: %s is not a 40-character Z85 key", path, lineno, key);
            goto out;
        }
        if (strcmp(key, "public-key") == 0)
            memcpy(k.public_z85, val, KEYS_Z85_LEN + 1);
        else if (strcmp(key, "secret-key") == 0)
            memcpy(k.secret_z85, val, KEYS_Z85_LEN + 1);
        else {
            rc = err_set(ERR_PARSE, "%s:%d: unknown key '%s'", path, lineno, key);
            goto out;
        }
    }
    if (!k.public_z85[0]) {
        rc = err_set(ERR_PARSE, "%s: no public-key line", path);
        goto out;
    }
    if (need_secret && !k.secret_z85[0]) {
        rc = err_set(ERR_PARSE, "%s: no secret-key line (is this the .pub file? the .key file "
                     "is needed)", path);
        goto out;
    }
    if (k.secret_z85[0]) {
        char derived[KEYS_Z85_LEN + 1];
        if (zmq_curve_public(derived, k.secret_z85) != 0 || strcmp(derived, k.public_z85) != 0) {
            rc = err_set(ERR_PARSE, "%s: the public key does not match the secret key", path);
            goto out;
        }
    }
    *out = k;
out:
    fclose(f);
    return rc;
}
