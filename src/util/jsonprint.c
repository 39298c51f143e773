/* jsonprint.c - cJSON's unformatted text, in one pass; see jsonprint.h. */
#include "jsonprint.h"
#include "bytescan.h"
#include "num.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* The text so far: malloc'd, grown by doubling. Each writer reserves the most it can write
 * first, then stores bytes without further checks. */
typedef jsonprint_out out;

static bool reserve(out *o, size_t n)
{
    if (o->failed)
        return false;
    if (o->alloc - o->len > n)
        return true;
    size_t size = o->alloc ? o->alloc : 2048; /* most answers fit at once */
    while (size - o->len <= n) {
        if (size > SIZE_MAX / 2) {
            o->failed = true;
            return false;
        }
        size *= 2;
    }
    char *p = realloc(o->data, size);
    if (p == NULL) {
        o->failed = true;
        return false;
    }
    o->data = p;
    o->alloc = size;
    return true;
}

static bool put(out *o, const char *s, size_t n)
{
    if (!reserve(o, n))
        return false;
    memcpy(o->data + o->len, s, n);
    o->len += n;
    return true;
}

/* The bytes a string prints as they are end at a quote, a backslash or a control character. */
static inline bool needs_escape(unsigned char c)
{
    return bytescan_is_stop(c, 0);
}

/* The first byte from 'p' that needs an escape, or 'end' (bytescan.h): 16 bytes a step with
 * SSE2; plain_end_portable() 8 a step. */
static inline const unsigned char *plain_end_portable(const unsigned char *p,
                                                      const unsigned char *end)
{
    return bytescan_portable(p, end, 0);
}

static inline const unsigned char *plain_end(const unsigned char *p, const unsigned char *end)
{
    return bytescan(p, end, 0);
}

/* cJSON's print_string_ptr(): NULL prints as "". Reserves room for the string as it is and
 * its quotes; an escape (up to 6 bytes for 1) reserves for itself and the rest first. */
static bool put_string(out *o, const char *str)
{
    const unsigned char *s = (const unsigned char *)(str != NULL ? str : "");
    size_t len = strlen((const char *)s);
    if (len > SIZE_MAX / 8 || !reserve(o, len + 2))
        return false;
    const unsigned char *end = s + len;
    char *w = o->data + o->len;
    *w++ = '"';
    while (s < end) {
        const unsigned char *p = plain_end(s, end);
        memcpy(w, s, (size_t)(p - s));
        w += p - s;
        if (p == end)
            break;
        o->len = (size_t)(w - o->data);
        if (!reserve(o, 6 + (size_t)(end - p) + 1))
            return false;
        w = o->data + o->len;
        static const char hex[] = "0123456789abcdef";
        *w++ = '\\';
        switch (*p) {
        case '"':
        case '\\':
            *w++ = (char)*p;
            break;
        case '\b':
            *w++ = 'b';
            break;
        case '\f':
            *w++ = 'f';
            break;
        case '\n':
            *w++ = 'n';
            break;
        case '\r':
            *w++ = 'r';
            break;
        case '\t':
            *w++ = 't';
            break;
        default: /* cJSON's "u%04x" of the other control characters */
            memcpy(w, "u00", 3);
            w[3] = hex[*p >> 4];
            w[4] = hex[*p & 0xF];
            w += 5;
            break;
        }
        s = p + 1;
    }
    *w++ = '"';
    o->len = (size_t)(w - o->data);
    return true;
}

/* 'v' in decimal, as printf's "%lld" writes it. */
static bool put_integer(out *o, long long v)
{
    char buf[NUM_LL_MAX];
    const char *t = num_ll_text(buf, v);
    return put(o, t, (size_t)(buf + NUM_LL_MAX - t));
}

/* cJSON's print_number(): %1.15g, or %1.17g when that does not read back (compared relative
 * to DBL_EPSILON); null for NaN and infinity. An integer below 10^15 (not -0) prints under
 * %1.15g as its digits, which are written here without printf. */
static bool put_number(out *o, double d)
{
    char text[32];
    int n;
    if (isnan(d) || isinf(d)) {
        n = snprintf(text, sizeof text, "null");
    } else if (fabs(d) < 1e15 && d == (double)(long long)d && !(d == 0 && signbit(d))) {
        return put_integer(o, (long long)d);
    } else {
        double back = 0.0;
        n = snprintf(text, sizeof text, "%1.15g", d);
        int read = sscanf(text, "%lg", &back);
        double most = fabs(back) > fabs(d) ? fabs(back) : fabs(d);
        if (read != 1 || !(fabs(back - d) <= most * DBL_EPSILON))
            n = snprintf(text, sizeof text, "%1.17g", d);
    }
    if (n < 0 || n > 25) /* cJSON's buffer holds 26 bytes */
        return false;
    return put(o, text, (size_t)n);
}

static bool put_value(out *o, const cJSON *item)
{
    switch (item->type & 0xFF) {
    case cJSON_NULL:
        return put(o, "null", 4);
    case cJSON_False:
        return put(o, "false", 5);
    case cJSON_True:
        return put(o, "true", 4);
    case cJSON_Number:
        return put_number(o, item->valuedouble);
    case cJSON_String:
        return put_string(o, item->valuestring);
    case cJSON_Raw:
        return item->valuestring != NULL && put(o, item->valuestring, strlen(item->valuestring));
    case cJSON_Array:
    case cJSON_Object: {
        bool object = (item->type & 0xFF) == cJSON_Object;
        if (!put(o, object ? "{" : "[", 1))
            return false;
        for (const cJSON *c = item->child; c != NULL; c = c->next) {
            if (object && (!put_string(o, c->string) || !put(o, ":", 1)))
                return false;
            if (!put_value(o, c) || (c->next != NULL && !put(o, ",", 1)))
                return false;
        }
        return put(o, object ? "}" : "]", 1);
    }
    default:
        return false;
    }
}

char *jsonprint_tree(const cJSON *root, size_t *len)
{
    out o = {0};
    if (root == NULL || !put_value(&o, root)) {
        free(o.data);
        return NULL;
    }
    return jsonprint_finish(&o, len);
}

void jsonprint_raw(jsonprint_out *o, const char *text, size_t n)
{
    put(o, text, n);
}

void jsonprint_string(jsonprint_out *o, const char *s)
{
    put_string(o, s);
}

void jsonprint_int(jsonprint_out *o, long long v)
{
    put_integer(o, v);
}

char *jsonprint_finish(jsonprint_out *o, size_t *len)
{
    if (!reserve(o, 1)) {
        free(o->data);
        *o = (jsonprint_out){0};
        return NULL;
    }
    o->data[o->len] = '\0';
    *len = o->len;
    char *text = o->data;
    *o = (jsonprint_out){0};
    return text;
}
