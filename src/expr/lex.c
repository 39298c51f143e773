/* lex.c - CEL tokens: literals in every quote form, identifiers, operators.
 *
 * String and bytes literals are decoded here (escapes, raw strings), into the arena. A
 * problem gives a T_ERROR token with a message; the parser turns it into a diag. */
#include "expr_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const reserved[] = {"as",     "break",   "const",     "continue", "else",
                                       "for",    "function", "if",       "import",   "let",
                                       "loop",   "package", "namespace", "return",   "var",
                                       "void",   "while"};

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static bool is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_ident(char c) { return is_ident_start(c) || is_digit(c); }
static int hex_val(char c) { return is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10; }

static token tok_error(token t, const char *msg)
{
    t.t = T_ERROR;
    t.err = msg;
    return t;
}

/* Appends the UTF-8 form of 'cp' at out[*n]. Returns false for surrogates and > U+10FFFF. */
static bool put_utf8(char *out, uint32_t *n, uint32_t cp)
{
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
        return false;
    if (cp < 0x80) {
        out[(*n)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*n)++] = (char)(0xC0 | cp >> 6);
        out[(*n)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out[(*n)++] = (char)(0xE0 | cp >> 12);
        out[(*n)++] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[(*n)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        out[(*n)++] = (char)(0xF0 | cp >> 18);
        out[(*n)++] = (char)(0x80 | (cp >> 12 & 0x3F));
        out[(*n)++] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[(*n)++] = (char)(0x80 | (cp & 0x3F));
    }
    return true;
}

/* Decodes one escape after the backslash at src[*p]; advances *p. */
static const char *decode_escape(const char *src, size_t end, size_t *p, bool bytes, char *out,
                                 uint32_t *n)
{
    char c = src[*p];
    static const char simple_in[] = "abfnrtv\\'\"`?";
    static const char simple_out[] = "\a\b\f\n\r\t\v\\'\"`?";
    const char *k = strchr(simple_in, c);
    if (c != '\0' && k != NULL) {
        out[(*n)++] = simple_out[k - simple_in];
        (*p)++;
        return NULL;
    }
    int digits = 0;
    uint32_t cp = 0;
    if (c == 'x' || c == 'X')
        digits = 2;
    else if (c == 'u')
        digits = 4;
    else if (c == 'U')
        digits = 8;
    if (digits > 0) {
        (*p)++;
        for (int i = 0; i < digits; i++, (*p)++) {
            if (*p >= end || !is_hex(src[*p]))
                return "invalid hexadecimal escape";
            cp = cp << 4 | (uint32_t)hex_val(src[*p]);
        }
        if (digits == 2 && bytes) {
            out[(*n)++] = (char)cp;
            return NULL;
        }
        if (digits > 2 && bytes)
            return "unicode escapes are not allowed in bytes literals";
        return put_utf8(out, n, cp) ? NULL : "invalid unicode code point in escape";
    }
    if (c >= '0' && c <= '3') {
        for (int i = 0; i < 3; i++, (*p)++) {
            if (*p >= end || src[*p] < '0' || src[*p] > '7')
                return "invalid octal escape";
            cp = cp << 3 | (uint32_t)(src[*p] - '0');
        }
        if (bytes) {
            out[(*n)++] = (char)cp;
            return NULL;
        }
        return put_utf8(out, n, cp) ? NULL : "invalid octal escape";
    }
    return "invalid escape sequence";
}

/* After a bad escape: moves past the literal's closing quote (or to the line's end). */
static void skip_to_quote(lexer *lx, char q, bool triple)
{
    while (lx->pos < lx->len) {
        char c = lx->src[lx->pos];
        if (c == '\\' && lx->pos + 1 < lx->len) {
            lx->pos += 2;
            continue;
        }
        if (!triple && (c == '\n' || c == q)) {
            lx->pos += c == q;
            return;
        }
        if (triple && c == q && lx->pos + 2 < lx->len && lx->src[lx->pos + 1] == q &&
            lx->src[lx->pos + 2] == q) {
            lx->pos += 3;
            return;
        }
        lx->pos++;
    }
}

static token lex_string(lexer *lx, token t, bool raw, bool bytes)
{
    const char *src = lx->src;
    char q = src[lx->pos];
    bool triple = lx->pos + 2 < lx->len && src[lx->pos + 1] == q && src[lx->pos + 2] == q;
    lx->pos += triple ? 3 : 1;
    size_t cap = lx->len - lx->pos + 1; /* decoding never lengthens: the rest of the text */
    char *out = arena_alloc(lx->a, cap);
    if (out == NULL)
        return tok_error(t, "out of memory");
    uint32_t n = 0;
    for (;;) {
        if (lx->pos >= lx->len)
            return tok_error(t, "unterminated string literal");
        char c = src[lx->pos];
        if (c == q && (!triple || (lx->pos + 2 < lx->len && src[lx->pos + 1] == q &&
                                   src[lx->pos + 2] == q))) {
            lx->pos += triple ? 3 : 1;
            break;
        }
        if (!triple && (c == '\n' || c == '\r'))
            return tok_error(t, "newline in a string literal; use a triple-quoted string");
        if (c == '\\' && !raw) {
            lx->pos++;
            const char *err = decode_escape(src, lx->len, &lx->pos, bytes, out, &n);
            if (err != NULL) {
                skip_to_quote(lx, q, triple); /* one error per literal, not a cascade */
                return tok_error(t, err);
            }
            continue;
        }
        out[n++] = c;
        lx->pos++;
    }
    out[n] = '\0';
    /* the rest of the text was reserved for each literal: a policy's expressions held 27 times
     * more reserved than decoded, 0.5 MiB of the loaded set */
    arena_trim(lx->a, out, cap, (size_t)n + 1);
    if (!bytes && !utf8_valid(out, n))
        return tok_error(t, "string literal is not valid UTF-8");
    t.t = bytes ? T_BYTES : T_STRING;
    t.v.str.s = out;
    t.v.str.len = n;
    return t;
}

/* Finishes an integer literal of value 'v' ('over': it did not fit 64 bits): a uint with a
 * 'u' suffix, else an int. 9223372036854775808 is kept, flagged, for a unary minus. */
static token int_token(lexer *lx, token t, uint64_t v, bool over)
{
    if (lx->pos < lx->len && (lx->src[lx->pos] == 'u' || lx->src[lx->pos] == 'U')) {
        lx->pos++;
        if (over)
            return tok_error(t, "uint literal out of range");
        t.t = T_UINT;
        t.v.u = v;
        return t;
    }
    if (over || v > (uint64_t)INT64_MAX + 1)
        return tok_error(t, "int literal out of range");
    t.t = T_INT;
    t.int_overflow = v == (uint64_t)INT64_MAX + 1;
    t.v.i = (int64_t)(v & (uint64_t)INT64_MAX);
    return t;
}

static token lex_number(lexer *lx, token t)
{
    const char *s = lx->src + lx->pos;
    size_t i = 0, rest = lx->len - lx->pos;
    if (rest > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        i = 2;
        uint64_t v = 0;
        bool over = false;
        if (i >= rest || !is_hex(s[i])) {
            lx->pos += i;
            return tok_error(t, "invalid hexadecimal literal");
        }
        for (; i < rest && is_hex(s[i]); i++) {
            over |= v > (UINT64_MAX >> 4);
            v = v << 4 | (uint64_t)hex_val(s[i]);
        }
        lx->pos += i;
        return int_token(lx, t, v, over);
    }
    while (i < rest && is_digit(s[i]))
        i++;
    bool dbl = false;
    if (i + 1 < rest && s[i] == '.' && is_digit(s[i + 1])) {
        dbl = true;
        i++;
        while (i < rest && is_digit(s[i]))
            i++;
    }
    if (i < rest && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < rest && (s[j] == '+' || s[j] == '-'))
            j++;
        if (j < rest && is_digit(s[j])) {
            dbl = true;
            i = j;
            while (i < rest && is_digit(s[i]))
                i++;
        }
    }
    char buf[400];
    if (i >= sizeof buf) {
        lx->pos += i;
        return tok_error(t, "number literal too long");
    }
    memcpy(buf, s, i);
    buf[i] = '\0';
    lx->pos += i;
    if (dbl) {
        t.t = T_DOUBLE;
        t.v.d = strtod(buf, NULL);
        return t;
    }
    errno = 0;
    unsigned long long v = strtoull(buf, NULL, 10);
    return int_token(lx, t, v, errno == ERANGE);
}

static token lex_ident(lexer *lx, token t)
{
    size_t start = lx->pos;
    while (lx->pos < lx->len && is_ident(lx->src[lx->pos]))
        lx->pos++;
    size_t n = lx->pos - start;
    const char *s = lx->src + start;
    /* String prefixes: r, b, and both in either order and case. */
    if (n <= 2 && lx->pos < lx->len && (lx->src[lx->pos] == '"' || lx->src[lx->pos] == '\'')) {
        bool raw = false, bytes = false, ok = true;
        for (size_t i = 0; i < n; i++) {
            char c = (char)(s[i] | 0x20);
            if (c == 'r' && !raw)
                raw = true;
            else if (c == 'b' && !bytes)
                bytes = true;
            else
                ok = false;
        }
        if (ok)
            return lex_string(lx, t, raw, bytes);
    }
    static const struct { const char *w; enum tok t; } kw[] = {
        {"true", T_TRUE}, {"false", T_FALSE}, {"null", T_NULL}, {"in", T_IN}};
    for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++) {
        if (strlen(kw[i].w) == n && memcmp(s, kw[i].w, n) == 0) {
            t.t = kw[i].t;
            return t;
        }
    }
    /* Reserved words may not name variables or functions, but may name fields:
     * object.metadata.namespace is valid CEL (SELECTOR excludes only the keywords). */
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strlen(reserved[i]) == n && memcmp(s, reserved[i], n) == 0)
            t.reserved = true;
    t.t = T_IDENT;
    t.v.str.s = arena_strndup(lx->a, s, n);
    t.v.str.len = (uint32_t)n;
    if (t.v.str.s == NULL)
        return tok_error(t, "out of memory");
    return t;
}

/* `name` after a dot: a field name that is not an identifier (`content-type`, `foo.txt`). */
static token lex_quoted_ident(lexer *lx, token t)
{
    size_t start = ++lx->pos;
    while (lx->pos < lx->len && lx->src[lx->pos] != '`' && lx->src[lx->pos] != '\n')
        lx->pos++;
    if (lx->pos >= lx->len || lx->src[lx->pos] != '`')
        return tok_error(t, "unterminated quoted field name");
    size_t n = lx->pos - start;
    lx->pos++;
    if (n == 0)
        return tok_error(t, "empty quoted field name");
    t.t = T_IDENT;
    t.quoted = true;
    t.v.str.s = arena_strndup(lx->a, lx->src + start, n);
    t.v.str.len = (uint32_t)n;
    return t.v.str.s ? t : tok_error(t, "out of memory");
}

static void skip_space(lexer *lx)
{
    while (lx->pos < lx->len) {
        char c = lx->src[lx->pos];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
            lx->pos++;
        } else if (c == '/' && lx->pos + 1 < lx->len && lx->src[lx->pos + 1] == '/') {
            while (lx->pos < lx->len && lx->src[lx->pos] != '\n')
                lx->pos++;
        } else {
            break;
        }
    }
}

token lex_next(lexer *lx)
{
    skip_space(lx);
    token t;
    memset(&t, 0, sizeof t);
    t.span.start = (uint32_t)lx->pos;
    if (lx->pos >= lx->len) {
        t.t = T_EOF;
        t.span.end = t.span.start;
        return t;
    }
    const char *s = lx->src + lx->pos;
    char c = s[0], d = lx->pos + 1 < lx->len ? s[1] : '\0';
    if (is_digit(c) || (c == '.' && is_digit(d))) {
        t = lex_number(lx, t);
    } else if (c == '"' || c == '\'') {
        t = lex_string(lx, t, false, false);
    } else if (c == '`') {
        t = lex_quoted_ident(lx, t);
    } else if (is_ident_start(c)) {
        t = lex_ident(lx, t);
    } else {
        static const struct { const char *op; enum tok t; } ops[] = {
            {"==", T_EQ}, {"!=", T_NE}, {"<=", T_LE}, {">=", T_GE}, {"&&", T_AND}, {"||", T_OR},
            {"(", T_LPAREN}, {")", T_RPAREN}, {"[", T_LBRACKET}, {"]", T_RBRACKET},
            {"{", T_LBRACE}, {"}", T_RBRACE}, {".", T_DOT}, {",", T_COMMA}, {":", T_COLON},
            {"?", T_QUESTION}, {"+", T_PLUS}, {"-", T_MINUS}, {"*", T_STAR}, {"/", T_SLASH},
            {"%", T_PERCENT}, {"!", T_NOT}, {"<", T_LT}, {">", T_GT}};
        size_t i;
        for (i = 0; i < sizeof ops / sizeof ops[0]; i++) {
            size_t n = strlen(ops[i].op);
            if (n <= lx->len - lx->pos && memcmp(s, ops[i].op, n) == 0) {
                t.t = ops[i].t;
                lx->pos += n;
                break;
            }
        }
        if (i == sizeof ops / sizeof ops[0]) {
            lx->pos++;
            t = tok_error(t, "unexpected character");
        }
    }
    /* Every token consumes input, errors included, or a caller skipping errors would spin. */
    if (lx->pos == t.span.start)
        lx->pos++;
    t.span.end = (uint32_t)lx->pos;
    return t;
}
