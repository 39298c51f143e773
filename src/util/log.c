/* log.c - logfmt and JSON event lines from typed fields; see log.h. log_out.c writes them. */
#include "log.h"

#include <math.h> /* signbit(), a macro: no libm */
#include <stdio.h>
#include <string.h>
#include <time.h>

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

static void puts_(line *l, const char *s)
{
    put(l, s, strlen(s));
}

/* The tail is reserved, so closing characters always fit. */
static void put_tail(line *l, char c)
{
    l->p[l->n++] = c;
}

static bool is_bare(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f)
            return false;
    }
    return true;
}

/* The C1 controls (U+0080..U+009F, NEL among them) and U+2028/U+2029: a log reader that
 * splits lines the Unicode way would start a new line there, so they are escaped too. */
static bool is_unicode_break(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    return (n == 2 && u[0] == 0xC2 && u[1] <= 0x9F) ||
           (n == 3 && u[0] == 0xE2 && u[1] == 0x80 && (u[2] == 0xA8 || u[2] == 0xA9));
}

static unsigned unicode_break_cp(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    return n == 2 ? u[1] : 0x2000u | (u[2] - 0x80u);
}

/* Writes 's' quoted and escaped. Valid UTF-8 is copied; a byte that is not becomes \xNN in
 * logfmt and U+FFFD in JSON. A value cut by the line cap is still closed with its quote. */
static void put_string(line *l, const char *s, bool json)
{
    size_t len = strlen(s);
    if (!json && is_bare(s) && l->n + len <= l->cap) {
        put(l, s, len);
        return;
    }
    put(l, "\"", 1); /* fits: put_field checked the room for key and quote */
    for (size_t i = 0; i < len && !l->full;) {
        /* a run of printable ASCII that needs no escape goes in one copy (a denial's reason
         * is hundreds of bytes), as far as the cap allows, as byte by byte did */
        size_t run = i;
        while (run < len && s[run] >= ' ' && s[run] < 0x7f && s[run] != '"' && s[run] != '\\')
            run++;
        if (run > i) {
            size_t room = l->cap - l->n, n = run - i < room ? run - i : room;
            put(l, s + i, n);
            if (n < run - i)
                l->full = true;
            i += n;
            continue;
        }
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        size_t n = utf8_seq_len(s + i, len - i);
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(l, esc, 2);
        } else if (c == '\n' || c == '\r' || c == '\t') {
            esc[0] = '\\';
            esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            put(l, esc, 2);
        } else if (c < ' ' || c == 0x7f || is_unicode_break(s + i, n)) {
            snprintf(esc, sizeof esc, "\\u%04x", n > 1 ? unicode_break_cp(s + i, n) : c);
            put(l, esc, 6);
            n = n ? n : 1;
        } else if (n == 0) {
            if (json) {
                put(l, "\\ufffd", 6);
            } else {
                snprintf(esc, sizeof esc, "\\x%02x", c);
                put(l, esc, 4);
            }
            n = 1;
        } else {
            put(l, s + i, n);
        }
        i += n ? n : 1;
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

/* "%.3f" of 'v' without stdio (a review's line has one: ms). printf rounds the exact binary
 * value; v * 1000 rounds once more (by at most 1.2e-7 below 1e6), which can only matter when
 * the product is within a hair of a half: those, negative numbers and large ones go through
 * snprintf, so the text is always printf's. */
static size_t put_fixed3(char *out, double v)
{
    if (!(v >= 0 && v < 1e6) || signbit(v))
        return (size_t)snprintf(out, 64, "%.3f", v);
    double k = v * 1000.0;
    unsigned long long whole = (unsigned long long)k;
    double frac = k - (double)whole;
    if (frac > 0.5 - 1e-6 && frac < 0.5 + 1e-6)
        return (size_t)snprintf(out, 64, "%.3f", v);
    unsigned long long m = whole + (frac > 0.5);
    size_t n = put_u64(out, m / 1000);
    out[n++] = '.';
    unsigned r = (unsigned)(m % 1000);
    out[n++] = (char)('0' + r / 100);
    out[n++] = (char)('0' + r / 10 % 10);
    out[n++] = (char)('0' + r % 10);
    return n;
}

static void put_field(line *l, const log_field *f, bool json, bool first)
{
    char num[64];
    size_t len = 0;
    size_t klen = strlen(f->key);
    /* Room for the key and a number or an opening quote, or the field is left out whole:
     * a line never ends in a key without its value. */
    if (l->full || l->n + klen + 4 + 32 > l->cap) {
        l->full = true;
        return;
    }
    if (json) {
        put(l, first ? "\"" : ",\"", first ? 1 : 2);
        put(l, f->key, klen);
        put(l, "\":", 2);
    } else {
        if (!first)
            put(l, " ", 1);
        put(l, f->key, klen);
        put(l, "=", 1);
    }
    /* numbers by hand: snprintf was a tenth of the cost of a review's line */
    switch (f->type) {
    case LOG_T_STR: put_string(l, f->v.s ? f->v.s : "-", json); return;
    case LOG_T_INT: len = put_i64(num, f->v.i); break;
    case LOG_T_DBL:
        /* JSON has no NaN or infinity; neither is ever logged, but a line must parse. */
        if (f->v.d != f->v.d || f->v.d > 1e300 || f->v.d < -1e300)
            len = (size_t)snprintf(num, sizeof num, "%s", json ? "null" : "NaN");
        else if (f->v.d > 1e15 || f->v.d < -1e15)
            len = (size_t)snprintf(num, sizeof num, "%.6e", f->v.d);
        else
            len = put_fixed3(num, f->v.d);
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
        puts_(&l, "{");
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
