/* flinkconf.c - how Flink 1.x and 2.x read a flinkConfiguration entry back from the file the
 * Flink operator writes; see flinkconf.h.
 *
 * Flink 1.x is simulated on the very line the operator writes, "key: value", so that a line
 * break, '#' or ": " anywhere in either half has the effect it has on GlobalConfiguration's
 * legacy parser. Almost every entry is a plain one, which is_plain() accepts without copying;
 * the simulation runs only for the others. */
#include "flinkconf.h"

#include <stdbool.h>
#include <string.h>

#include "../util/buf.h"
#include "flinkpath.h"

#define SHOWN_KEYS 3   /* options a message names; the others are counted */
#define SHOWN_BYTES 60 /* of a key in a message */

/* One line, a key read as written by both versions (nothing <= U+0020 at its ends, no '#',
 * no ": ", no '.' at the end) and a value Flink 1.x does not read as blank. Every entry this
 * accepts, legacy_read() reads as the one option 'k' on its first line (the unit test checks
 * it on every short string). */
static bool is_plain(const char *k, size_t kl, const char *v, size_t vl)
{
    /* Every flinkConfiguration entry passes here on each review: the characters that matter
     * are searched with memchr() (word at a time) rather than tested one by one, which cost
     * ~1,000 instructions an entry, 4% of the engine on the typical FlinkDeployment. */
    if (kl == 0 || (unsigned char)k[0] <= 0x20 || (unsigned char)k[kl - 1] <= 0x20 ||
        k[kl - 1] == '.')
        return false;
    if (memchr(k, '#', kl) || memchr(k, '\n', kl) || memchr(k, '\r', kl))
        return false;
    for (const char *c = memchr(k, ':', kl); c != NULL;
         c = memchr(c + 1, ':', kl - (size_t)(c + 1 - k)))
        if (c + 1 < k + kl && c[1] == ' ')
            return false;
    if (vl > 0 && (memchr(v, '\n', vl) || memchr(v, '\r', vl)))
        return false;
    for (size_t i = 0; i < vl && v[i] != '#'; i++) /* shown: a character > U+0020 before a '#' */
        if ((unsigned char)v[i] > 0x20)
            return true;
    return false; /* k8s_flink_conf_value() is blank */
}

typedef struct legacy_reading {
    size_t n;                    /* options read */
    bool later_line;             /* the first of them comes after a line break */
    const char *key[SHOWN_KEYS]; /* the first ones' keys, pointing into the text */
    size_t key_len[SHOWN_KEYS];
} legacy_reading;

/* The first ": " in 's' ('len' bytes), or NULL. */
static const char *find_separator(const char *s, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++)
        if (s[i] == ':' && s[i + 1] == ' ')
            return s + i;
    return NULL;
}

/* The options GlobalConfiguration's legacy parser sets from 't' ('tl' bytes): per line
 * (BufferedReader.readLine ends one at '\n', '\r' or "\r\n"), the text before a '#',
 * trimmed, split at the first ": ", key and value trimmed, skipped if either is empty. */
static void legacy_read(const char *t, size_t tl, legacy_reading *r)
{
    memset(r, 0, sizeof *r);
    size_t line = 0;
    for (size_t s = 0; s <= tl; line++) {
        size_t e = s;
        while (e < tl && t[e] != '\n' && t[e] != '\r')
            e++;
        const char *hash = memchr(t + s, '#', e - s);
        size_t b, cl = k8s_java_trim(t + s, hash != NULL ? (size_t)(hash - (t + s)) : e - s, &b);
        const char *conf = t + s + b;
        const char *sep = find_separator(conf, cl);
        if (sep != NULL) {
            size_t kb, vb;
            size_t kn = k8s_java_trim(conf, (size_t)(sep - conf), &kb);
            size_t vn = k8s_java_trim(sep + 2, (size_t)(conf + cl - (sep + 2)), &vb);
            if (kn > 0 && vn > 0) {
                if (r->n == 0)
                    r->later_line = line > 0;
                if (r->n < SHOWN_KEYS) {
                    r->key[r->n] = conf + kb;
                    r->key_len[r->n] = kn;
                }
                r->n++;
            }
        }
        if (e + 1 < tl && t[e] == '\r' && t[e + 1] == '\n')
            e++;
        s = e + 1;
    }
}

/* Appends 's' ('len' bytes) in double quotes, with '"', '\' and control characters escaped,
 * cut after SHOWN_BYTES bytes at a character boundary. */
static int put_quoted(buf *b, const char *s, size_t len)
{
    size_t n = len;
    if (n > SHOWN_BYTES) {
        n = SHOWN_BYTES;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--; /* not inside a UTF-8 sequence */
    }
    int rc = buf_append(b, "\"", 1);
    for (size_t i = 0; i < n && rc == 0; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            rc = buf_puts(b, "\\n");
        else if (c == '\r')
            rc = buf_puts(b, "\\r");
        else if (c == '\t')
            rc = buf_puts(b, "\\t");
        else if (c == '"' || c == '\\')
            rc = buf_printf(b, "\\%c", c);
        else if (c < 0x20 || c == 0x7F)
            rc = buf_printf(b, "\\x%02x", c);
        else
            rc = buf_append(b, s + i, 1);
    }
    if (rc == 0 && n < len)
        rc = buf_puts(b, "...");
    return rc == 0 ? buf_append(b, "\"", 1) : rc;
}

/* "option \"k\"" or "options \"a\", \"b\", \"c\" and 2 more", for r->n > 0. */
static int put_options(buf *b, const legacy_reading *r)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < r->n && i < SHOWN_KEYS; i++) {
        rc = buf_puts(b, i > 0 ? ", " : r->n > 1 ? "options " : "option ");
        if (rc == 0)
            rc = put_quoted(b, r->key[i], r->key_len[i]);
    }
    if (rc == 0 && r->n > SHOWN_KEYS)
        rc = buf_printf(b, " and %zu more", r->n - SHOWN_KEYS);
    return rc;
}

/* What each version reads from the entry, as one sentence. */
static int describe(buf *b, const char *key, size_t klen, size_t k2len, const legacy_reading *r)
{
    int rc = buf_puts(b, "flinkConfiguration entry ");
    if (rc == 0)
        rc = put_quoted(b, key, klen);
    if (rc == 0)
        rc = buf_puts(b, " is not read as one option by every Flink version: Flink 1.x "
                         "(flink-conf.yaml) reads ");
    if (rc == 0 && r->n == 0)
        rc = buf_puts(b, "nothing from it (its parser skips a line without a key, a ': ' or a "
                         "value, so a deprecated key or the default applies)");
    if (rc == 0 && r->n > 0)
        rc = put_options(b, r);
    if (rc == 0 && r->n > 0 && r->later_line)
        rc = buf_puts(b, r->n > 1 ? " from its lines" : " from after a line break");
    if (rc == 0)
        rc = buf_puts(b, ", Flink 2.x (config.yaml) ");
    if (rc == 0 && k2len == 0)
        rc = buf_puts(b, "no option");
    if (rc == 0 && k2len > 0) {
        rc = buf_puts(b, "option ");
        if (rc == 0)
            rc = put_quoted(b, key, k2len);
    }
    if (rc == 0)
        rc = buf_puts(b, ", so the policies cannot tell which one Flink runs with");
    return rc;
}

int k8s_flink_conf_entry_check(arena *a, const char *key, size_t klen, const char *val,
                               size_t vlen, const char **why)
{
    *why = NULL;
    if (is_plain(key, klen, val, vlen))
        return 0;
    /* Flink 2.x: String.split("\\.") drops the empty parts at the end of the key. */
    size_t k2len = klen;
    while (k2len > 0 && key[k2len - 1] == '.')
        k2len--;
    /* Flink 1.x: the line the operator writes. */
    char *t = arena_alloc(a, klen + vlen + 3);
    if (t == NULL)
        return -1;
    memcpy(t, key, klen);
    memcpy(t + klen, ": ", 2);
    memcpy(t + klen + 2, val, vlen);
    t[klen + vlen + 2] = '\0';
    legacy_reading r;
    legacy_read(t, klen + vlen + 2, &r);
    if (r.n == 1 && !r.later_line && r.key_len[0] == klen && memcmp(r.key[0], key, klen) == 0 &&
        k2len == klen)
        return 0;
    buf b;
    buf_init(&b, 4096);
    int rc = describe(&b, key, klen, k2len, &r);
    *why = rc == 0 ? arena_strndup(a, b.data, b.len) : NULL;
    buf_clear(&b);
    return *why != NULL ? 0 : -1;
}

bool k8s_flink_conf_is_blank(const char *val, size_t vlen)
{
    for (size_t i = 0; i < vlen; i++)
        if ((unsigned char)val[i] > 0x20 || val[i] == '\n' || val[i] == '\r')
            return false;
    return true;
}

int k8s_flink_conf_value_check(arena *a, const char *what, const char *val, size_t vlen,
                               const char **why)
{
    *why = NULL;
    size_t brk = 0;
    while (brk < vlen && val[brk] != '\n' && val[brk] != '\r')
        brk++;
    if (brk == vlen)
        return 0;
    legacy_reading r;
    legacy_read(val + brk, vlen - brk, &r); /* from the first line break on */
    if (r.n == 0)
        return 0;
    buf b;
    buf_init(&b, 4096);
    int rc = buf_printf(&b, "%s holds a line break after which Flink 1.x (flink-conf.yaml) reads ",
                        what);
    if (rc == 0)
        rc = put_options(&b, &r);
    if (rc == 0)
        rc = buf_puts(&b, ", so the policies cannot tell which options Flink runs with");
    *why = rc == 0 ? arena_strndup(a, b.data, b.len) : NULL;
    buf_clear(&b);
    return *why != NULL ? 0 : -1;
}
