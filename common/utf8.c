#include "common/utf8.h"

int utf8_decode(const uint8_t *s, size_t len, uint32_t *cp, bool *valid)
{
    uint32_t c = s[0], min;
    int n;

    if (c < 0x80) {
        *cp = c;
        *valid = true;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        c &= 0x1f;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        c &= 0x0f;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        c &= 0x07;
        min = 0x10000;
    } else {
        goto bad; /* continuation byte, 0xc0/0xc1 (always overlong) or 0xf5.. */
    }
    if ((size_t)n > len)
        goto bad;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            goto bad;
        c = (c << 6) | (s[i] & 0x3fu);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        goto bad;
    *cp = c;
    *valid = true;
    return n;
bad:
    *cp = UTF8_REPLACEMENT;
    *valid = false;
    return 1;
}

size_t utf8_sequence(const uint8_t *s, size_t len)
{
    uint32_t cp;
    bool valid;
    int n = utf8_decode(s, len, &cp, &valid);

    return valid ? (size_t)n : 0;
}

int utf8_encode(uint32_t cp, uint8_t out[4])
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xc0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xe0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (uint8_t)(0xf0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

bool utf8_valid(const char *s, size_t len, size_t *bad_at)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0;

    while (i < len) {
        uint32_t cp;
        bool ok;

        if (p[i] < 0x80) {
            i++;
            continue;
        }
        i += (size_t)utf8_decode(p + i, len - i, &cp, &ok);
        if (!ok) {
            if (bad_at)
                *bad_at = i - 1;
            return false;
        }
    }
    return true;
}
