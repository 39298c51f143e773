/* fuzz_json.h - the reference for the request body's parser (util/jsonparse.c) and the
 * answers' printer (util/jsonprint.c): what the review path did before they existed, the
 * UTF-8 and NUL checks of admission_request_decode(), cJSON_ParseWithLengthOpts() and a walk
 * for duplicate keys and infinite numbers (written here again, naively), and
 * cJSON_PrintUnformatted().
 *
 * jref_differ() parses a text both ways: the same tree, or the same refusal (the same
 * duplicate key), or a refusal of one of the kinds jsonparse.h lists where the parser is
 * stricter than cJSON, checked to point at one. Header-only (static functions), like
 * fuzz_util.h: tests/unit/test_jsonparse.c runs it on generated and mutated texts, and
 * fuzz_review.c on every body it is given (so the fuzzer and the corpus replay check it). */
#ifndef SG_FUZZ_JSON_H
#define SG_FUZZ_JSON_H

#include <math.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "util/arena.h"
#include "util/jsonparse.h"
#include "util/jsonprint.h"
#include "util/utf8.h"

enum jref_verdict { JREF_OK, JREF_SYNTAX, JREF_DUPLICATE, JREF_INFINITE, JREF_PRECHECK };

/* The old find_duplicate_key()'s answers: up to 8 members the first key that has a later
 * equal, beyond the first key equal to one before it (the keyindex). */
static const char *jref_duplicate(const cJSON *obj, size_t n)
{
    for (const cJSON *x = obj->child; x != NULL; x = x->next) {
        if (n <= 8) {
            for (const cJSON *y = x->next; y != NULL; y = y->next) {
                if (strcmp(x->string, y->string) == 0)
                    return x->string;
            }
        } else {
            for (const cJSON *y = obj->child; y != x; y = y->next) {
                if (strcmp(x->string, y->string) == 0)
                    return x->string;
            }
        }
    }
    return NULL;
}

static const char jref_inf[] = "";

static const char *jref_unreadable(const cJSON *node)
{
    if (cJSON_IsNumber(node))
        return isfinite(node->valuedouble) ? NULL : jref_inf;
    size_t n = 0;
    for (const cJSON *c = node->child; c != NULL; c = c->next, n++) {
        const char *odd = jref_unreadable(c);
        if (odd != NULL)
            return odd;
    }
    return cJSON_IsObject(node) && n >= 2 ? jref_duplicate(node, n) : NULL;
}

/* 'text' has a NUL at text[len]. */
static enum jref_verdict jref_parse(const char *text, size_t len, cJSON **doc, const char **key)
{
    *doc = NULL;
    if (!utf8_is_valid(text, len, NULL) || utf8_json_find_nul(text, len) >= 0)
        return JREF_PRECHECK; /* the checks admission_request_decode() ran before cJSON */
    const char *end = NULL;
    cJSON *d = cJSON_ParseWithLengthOpts(text, len + 1, &end, 1);
    if (d == NULL || (size_t)(end - text) != len) {
        cJSON_Delete(d);
        return JREF_SYNTAX;
    }
    *doc = d;
    const char *odd = jref_unreadable(d);
    if (odd == jref_inf)
        return JREF_INFINITE;
    *key = odd;
    return odd != NULL ? JREF_DUPLICATE : JREF_OK;
}

/* The links of a node's members as cJSON makes them: the head's prev is the tail, the others'
 * the one before. */
static bool jref_links_ok(const cJSON *n)
{
    if (n->child == NULL)
        return true;
    const cJSON *t = n->child;
    for (; t->next != NULL; t = t->next) {
        if (t->next->prev != t)
            return false;
    }
    return n->child->prev == t;
}

static bool jref_same_tree(const cJSON *a, const cJSON *b)
{
    for (; a != NULL || b != NULL; a = a->next, b = b->next) {
        if (a == NULL || b == NULL || a->type != b->type || a->valueint != b->valueint ||
            memcmp(&a->valuedouble, &b->valuedouble, sizeof a->valuedouble) != 0 ||
            (a->string == NULL) != (b->string == NULL) ||
            (a->string && strcmp(a->string, b->string) != 0) ||
            (a->valuestring == NULL) != (b->valuestring == NULL) ||
            (a->valuestring && strcmp(a->valuestring, b->valuestring) != 0) ||
            !jref_same_tree(a->child, b->child))
            return false;
        if (!jref_links_ok(a) || !jref_links_ok(b))
            return false;
    }
    return true;
}

/* Whether the number 'text' has RFC 8259's grammar (a regex: not the parser's own code). */
static bool jref_rfc_number(const char *text)
{
    static regex_t re;
    static bool ready;
    if (!ready) {
        if (regcomp(&re, "^-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?$",
                    REG_EXTENDED | REG_NOSUB) != 0)
            abort();
        ready = true;
    }
    return regexec(&re, text, 0, NULL, 0) == 0;
}

/* The four hex digits at text[at], or -1. */
static long jref_hex4_at(const char *text, size_t len, size_t at)
{
    char buf[5];
    if (at + 4 > len || strspn(text + at, "0123456789abcdefABCDEF") < 4)
        return -1;
    memcpy(buf, text + at, 4);
    buf[4] = '\0';
    return strtol(buf, NULL, 16);
}

/* Whether the parser's refusal at 'off' of what cJSON accepts is one of jsonparse.h's. */
static bool jref_stricter_at(const char *text, size_t len, size_t off)
{
    const unsigned char *s = (const unsigned char *)text;
    if (off >= len)
        return false;
    if (s[off] < 0x20 && s[off] != 0)
        return true; /* a control character in a string, or as whitespace */
    if (off == 0 && len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        return true;
    /* a byte after a backslash that no escape has: cJSON refuses it too unless a \u without
     * four hex digits took it in (read as U+0000), which the parser finds first, as the
     * string's end is looked for before its \u escapes are read */
    if (s[off] >= 0x80 && off > 0 && s[off - 1] == '\\')
        return true;
    if (s[off] == '\\' && off + 1 < len && s[off + 1] == 'u') {
        long cp = jref_hex4_at(text, len, off + 2), lo;
        if (cp <= 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
            return true; /* not four hex digits, \u0000, a low surrogate first */
        if (cp < 0xD800 || cp > 0xDBFF)
            return false;
        lo = off + 8 <= len && text[off + 6] == '\\' && text[off + 7] == 'u'
                 ? jref_hex4_at(text, len, off + 8)
                 : -1;
        return lo < 0xDC00 || lo > 0xDFFF;
    }
    if (s[off] == '-' || (s[off] >= '0' && s[off] <= '9')) {
        size_t n = strspn(text + off, "0123456789+-eE.");
        char buf[128];
        if (n > 63)
            return true;
        memcpy(buf, text + off, n);
        buf[n] = '\0';
        return !jref_rfc_number(buf);
    }
    return false;
}

/* Both answers for one text. */
typedef struct jref_result {
    enum jref_verdict want; /* the old path's */
    jsonparse_status got;   /* jsonparse_parse()'s */
    jsonparse_result res;
    cJSON *ref; /* cJSON's tree when it read one (cJSON_Delete it), else NULL */
} jref_result;

/* Parses the 'len' bytes of 'text' (with a NUL at text[len]) both ways, the parser into 'a',
 * and fills '*r'. Returns NULL when the answers agree, else what is wrong. */
static const char *jref_differ(const char *text, size_t len, arena *a, jref_result *r)
{
    const char *key = NULL;
    r->want = jref_parse(text, len, &r->ref, &key);
    r->got = jsonparse_parse(a, text, len, &r->res);
    bool stricter = r->got == JSONPARSE_SYNTAX && jref_stricter_at(text, len, r->res.offset);
    bool ok;
    switch (r->want) {
    case JREF_OK:
        ok = r->got == JSONPARSE_OK ? jref_same_tree(r->ref, r->res.doc) : stricter;
        break;
    case JREF_DUPLICATE:
        ok = (r->got == JSONPARSE_DUPLICATE && strcmp(r->res.key, key) == 0) || stricter;
        break;
    case JREF_INFINITE:
        ok = r->got == JSONPARSE_INFINITE || stricter;
        break;
    case JREF_SYNTAX:
        ok = r->got == JSONPARSE_SYNTAX;
        break;
    default: /* refused before the parse: the parser alone must refuse it too */
        ok = r->got == JSONPARSE_SYNTAX || r->got == JSONPARSE_UTF8 || r->got == JSONPARSE_NUL;
        break;
    }
    if (!ok)
        return "the parser and the old path disagree";
    /* told as what the checks before the parse found, and where: the first such byte */
    size_t bad;
    if (r->got == JSONPARSE_UTF8 && (utf8_is_valid(text, len, &bad) || bad != r->res.offset))
        return "not the first byte that is not UTF-8";
    if (r->got == JSONPARSE_NUL && utf8_json_find_nul(text, len) != (long)r->res.offset)
        return "not the first NUL";
    return NULL;
}

/* Whether jsonprint_tree() writes what cJSON_PrintUnformatted() writes for 'tree'; both texts
 * on stderr when not. */
static bool jref_same_print(const cJSON *tree)
{
    char *want = cJSON_PrintUnformatted(tree);
    size_t len = 0;
    char *got = jsonprint_tree(tree, &len);
    bool same = want != NULL && got != NULL && strlen(want) == len && memcmp(want, got, len) == 0;
    if (!same)
        fprintf(stderr, "cJSON prints %.200s\njsonprint prints %.200s\n", want ? want : "(null)",
                got ? got : "(null)");
    cJSON_free(want);
    free(got);
    return same;
}

#endif
