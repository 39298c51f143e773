/* log.c - logfmt and JSON event lines; see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 8192

static enum log_format log_fmt = LOG_FORMAT_LOGFMT;
static enum log_level log_min = LOG_INFO;
static int log_fd = 2;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_setup(enum log_format fmt, enum log_level min, int fd)
{
    log_fmt = fmt;
    log_min = min;
    log_fd = fd;
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

const char *log_quote(char *dst, size_t cap, const char *s)
{
    if (s == NULL)
        return "-";
    if (is_bare(s))
        return s;
    size_t n = 0;
    if (cap < 3)
        return "\"\"";
    dst[n++] = '"';
    for (; *s && n + 3 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            dst[n++] = '\\';
            dst[n++] = (char)c;
        } else if (c == '\n') {
            dst[n++] = '\\';
            dst[n++] = 'n';
        } else if (c < ' ') {
            dst[n++] = ' ';
        } else {
            dst[n++] = (char)c;
        }
    }
    dst[n++] = '"';
    dst[n] = '\0';
    return dst;
}

/* Appends 'c' to out[*n] when it fits, keeping room for the final NUL. */
static void put(char *out, size_t cap, size_t *n, char c)
{
    if (*n + 1 < cap)
        out[(*n)++] = c;
}

static void put_json_str(char *out, size_t cap, size_t *n, const char *s, size_t len)
{
    put(out, cap, n, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            put(out, cap, n, '\\');
            put(out, cap, n, (char)c);
        } else if (c < ' ') {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", c);
            for (char *e = esc; *e; e++)
                put(out, cap, n, *e);
        } else {
            put(out, cap, n, (char)c);
        }
    }
    put(out, cap, n, '"');
}

static bool is_json_number(const char *s, size_t len)
{
    size_t i = 0;
    if (i < len && s[i] == '-')
        i++;
    size_t digits = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        i++;
        digits++;
    }
    if (digits == 0 || (digits > 1 && s[i - digits] == '0'))
        return false;
    if (i < len && s[i] == '.') {
        i++;
        size_t frac = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
            frac++;
        }
        if (frac == 0)
            return false;
    }
    return i == len;
}

size_t log_logfmt_to_json(const char *line, char *out, size_t cap)
{
    size_t n = 0;
    char val[LOG_LINE_MAX];
    bool first = true;
    put(out, cap, &n, '{');
    const char *p = line;
    while (*p) {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            break;
        const char *key = p;
        while (*p && *p != '=' && *p != ' ')
            p++;
        size_t klen = (size_t)(p - key);
        size_t vlen = 0;
        bool quoted = false;
        if (*p == '=') {
            p++;
            if (*p == '"') {
                quoted = true;
                for (p++; *p && *p != '"'; p++) {
                    char c = *p;
                    if (c == '\\' && p[1] != '\0') {
                        p++;
                        c = *p == 'n' ? '\n' : *p;
                    }
                    if (vlen < sizeof val)
                        val[vlen++] = c;
                }
                if (*p == '"')
                    p++;
            } else {
                for (; *p && *p != ' '; p++) {
                    if (vlen < sizeof val)
                        val[vlen++] = *p;
                }
            }
        }
        if (!first)
            put(out, cap, &n, ',');
        first = false;
        put_json_str(out, cap, &n, key, klen);
        put(out, cap, &n, ':');
        if (!quoted && is_json_number(val, vlen)) {
            for (size_t i = 0; i < vlen; i++)
                put(out, cap, &n, val[i]);
        } else {
            put_json_str(out, cap, &n, val, vlen);
        }
    }
    /* A cut line still ends as an object so that log shippers can parse it. */
    if (n + 2 > cap && cap >= 2)
        n = cap - 2;
    put(out, cap, &n, '}');
    out[n] = '\0';
    return n;
}

void log_msg(enum log_level lv, const char *component, const char *fmt, ...)
{
    if (lv < log_min)
        return;
    char line[LOG_LINE_MAX];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line,
                     "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s component=%s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, level_names[lv], component);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = strlen(line);
    if (log_fmt == LOG_FORMAT_JSON) {
        char json[LOG_LINE_MAX + 1024];
        len = log_logfmt_to_json(line, json, sizeof json - 1);
        json[len++] = '\n';
        ssize_t w = write(log_fd, json, len);
        (void)w;
        return;
    }
    if (len + 1 >= sizeof line)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(log_fd, line, len);
    (void)w;
}
