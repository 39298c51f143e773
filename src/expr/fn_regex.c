/* fn_regex.c - PCRE2 for matches(); see re.h. */
#include "re.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

struct expr_regex {
    pcre2_code *code;
    bool jit;
};

static void *arena_malloc(PCRE2_SIZE size, void *data)
{
    return arena_alloc(data, size);
}

static void arena_nofree(void *p, void *data)
{
    (void)p;
    (void)data;
}

static void code_free(void *p)
{
    pcre2_code_free(p);
}

/* Refuses what RE2 does not have. A light scan: escapes and character classes are skipped. */
static const char *re2_unsupported(const char *p, size_t len)
{
    bool in_class = false;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (c == '\\' && i + 1 < len) {
            char d = p[++i];
            if (!in_class && d >= '1' && d <= '9')
                return "backreferences are not supported (RE2 syntax)";
            if (d == 'C')
                return "\\C is not supported (RE2 syntax)";
            continue;
        }
        if (in_class) {
            if (c == ']')
                in_class = false;
            continue;
        }
        if (c == '[') {
            in_class = true;
            if (i + 1 < len && p[i + 1] == ']')
                i++;
            else if (i + 2 < len && p[i + 1] == '^' && p[i + 2] == ']')
                i += 2;
            continue;
        }
        if (c == '(' && i + 2 < len && p[i + 1] == '?') {
            char d = p[i + 2];
            if (d == '=' || d == '!' || d == '>' ||
                (d == '<' && i + 3 < len && (p[i + 3] == '=' || p[i + 3] == '!')))
                return "lookaround and atomic groups are not supported (RE2 syntax)";
        }
        if ((c == '+' || c == '*' || c == '?' || c == '}') && i + 1 < len && p[i + 1] == '+')
            return "possessive quantifiers are not supported (RE2 syntax)";
    }
    return NULL;
}

const expr_regex *expr_regex_compile(arena *a, const char *pat, size_t len, bool jit, char *err,
                                     size_t errcap)
{
    if (len > EXPR_REGEX_MAX_PATTERN) {
        snprintf(err, errcap, "pattern longer than %d bytes", EXPR_REGEX_MAX_PATTERN);
        return NULL;
    }
    const char *why = re2_unsupported(pat, len);
    if (why != NULL) {
        snprintf(err, errcap, "%s", why);
        return NULL;
    }
    expr_regex *re = arena_alloc(a, sizeof *re);
    pcre2_general_context *gc = pcre2_general_context_create(arena_malloc, arena_nofree, a);
    pcre2_compile_context *cc = gc ? pcre2_compile_context_create(gc) : NULL;
    if (re == NULL || cc == NULL) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    pcre2_set_parens_nest_limit(cc, 100);
    int code;
    PCRE2_SIZE off;
    re->code = pcre2_compile((PCRE2_SPTR)pat, len,
                             PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C, &code,
                             &off, cc);
    if (re->code == NULL) {
        PCRE2_UCHAR msg[200];
        pcre2_get_error_message(code, msg, sizeof msg);
        snprintf(err, errcap, "%s at offset %zu", (const char *)msg, (size_t)off);
        return NULL;
    }
    arena_defer(a, code_free, re->code);
    /* valgrind cannot follow JIT-generated code and reports its reads as uninitialised:
     * make valgrind sets STREAMGUARD_REGEX_NO_JIT to run the interpreter instead. */
    if (getenv("STREAMGUARD_REGEX_NO_JIT") != NULL)
        jit = false;
    re->jit = jit && pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) == 0;
    return re;
}

/* Each thread keeps one match context and one match block: they are the same for every
 * match (the limits are fixed, and no capture is ever read), and making them per match cost
 * more than many matches. Freed when the thread ends. */
typedef struct regex_tls {
    pcre2_match_context *mc;
    pcre2_match_data *md;
} regex_tls;

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_free(void *p)
{
    regex_tls *t = p;
    pcre2_match_context_free(t->mc);
    pcre2_match_data_free(t->md);
    free(t);
}

static void tls_init(void)
{
    if (pthread_key_create(&tls_key, tls_free) != 0)
        abort();
}

static regex_tls *thread_state(void)
{
    pthread_once(&tls_once, tls_init);
    regex_tls *t = pthread_getspecific(tls_key);
    if (t != NULL)
        return t;
    t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->mc = pcre2_match_context_create(NULL);
    t->md = pcre2_match_data_create(1, NULL);
    if (t->mc == NULL || t->md == NULL || pthread_setspecific(tls_key, t) != 0) {
        tls_free(t);
        return NULL;
    }
    pcre2_set_match_limit(t->mc, EXPR_REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(t->mc, EXPR_REGEX_DEPTH_LIMIT);
    pcre2_set_heap_limit(t->mc, EXPR_REGEX_HEAP_KIB);
    return t;
}

int expr_regex_match(const expr_regex *re, const char *s, size_t len, arena *a, char *err,
                     size_t errcap)
{
    (void)a;
    regex_tls *t = thread_state();
    if (t == NULL) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    int rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, t->md, t->mc);
    if (rc >= 0)
        return 1;
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    PCRE2_UCHAR msg[200];
    pcre2_get_error_message(rc, msg, sizeof msg);
    snprintf(err, errcap, "%s", (const char *)msg);
    return -1;
}
