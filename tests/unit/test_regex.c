/* test_regex.c - matches()' regular expressions (src/expr/fn_regex.c): a pattern of literal
 * text alone is searched without PCRE2, and must answer exactly what PCRE2 answers, for
 * every subject: ASCII, UTF-8 with the characters Unicode folds onto ASCII letters (U+017F
 * is an s, U+212A a k, under (?i)), invalid UTF-8, NUL bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "expr/re.h"

/* Literal text: searched without PCRE2 in an ASCII subject. */
static const char *const literal[] = {
    "(?i)secret|token|pass|pw|key",
    "[=@]|PRIVATE KEY-----",
    "abc",
    "(?i)[a-c]x|\\.y",
    "[Z-a]",
    "(?i)[Z-a]q",
    "a\\-b|\\||\\[\\]",
    "[-x]|[x-]|[\\]]",
    "(?i)K|S",
    "x y#z/\"'",
};

/* Anything else goes to PCRE2 alone. */
static const char *const other[] = {
    "a+", "^abc", "abc$", "a|", "|a", "(?i)", "", "[^a]", "(a|b)", "\\d", "a.b", "[[:alpha:]]",
    "(?i:ab)", "[]a]", "a{2}", "a?", "(?s)a", "\\x41", "\\s", "[a", "a]", "\xc3\xa9", "[b-a]",
    "a\\", "k\tx",
};

/* What PCRE2 alone says: the flags fn_regex.c compiles with, no JIT. */
static int pcre2_says(const char *pat, const char *s, size_t len)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
                                  PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C,
                                  &code, &off, NULL);
    assert_non_null(c);
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    int rc = pcre2_match(c, (PCRE2_SPTR)s, len, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    pcre2_code_free(c);
    assert_true(rc >= 0 || rc == PCRE2_ERROR_NOMATCH);
    return rc >= 0;
}

static void same_answer(const char *pat, const expr_regex *re, const char *s, size_t len)
{
    char err[256];
    arena *a = arena_new(1 << 16);
    int got = expr_regex_match(re, s, len, a, err, sizeof err);
    arena_free(a);
    int want = pcre2_says(pat, s, len);
    if (got != want)
        fail_msg("/%s/ on \"%.*s\" (%zu bytes): %d, PCRE2 says %d", pat, (int)len, s, len, got,
                 want);
}

static void test_literal_patterns(void **state)
{
    (void)state;
    arena *a = arena_new(1 << 20);
    char err[256];
    for (size_t i = 0; i < sizeof literal / sizeof literal[0]; i++) {
        const expr_regex *re = expr_regex_compile(a, literal[i], strlen(literal[i]), true, err,
                                                  sizeof err);
        assert_non_null(re);
        if (!expr_regex_is_literal(re))
            fail_msg("/%s/ is literal text", literal[i]);
        /* compiled per evaluation (a pattern known only then): PCRE2 alone */
        re = expr_regex_compile(a, literal[i], strlen(literal[i]), false, err, sizeof err);
        assert_false(expr_regex_is_literal(re));
    }
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        const expr_regex *re = expr_regex_compile(a, other[i], strlen(other[i]), true, err,
                                                  sizeof err);
        if (re != NULL && expr_regex_is_literal(re))
            fail_msg("/%s/ is not literal text", other[i]);
    }
    arena_free(a);
}

/* Fixed subjects at the edges, then random ones over the patterns' own characters. */
static void test_literal_answers(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t len;
    } fixed[] = {
        {"", 0}, {"secret", 6}, {"SeCrEt", 6}, {"\xc5\xbf" "ecret", 7}, {"\xe2\x84\xaa" "ey", 5},
        {"x\0secret", 8}, {"\xffsecret", 7}, {"\xc3token", 6}, {"\xc3", 1}, {"pw", 2}, {"p", 1},
        {"PRIVATE KEY----", 15}, {"-----BEGIN PRIVATE KEY-----", 27}, {"a=b", 3},
        {"high-availability.storageDir", 28}, {"fs.s3a.access.key", 17}, {"caf\xc3\xa9 k", 7},
        {"\xc5\xbfx", 3}, {"AX", 2}, {"]", 1}, {"[]", 2}, {"a-b", 3}, {"|", 1}, {"x y#z/\"'", 9},
        {"q\xe2\x84\xaa", 4}, {"_q", 2}, {"`Q", 2},
    };
    static const char alphabet[] = "secrtokaswypPWKEYSTZ=@-.| []\\#/\"'_`^xqRIVA\0\x80\xc5\xbf";
    arena *a = arena_new(1 << 20);
    char err[256];
    for (size_t i = 0; i < sizeof literal / sizeof literal[0]; i++) {
        const expr_regex *re = expr_regex_compile(a, literal[i], strlen(literal[i]), true, err,
                                                  sizeof err);
        assert_non_null(re);
        for (size_t k = 0; k < sizeof fixed / sizeof fixed[0]; k++)
            same_answer(literal[i], re, fixed[k].s, fixed[k].len);
        unsigned seed = 12345u + (unsigned)i;
        for (int n = 0; n < 3000; n++) {
            char s[16];
            size_t len = (size_t)(rand_r(&seed) % (int)sizeof s);
            for (size_t k = 0; k < len; k++)
                s[k] = alphabet[rand_r(&seed) % (int)(sizeof alphabet - 1)];
            same_answer(literal[i], re, s, len);
        }
    }
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_patterns),
        cmocka_unit_test(test_literal_answers),
    };
    return cmocka_run_group_tests_name("regex", tests, NULL, NULL);
}
