/* fn_regex.c - PCRE2 for matches(); see re.h. */
#include "re.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* A pattern that is only an alternation of literal text, such as (?i)secret|token|key or
 * [=@]|PRIVATE KEY-----: each alternative a sequence of "atoms", an ASCII character or a
 * bracket class of them, with no quantifier, group, anchor or escape class, and at most a
 * leading (?i). Searching an ASCII subject for it is a substring search, which a scan with a
 * table of first bytes answers in a few instructions a byte, where PCRE2 spends ~300 on the
 * call and ~30 a byte trying each alternative (the shipped policies match every key and value
 * of a Flink configuration this way). A subject with a byte >= 0x80 goes to PCRE2: in UTF
 * mode (?i)s also matches U+017F and k the Kelvin sign, and that is PCRE2's business. */
#define LIT_MAX_ALTS 31   /* one bit each in lit_set.first */
#define LIT_NON_ASCII (1u << 31) /* lit_set.first of a byte >= 0x80 */
#define LIT_MAX_ATOMS 256

typedef struct lit_alt {
    uint16_t start, n; /* its atoms: atoms[start .. start + n) */
} lit_alt;

typedef struct lit_set {
    uint32_t first[256];     /* by byte: the alternatives whose first atom holds it, or
                              * LIT_NON_ASCII: one test a byte in the usual case, none */
    uint32_t second[256];    /* by byte: those whose second atom holds it, or that have none */
    uint32_t single;         /* the alternatives of one atom (at the subject's last byte) */
    uint8_t (*atoms)[32];    /* a bitmap of the bytes each atom matches */
    lit_alt alts[LIT_MAX_ALTS];
    int n_alts;
} lit_set;

struct expr_regex {
    pcre2_code *code;
    bool jit;
    const lit_set *lit; /* when the pattern is literal text (above), else NULL */
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

static void set_add(uint8_t *set, unsigned char c, bool caseless)
{
    set[c >> 3] |= (uint8_t)(1u << (c & 7));
    if (caseless && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
        set_add(set, (unsigned char)(c ^ 0x20), false);
}

/* One character of literal text at p[*i] (a printable ASCII character other than those in
 * 'meta', or a backslash before ASCII punctuation, which PCRE2 reads as that character);
 * -1 for anything else. */
static int lit_char(const char *p, size_t len, size_t *i, const char *meta)
{
    unsigned char c = (unsigned char)p[*i];
    if (c == '\\') {
        if (*i + 1 >= len)
            return -1;
        unsigned char d = (unsigned char)p[*i + 1];
        if (d < 0x21 || d > 0x7e || (d >= '0' && d <= '9') || (d >= 'A' && d <= 'Z') ||
            (d >= 'a' && d <= 'z'))
            return -1;
        *i += 2;
        return d;
    }
    if (c < 0x20 || c > 0x7e || strchr(meta, c) != NULL)
        return -1;
    (*i)++;
    return c;
}

/* A bracket class at p[*i] == '[' into 'set': characters and ranges of literal text, not
 * negated, no ']' first, no POSIX class. False for anything else. */
static bool lit_class(const char *p, size_t len, size_t *i, uint8_t *set, bool caseless)
{
    (*i)++;
    if (*i >= len || p[*i] == '^' || p[*i] == ']')
        return false;
    while (*i < len && p[*i] != ']') {
        int lo = lit_char(p, len, i, "[");
        if (lo < 0)
            return false;
        int hi = lo;
        if (*i + 1 < len && p[*i] == '-' && p[*i + 1] != ']') {
            (*i)++;
            if ((hi = lit_char(p, len, i, "[")) < lo)
                return false;
        }
        for (int c = lo; c <= hi; c++)
            set_add(set, (unsigned char)c, caseless);
    }
    if (*i >= len)
        return false;
    (*i)++;
    return true;
}

/* The literal form of 'pat' (above), or NULL when it is not one (or out of arena). */
static const lit_set *lit_compile(arena *a, const char *p, size_t len)
{
    static const char meta[] = "\\^$.[]|()?*+{}";
    bool caseless = len >= 4 && memcmp(p, "(?i)", 4) == 0;
    size_t i = caseless ? 4 : 0;
    uint8_t atoms[LIT_MAX_ATOMS][32];
    memset(atoms, 0, sizeof atoms);
    lit_alt alts[LIT_MAX_ALTS];
    int n_alts = 0, n_atoms = 0;
    for (;;) {
        if (n_alts == LIT_MAX_ALTS)
            return NULL;
        alts[n_alts].start = (uint16_t)n_atoms;
        while (i < len && p[i] != '|') {
            if (n_atoms == LIT_MAX_ATOMS)
                return NULL;
            uint8_t *set = atoms[n_atoms++];
            if (p[i] == '[') {
                if (!lit_class(p, len, &i, set, caseless))
                    return NULL;
                continue;
            }
            int c = lit_char(p, len, &i, meta);
            if (c < 0)
                return NULL;
            set_add(set, (unsigned char)c, caseless);
        }
        alts[n_alts].n = (uint16_t)(n_atoms - alts[n_alts].start);
        if (alts[n_alts++].n == 0) /* an empty alternative matches everywhere: leave it */
            return NULL;
        if (i == len)
            break;
        i++; /* the '|' */
    }
    lit_set *l = arena_calloc(a, 1, sizeof *l);
    uint8_t(*copy)[32] = arena_alloc(a, (size_t)n_atoms * sizeof atoms[0]);
    if (l == NULL || copy == NULL)
        return NULL;
    memcpy(copy, atoms, (size_t)n_atoms * sizeof atoms[0]);
    l->atoms = copy;
    memcpy(l->alts, alts, (size_t)n_alts * sizeof alts[0]);
    l->n_alts = n_alts;
    for (int b = 0x80; b < 256; b++)
        l->first[b] = LIT_NON_ASCII;
    for (int k = 0; k < n_alts; k++) {
        if (alts[k].n == 1)
            l->single |= 1u << k;
        for (int b = 0; b < 256; b++) {
            if (b < 128 && copy[alts[k].start][b >> 3] & (1u << (b & 7)))
                l->first[b] |= 1u << k;
            if (alts[k].n == 1 || copy[alts[k].start + 1][b >> 3] & (1u << (b & 7)))
                l->second[b] |= 1u << k;
        }
    }
    return l;
}

/* 1 when an alternative of 'l' occurs in 's', 0 when none does, -1 when 's' has a byte >=
 * 0x80 before a match was found (PCRE2 decides then). */
static int lit_search(const lit_set *l, const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint32_t m = l->first[s[i]];
        if (__builtin_expect(m == 0, 1))
            continue;
        if (m == LIT_NON_ASCII)
            return -1;
        m &= i + 1 < len ? l->second[s[i + 1]] : l->single;
        for (; m != 0; m &= m - 1) {
            const lit_alt *al = &l->alts[__builtin_ctz(m)];
            if (al->n > len - i)
                continue;
            uint32_t k = 2;
            for (; k < al->n; k++) {
                unsigned char c = s[i + k];
                if (!(l->atoms[al->start + k][c >> 3] & (1u << (c & 7))))
                    break;
            }
            if (k >= al->n) /* an alternative of one or two atoms is matched already */
                return 1;
        }
    }
    return 0;
}

bool expr_regex_is_literal(const expr_regex *re)
{
    return re->lit != NULL;
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
    /* A pattern compiled per evaluation takes its memory from the request's arena, under its
     * cap. One compiled once, for a loaded set (jit), takes malloc's, freed with the arena
     * (code_free): pcre2_jit_compile() works in memory from the pattern's allocator and frees
     * it, which the arena cannot, and 13 KiB a pattern stayed in the set (0.37 MiB of the
     * shipped policies'). */
    pcre2_general_context *gc =
        jit ? NULL : pcre2_general_context_create(arena_malloc, arena_nofree, a);
    pcre2_compile_context *cc = jit || gc ? pcre2_compile_context_create(gc) : NULL;
    if (re == NULL || cc == NULL) {
        pcre2_compile_context_free(cc);
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    pcre2_set_parens_nest_limit(cc, 100);
    int code;
    PCRE2_SIZE off;
    re->code = pcre2_compile((PCRE2_SPTR)pat, len,
                             PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C, &code,
                             &off, cc);
    if (jit)
        pcre2_compile_context_free(cc); /* the arena's goes with the arena */
    if (re->code == NULL) {
        PCRE2_UCHAR msg[200];
        pcre2_get_error_message(code, msg, sizeof msg);
        snprintf(err, errcap, "%s at offset %zu", (const char *)msg, (size_t)off);
        return NULL;
    }
    if (arena_defer(a, code_free, re->code) != 0) { /* which freed the code */
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    /* only for patterns compiled once (at load time): a pattern built per evaluation would
     * pay for the table at each match */
    re->lit = jit ? lit_compile(a, pat, len) : NULL;
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
    if (re->lit != NULL) {
        int m = lit_search(re->lit, (const unsigned char *)s, len);
        if (m >= 0)
            return m;
    }
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
