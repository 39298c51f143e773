/* jsonparse.c - a one-pass JSON parser into an arena; see jsonparse.h.
 *
 * Where the time goes on a pretty-printed review: whitespace runs, string bodies and the
 * allocation and linking of nodes. The two scans go 16 bytes a step with SSE2 (part of
 * x86-64's baseline, so every build for it has them); elsewhere, or with JSONPARSE_PORTABLE
 * defined (tests/unit/test_jsonparse_portable.c builds the parser so, to run the same tests
 * on that path), strings go 8 bytes a step in a word and whitespace a byte at a time. A
 * member of an object is one allocation: its node, then its key, then its string value. */
#include "jsonparse.h"

#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bytescan.h"
#include "keyindex.h"
#include "utf8.h"

#if defined(__SSE2__) && !defined(JSONPARSE_PORTABLE)
#include <emmintrin.h>
#define JSONPARSE_SSE2 1
#else
#define JSONPARSE_SSE2 0
#endif

/* For the few small functions of the loop over every token: a call each, with the registers
 * it saves and restores, cost as much as their work. */
#define HOT static inline __attribute__((always_inline))

/* Objects up to this many members are told free of duplicate keys by their keys' bits
 * (key_bit()); larger ones, where the 64 bits would mostly be shared, go to
 * jsonparse_duplicate_key() and its keyindex at once. */
#define TAGGED_MEMBERS 16

typedef struct parser {
    const unsigned char *text, *end;
    arena *a;
    jsonparse_status status; /* the first duplicate key or infinite number, else OK */
    const char *key;
    const unsigned char *err; /* the syntax error's position */
    bool nomem, nul_escape;
} parser;

/* A string's body in the text, between its quotes. */
typedef struct span {
    const unsigned char *s, *e;
    bool escapes;
} span;

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

/* The four whitespace bytes as bits of a word: one test a byte. */
#define WS_BITS (1ull << ' ' | 1ull << '\t' | 1ull << '\n' | 1ull << '\r')

/* The first byte in [p, end) that is not whitespace, or 'end'. A pretty-printed body is a
 * quarter indentation, in runs of up to a few dozen bytes after each newline. */
HOT const unsigned char *skip_ws_run(const unsigned char *p, const unsigned char *end)
{
#if JSONPARSE_SSE2
    const __m128i sp = _mm_set1_epi8(' '), nl = _mm_set1_epi8('\n');
    const __m128i tab = _mm_set1_epi8('\t'), cr = _mm_set1_epi8('\r');
    while (end - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i ws = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, sp), _mm_cmpeq_epi8(x, nl)),
                                  _mm_or_si128(_mm_cmpeq_epi8(x, tab), _mm_cmpeq_epi8(x, cr)));
        unsigned other = (unsigned)_mm_movemask_epi8(ws) ^ 0xFFFFu;
        if (other != 0)
            return p + __builtin_ctz(other);
        p += 16;
    }
#endif
    while (p < end && *p <= ' ' && (WS_BITS >> *p & 1))
        p++;
    return p;
}

/* The first byte in [p, end) that is not whitespace. Most tokens follow none (a compact body
 * has none at all): one test for those. */
HOT const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end)
{
    if (p < end && *p > ' ')
        return p;
    return skip_ws_run(p, end);
}

#if JSONPARSE_SSE2
/* scan_plain() from the block at 'q', whose first stop byte is a backslash (so the string has
 * escapes, or is no string): out of the loop over every token, which keeps its registers. A
 * block whose backslashes each stand alone,
 * none its last byte, each before a byte from 0x20 to 0x7F (\" and \n, not \\\\), has all
 * its escapes stepped over at once, the bytes they escape no stops: the escaped JSON of
 * kubectl's last-applied-configuration annotation is such blocks. Others go stop by stop. */
static __attribute__((noinline)) const unsigned char *scan_escaped(const unsigned char *q,
                                                                    const unsigned char *end)
{
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i sp = _mm_set1_epi8(' ');
    for (; end - q >= 16; q += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)q);
        unsigned mb = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, bslash));
        /* a signed compare: "below a space" takes in 0x80-0xFF too, as negative bytes */
        unsigned mc = (unsigned)_mm_movemask_epi8(_mm_cmplt_epi8(x, sp));
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, quote)) | mb | mc;
        unsigned esc = mb << 1;
        if ((mb & esc) == 0 && (mb & 0x8000u) == 0 && (mc & esc) == 0) {
            unsigned rest = m & ~mb & ~esc;
            if (rest != 0)
                return q + __builtin_ctz(rest);
            continue;
        }
        while (m != 0) {
            unsigned i = (unsigned)__builtin_ctz(m);
            if (q[i] != '\\' || i == 15 || q[i + 1] < 0x20 || q[i + 1] >= 0x80)
                return q + i;
            m &= ~0u << (i + 2); /* the escaped byte too: a quote or backslash is no stop */
        }
    }
    return bytescan_portable(q, end, BYTESCAN_HIGH);
}
#endif

/* The first stop byte in [q, end), or 'end'; with SSE2, the first but for the escapes that
 * lie whole inside a block of 16 bytes (scan_escaped()), so that a string full of \" is not a
 * restart of the scan at each. The caller reads what is left: a quote, a control character, a
 * byte from 0x80 up, a backslash before such a byte or at a block's last byte (the escape
 * letters themselves are read by unescape()). */
HOT const unsigned char *scan_plain(const unsigned char *q, const unsigned char *end,
                                    bool *escapes)
{
#if JSONPARSE_SSE2
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i sp = _mm_set1_epi8(' ');
    while (end - q >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)q);
        /* a signed compare: "below a space" takes in 0x80-0xFF too, as negative bytes */
        __m128i stop =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
                         _mm_cmplt_epi8(x, sp));
        unsigned m = (unsigned)_mm_movemask_epi8(stop);
        if (m != 0) {
            unsigned i = (unsigned)__builtin_ctz(m);
            if (q[i] != '\\')
                return q + i;
            *escapes = true;
            return scan_escaped(q, end);
        }
        q += 16;
    }
#else
    (void)escapes;
#endif
    /* the rest (all of it without SSE2): a quote, a backslash, a control character or a byte
     * from 0x80 up, where a multi-byte sequence starts (checked on its own) */
    return bytescan_portable(q, end, BYTESCAN_HIGH);
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

/* Copies the bytes of [s, e) before the first backslash to '*op' and moves '*op' past them;
 * returns that backslash, or 'e'. With SSE2, 16 bytes a step where [s, e) has them: the
 * output of unescape() is never ahead of its input (an escape never grows), so 16 bytes at
 * '*op' are inside the string's copy whenever 16 are left in [s, e). */
static const unsigned char *copy_run(const unsigned char *s, const unsigned char *e,
                                     unsigned char **op)
{
    unsigned char *o = *op;
#if JSONPARSE_SSE2
    const __m128i bslash = _mm_set1_epi8('\\');
    while (e - s >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)s);
        _mm_storeu_si128((__m128i *)(void *)o, x);
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, bslash));
        if (m != 0) {
            unsigned k = (unsigned)__builtin_ctz(m);
            *op = o + k;
            return s + k;
        }
        s += 16;
        o += 16;
    }
#endif
    const unsigned char *bs = memchr(s, '\\', (size_t)(e - s));
    size_t run = (size_t)((bs != NULL ? bs : e) - s);
    memcpy(o, s, run);
    *op = o + run;
    return s + run;
}

/* What each one-letter escape stands for; 0 for the bytes that start none. */
static const unsigned char one_letter[256] = {
    ['"'] = '"',  ['\\'] = '\\', ['/'] = '/',  ['b'] = '\b',
    ['f'] = '\f', ['n'] = '\n',  ['r'] = '\r', ['t'] = '\t',
};

/* Decodes the escapes of the string body [s, e) (already checked to end at an unescaped
 * quote and to hold no control character or bad UTF-8) into 'o'. An escape never grows: a
 * \uXXXX gives at most 3 bytes for 6, a pair 4 for 12. Returns the end of the output, or NULL
 * (the error's position in ps) for a bad escape. */
static unsigned char *unescape(parser *ps, const unsigned char *s, const unsigned char *e,
                               unsigned char *o)
{
    for (;;) {
        s = copy_run(s, e, &o);
        if (s == e)
            return o;
        unsigned char c = one_letter[s[1]];
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
}

/* Finds the body of the string whose opening quote is at 'p'; returns the end of its closing
 * quote, or NULL (the error's position in ps) when the text is not a string: no closing
 * quote, a control character, bad UTF-8, a backslash before a byte that no escape starts with
 * (the escapes themselves are read by put_string()). */
HOT const unsigned char *scan_string(parser *ps, const unsigned char *p, span *sp)
{
    const unsigned char *s = p + 1, *q = s;
    bool escapes = false;
#if JSONPARSE_SSE2
    /* Nearly every key and value of a review ends in its first 16 bytes with nothing to
     * check before its quote: that case alone, without the loop's tests at each stop. */
    if (ps->end - s >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)s);
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')),
                                      _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))),
                         _mm_cmplt_epi8(x, _mm_set1_epi8(' '))));
        if (m != 0) {
            q = s + __builtin_ctz(m);
            if (*q == '"') {
                *sp = (span){s, q, false};
                return q + 1;
            }
            q = s; /* a stop that is not the quote: the loop below reads it */
        }
    }
#endif
    for (;;) {
        q = scan_plain(q, ps->end, &escapes);
        if (q == ps->end)
            return fail(ps, q);
        if (*q == '"')
            break;
        if (*q == '\\') {
            if (ps->end - q < 2)
                return fail(ps, q);
            if (q[1] < 0x20 || q[1] >= 0x80)
                return fail(ps, q + 1); /* told apart later: NUL, not UTF-8, no escape */
            escapes = true;
            q += 2;
            continue;
        }
        size_t n = *q >= 0x80 ? utf8_seq_len((const char *)q, (size_t)(ps->end - q)) : 0;
        if (n == 0)
            return fail(ps, q); /* a control character or bad UTF-8 */
        q += n;
    }
    *sp = (span){s, q, escapes};
    return q + 1;
}

/* memcpy() of 'n' bytes, without a call for the short strings that most keys and values are:
 * two overlapping moves of a fixed size. */
HOT void copy_bytes(unsigned char *o, const unsigned char *s, size_t n)
{
    if (n >= 8 && n <= 16) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(o, &a, 8);
        memcpy(o + n - 8, &b, 8);
    } else if (n >= 4 && n < 8) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        memcpy(o, &a, 4);
        memcpy(o + n - 4, &b, 4);
    } else if (n < 4) {
        for (size_t i = 0; i < n; i++)
            o[i] = s[i];
    } else {
#if JSONPARSE_SSE2
        /* 16 bytes a step, the last step overlapping the one before it */
        size_t i = 0;
        for (; i + 16 < n; i += 16)
            _mm_storeu_si128((__m128i *)(void *)(o + i),
                             _mm_loadu_si128((const __m128i *)(const void *)(s + i)));
        _mm_storeu_si128((__m128i *)(void *)(o + n - 16),
                         _mm_loadu_si128((const __m128i *)(const void *)(s + n - 16)));
#else
        memcpy(o, s, n);
#endif
    }
}

/* Writes the string 'sp' decoded and NUL-terminated at 'o', which has room for its text's
 * length and the NUL. Returns the NUL's address, or NULL (the position in ps) for a bad
 * escape. */
HOT unsigned char *put_string(parser *ps, const span *sp, unsigned char *o)
{
    size_t len = (size_t)(sp->e - sp->s);
    if (!sp->escapes) {
        copy_bytes(o, sp->s, len);
        o += len;
    } else if ((o = unescape(ps, sp->s, sp->e, o)) == NULL) {
        return NULL;
    }
    *o = '\0';
    return o;
}

/* One of 64 bits for the key 'k' of 'len' bytes, from its length and three of its bytes:
 * equal keys have the same bit, so an object of up to TAGGED_MEMBERS members whose keys all
 * have different bits has no duplicate and needs no string compared (the few that share one
 * go to jsonparse_duplicate_key()). */
HOT uint64_t key_bit(const unsigned char *k, size_t len)
{
    uint64_t tag = len == 0 ? 0
                            : (uint64_t)(uint32_t)len | (uint64_t)k[0] << 32 |
                                  (uint64_t)k[len / 2] << 40 | (uint64_t)k[len - 1] << 48;
    return 1ull << (tag * 0x9E3779B97F4A7C15ull >> 58);
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* Reads the number of RFC 8259's grammar at 's', with strtod() as cJSON does, into '*out';
 * returns the end of its text, or NULL. */
static const unsigned char *parse_number(parser *ps, const unsigned char *s, double *out)
{
    const unsigned char *q = s, *end = ps->end;
    if (*q == '-')
        q++;
    if (q < end && *q == '0') {
        q++;
    } else if (q < end && is_digit(*q)) {
        while (q < end && is_digit(*q))
            q++;
    } else {
        return fail(ps, s);
    }
    bool integer = true;
    if (q < end && *q == '.') {
        if (++q == end || !is_digit(*q))
            return fail(ps, s);
        while (q < end && is_digit(*q))
            q++;
        integer = false;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        if (++q < end && (*q == '+' || *q == '-'))
            q++;
        if (q == end || !is_digit(*q))
            return fail(ps, s);
        while (q < end && is_digit(*q))
            q++;
        integer = false;
    }
    /* upstream cJSON reads at most 63 characters of [0-9+-eE.] and then finds the rest
     * garbage (jsonparse.h: why that limit stays); a character of that set right after the
     * number (01, 1.5.5) is an error at the number */
    if (q - s > 63 ||
        (q < end && (is_digit(*q) || *q == '+' || *q == '-' || *q == '.' || (*q | 0x20) == 'e')))
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
    *out = d;
    return q;
}

/* An array or object still open (or the top level, as the frame under all others): its node,
 * its last member so far and how many. */
typedef struct frame {
    cJSON *node, *tail;
    size_t n;
    uint64_t keys;      /* an object's: the bits of its keys so far (key_bit()) */
    bool object, maybe; /* maybe: two keys had the same bit */
} frame;

/* The key of the member being read. One with escapes is decoded at once ('copy'), so that a
 * bad escape in it is reported before any error in its value; one without is copied into the
 * room after its value's node, in the node's allocation ('room' bytes, its length and NUL). */
typedef struct key {
    span sp;
    unsigned char *copy;
    size_t len; /* decoded */
    size_t room;
} key;

/* The check at the close of an object of 'n' members, after those of its members' values:
 * its keys are compared as strings when two of them had the same bit ('maybe', key_bit()), or
 * when it has more than TAGGED_MEMBERS members. */
static void check_keys(parser *ps, const cJSON *obj, size_t n, bool maybe)
{
    if (ps->status != JSONPARSE_OK || n < 2 || (!maybe && n <= TAGGED_MEMBERS))
        return;
    /* the strings: the exact answer, and the one of the order jsonparse.h promises */
    const char *dup = jsonparse_duplicate_key(obj, n, ps->a);
    if (dup != NULL) {
        ps->status = JSONPARSE_DUPLICATE;
        ps->key = dup;
    }
}

/* Reads the key at 'p', up to its value; returns the value's start, or NULL. */
HOT const unsigned char *parse_key(parser *ps, const unsigned char *p, key *k)
{
    const unsigned char *end = ps->end;
    if (p == end || *p != '"')
        return fail(ps, p);
    if ((p = scan_string(ps, p, &k->sp)) == NULL)
        return NULL;
    k->len = (size_t)(k->sp.e - k->sp.s);
    k->copy = NULL;
    k->room = k->len + 1;
    if (k->sp.escapes) {
        unsigned char *e;
        if ((k->copy = alloc(ps, k->len + 1)) == NULL ||
            (e = put_string(ps, &k->sp, k->copy)) == NULL)
            return NULL;
        k->len = (size_t)(e - k->copy);
        k->room = 0;
    }
    if (p == end || *p != ':') {
        p = skip_ws_run(p, end);
        if (p == end || *p != ':')
            return fail(ps, p);
    }
    p++;
    if (p < end && *p == ' ') /* "key": value, the usual spelling */
        p++;
    return skip_ws(p, end);
}

/* A node of 'type' with room for 'more' bytes after it (and after its key's), the next member
 * of 'top', named 'k' when 'top' is an object. */
HOT cJSON *add_node(parser *ps, frame *top, const key *k, int type, size_t more)
{
    size_t room = top->object ? k->room : 0;
    cJSON *v = alloc(ps, sizeof *v + room + more);
    if (v == NULL)
        return NULL;
    *v = (cJSON){.type = type};
    if (top->object) {
        unsigned char *s = k->copy;
        if (s == NULL) {
            s = (unsigned char *)(v + 1);
            copy_bytes(s, k->sp.s, k->len);
            s[k->len] = '\0';
        }
        v->string = (char *)s;
        uint64_t bit = key_bit(s, k->len);
        top->maybe |= (top->keys & bit) != 0;
        top->keys |= bit;
    }
    if (top->tail == NULL) {
        top->node->child = v;
    } else {
        top->tail->next = v;
        v->prev = top->tail;
    }
    top->tail = v;
    top->n++;
    return v;
}

/* Reads the scalar at 'p' (a string, number or literal) as the next member of 'top', named
 * 'k' in an object; returns the end of its text, or NULL. */
HOT const unsigned char *parse_scalar(parser *ps, const unsigned char *p, frame *top,
                                      const key *k)
{
    static const struct {
        const char *word;
        size_t n;
        int type;
    } words[] = {{"true", 4, cJSON_True}, {"false", 5, cJSON_False}, {"null", 4, cJSON_NULL}};
    cJSON *v;
    if (*p == '"') {
        span sp;
        if ((p = scan_string(ps, p, &sp)) == NULL)
            return NULL;
        if ((v = add_node(ps, top, k, cJSON_String, (size_t)(sp.e - sp.s) + 1)) == NULL)
            return NULL;
        v->valuestring = (char *)(v + 1) + (top->object ? k->room : 0);
        return put_string(ps, &sp, (unsigned char *)v->valuestring) != NULL ? p : NULL;
    }
    int w = *p == 't' ? 0 : *p == 'f' ? 1 : *p == 'n' ? 2 : -1;
    if (w >= 0) {
        size_t n = words[w].n;
        if ((size_t)(ps->end - p) < n || memcmp(p, words[w].word, n) != 0)
            return fail(ps, p);
        if ((v = add_node(ps, top, k, words[w].type, 0)) == NULL)
            return NULL;
        v->valueint = words[w].type == cJSON_True;
        return p + n;
    }
    double d;
    if ((p = parse_number(ps, p, &d)) == NULL ||
        (v = add_node(ps, top, k, cJSON_Number, 0)) == NULL)
        return NULL;
    v->valuedouble = d;
    v->valueint = d >= INT_MAX ? INT_MAX : d <= (double)INT_MIN ? INT_MIN : (int)d;
    return p;
}

/* Reads the value at 'p' and everything after it to the end of the text: an iterative
 * walk with the open containers on a stack (a function call per value cost more than the
 * value on a review). The stack is CJSON_NESTING_LIMIT frames on the C stack, 40 KB: less
 * than the recursion it replaced took at that depth. Returns the top value, its text's end in
 * '*endp', or NULL. */
static cJSON *parse_text(parser *ps, const unsigned char *p, const unsigned char **endp)
{
    cJSON doc = {0}; /* holds the top value as its child */
    frame stack[CJSON_NESTING_LIMIT + 1], *top = stack;
    const unsigned char *end = ps->end;
    key k = {0}; /* read only in an object, where parse_key() has set it */
    *top = (frame){.node = &doc};
    for (;;) {
        /* a value, after its key in an object */
        if (top->object && (p = parse_key(ps, p, &k)) == NULL)
            return NULL;
        if (p == end)
            return fail(ps, p);
        if (*p == '{' || *p == '[') {
            bool object = *p == '{';
            if (top - stack >= CJSON_NESTING_LIMIT)
                return fail(ps, p);
            cJSON *v = add_node(ps, top, &k, object ? cJSON_Object : cJSON_Array, 0);
            if (v == NULL)
                return NULL;
            *++top = (frame){.node = v, .object = object};
            p = skip_ws(p + 1, end);
            if (p == end || *p != (object ? '}' : ']'))
                continue; /* to its first member */
            p++;
            top--; /* empty: no links, no keys */
        } else if ((p = parse_scalar(ps, p, top, &k)) == NULL) {
            return NULL;
        }
        /* after a value: a comma, or the close of containers */
        for (;;) {
            if (top == stack) {
                *endp = p;
                return doc.child;
            }
            p = skip_ws(p, end);
            if (p < end && *p == ',') {
                p = skip_ws(p + 1, end);
                break;
            }
            if (p == end || *p != (top->object ? '}' : ']'))
                return fail(ps, p);
            p++;
            top->node->child->prev = top->tail; /* as cJSON links them: the head's to the tail */
            if (top->object)
                check_keys(ps, top->node, top->n, top->maybe);
            top--;
        }
    }
}

jsonparse_status jsonparse_parse(arena *a, const char *text, size_t len, jsonparse_result *out)
{
    parser ps = {.text = (const unsigned char *)text, .a = a};
    ps.end = ps.text + len;
    *out = (jsonparse_result){0};
    const unsigned char *p = skip_ws(ps.text, ps.end);
    cJSON *doc = parse_text(&ps, p, &p);
    if (doc != NULL) {
        p = skip_ws(p, ps.end);
        if (p != ps.end)
            doc = fail(&ps, p);
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
