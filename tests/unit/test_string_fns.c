/* test_string_fns.c - the string functions' shortcuts (src/expr/fn_string.c) against the
 * walks they replaced: lastIndexOf() searches backwards from its offset, and a string with as
 * many code points as bytes is indexed without walking it. Same answers for every subject
 * (ASCII, UTF-8, stray continuation bytes), needle (empty too) and offset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr/fn_int.h"

/* The code points counted as utf8_count counts them: bytes that are not 10xxxxxx. */
static uint32_t ref_count(const char *s, uint32_t len)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* The byte offset of code point 'cp', stepping as the walk from the start does. */
static uint32_t ref_offset(const char *s, uint32_t len, uint32_t cp)
{
    uint32_t i = 0;
    while (i < len && cp > 0) {
        i++;
        while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
        cp--;
    }
    return i;
}

/* The walk from the start (the implementation before the backward search). */
static int64_t ref_last_index_of(const char *s, uint32_t len, const char *sub, uint32_t sl,
                                 int64_t off)
{
    uint32_t limit = ref_offset(s, len, (uint32_t)off);
    int64_t best = -1;
    for (uint32_t i = 0; i <= limit && i <= len;) {
        if (sl <= len - i && memcmp(s + i, sub, sl) == 0)
            best = i;
        if (i == len)
            break;
        i++;
        while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
    }
    return best < 0 ? -1 : (int64_t)ref_count(s, (uint32_t)best);
}

static void same_answer(arena *a, const char *s, uint32_t len, const char *sub, uint32_t sl,
                        int64_t off, bool with_off)
{
    expr_call c = {.a = a};
    expr_value r = ev_str(s, len), args[2] = {ev_str(sub, sl), ev_int(off)};
    expr_value got = fn_last_index_of(&c, &r, args, with_off ? 2 : 1);
    int64_t count = ref_count(s, len);
    if (!with_off)
        off = count;
    if (off < 0 || off > count) {
        assert_int_equal(got.kind, EXPR_ERROR);
        return;
    }
    int64_t want = ref_last_index_of(s, len, sub, sl, off);
    if (got.kind != EXPR_INT || got.v.i != want)
        fail_msg("\"%.*s\".lastIndexOf(\"%.*s\"%s%lld): %lld, want %lld", (int)len, s, (int)sl,
                 sub, with_off ? ", " : "", with_off ? (long long)off : 0LL,
                 got.kind == EXPR_INT ? (long long)got.v.i : -99LL, (long long)want);
}

static void test_last_index_of(void **state)
{
    (void)state;
    static const char *const fixed[][2] = {
        {"flink:1.20", ":"}, {"reg:5000/flink", "/"}, {"reg:5000/flink", ":"}, {"", ""},
        {"abc", ""}, {"", "a"}, {"aaa", "aa"}, {"caf\xc3\xa9:x", ":"}, {"\x80:a", ""},
        {"\x80:a", ":"}, {"\xe2\x84\xaa:\xe2\x84\xaa", "\xe2\x84\xaa"}, {"a\xc3", "\xc3"},
        {"x\xa9y\xa9", "\xa9"}, {"\xa9\xa9", "\xa9"},
    };
    static const char alphabet[] = "ab:/\xc3\xa9\x80\xe2\x84\xaa";
    arena *a = arena_new(1 << 20);
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        uint32_t len = (uint32_t)strlen(fixed[i][0]), sl = (uint32_t)strlen(fixed[i][1]);
        same_answer(a, fixed[i][0], len, fixed[i][1], sl, 0, false);
        for (int64_t off = -1; off <= (int64_t)len + 1; off++)
            same_answer(a, fixed[i][0], len, fixed[i][1], sl, off, true);
    }
    unsigned seed = 4242;
    for (int n = 0; n < 20000; n++) {
        char s[12], sub[4];
        uint32_t len = (uint32_t)(rand_r(&seed) % (int)sizeof s);
        uint32_t sl = (uint32_t)(rand_r(&seed) % (int)sizeof sub);
        for (uint32_t k = 0; k < len; k++)
            s[k] = alphabet[rand_r(&seed) % (int)(sizeof alphabet - 1)];
        for (uint32_t k = 0; k < sl; k++)
            sub[k] = alphabet[rand_r(&seed) % (int)(sizeof alphabet - 1)];
        if (n % 3 == 0 && len > 0) /* a needle taken from the subject: a match exists */
            for (sl = 0; sl < sizeof sub && sl < len; sl++)
                sub[sl] = s[len - 1 - sl];
        same_answer(a, s, len, sub, sl, 0, false);
        same_answer(a, s, len, sub, sl, (int64_t)(rand_r(&seed) % (int)(len + 2)) - 1, true);
    }
    arena_free(a);
}

/* indexOf(), substring() and charAt() take code point i to be byte i when a string has as
 * many code points as bytes: the same answers as walking it, for ASCII and for the rest. */
static void test_code_point_offsets(void **state)
{
    (void)state;
    static const char alphabet[] = "ab:/\xc3\xa9\x80\xe2\x84\xaa";
    arena *a = arena_new(1 << 20);
    expr_call c = {.a = a};
    unsigned seed = 99;
    for (int n = 0; n < 20000; n++) {
        char s[10];
        uint32_t len = (uint32_t)(rand_r(&seed) % (int)sizeof s);
        bool ascii = n % 2 == 0;
        for (uint32_t k = 0; k < len; k++)
            s[k] = ascii ? "ab:/"[rand_r(&seed) % 4]
                         : alphabet[rand_r(&seed) % (int)(sizeof alphabet - 1)];
        int64_t count = ref_count(s, len);
        int64_t x = (int64_t)(rand_r(&seed) % (int)(len + 3)) - 1;
        int64_t y = (int64_t)(rand_r(&seed) % (int)(len + 3)) - 1;
        expr_value r = ev_str(s, len), args[2] = {ev_int(x), ev_int(y)};
        /* substring(x, y) */
        expr_value got = fn_substring(&c, &r, args, 2);
        if (x < 0 || y < 0 || x > count || y > count || x > y) {
            assert_int_equal(got.kind, EXPR_ERROR);
        } else {
            uint32_t bs = ref_offset(s, len, (uint32_t)x), be = ref_offset(s, len, (uint32_t)y);
            assert_int_equal(got.kind, EXPR_STRING);
            assert_int_equal(got.len, be - bs);
            assert_true(got.v.s == s + bs);
        }
        /* charAt(x) */
        got = fn_char_at(&c, &r, args, 1);
        if (x < 0 || x > count) {
            assert_int_equal(got.kind, EXPR_ERROR);
        } else {
            uint32_t b = ref_offset(s, len, (uint32_t)x), e = b;
            if (b < len)
                for (e = b + 1; e < len && ((unsigned char)s[e] & 0xC0) == 0x80; e++)
                    ;
            assert_int_equal(got.kind, EXPR_STRING);
            assert_true(got.v.s == s + b && got.len == e - b);
        }
        /* indexOf(sub, x): sub is one byte of the subject, or ':' */
        char sub = len > 0 ? s[rand_r(&seed) % (int)len] : ':';
        expr_value ia[2] = {ev_str(&sub, 1), ev_int(x)};
        got = fn_index_of(&c, &r, ia, 2);
        if (x < 0 || x > count) {
            assert_int_equal(got.kind, EXPR_ERROR);
        } else {
            uint32_t b = ref_offset(s, len, (uint32_t)x);
            const char *hit = memchr(s + b, sub, len - b);
            int64_t want = hit == NULL ? -1 : (int64_t)ref_count(s, (uint32_t)(hit - s));
            assert_int_equal(got.kind, EXPR_INT);
            if (got.v.i != want)
                fail_msg("\"%.*s\".indexOf(\"%c\", %lld): %lld, want %lld", (int)len, s, sub,
                         (long long)x, (long long)got.v.i, (long long)want);
        }
    }
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_last_index_of),
        cmocka_unit_test(test_code_point_offsets),
    };
    return cmocka_run_group_tests_name("string functions", tests, NULL, NULL);
}
