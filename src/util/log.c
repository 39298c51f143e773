/* log.c - logfmt and JSON event lines from typed fields; see log.h. log_out.c writes them. */
#include "log.h"

#include <math.h> /* signbit(), a macro: no libm */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>


#include "bytescan.h"
#include "log_out.h"
#include "utf8.h"

#define LOG_LINE_MAX 8192
#define LOG_TAIL 8 /* kept free for what closes a cut line: '"', '}', '\n', NUL */

static enum log_format log_fmt = LOG_FORMAT_LOGFMT;
static enum log_level log_min = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_setup(enum log_format fmt, enum log_level min, int fd)
{
    log_fmt = fmt;
    log_min = min;
    log_out_set_fd(fd);
}

int log_parse_level(const char *s, enum log_level *out)
{
    for (int i = LOG_DEBUG; i <= LOG_ERROR; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

int log_parse_format(const char *s, enum log_format *out)
{
    if (strcmp(s, "logfmt") == 0)
        *out = LOG_FORMAT_LOGFMT;
    else if (strcmp(s, "json") == 0)
        *out = LOG_FORMAT_JSON;
    else
        return -1;
    return 0;
}

bool log_enabled(enum log_level lv)
{
    return lv >= log_min;
}

/* The line being built. Once a piece does not fit, 'full' is set and the rest is dropped,
 * so a cut line never ends in half an escape. */
typedef struct line {
    char *p;
    size_t n, cap; /* cap excludes LOG_TAIL */
    bool full;
} line;

static void put(line *l, const char *s, size_t len)
{
    if (l->full || l->n + len > l->cap) {
        l->full = true;
        return;
    }
    memcpy(l->p + l->n, s, len);
    l->n += len;
}

/* The tail is reserved, so closing characters always fit. */
static void put_tail(line *l, char c)
{
    l->p[l->n++] = c;
}

/* What ends a run copied as it is inside quotes: a control character, '"', '\\', DEL, and
 * any byte from 0x80 (the scan then looks at its UTF-8 sequence). */
static inline bool is_quoted_stop(unsigned char c)
{
    return bytescan_is_stop(c, BYTESCAN_DEL_UP);
}

/* A logfmt value is bare when it is printable ASCII without space, '"', '=' or '\\'. */
static bool is_bare(const char *s, size_t len)
{
    if (len == 0)
        return false;
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (; end - p >= 8; p += 8) {
        uint64_t w = bytescan_load8(p);
        if ((bytescan_below(w, 0x21) | bytescan_equal(w, '"') | bytescan_equal(w, '=') |
             bytescan_equal(w, '\\') | bytescan_equal(w, 0x7f) | (w & BYTESCAN_HIGH_BITS)) !=
            0)
            return false;
    }
#endif
    for (; p < end; p++) {
        if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p >= 0x7f)
            return false;
    }
    return true;
}

/* The C1 controls (U+0080..U+009F, NEL among them) and U+2028/U+2029: a log reader that
 * splits lines the Unicode way would start a new line there, so they are escaped too. */
static bool is_unicode_break(const unsigned char *u, size_t n)
{
    return (n == 2 && u[0] == 0xC2 && u[1] <= 0x9F) ||
           (n == 3 && u[0] == 0xE2 && u[1] == 0x80 && (u[2] == 0xA8 || u[2] == 0xA9));
}

static unsigned unicode_break_cp(const unsigned char *u, size_t n)
{
    return n == 2 ? u[1] : 0x2000u | (u[2] - 0x80u);
}

/* The first byte from 'p' that ends a quoted run (is_quoted_stop()), or 'end' (bytescan.h):
 * 16 bytes a step with SSE2; quoted_stop_portable() 8 a step. */
static inline const unsigned char *quoted_stop_portable(const unsigned char *p,
                                                        const unsigned char *end)
{
    return bytescan_portable(p, end, BYTESCAN_DEL_UP);
}

static inline const unsigned char *quoted_stop(const unsigned char *p, const unsigned char *end)
{
    return bytescan(p, end, BYTESCAN_DEL_UP);
}

/* The end of the run from 'p' that goes into quotes as it is: printable ASCII other than '"'
 * and '\\', and whole UTF-8 sequences that are not line breaks. */
static const unsigned char *quoted_run(const unsigned char *p, const unsigned char *end)
{
    for (;;) {
        p = quoted_stop(p, end);
        if (p == end || *p < 0x80)
            return p;
        size_t n = utf8_seq_len((const char *)p, (size_t)(end - p));
        if (n == 0 || is_unicode_break(p, n))
            return p;
        p += n;
    }
}

static const char hex_digits[] = "0123456789abcdef";

/* Writes the escape of the byte or sequence at 'p' (which quoted_run() stopped at) into
 * 'esc'; returns its length and sets '*used' to the bytes it stands for. A byte that is not
 * UTF-8 is \xNN in logfmt and U+FFFD in JSON. */
static size_t escape_at(const unsigned char *p, const unsigned char *end, bool json, char esc[8],
                        size_t *used)
{
    unsigned char c = *p;
    esc[0] = '\\';
    *used = 1;
    switch (c) {
    case '"':
    case '\\': esc[1] = (char)c; return 2;
    case '\n': esc[1] = 'n'; return 2;
    case '\r': esc[1] = 'r'; return 2;
    case '\t': esc[1] = 't'; return 2;
    default: break;
    }
    unsigned cp = c;
    if (c >= 0x80) {
        size_t n = utf8_seq_len((const char *)p, (size_t)(end - p));
        if (n == 0) { /* not UTF-8 */
            if (json) {
                memcpy(esc + 1, "ufffd", 5);
                return 6;
            }
            esc[1] = 'x';
            esc[2] = hex_digits[c >> 4];
            esc[3] = hex_digits[c & 0xF];
            return 4;
        }
        cp = unicode_break_cp(p, n); /* quoted_run() stops at no other sequence */
        *used = n;
    }
    esc[1] = 'u';
    esc[2] = hex_digits[cp >> 12 & 0xF];
    esc[3] = hex_digits[cp >> 8 & 0xF];
    esc[4] = hex_digits[cp >> 4 & 0xF];
    esc[5] = hex_digits[cp & 0xF];
    return 6;
}

/* Writes 's' quoted and escaped. Valid UTF-8 is copied; a byte that is not becomes \xNN in
 * logfmt and U+FFFD in JSON. A value cut by the line cap is still closed with its quote: a
 * run is cut at the cap (never inside a character), an escape goes whole or not at all. */
static void put_string(line *l, const char *s, bool json)
{
    size_t len = strlen(s);
    if (!json && l->n + len <= l->cap && is_bare(s, len)) {
        memcpy(l->p + l->n, s, len);
        l->n += len;
        return;
    }
    put(l, "\"", 1); /* fits: put_field checked the room for key and quote */
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end && !l->full) {
        const unsigned char *run = quoted_run(p, end);
        if (run > p) {
            size_t n = (size_t)(run - p), room = l->cap - l->n;
            if (n > room) {
                n = room;
                while (n > 0 && (p[n] & 0xC0) == 0x80) /* not inside a character */
                    n--;
                l->full = true;
            }
            memcpy(l->p + l->n, p, n);
            l->n += n;
            p = run;
            continue;
        }
        char esc[8];
        size_t used, k = escape_at(p, end, json, esc, &used);
        put(l, esc, k);
        p += used;
    }
    if (l->full) /* closed in the reserved tail */
        put_tail(l, '"');
    else
        put(l, "\"", 1);
}

/* Writes 'v' in decimal into 'out' (room for 20 digits); returns the length. */
static size_t put_u64(char *out, unsigned long long v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

static size_t put_i64(char *out, long long v)
{
    if (v >= 0)
        return put_u64(out, (unsigned long long)v);
    out[0] = '-';
    return 1 + put_u64(out + 1, 0ULL - (unsigned long long)v);
}

/* "%.3f" of 'v' without stdio (a review's line has one: ms), for 0 <= v < 1e6. printf rounds
 * the exact binary value, ties to even; so does this, in integers: v is m * 2^e exactly (m
 * below 2^53), so v * 1000 is m * 1000 (below 2^63) shifted by e, and the bits shifted out
 * say whether it is below, at or above the half. Negative numbers and larger ones go through
 * snprintf (never on a request's path). */
static size_t put_fixed3(char *out, double v)
{
    if (!(v >= 0 && v < 1e6) || signbit(v))
        return (size_t)snprintf(out, 64, "%.3f", v);
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    unsigned bexp = (unsigned)(bits >> 52) & 0x7FF;
    uint64_t m = bits & (((uint64_t)1 << 52) - 1);
    int e = bexp == 0 ? -1074 : (int)bexp - 1075;
    if (bexp != 0)
        m |= (uint64_t)1 << 52;
    uint64_t p = m * 1000, k; /* k: v * 1000 rounded */
    if (e >= 0) {
        k = p << e; /* below 1e9: v < 1e6 */
    } else if (e <= -64) {
        k = 0; /* p * 2^e < 2^63 / 2^64: below the half */
    } else {
        unsigned sh = (unsigned)-e;
        uint64_t rest = p & (((uint64_t)1 << sh) - 1), half = (uint64_t)1 << (sh - 1);
        k = p >> sh;
        k += rest > half || (rest == half && (k & 1) != 0);
    }
    size_t n = put_u64(out, k / 1000);
    out[n++] = '.';
    unsigned r = (unsigned)(k % 1000);
    out[n++] = (char)('0' + r / 100);
    out[n++] = (char)('0' + r / 10 % 10);
    out[n++] = (char)('0' + r % 10);
    return n;
}

static void put_field(line *l, const log_field *f, bool json, bool first)
{
    char num[64];
    size_t len = 0;
    size_t klen = f->key_len;
    /* Room for the key and a number or an opening quote, or the field is left out whole:
     * a line never ends in a key without its value. */
    if (l->full || l->n + klen + 4 + 32 > l->cap) {
        l->full = true;
        return;
    }
    char *w = l->p + l->n;
    if (json) {
        if (!first)
            *w++ = ',';
        *w++ = '"';
        memcpy(w, f->key, klen);
        w += klen;
        *w++ = '"';
        *w++ = ':';
    } else {
        if (!first)
            *w++ = ' ';
        memcpy(w, f->key, klen);
        w += klen;
        *w++ = '=';
    }
    l->n = (size_t)(w - l->p);
    /* numbers by hand: snprintf was a tenth of the cost of a review's line */
    switch (f->type) {
    case LOG_T_STR: put_string(l, f->v.s ? f->v.s : "-", json); return;
    case LOG_T_INT: len = put_i64(num, f->v.i); break;
    case LOG_T_DBL:
        /* JSON has no NaN or infinity; neither is ever logged, but a line must parse. */
        if (f->v.d != f->v.d || f->v.d > 1e300 || f->v.d < -1e300) {
            len = json ? 4 : 3;
            memcpy(num, json ? "null" : "NaN", len);
        } else if (f->v.d > 1e15 || f->v.d < -1e15) {
            len = (size_t)snprintf(num, sizeof num, "%.6e", f->v.d);
        } else {
            len = put_fixed3(num, f->v.d);
        }
        break;
    case LOG_T_BOOL:
        len = f->v.b ? 4 : 5;
        memcpy(num, f->v.b ? "true" : "false", len);
        break;
    }
    put(l, num, len);
}

size_t log_format_line(enum log_format fmt, const char *ts, enum log_level lv,
                       const char *component, const log_field *f, size_t n, char *out, size_t cap)
{
    if (cap <= LOG_TAIL) {
        if (cap > 0)
            out[0] = '\0';
        return 0;
    }
    line l = {.p = out, .cap = cap - LOG_TAIL};
    bool json = fmt == LOG_FORMAT_JSON;
    const log_field head[] = {LOG_S("ts", ts), LOG_S("level", level_names[lv]),
                              LOG_S("component", component)};
    if (json)
        put(&l, "{", 1);
    for (size_t i = 0; i < 3; i++)
        put_field(&l, &head[i], json, i == 0);
    for (size_t i = 0; i < n; i++)
        put_field(&l, &f[i], json, false);
    if (json)
        put_tail(&l, '}');
    put_tail(&l, '\n');
    out[l.n] = '\0';
    return l.n;
}

/* The timestamp "YYYY-MM-DDTHH:MM:SS.mmmZ" of 't' into 'ts' (room for 96 bytes). The part up
 * to the seconds is formatted once a second per thread: gmtime_r() and snprintf() were a
 * good part of a line's cost. */
static void format_ts(const struct timespec *t, char ts[96])
{
    static _Thread_local time_t cached_sec = -1;
    static _Thread_local char cached[64];
    if (t->tv_sec != cached_sec) {
        struct tm tm;
        gmtime_r(&t->tv_sec, &tm);
        snprintf(cached, sizeof cached, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        cached_sec = t->tv_sec;
    }
    size_t n = strlen(cached);
    memcpy(ts, cached, n);
    unsigned ms = (unsigned)(t->tv_nsec / 1000000);
    ts[n++] = '.';
    ts[n++] = (char)('0' + ms / 100);
    ts[n++] = (char)('0' + ms / 10 % 10);
    ts[n++] = (char)('0' + ms % 10);
    ts[n++] = 'Z';
    ts[n] = '\0';
}

size_t log_format_dropped(unsigned long long lines, int err, char *out, size_t cap)
{
    char ts[96];
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    format_ts(&t, ts);
    const log_field f[] = {LOG_S("msg", err ? "log output failed; lines dropped"
                                            : "log output stalled; lines dropped"),
                           LOG_I("dropped_lines", lines),
                           LOG_S("error", err ? strerror(err) : "no room for 1 s")};
    return log_format_line(log_fmt, ts, LOG_ERROR, "log", f, 3, out, cap);
}

void log_fields(enum log_level lv, const char *component, const log_field *f, size_t n)
{
    if (lv < log_min)
        return;
    char ts[96], out[LOG_LINE_MAX];
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    format_ts(&t, ts);
    size_t len = log_format_line(log_fmt, ts, lv, component, f, n, out, sizeof out);
    /* warn and error go out at once: an operator reading the log after an incident must see
     * them even when the process dies a moment later */
    log_out_append(out, len, lv >= LOG_WARN);
}
