/* fn_format.c - cel-go's strings extension beyond the Kubernetes string library: format()
 * (the verbs %s %d %f %e %x %X %o %b, as cel-go's strings library version 4 and later formats
 * them), strings.quote() and reverse() (of a string, or of a list as in cel-go's lists
 * extension). Results are capped at EXPR_MAX_STRING bytes. */
#include "fn_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A string built in the call's arena (expr_strbuf, expr.h). */
typedef expr_strbuf sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) { expr_strbuf_put(b, s, n); }

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static expr_value sb_value(const expr_call *c, sbuf *b)
{
    if (b->err)
        return fn_error(c, "expr.limit", "string result too large");
    return ev_str(b->len ? b->p : "", b->len);
}

/* Decodes the UTF-8 sequence at s[*i] (advancing *i); an invalid byte is U+FFFD, as Go's
 * range over a string gives. */
static uint32_t next_rune(const unsigned char *s, uint32_t len, uint32_t *i)
{
    unsigned char b = s[*i];
    uint32_t n = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3
               : (b & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || *i + n > len || !utf8_valid((const char *)s + *i, n)) {
        (*i)++;
        return 0xFFFD;
    }
    uint32_t cp = n == 1 ? b : (uint32_t)(b & (0x7F >> n));
    for (uint32_t k = 1; k < n; k++)
        cp = cp << 6 | (s[*i + k] & 0x3F);
    *i += n;
    return cp;
}

static void sb_rune(sbuf *b, uint32_t cp)
{
    char out[4];
    size_t n;
    if (cp < 0x80) {
        out[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        out[0] = (char)(0xF0 | cp >> 18);
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    sb_put(b, out, n);
}

/* ---- strings.quote, reverse ---- */

/* strings.quote(s): s in double quotes, with \a \b \f \n \r \t \v \\ \" escaped and every
 * other character as it is (invalid UTF-8 becomes U+FFFD), as cel-go's quote(). */
expr_value fn_quote(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    (void)r;
    (void)n;
    if (a[0].kind != EXPR_STRING)
        return fn_no_overload(c, "strings.quote", &a[0]);
    sbuf b = {.a = c->a};
    const unsigned char *s = (const unsigned char *)a[0].v.s;
    sb_put(&b, "\"", 1);
    for (uint32_t i = 0; i < a[0].len && !b.err;) {
        uint32_t cp = next_rune(s, a[0].len, &i);
        const char *esc = NULL;
        switch (cp) {
        case '\a': esc = "\\a"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\v': esc = "\\v"; break;
        case '\\': esc = "\\\\"; break;
        case '"': esc = "\\\""; break;
        default: break;
        }
        if (esc)
            sb_put(&b, esc, 2);
        else
            sb_rune(&b, cp);
    }
    sb_put(&b, "\"", 1);
    return sb_value(c, &b);
}

/* s.reverse(): the code points in reverse order; list.reverse(): the elements. */
expr_value fn_reverse(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    (void)a;
    (void)n;
    if (r->kind == EXPR_LIST) {
        uint32_t len = ev_size_ix(c->index, r);
        expr_list *out = ev_list_new(c->a, len);
        if (out == NULL)
            return fn_error(c, "expr.limit", "out of memory");
        ev_iter it;
        expr_value el;
        uint32_t i = len;
        ev_iter_init(&it, r);
        while (i > 0 && ev_iter_next(&it, NULL, &el))
            out->items[--i] = el;
        expr_value v = {.kind = EXPR_LIST};
        v.v.list = out;
        return v;
    }
    if (r->kind != EXPR_STRING)
        return fn_no_overload(c, "reverse", r);
    char *out = arena_alloc(c->a, (size_t)r->len * 3 / 2 + 4); /* U+FFFD: 3 bytes for 1 */
    if (out == NULL)
        return fn_error(c, "expr.limit", "out of memory");
    const unsigned char *s = (const unsigned char *)r->v.s;
    sbuf b = {.a = c->a, .p = out, .cap = r->len * 3 / 2 + 4};
    /* walk backwards: the lead byte of each sequence, then decode it forwards */
    uint32_t end = r->len;
    while (end > 0) {
        uint32_t start = end - 1;
        while (start > 0 && (s[start] & 0xC0) == 0x80 && end - start < 4)
            start--;
        uint32_t i = start;
        uint32_t cp = next_rune(s, end, &i);
        if (i != end) { /* not one sequence: the last byte alone is invalid */
            start = end - 1;
            cp = 0xFFFD;
        }
        sb_rune(&b, cp);
        end = start;
    }
    return sb_value(c, &b);
}

/* ---- format ---- */

#define FORMAT_MAX_PRECISION 100 /* cel-go's strings library version 5 and later */

static expr_value format_error(const expr_call *c, const char *fmt, const char *type)
{
    return expr_error_new(c->a, "expr.format", c->span, fmt, type);
}

/* A double as Go's strconv.FormatFloat(d, 'f', -1, 64): the shortest digits that read back
 * as 'd', never in exponent form (1e21 is "1000000000000000000000"). */
static void put_shortest_fixed(sbuf *b, double d)
{
    char e[40];
    int prec = 0;
    for (; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec, d);
        if (strtod(e, NULL) == d)
            break;
    }
    /* e is [-]D[.DDD]e[+-]X: the digits and the exponent */
    const char *p = e;
    if (*p == '-') {
        sb_put(b, "-", 1);
        p++;
    }
    char digits[24];
    int nd = 0;
    for (; *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    if (exp < 0) {
        sb_put(b, "0.", 2);
        for (int i = 0; i < -exp - 1; i++)
            sb_put(b, "0", 1);
        sb_put(b, digits, (size_t)nd);
        return;
    }
    for (int i = 0; i <= exp; i++)
        sb_put(b, i < nd ? &digits[i] : "0", 1);
    if (nd > exp + 1) {
        sb_put(b, ".", 1);
        sb_put(b, digits + exp + 1, (size_t)(nd - exp - 1));
    }
}

/* NaN and the infinities as cel-go writes them; false for a finite 'd'. */
static bool put_special(sbuf *b, double d)
{
    if (isnan(d))
        sb_puts(b, "NaN");
    else if (isinf(d))
        sb_puts(b, d > 0 ? "Infinity" : "-Infinity");
    else
        return false;
    return true;
}

static expr_value put_string_clause(const expr_call *c, sbuf *b, const expr_value *v, int depth);

/* A map for %s: its entries formatted, sorted by the key's text. */
typedef struct fentry {
    const char *k, *v;
    uint32_t kl, vl;
} fentry;

static int fentry_cmp(const void *x, const void *y)
{
    const fentry *a = x, *b = y;
    uint32_t n = a->kl < b->kl ? a->kl : b->kl;
    int r = memcmp(a->k, b->k, n);
    return r != 0 ? r : (a->kl > b->kl) - (a->kl < b->kl);
}

static expr_value put_map(const expr_call *c, sbuf *b, const expr_value *v, int depth)
{
    uint32_t n = ev_size(v);
    fentry *ents = arena_alloc(c->a, sizeof *ents * (n ? n : 1));
    if (ents == NULL)
        return fn_error(c, "expr.limit", "out of memory");
    ev_iter it;
    expr_value k, x;
    uint32_t i = 0;
    ev_iter_init(&it, v);
    while (ev_iter_next(&it, &k, &x) && i < n) {
        sbuf kb = {.a = c->a}, vb = {.a = c->a};
        expr_value e = put_string_clause(c, &kb, &k, depth + 1);
        if (e.kind == EXPR_ERROR)
            return e;
        e = put_string_clause(c, &vb, &x, depth + 1);
        if (e.kind == EXPR_ERROR)
            return e;
        if (kb.err || vb.err)
            return fn_error(c, "expr.limit", "string result too large");
        ents[i++] = (fentry){kb.p ? kb.p : "", vb.p ? vb.p : "", kb.len, vb.len};
    }
    /* qsort is not stable, but keys are distinct and so, but for 1 and 1u, are their texts */
    qsort(ents, i, sizeof *ents, fentry_cmp);
    sb_put(b, "{", 1);
    for (uint32_t j = 0; j < i; j++) {
        if (j > 0)
            sb_put(b, ", ", 2);
        sb_put(b, ents[j].k, ents[j].kl);
        sb_put(b, ": ", 2);
        sb_put(b, ents[j].v, ents[j].vl);
    }
    sb_put(b, "}", 1);
    return ev_null();
}

/* %s: cel-go's formatting of each kind; an opaque value (a quantity, a URL) has none. */
static expr_value put_string_clause(const expr_call *c, sbuf *b, const expr_value *v, int depth)
{
    char num[32];
    if (depth > EXPR_MAX_HEIGHT)
        return fn_error(c, "expr.limit", "value nested too deeply to format");
    switch (v->kind) {
    case EXPR_NULL: sb_puts(b, "null"); break;
    case EXPR_BOOL: sb_puts(b, v->v.b ? "true" : "false"); break;
    case EXPR_INT: snprintf(num, sizeof num, "%lld", (long long)v->v.i); sb_puts(b, num); break;
    case EXPR_UINT:
        snprintf(num, sizeof num, "%llu", (unsigned long long)v->v.u);
        sb_puts(b, num);
        break;
    case EXPR_DOUBLE:
        if (!put_special(b, v->v.d))
            put_shortest_fixed(b, v->v.d);
        break;
    case EXPR_STRING:
    case EXPR_BYTES: sb_put(b, v->v.s, v->len); break;
    case EXPR_TYPE: sb_puts(b, v->v.type); break;
    case EXPR_LIST: {
        ev_iter it;
        expr_value x;
        bool first = true;
        ev_iter_init(&it, v);
        sb_put(b, "[", 1);
        while (ev_iter_next(&it, NULL, &x)) {
            if (!first)
                sb_put(b, ", ", 2);
            first = false;
            expr_value e = put_string_clause(c, b, &x, depth + 1);
            if (e.kind == EXPR_ERROR)
                return e;
        }
        sb_put(b, "]", 1);
        break;
    }
    case EXPR_MAP: return put_map(c, b, v, depth);
    default:
        return format_error(c, "error during formatting: string clause can only be used on "
                               "strings, bools, bytes, ints, doubles, maps, lists, types, "
                               "durations, and timestamps, was given %s",
                            expr_type_name(v));
    }
    return ev_null();
}

/* An int or uint in base 2, 8 or 16 (Go writes a negative int as '-' and its magnitude). */
static void put_based(sbuf *b, bool neg, uint64_t mag, unsigned base, bool upper)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char out[72];
    int i = sizeof out;
    do {
        out[--i] = digits[mag % base];
        mag /= base;
    } while (mag > 0);
    if (neg)
        out[--i] = '-';
    sb_put(b, out + i, sizeof out - (size_t)i);
}

static bool int_parts(const expr_value *v, bool *neg, uint64_t *mag)
{
    if (v->kind == EXPR_INT) {
        *neg = v->v.i < 0;
        *mag = *neg ? (uint64_t)0 - (uint64_t)v->v.i : (uint64_t)v->v.i;
        return true;
    }
    if (v->kind == EXPR_UINT) {
        *neg = false;
        *mag = v->v.u;
        return true;
    }
    return false;
}

/* %d: an int or uint in decimal; a double as %s writes it (cel-go accepts it). */
static expr_value put_decimal_clause(const expr_call *c, sbuf *b, const expr_value *v)
{
    bool neg;
    uint64_t mag;
    if (int_parts(v, &neg, &mag))
        put_based(b, neg, mag, 10, false);
    else if (v->kind == EXPR_DOUBLE) {
        if (!put_special(b, v->v.d))
            put_shortest_fixed(b, v->v.d);
    } else
        return format_error(c, "error during formatting: decimal clause can only be used on "
                               "ints, uints, and doubles, was given %s", expr_type_name(v));
    return ev_null();
}

/* %f and %e: any number, converted to double, with 'prec' digits after the point. */
static expr_value put_float_clause(const expr_call *c, sbuf *b, char verb, int prec,
                                   const expr_value *v)
{
    char num[512];
    double d;
    if (v->kind == EXPR_DOUBLE)
        d = v->v.d;
    else if (v->kind == EXPR_INT)
        d = (double)v->v.i;
    else if (v->kind == EXPR_UINT)
        d = (double)v->v.u;
    else
        return format_error(c, verb == 'f'
                                   ? "error during formatting: fixed-point clause can only be "
                                     "used on ints, uints, and doubles, was given %s"
                                   : "error during formatting: scientific clause can only be "
                                     "used on ints, uints, and doubles, was given %s",
                            expr_type_name(v));
    if (put_special(b, d))
        return ev_null();
    /* C's %f and %e round as Go's fmt does: the exact binary value, ties to even */
    int len = snprintf(num, sizeof num, verb == 'f' ? "%.*f" : "%.*e", prec, d);
    if (len < 0 || (size_t)len >= sizeof num) { /* %f of 1e308 with 100 digits */
        char *big = arena_alloc(c->a, 512 + (size_t)prec);
        if (big == NULL)
            return fn_error(c, "expr.limit", "out of memory");
        len = snprintf(big, 512 + (size_t)prec, "%.*f", prec, d);
        sb_put(b, big, (size_t)len);
    } else {
        sb_put(b, num, (size_t)len);
    }
    return ev_null();
}

/* %x and %X: an int or uint in base 16, or each byte of a string or bytes as two digits. */
static expr_value put_hex_clause(const expr_call *c, sbuf *b, bool upper, const expr_value *v)
{
    bool neg;
    uint64_t mag;
    if (int_parts(v, &neg, &mag)) {
        put_based(b, neg, mag, 16, upper);
    } else if (v->kind == EXPR_STRING || v->kind == EXPR_BYTES) {
        const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
        for (uint32_t i = 0; i < v->len && !b->err; i++) {
            unsigned char ch = (unsigned char)v->v.s[i];
            char two[2] = {digits[ch >> 4], digits[ch & 15]};
            sb_put(b, two, 2);
        }
    } else {
        return format_error(c, "error during formatting: only ints, uints, bytes, and "
                               "strings can be formatted as hex, was given %s",
                            expr_type_name(v));
    }
    return ev_null();
}

/* One clause (after the '%' and its precision) applied to 'v'. */
static expr_value put_clause(const expr_call *c, sbuf *b, char verb, int prec,
                             const expr_value *v)
{
    bool neg;
    uint64_t mag;
    switch (verb) {
    case 's': return put_string_clause(c, b, v, 0);
    case 'd': return put_decimal_clause(c, b, v);
    case 'f':
    case 'e': return put_float_clause(c, b, verb, prec, v);
    case 'b':
        if (v->kind == EXPR_BOOL)
            sb_puts(b, v->v.b ? "1" : "0");
        else if (int_parts(v, &neg, &mag))
            put_based(b, neg, mag, 2, false);
        else
            return format_error(c, "error during formatting: only ints, uints, and bools can be "
                                   "formatted as binary, was given %s", expr_type_name(v));
        return ev_null();
    case 'o':
        if (!int_parts(v, &neg, &mag))
            return format_error(c, "error during formatting: octal clause can only be used on "
                                   "ints and uints, was given %s", expr_type_name(v));
        put_based(b, neg, mag, 8, false);
        return ev_null();
    case 'x':
    case 'X': return put_hex_clause(c, b, verb == 'X', v);
    default: return ev_null(); /* not reached: the caller checked the verb */
    }
}

/* s.format(list): each %-clause of 's' replaced by the next element of the list, %% by %. A
 * clause is '%', an optional precision '.N' (N at most 100), and a verb. */
expr_value fn_format(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    (void)n;
    if (r->kind != EXPR_STRING)
        return fn_no_overload(c, "format", r);
    if (a[0].kind != EXPR_LIST)
        return fn_no_overload(c, "format", &a[0]);
    uint32_t nargs = ev_size_ix(c->index, &a[0]), argi = 0;
    const char *s = r->v.s;
    uint32_t len = r->len;
    sbuf b = {.a = c->a};
    for (uint32_t i = 0; i < len && !b.err;) {
        if (s[i] != '%') {
            uint32_t j = i;
            while (j < len && s[j] != '%')
                j++;
            sb_put(&b, s + i, j - i);
            i = j;
            continue;
        }
        if (i + 1 < len && s[i + 1] == '%') {
            sb_put(&b, "%", 1);
            i += 2;
            continue;
        }
        if (argi >= nargs)
            return expr_error_new(c->a, "expr.format", c->span, "index %u out of range", argi);
        if (i + 1 >= len)
            return fn_error(c, "expr.format", "unexpected end of string");
        i++;
        int prec = 6;
        if (s[i] == '.') {
            uint32_t j = ++i;
            long p = 0;
            while (i < len && s[i] >= '0' && s[i] <= '9') {
                if (p <= FORMAT_MAX_PRECISION)
                    p = p * 10 + (s[i] - '0');
                i++;
            }
            if (i >= len)
                return fn_error(c, "expr.format", "could not parse formatting clause: error "
                                                  "while parsing precision: could not find end "
                                                  "of precision specifier");
            if (i == j)
                return fn_error(c, "expr.format", "could not parse formatting clause: error "
                                                  "while parsing precision: a precision needs "
                                                  "digits");
            if (p > FORMAT_MAX_PRECISION)
                return expr_error_new(c->a, "expr.format", c->span,
                                      "could not parse formatting clause: precision exceeds "
                                      "maximum allowed precision %d", FORMAT_MAX_PRECISION);
            prec = (int)p;
        }
        char verb = s[i++];
        if (strchr("sdfebxXo", verb) == NULL || verb == '\0') {
            uint32_t k = i - 1, cl = 1; /* the verb, a whole UTF-8 sequence */
            while (k + cl < len && ((unsigned char)s[k + cl] & 0xC0) == 0x80)
                cl++;
            return expr_error_new(c->a, "expr.format", c->span,
                                  "could not parse formatting clause: unrecognized formatting "
                                  "clause \"%.*s\"", (int)cl, s + k);
        }
        expr_value arg = ev_list_at_ix(c->index, &a[0], argi++);
        expr_value e = put_clause(c, &b, verb, prec, &arg);
        if (e.kind == EXPR_ERROR)
            return e;
    }
    return sb_value(c, &b);
}
