/* jsonparse.c - a one-pass JSON parser into an arena; see jsonparse.h. */
#include "jsonparse.h"

#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyindex.h"
#include "utf8.h"

typedef struct parser {
    const unsigned char *text, *p, *end;
    arena *a;
    int depth;
    jsonparse_status status; /* the first duplicate key or infinite number, else OK */
    const char *key;
    const unsigned char *err; /* the syntax error's position */
    bool nomem, nul_escape;
} parser;

/* Every failure goes through here, so that the first position is kept; returns NULL. */
static void *fail(parser *ps, const unsigned char *at)
{
    if (ps->err == NULL)
        ps->err = at;
    return NULL;
}

static void *alloc(parser *ps, size_t n)
{
    void *m = arena_alloc(ps->a, n);
    if (m == NULL)
        ps->nomem = true;
    return m;
}

static cJSON *new_node(parser *ps, int type)
{
    cJSON *n = alloc(ps, sizeof *n);
    if (n != NULL)
        *n = (cJSON){.type = type};
    return n;
}

/* The four whitespace bytes as bits of a word: one test a byte (pretty-printed bodies are
 * a quarter indentation). */
#define WS_BITS (1ull << ' ' | 1ull << '\t' | 1ull << '\n' | 1ull << '\r')

static void skip_ws(parser *ps)
{
    const unsigned char *p = ps->p;
    while (p < ps->end && *p <= ' ' && (WS_BITS >> *p & 1))
        p++;
    ps->p = p;
}

/* Whether a byte ends a string's run of plain bytes: a quote, a backslash, a control
 * character, or the start of a multi-byte sequence (which is checked on its own). */
static bool is_stop(unsigned c)
{
    return c < 0x20 || c == '"' || c == '\\' || c >= 0x80;
}

/* The stop bytes of 8 at once, as the high bit of each (exact for the lowest one, which is
 * all the caller reads: a borrow only runs on above a byte that is itself a stop). */
static uint64_t stop_bits(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    return (((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w) | w) & high;
}

/* The first stop byte in [q, end), or 'end'. */
static const unsigned char *scan_plain(const unsigned char *q, const unsigned char *end)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (end - q >= 8) {
        uint64_t w;
        memcpy(&w, q, sizeof w);
        uint64_t m = stop_bits(w);
        if (m != 0)
            return q + (__builtin_ctzll(m) >> 3);
        q += 8;
    }
#endif
    while (q < end && !is_stop(*q))
        q++;
    return q;
}

static int hex4(const unsigned char *s)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = s[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (c | 0x20) - 'a' + 10;
        else
            return -1;
        v = v << 4 | d;
    }
    return v;
}

static size_t put_utf8(unsigned char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the escapes of the string body [s, e) (already checked to end at an unescaped
 * quote and to hold no control character or bad UTF-8) into 'o'. An escape never grows: a
 * \uXXXX gives at most 3 bytes for 6, a pair 4 for 12. Returns the end of the output, or NULL
 * (the error's position in ps) for a bad escape. */
static unsigned char *unescape(parser *ps, const unsigned char *s, const unsigned char *e,
                               unsigned char *o)
{
    while (s < e) {
        const unsigned char *bs = memchr(s, '\\', (size_t)(e - s));
        size_t run = (size_t)((bs != NULL ? bs : e) - s);
        memcpy(o, s, run);
        o += run;
        s += run;
        if (bs == NULL)
            break;
        unsigned char c = 0;
        switch (s[1]) {
        case '"':
        case '\\':
        case '/':
            c = s[1];
            break;
        case 'b':
            c = '\b';
            break;
        case 'f':
            c = '\f';
            break;
        case 'n':
            c = '\n';
            break;
        case 'r':
            c = '\r';
            break;
        case 't':
            c = '\t';
            break;
        }
        if (c != 0) {
            *o++ = c;
            s += 2;
            continue;
        }
        if (s[1] != 'u' || e - s < 6)
            return fail(ps, s);
        int cp = hex4(s + 2), lo;
        ps->nul_escape = cp == 0;
        if (cp <= 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
            return fail(ps, s); /* bad hex, \u0000, a low surrogate first */
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (e - s < 12 || s[6] != '\\' || s[7] != 'u' || (lo = hex4(s + 8)) < 0xDC00 ||
                lo > 0xDFFF)
                return fail(ps, s);
            cp = 0x10000 + ((cp & 0x3FF) << 10 | (lo & 0x3FF));
            s += 6;
        }
        o += put_utf8(o, (unsigned)cp);
        s += 6;
    }
    return o;
}

/* Reads the string whose opening quote is at ps->p; returns a NUL-terminated arena copy. */
static char *parse_string(parser *ps)
{
    const unsigned char *s = ps->p + 1, *q = s;
    bool escapes = false;
    for (;;) {
        q = scan_plain(q, ps->end);
        if (q == ps->end)
            return fail(ps, q);
        if (*q == '"')
            break;
        if (*q == '\\') {
            if (ps->end - q < 2)
                return fail(ps, q);
            if (q[1] < 0x20 || q[1] >= 0x80)
                return fail(ps, q + 1); /* told apart below: NUL, not UTF-8, or no escape */
            escapes = true;
            q += 2;
            continue;
        }
        size_t n = *q >= 0x80 ? utf8_seq_len((const char *)q, (size_t)(ps->end - q)) : 0;
        if (n == 0)
            return fail(ps, q); /* a control character or bad UTF-8 */
        q += n;
    }
    size_t len = (size_t)(q - s);
    unsigned char *out = alloc(ps, len + 1), *o;
    if (out == NULL)
        return NULL;
    if (!escapes) {
        memcpy(out, s, len);
        o = out + len;
    } else if ((o = unescape(ps, s, q, out)) == NULL) {
        return NULL;
    }
    *o = '\0';
    ps->p = q + 1;
    return (char *)out;
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* Reads a number of RFC 8259's grammar at ps->p, with strtod() as cJSON does. */
static cJSON *parse_number(parser *ps)
{
    const unsigned char *s = ps->p, *q = s;
    if (*q == '-')
        q++;
    if (q < ps->end && *q == '0') {
        q++;
    } else if (q < ps->end && is_digit(*q)) {
        while (q < ps->end && is_digit(*q))
            q++;
    } else {
        return fail(ps, s);
    }
    bool integer = true;
    if (q < ps->end && *q == '.') {
        if (++q == ps->end || !is_digit(*q))
            return fail(ps, s);
        while (q < ps->end && is_digit(*q))
            q++;
        integer = false;
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        if (++q < ps->end && (*q == '+' || *q == '-'))
            q++;
        if (q == ps->end || !is_digit(*q))
            return fail(ps, s);
        while (q < ps->end && is_digit(*q))
            q++;
        integer = false;
    }
    /* upstream cJSON reads at most 63 characters of [0-9+-eE.] and then finds the rest
     * garbage (jsonparse.h: why that limit stays); a character of that set right after the
     * number (01, 1.5.5) is an error at the number */
    if (q - s > 63 || (q < ps->end && (is_digit(*q) || *q == '+' || *q == '-' || *q == '.' ||
                                       (*q | 0x20) == 'e')))
        return fail(ps, s);
    size_t n = (size_t)(q - s);
    double d;
    if (integer && n <= 16) {
        /* an integer of up to 16 characters fits a long long, whose conversion rounds
         * correctly, as strtod does: strtod's answer at a fraction of its cost */
        const unsigned char *c = s + (*s == '-');
        long long v = 0;
        while (c < q)
            v = v * 10 + (*c++ - '0');
        d = (double)v;
        if (*s == '-')
            d = -d; /* -0 stays -0.0, as strtod reads it */
    } else {
        /* '.' is the decimal point: streamguard never calls setlocale(), so LC_NUMERIC is
         * "C" (cJSON swaps in the locale's point for the same reason) */
        char buf[64];
        memcpy(buf, s, n);
        buf[n] = '\0';
        d = strtod(buf, NULL);
        if (!isfinite(d) && ps->status == JSONPARSE_OK)
            ps->status = JSONPARSE_INFINITE;
    }
    cJSON *item = new_node(ps, cJSON_Number);
    if (item == NULL)
        return NULL;
    item->valuedouble = d;
    item->valueint = d >= INT_MAX ? INT_MAX : d <= (double)INT_MIN ? INT_MIN : (int)d;
    ps->p = q;
    return item;
}

static cJSON *parse_value(parser *ps);

/* The check at the close of an object of 'n' members, after those of its members' values. */
static void check_keys(parser *ps, const cJSON *obj, size_t n)
{
    if (ps->status != JSONPARSE_OK || n < 2)
        return;
    const char *dup = jsonparse_duplicate_key(obj, n, ps->a);
    if (dup != NULL) {
        ps->status = JSONPARSE_DUPLICATE;
        ps->key = dup;
    }
}

/* Reads an array or an object, whose opening bracket is at ps->p. */
static cJSON *parse_container(parser *ps, bool object)
{
    const unsigned char *open = ps->p;
    if (ps->depth >= CJSON_NESTING_LIMIT)
        return fail(ps, open);
    cJSON *item = new_node(ps, object ? cJSON_Object : cJSON_Array);
    if (item == NULL)
        return NULL;
    unsigned char close = object ? '}' : ']';
    ps->depth++;
    ps->p++;
    skip_ws(ps);
    cJSON *head = NULL, *tail = NULL;
    size_t n = 0;
    if (ps->p < ps->end && *ps->p == close)
        goto done;
    for (;;) {
        char *key = NULL;
        if (object) {
            if (ps->p == ps->end || *ps->p != '"')
                return fail(ps, ps->p);
            if ((key = parse_string(ps)) == NULL)
                return NULL;
            skip_ws(ps);
            if (ps->p == ps->end || *ps->p != ':')
                return fail(ps, ps->p);
            ps->p++;
            skip_ws(ps);
        }
        cJSON *v = parse_value(ps);
        if (v == NULL)
            return NULL;
        v->string = key;
        if (head == NULL) {
            head = v;
        } else {
            tail->next = v;
            v->prev = tail;
        }
        tail = v;
        n++;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            skip_ws(ps);
            continue;
        }
        if (ps->p < ps->end && *ps->p == close)
            break;
        return fail(ps, ps->p);
    }
done:
    ps->p++;
    ps->depth--;
    if (head != NULL)
        head->prev = tail; /* as cJSON links them: the head's prev is the tail */
    item->child = head;
    if (object)
        check_keys(ps, item, n);
    return item;
}

static cJSON *parse_literal(parser *ps, const char *word, size_t n, int type)
{
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return fail(ps, ps->p);
    cJSON *item = new_node(ps, type);
    if (item == NULL)
        return NULL;
    item->valueint = type == cJSON_True;
    ps->p += n;
    return item;
}

static cJSON *parse_value(parser *ps)
{
    if (ps->p == ps->end)
        return fail(ps, ps->p);
    switch (*ps->p) {
    case '{':
        return parse_container(ps, true);
    case '[':
        return parse_container(ps, false);
    case '"': {
        char *s = parse_string(ps);
        cJSON *item = s != NULL ? new_node(ps, cJSON_String) : NULL;
        if (item != NULL)
            item->valuestring = s;
        return item;
    }
    case 't':
        return parse_literal(ps, "true", 4, cJSON_True);
    case 'f':
        return parse_literal(ps, "false", 5, cJSON_False);
    case 'n':
        return parse_literal(ps, "null", 4, cJSON_NULL);
    default:
        return parse_number(ps);
    }
}

jsonparse_status jsonparse_parse(arena *a, const char *text, size_t len, jsonparse_result *out)
{
    parser ps = {.text = (const unsigned char *)text, .a = a};
    ps.p = ps.text;
    ps.end = ps.text + len;
    *out = (jsonparse_result){0};
    skip_ws(&ps);
    cJSON *doc = parse_value(&ps);
    if (doc != NULL) {
        skip_ws(&ps);
        if (ps.p != ps.end)
            doc = fail(&ps, ps.p);
    }
    if (doc == NULL) {
        if (ps.nomem)
            return JSONPARSE_NOMEM;
        const unsigned char *at = ps.err;
        out->offset = (size_t)(at - ps.text);
        if (at < ps.end && (*at == '\0' || ps.nul_escape))
            return JSONPARSE_NUL;
        if (at < ps.end && *at >= 0x80 &&
            utf8_seq_len((const char *)at, (size_t)(ps.end - at)) == 0)
            return JSONPARSE_UTF8;
        return JSONPARSE_SYNTAX;
    }
    if (ps.status == JSONPARSE_DUPLICATE)
        out->key = ps.key;
    if (ps.status == JSONPARSE_OK)
        out->doc = doc;
    return ps.status;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Up to 16 members (most Kubernetes objects) each pair is compared, first bytes in place;
 * beyond, each key is looked up in a keyindex of those before it (SipHash with a random key:
 * no input makes it quadratic), from 'a'; when 'a' is full, a sorted copy. From 9 members on,
 * the pairs go in the order that reports what the keyindex reports (the first key equal to
 * one before it), so that a message names the same key as before the pairs took over there
 * (below 9 they always went this way: the first key's later equal). */
const char *jsonparse_duplicate_key(const cJSON *obj, size_t n, arena *a)
{
    if (n <= 8) {
        for (const cJSON *x = obj->child; x != NULL; x = x->next) {
            for (const cJSON *y = x->next; y != NULL; y = y->next) {
                if (x->string[0] == y->string[0] && strcmp(x->string, y->string) == 0)
                    return y->string;
            }
        }
        return NULL;
    }
    if (n <= 16) {
        for (const cJSON *y = obj->child->next; y != NULL; y = y->next) {
            for (const cJSON *x = obj->child; x != y; x = x->next) {
                if (x->string[0] == y->string[0] && strcmp(x->string, y->string) == 0)
                    return y->string;
            }
        }
        return NULL;
    }
    keyindex *ix = keyindex_new(a, n);
    if (ix != NULL) {
        for (const cJSON *c = obj->child; c != NULL; c = c->next) {
            size_t len = strlen(c->string);
            if (keyindex_find(ix, c->string, len) != NULL)
                return c->string;
            keyindex_add(ix, c->string, len, c);
        }
        return NULL;
    }
    const char **keys = malloc(n * sizeof *keys);
    if (keys == NULL)
        return "(out of memory)";
    size_t i = 0;
    for (const cJSON *c = obj->child; c != NULL; c = c->next)
        keys[i++] = c->string;
    qsort(keys, n, sizeof *keys, cmp_str_ptr);
    const char *dup = NULL;
    for (i = 1; i < n && dup == NULL; i++) {
        if (strcmp(keys[i - 1], keys[i]) == 0)
            dup = keys[i];
    }
    free(keys);
    return dup;
}
