/* utf8.c - UTF-8 validation; see utf8.h. */
#include "utf8.h"

#include <stdint.h>
#include <string.h>

size_t utf8_seq_len(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    if (len == 0)
        return 0;
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    /* The second byte's range depends on the first (RFC 3629 section 4): the narrow ranges
     * after E0, ED, F0 and F4 are what rule out overlong forms, surrogates and > U+10FFFF. */
    unsigned lo = 0x80, hi = 0xBF;
    size_t n;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0; /* a continuation byte, C0/C1 (overlong) or F5..FF */
    }
    if (len < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    }
    return n;
}

bool utf8_is_valid(const char *s, size_t len, size_t *bad)
{
    size_t i = 0;
    while (i < len) {
        /* Request bodies are mostly ASCII: test 32 bytes with one branch while they are. */
        while (len - i >= 32) {
            uint64_t w[4];
            memcpy(w, s + i, sizeof w);
            if (((w[0] | w[1] | w[2] | w[3]) & 0x8080808080808080ull) != 0)
                break;
            i += 32;
        }
        if (i == len)
            break;
        if (len - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, sizeof w);
            if ((w & 0x8080808080808080ull) == 0) {
                i += 8;
                continue;
            }
        }
        size_t n = utf8_seq_len(s + i, len - i);
        if (n == 0) {
            if (bad != NULL)
                *bad = i;
            return false;
        }
        i += n;
    }
    return true;
}

size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    /* Step back over continuation bytes to the start of the sequence that 'max' cuts. */
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

long utf8_json_find_nul(const char *s, size_t len)
{
    const char *raw = memchr(s, '\0', len);
    const char *end = raw != NULL ? raw : s + len;
    for (const char *p = s; p < end;) {
        p = memchr(p, '\\', (size_t)(end - p));
        if (p == NULL || end - p < 2)
            break;
        if (p[1] == 'u' && end - p >= 6 && memcmp(p + 2, "0000", 4) == 0)
            return (long)(p - s);
        p += 2;
    }
    return raw != NULL ? (long)(raw - s) : -1;
}
