/* test_util.c - arena, buf, base64, diag, log, num, file, keyindex. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "util/arena.h"
#include "util/buf.h"
#include "util/diag.h"
#include "util/file.h"
#include "util/log.h"
#include "util/num.h"
#include "util/opts.h"
#include "util/utf8.h"
#include "util/vec.h"

/* its hash and table, to build keys that share a bucket */
#include "util/keyindex.c"
/* its string scan, the SSE2 one against the portable one */
#include "util/log.c"
#include "scan_paths.h"

/* Numbers in log lines are written without stdio (log.c), and must read exactly as printf
 * writes them: "%lld" for integers, "%.3f" for doubles below 1e15 (edges of rounding,
 * negative zero, the largest, and many random values). */
static void test_log_numbers_as_printf(void **state)
{
    (void)state;
    static const double dbl[] = {0,       -0.0,     0.0005,   0.0015,    2.0005,  1.2345,
                                 0.0625,  0.1875,   4.9e-324, 2.2250738585072014e-308,
                                 0.125,   999.9995, 999999.9995, 123.4564999, -1.5,
                                 -0.0001, 1e6 + 0.5, 1e15,    999999999999999.9, 0.1};
    static const long long ints[] = {0, 1, -1, 9, 10, -10, 1234567890123LL, INT64_MAX,
                                     INT64_MIN};
    char out[256], want[128];
    for (size_t i = 0; i < sizeof dbl / sizeof dbl[0] + 20000; i++) {
        double v = i < sizeof dbl / sizeof dbl[0] ? dbl[i] : (double)rand() / RAND_MAX *
                                                                (i % 2 ? 1000.0 : 1e6);
        log_field f = LOG_F("v", v);
        log_format_line(LOG_FORMAT_LOGFMT, "T", LOG_INFO, "t", &f, 1, out, sizeof out);
        snprintf(want, sizeof want, "ts=T level=info component=t v=%.3f\n", v);
        if (strcmp(out, want) != 0)
            fail_msg("%.17g: %s, printf: %s", v, out, want);
    }
    /* exact ties (v * 1000 = x.5 exactly: v = odd / 16) round to even as printf does, and
     * the doubles either side of them, and of other halves, round away from the half */
    for (int k = 0; k < 20000; k++) {
        double tie = (2.0 * k + 1) / 16.0, near = (2.0 * k + 1) / 2000.0;
        const double base[] = {tie, near, tie * 31, near * 997};
        for (size_t b = 0; b < 4; b++) {
            for (int d = -1; d <= 1; d++) {
                uint64_t bits;
                double v = base[b];
                memcpy(&bits, &v, sizeof bits);
                bits += (uint64_t)(int64_t)d;
                memcpy(&v, &bits, sizeof v);
                if (!(v < 1e6))
                    continue;
                log_field f = LOG_F("v", v);
                log_format_line(LOG_FORMAT_LOGFMT, "T", LOG_INFO, "t", &f, 1, out, sizeof out);
                snprintf(want, sizeof want, "ts=T level=info component=t v=%.3f\n", v);
                if (strcmp(out, want) != 0)
                    fail_msg("%.17g: %s, printf: %s", v, out, want);
            }
        }
    }
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        log_field f = LOG_I("v", ints[i]);
        log_format_line(LOG_FORMAT_JSON, "T", LOG_INFO, "t", &f, 1, out, sizeof out);
        snprintf(want, sizeof want, "{\"ts\":\"T\",\"level\":\"info\",\"component\":\"t\","
                 "\"v\":%lld}\n", ints[i]);
        assert_string_equal(out, want);
    }
}

static void test_arena_cap(void **state)
{
    (void)state;
    arena *a = arena_new(1000);
    assert_non_null(a);
    void *p = arena_alloc(a, 600);
    assert_non_null(p);
    assert_true(((uintptr_t)p & 15) == 0);
    memset(p, 1, 600);
    assert_null(arena_alloc(a, 600)); /* over the cap */
    assert_non_null(arena_alloc(a, 300));
    assert_null(arena_alloc(a, SIZE_MAX));         /* overflow guard */
    assert_null(arena_calloc(a, SIZE_MAX / 2, 4)); /* count * size overflow */
    arena_free(a);
}

/* Small allocations (arena_alloc's inline bump) count against the cap to the byte, across
 * blocks and after a reset, and arena_used() sees each one. */
static void test_arena_cap_small(void **state)
{
    (void)state;
    static const size_t caps[] = {1000, 4096, 4100, 20000};
    for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
        arena *a = arena_new(caps[c]);
        for (int round = 0; round < 2; round++) {
            size_t got = 0;
            unsigned char *prev = NULL;
            for (;;) {
                unsigned char *p = arena_alloc(a, got % 3 == 0 ? 16 : got % 3 == 1 ? 1 : 9);
                if (p == NULL)
                    break;
                assert_true(((uintptr_t)p & 15) == 0);
                assert_true(prev == NULL || p != prev);
                memset(p, 0xab, 16);
                prev = p;
                got++;
                assert_int_equal(arena_used(a), got * 16);
            }
            assert_int_equal(got, caps[c] / 16); /* every 16 bytes, none past the cap */
            assert_null(arena_alloc(a, 0));
            assert_int_equal(arena_used(a), got * 16);
            arena_reset(a);
            assert_int_equal(arena_used(a), 0);
        }
        arena_free(a);
    }
}

static void test_arena_large_and_strings(void **state)
{
    (void)state;
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    char *big = arena_alloc(a, 1 << 20); /* bigger than any block: gets its own */
    assert_non_null(big);
    memset(big, 'x', 1 << 20);
    for (int i = 0; i < 1000; i++)
        assert_non_null(arena_alloc(a, 100));
    assert_string_equal(arena_strdup(a, "héllo"), "héllo");
    assert_string_equal(arena_strndup(a, "abcdef", 3), "abc");
    assert_string_equal(arena_sprintf(a, "%d-%s", 42, "x"), "42-x");
    assert_string_equal(arena_cat(a, "[", "p", "] ", "", "msg"), "[p] msg");
    assert_string_equal(arena_cat(a, ""), "");
    const char *parts[17] = {0};
    assert_null(arena_strcat(a, parts, 17)); /* more parts than it takes */
    assert_null(arena_strdup(a, NULL));
    assert_true(arena_used(a) >= (1 << 20) + 100000);
    arena_free(a);
    arena_free(NULL);
}

/* A new cap counts what is already handed out, and holds across blocks and resets. */
static void test_arena_set_cap(void **state)
{
    (void)state;
    arena *a = arena_new(1 << 20);
    assert_non_null(arena_alloc(a, 1000)); /* 1008 */
    arena_set_cap(a, 2000);
    assert_null(arena_alloc(a, 1000));
    assert_non_null(arena_alloc(a, 992));
    assert_null(arena_alloc(a, 1));
    arena_set_cap(a, 100); /* below what is out: the cap is what is out */
    assert_null(arena_alloc(a, 1));
    assert_int_equal(arena_used(a), 2000);
    arena_reset(a);
    assert_null(arena_alloc(a, 2001)); /* the cap stays over a reset */
    assert_non_null(arena_alloc(a, 2000));
    arena_reset(a);
    arena_set_cap(a, 100);
    assert_null(arena_alloc(a, 101));
    assert_non_null(arena_alloc(a, 96));
    arena_reset(a);
    arena_set_cap(a, 100016); /* more than the block it kept: new blocks, to the byte */
    size_t got = 0;
    while (arena_alloc(a, 4000) != NULL)
        got++;
    assert_int_equal(got, 25);
    assert_non_null(arena_alloc(a, 16));
    assert_null(arena_alloc(a, 1));
    arena_free(a);
}

static int deferred_calls;
static void count_call(void *p)
{
    deferred_calls += *(int *)p;
}

static void test_arena_reset_and_defer(void **state)
{
    (void)state;
    arena *a = arena_new(1 << 20);
    static int one = 1, ten = 10;
    deferred_calls = 0;
    assert_int_equal(arena_defer(a, count_call, &one), 0);
    for (int i = 0; i < 100; i++)
        assert_non_null(arena_alloc(a, 5000)); /* several blocks */
    arena_reset(a);
    assert_int_equal(deferred_calls, 1);
    assert_int_equal(arena_used(a), 0);
    for (int round = 0; round < 1000; round++) { /* reuse never hits the cap */
        assert_non_null(arena_alloc(a, 3000));
        arena_reset(a);
    }
    assert_int_equal(arena_defer(a, count_call, &ten), 0);
    arena_free(a);
    assert_int_equal(deferred_calls, 11);
    arena *tiny = arena_new(16);
    assert_non_null(arena_alloc(tiny, 16));
    assert_int_equal(arena_defer(tiny, count_call, &one), -1); /* over the cap: run now */
    assert_int_equal(deferred_calls, 12);
    arena_free(tiny);
    assert_int_equal(deferred_calls, 12);
}

/* A label value: backslash, quote and newline escaped, anything else (UTF-8 too) as it is. */
static void test_buf_put_label(void **state)
{
    (void)state;
    buf b;
    buf_init(&b, 64);
    assert_int_equal(buf_put_label(&b, "a\\b\"c\nd-\xc3\xa9"), 0);
    assert_string_equal(b.data, "a\\\\b\\\"c\\nd-\xc3\xa9");
    buf_clear(&b);
    buf_init(&b, 2);
    assert_int_equal(buf_put_label(&b, "x\""), -1); /* x, then 2 more bytes: over 2 */
    buf_clear(&b);
}

static void test_buf_cap(void **state)
{
    (void)state;
    buf b;
    buf_init(&b, 10);
    assert_int_equal(buf_puts(&b, "hello"), 0);
    assert_int_equal(buf_printf(&b, "%d", 1234), 0);
    assert_string_equal(b.data, "hello1234");
    assert_int_equal(buf_puts(&b, "xy"), -1); /* 11 > 10: refused, unchanged */
    assert_string_equal(b.data, "hello1234");
    assert_int_equal(buf_puts(&b, "z"), 0);
    assert_int_equal(b.len, 10);
    assert_int_equal(buf_printf(&b, "%s", "q"), -1);
    char *t = buf_take(&b);
    assert_string_equal(t, "hello1234z");
    free(t);
    assert_null(b.data);
    assert_int_equal(b.cap, 10);
    buf_clear(&b);
}

static const struct {
    const char *plain, *b64;
} b64_cases[] = {
    {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
    {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
    {"[{\"op\":\"add\",\"path\":\"/spec/x\",\"value\":1}]",
     "W3sib3AiOiJhZGQiLCJwYXRoIjoiL3NwZWMveCIsInZhbHVlIjoxfV0="},
};

static void test_base64_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof b64_cases / sizeof b64_cases[0]; i++) {
        char out[256];
        unsigned char back[256];
        size_t n = strlen(b64_cases[i].plain);
        assert_int_equal(base64_encoded_len(n), strlen(b64_cases[i].b64));
        base64_encode(b64_cases[i].plain, n, out);
        if (strcmp(out, b64_cases[i].b64) != 0)
            fail_msg("case %zu: %s => %s, want %s", i, b64_cases[i].plain, out, b64_cases[i].b64);
        long m = base64_decode(out, strlen(out), back);
        assert_int_equal(m, (long)n);
        assert_memory_equal(back, b64_cases[i].plain, n);
    }
    static const char *const bad[] = {"Zg=", "Z===", "Zm9v!A==", "=Zm9", "Zg==Zg=="};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned char back[16];
        if (base64_decode(bad[i], strlen(bad[i]), back) != -1)
            fail_msg("bad case %zu (%s) decoded", i, bad[i]);
    }
}

static void test_diag_format_and_cap(void **state)
{
    (void)state;
    diag_list dl;
    diag_list_init(&dl);
    srcpos at = {.file = "policies/p.yaml", .line = 14, .col = 22, .path = "spec.x"};
    diag_add(&dl, DIAG_ERROR, "expr.syntax", &at, "expected '%c'", ')');
    diag_add(&dl, DIAG_WARNING, "tls.soon", NULL, "expires in %d days", 3);
    char line[256];
    assert_string_equal(diag_format(&dl.items[0], line, sizeof line),
                        "policies/p.yaml:14:22: error[expr.syntax]: expected ')' (at spec.x)");
    assert_string_equal(diag_format(&dl.items[1], line, sizeof line),
                        "warning[tls.soon]: expires in 3 days");
    assert_true(diag_has_errors(&dl));
    for (int i = 0; i < 100; i++)
        diag_add(&dl, DIAG_ERROR, "x.y", &at, "n%d", i);
    assert_int_equal(dl.count, DIAG_MAX);
    assert_int_equal(dl.dropped, 52);
    assert_int_equal(dl.errors, 101);
    char tiny[12];
    diag_format(&dl.items[0], tiny, sizeof tiny); /* cut, never overrun */
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
    diag_list_clear(&dl);
    assert_int_equal(dl.count, 0);
    assert_false(diag_has_errors(&dl));
}

/* A request-controlled value with every class of troublesome byte: a newline that would start
 * a forged line, a quote, '=', a backslash, a tab, a control byte, DEL and invalid UTF-8. */
static const struct {
    const char *value, *logfmt, *json;
} log_value_cases[] = {
    {"plain-value", "v=plain-value", "\"v\":\"plain-value\""},
    {"two words", "v=\"two words\"", "\"v\":\"two words\""},
    {"", "v=\"\"", "\"v\":\"\""},
    {"k=v", "v=\"k=v\"", "\"v\":\"k=v\""},
    {"a\"b\\c", "v=\"a\\\"b\\\\c\"", "\"v\":\"a\\\"b\\\\c\""},
    {"ns\nts=x level=error msg=forged", "v=\"ns\\nts=x level=error msg=forged\"",
     "\"v\":\"ns\\nts=x level=error msg=forged\""},
    {"a\rb\tc", "v=\"a\\rb\\tc\"", "\"v\":\"a\\rb\\tc\""},
    {"x\x01y\x7f", "v=\"x\\u0001y\\u007f\"", "\"v\":\"x\\u0001y\\u007f\""},
    {"caf\xc3\xa9", "v=\"caf\xc3\xa9\"", "\"v\":\"caf\xc3\xa9\""},
    {"bad\xff\xc0\xafx", "v=\"bad\\xff\\xc0\\xafx\"", "\"v\":\"bad\\ufffd\\ufffd\\ufffdx\""},
    /* NEL, U+2028, U+2029: line breaks to a Unicode-aware reader */
    {"a\xc2\x85" "b\xe2\x80\xa8" "c\xe2\x80\xa9", "v=\"a\\u0085b\\u2028c\\u2029\"",
     "\"v\":\"a\\u0085b\\u2028c\\u2029\""},
    {"\xc2\xa0\xe2\x80\xa7", "v=\"\xc2\xa0\xe2\x80\xa7\"", "\"v\":\"\xc2\xa0\xe2\x80\xa7\""},
    {"123", "v=123", "\"v\":\"123\""}, /* a namespace named 123 stays a string in JSON */
    {"true", "v=true", "\"v\":\"true\""},
};

static size_t line_for(enum log_format fmt, const log_field *f, size_t n, char *out, size_t cap)
{
    return log_format_line(fmt, "T", LOG_INFO, "t", f, n, out, cap);
}

typedef struct src_place {
    size_t off;
    int line, col;
} src_place;

/* Each offset of 'map' is located at its line:col in 's' and, with 'back', that line:col
 * (ASCII: characters are bytes) gives the offset back. */
static void expect_places(const diag_source *s, const src_place *map, size_t n, bool back)
{
    for (size_t i = 0; i < n; i++) {
        int line, col;
        diag_source_locate(s, map[i].off, &line, &col);
        if (line != map[i].line || col != map[i].col)
            fail_msg("offset %zu: %d:%d, want %d:%d", map[i].off, line, col, map[i].line,
                     map[i].col);
        if (back)
            assert_int_equal(diag_source_offset(s, map[i].line, map[i].col), map[i].off);
    }
}

/* A source's line map: an offset becomes line:col (columns count bytes) only when asked, a
 * libyaml line:col (columns count characters) becomes an offset, and a diag list keeps the
 * source of its diags alive after its maker dropped it. */
static void test_diag_source(void **state)
{
    (void)state;
    /* lines: "abc", "\xc3\xa9x\xc3\xa9y\r" (two é), "\r", "z", "" */
    const char t[] = "abc\n\xc3\xa9x\xc3\xa9y\r\n\r\nz\n";
    diag_source *s = diag_source_new(t, sizeof t - 1);
    assert_non_null(s);
    size_t len;
    assert_memory_equal(diag_source_text(s, &len), t, sizeof t);
    assert_int_equal(len, sizeof t - 1);
    static const src_place map[] = {
        {0, 1, 1}, {3, 1, 4}, {4, 2, 1}, {6, 2, 3}, {9, 2, 6}, {10, 2, 7}, {12, 3, 1},
        {14, 4, 1}, {15, 4, 2}, {16, 5, 1}, {99, 5, 1}, /* past the end: the end */
    };
    expect_places(s, map, sizeof map / sizeof map[0], false);
    /* characters to bytes: column 3 of line 2 is the 'x' after the é */
    assert_int_equal(diag_source_offset(s, 2, 1), 4);
    assert_int_equal(diag_source_offset(s, 2, 2), 6);
    assert_int_equal(diag_source_offset(s, 2, 3), 7);
    assert_int_equal(diag_source_offset(s, 2, 5), 10);
    assert_int_equal(diag_source_offset(s, 1, 99), 3); /* clamped to the line */
    assert_int_equal(diag_source_offset(s, 99, 1), sizeof t - 1);
    diag_list dl;
    diag_list_init(&dl);
    srcpos pos = {.file = "f.yaml", .source = s, .offset = 7};
    diag_add(&dl, DIAG_ERROR, "expr.syntax", &pos, "here");
    diag_source_unref(s); /* the list holds its own reference */
    char line[256];
    assert_string_equal(diag_format(&dl.items[0], line, sizeof line),
                        "f.yaml:2:4: error[expr.syntax]: here");
    int l, c;
    srcpos_line_col(&dl.items[0].at, &l, &c);
    assert_int_equal(l, 2);
    assert_int_equal(c, 4);
    diag_list_clear(&dl);
}

/* A source's lines end where libyaml's do: a lone \r (old Mac files), NEL, LS and PS as well
 * as \n and \r\n. Else a line:col from libyaml (a schema error, a scalar's start) and an
 * offset located in the map name different bytes after the first such break. */
static void test_diag_source_line_breaks(void **state)
{
    (void)state;
    /* lines: "a", "b", "c", "d", "e", "f", "" */
    const char t[] = "a\rb\r\nc\xc2\x85" "d\xe2\x80\xa8" "e\xe2\x80\xa9" "f\n";
    diag_source *s = diag_source_new(t, sizeof t - 1);
    assert_non_null(s);
    static const src_place map[] = {
        {0, 1, 1}, {1, 1, 2}, {2, 2, 1}, {3, 2, 2}, {5, 3, 1}, {8, 4, 1}, {12, 5, 1},
        {16, 6, 1}, {18, 7, 1},
    };
    expect_places(s, map, sizeof map / sizeof map[0], true);
    assert_int_equal(diag_source_offset(s, 3, 9), 6); /* clamped before the NEL */
    size_t len;
    const char *l4 = diag_source_line(s, 4, &len);
    assert_non_null(l4);
    assert_int_equal(len, 1);
    assert_int_equal(l4[0], 'd');
    assert_null(diag_source_line(s, 8, &len));
    assert_int_equal(diag_line_break("\r", 1, 0), 1);
    assert_int_equal(diag_line_break("\xe2\x80", 2, 0), 0); /* cut short: no break */
    diag_source_unref(s);
}

static void test_log_values_escaped(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof log_value_cases / sizeof log_value_cases[0]; i++) {
        char out[512], want[512];
        log_field f = LOG_S("v", log_value_cases[i].value);
        line_for(LOG_FORMAT_LOGFMT, &f, 1, out, sizeof out);
        snprintf(want, sizeof want, "ts=T level=info component=t %s\n", log_value_cases[i].logfmt);
        if (strcmp(out, want) != 0)
            fail_msg("logfmt case %zu: %s, want %s", i, out, want);
        line_for(LOG_FORMAT_JSON, &f, 1, out, sizeof out);
        snprintf(want, sizeof want, "{\"ts\":\"T\",\"level\":\"info\",\"component\":\"t\",%s}\n",
                 log_value_cases[i].json);
        if (strcmp(out, want) != 0)
            fail_msg("json case %zu: %s, want %s", i, out, want);
    }
}

static void test_log_types(void **state)
{
    (void)state;
    char out[512];
    const log_field f[] = {LOG_I("status", 403), LOG_B("dry_run", true), LOG_B("patched", false),
                           LOG_F("ms", 0.125), LOG_I("n", -3), LOG_S("s", NULL)};
    line_for(LOG_FORMAT_JSON, f, 6, out, sizeof out);
    assert_string_equal(out, "{\"ts\":\"T\",\"level\":\"info\",\"component\":\"t\",\"status\":403,"
                             "\"dry_run\":true,\"patched\":false,\"ms\":0.125,\"n\":-3,\"s\":\"-\"}\n");
    line_for(LOG_FORMAT_LOGFMT, f, 6, out, sizeof out);
    assert_string_equal(out, "ts=T level=info component=t status=403 dry_run=true patched=false "
                             "ms=0.125 n=-3 s=-\n");
}

/* A line cut by its cap still ends closed: one line, the value's quote, the object's brace. */
static void test_log_cut(void **state)
{
    (void)state;
    char big[3000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[100] = '\n';
    big[1500] = '"';
    for (size_t cap = 9; cap < 400; cap += 7) {
        for (int fmt = 0; fmt < 2; fmt++) {
            char out[400];
            const log_field f[] = {LOG_I("status", 200), LOG_S("v", big), LOG_B("b", true)};
            size_t n = line_for((enum log_format)fmt, f, 3, out, cap);
            assert_true(n < cap);
            assert_int_equal(strlen(out), n);
            assert_true(n >= 1 && out[n - 1] == '\n');
            assert_ptr_equal(strchr(out, '\n'), out + n - 1);
            if (fmt == LOG_FORMAT_JSON && n > 1)
                assert_int_equal(out[n - 2], '}');
            size_t quotes = 0; /* unescaped quotes pair up */
            for (size_t k = 0; k < n; k++)
                quotes += out[k] == '"' && (k == 0 || out[k - 1] != '\\');
            if (quotes % 2 != 0)
                fail_msg("cap %zu fmt %d: unbalanced quotes in %s", cap, fmt, out);
        }
    }
}

/* The string writer as it was written byte by byte (before issue 16's scans by runs), kept
 * here as the reference: a line of one string field, cut at 'cap' as log_format_line() cuts. */
typedef struct ref_line {
    char *p;
    size_t n, cap;
    bool full;
} ref_line;

static void ref_put(ref_line *l, const char *s, size_t len)
{
    if (l->full || l->n + len > l->cap) {
        l->full = true;
        return;
    }
    memcpy(l->p + l->n, s, len);
    l->n += len;
}

static void ref_put_string(ref_line *l, const char *s, bool json)
{
    size_t len = strlen(s);
    bool bare = len > 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f)
            bare = false;
    }
    if (!json && bare && l->n + len <= l->cap) {
        ref_put(l, s, len);
        return;
    }
    ref_put(l, "\"", 1);
    for (size_t i = 0; i < len && !l->full;) {
        unsigned char c = (unsigned char)s[i];
        const unsigned char *u = (const unsigned char *)s + i;
        char esc[8];
        size_t n = utf8_seq_len(s + i, len - i);
        bool brk = (n == 2 && u[0] == 0xC2 && u[1] <= 0x9F) ||
                   (n == 3 && u[0] == 0xE2 && u[1] == 0x80 && (u[2] == 0xA8 || u[2] == 0xA9));
        if (c == '"' || c == '\\') {
            snprintf(esc, sizeof esc, "\\%c", c);
            ref_put(l, esc, 2);
        } else if (c == '\n' || c == '\r' || c == '\t') {
            snprintf(esc, sizeof esc, "\\%c", c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
            ref_put(l, esc, 2);
        } else if (c < ' ' || c == 0x7f || brk) {
            snprintf(esc, sizeof esc, "\\u%04x",
                     !brk ? c : n == 2 ? u[1] : 0x2000u | (u[2] - 0x80u));
            ref_put(l, esc, 6);
            n = n ? n : 1;
        } else if (n == 0) {
            if (json)
                ref_put(l, "\\ufffd", 6);
            else {
                snprintf(esc, sizeof esc, "\\x%02x", c);
                ref_put(l, esc, 4);
            }
            n = 1;
        } else {
            ref_put(l, s + i, n);
        }
        i += n;
    }
    if (l->full)
        l->p[l->n++] = '"';
    else
        ref_put(l, "\"", 1);
}

/* "ts=T level=info component=t v=VALUE\n" (or its JSON) in 'cap' bytes, as it was written. */
static size_t ref_format(bool json, const char *value, char *out, size_t cap)
{
    ref_line l = {.p = out, .cap = cap - 8};
    static const char *const keys[] = {"ts", "level", "component", "v"};
    const char *vals[] = {"T", "info", "t", value};
    if (json)
        ref_put(&l, "{", 1);
    for (int i = 0; i < 4; i++) {
        size_t klen = strlen(keys[i]);
        if (l.full || l.n + klen + 4 + 32 > l.cap) {
            l.full = true;
            break;
        }
        if (json) {
            ref_put(&l, i == 0 ? "\"" : ",\"", i == 0 ? 1 : 2);
            ref_put(&l, keys[i], klen);
            ref_put(&l, "\":", 2);
        } else {
            if (i > 0)
                ref_put(&l, " ", 1);
            ref_put(&l, keys[i], klen);
            ref_put(&l, "=", 1);
        }
        ref_put_string(&l, vals[i], json);
    }
    if (json)
        l.p[l.n++] = '}';
    l.p[l.n++] = '\n';
    out[l.n] = '\0';
    return l.n;
}

/* The writer scans strings 8 bytes at a step and copies whole runs: it writes what the byte by
 * byte writer wrote, in both formats, for strings made of every class of byte (plain, space,
 * '=', quote, backslash, \n \r \t, other controls, DEL, UTF-8 of 2, 3 and 4 bytes, the
 * Unicode line breaks, bytes that are not UTF-8, a sequence cut by the string's end) at every
 * offset from a word's start, whole and cut by every cap. */
static void test_log_strings_as_before(void **state)
{
    (void)state;
    static const char *const pieces[] = {
        "a", "Zq", "plain-run-of-text", " ", "=", "\"", "\\", "\n", "\r", "\t", "\x01", "\x1f",
        "\x7f", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xc2\x85", "\xc2\x9f",
        "\xe2\x80\xa8", "\xe2\x80\xa9", "\xc2\xa0", "\xe2\x80\xa7", "\xff", "\xc0\xaf", "\x80",
        "\xed\xa0\x80", "\xf4\x90\x80\x80",
    };
    static const char *const tails[] = {"", "\xe2\x82", "\xf0\x9f\x98", "\xc3"};
    const size_t np = sizeof pieces / sizeof pieces[0];
    srand(16);
    char value[512], got[600], want[600];
    for (int round = 0; round < 4000; round++) {
        size_t len = 0;
        for (int k = round % 9; k > 0; k--) /* an offset into the word: plain bytes first */
            value[len++] = 'p';
        for (int k = rand() % 24; k > 0; k--) {
            const char *pc = pieces[rand() % np];
            size_t pl = strlen(pc);
            memcpy(value + len, pc, pl);
            len += pl;
        }
        const char *t = tails[rand() % 4];
        memcpy(value + len, t, strlen(t) + 1);
        for (int json = 0; json < 2; json++) {
            size_t caps[] = {sizeof got, 9 + (size_t)(rand() % 200), 40 + (size_t)(round % 160)};
            for (size_t c = 0; c < 3; c++) {
                log_field f = LOG_S("v", value);
                size_t n = log_format_line(json ? LOG_FORMAT_JSON : LOG_FORMAT_LOGFMT, "T",
                                           LOG_INFO, "t", &f, 1, got, caps[c]);
                size_t m = ref_format(json, value, want, caps[c]);
                if (n != m || memcmp(got, want, n + 1) != 0)
                    fail_msg("round %d json %d cap %zu:\n got %s\nwant %s", round, json, caps[c],
                             got, want);
            }
        }
    }
}

/* Bytes of every class a scan tells apart: plain ASCII, space, '=', quote, backslash,
 * controls, DEL, UTF-8 lead and continuation bytes, 0xFF. */
static const unsigned char scan_bytes[] = {'a', 'Z', '0', ' ', '=', '"', '\\', '\n', 0x01, 0x1f,
                                           0x20, 0x7e, 0x7f, 0x80, 0xbf, 0xc3, 0xe2, 0xff};

/* bytescan.h, for each stop set its callers use and the one none uses yet (0 the JSON
 * printer's, BYTESCAN_DEL_UP the log's, BYTESCAN_HIGH the parser's): the SSE2 scan, the 8-byte
 * scan and a byte by byte one find the same first stop, with a byte of each class at every
 * place of buffers up to 40 bytes at every offset from a 16-byte boundary. */
static void test_bytescan_sets(void **state)
{
    (void)state;
    static const unsigned sets[] = {0, BYTESCAN_HIGH, BYTESCAN_DEL_UP};
    for (size_t s = 0; s < 3; s++)
        scan_paths_check(bytescan, bytescan_portable, bytescan_is_stop, sets[s], scan_bytes,
                         sizeof scan_bytes, 40, 0);
}

/* The quoted run's stop (log.c) is found 16 bytes a step with SSE2 and 8 bytes a step
 * without: both, and a byte by byte scan, find the same first stop in buffers of every
 * length up to 80 at every offset from a 16-byte boundary, with one or two bytes of each
 * class at every place (the rest plain). */
static const unsigned char *log_fast(const unsigned char *p, const unsigned char *end,
                                     unsigned set)
{
    (void)set;
    return quoted_stop(p, end);
}

static const unsigned char *log_slow(const unsigned char *p, const unsigned char *end,
                                     unsigned set)
{
    (void)set;
    return quoted_stop_portable(p, end);
}

static bool log_stop(unsigned char c, unsigned set)
{
    (void)set;
    return is_quoted_stop(c);
}

static void test_log_scan_paths(void **state)
{
    (void)state;
    scan_paths_check(log_fast, log_slow, log_stop, 0, scan_bytes, sizeof scan_bytes, 80, 5);
}

/* Valid and invalid UTF-8 by class: overlong forms, surrogates, > U+10FFFF, truncated and
 * stray continuation bytes; 'bad' is the offset of the first bad byte (-1: valid). */
static const struct {
    const char *s;
    int bad;
} utf8_cases[] = {
    {"", -1}, {"plain ascii, longer than eight bytes", -1},
    {"0123456789abcdef0123456789abcdef", -1}, /* exactly one and two 32-byte runs */
    {"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", -1},
    {"0123456789abcdef0123456789abcdef\xff", 32},
    {"0123456789abcdef0123456789abcde\xc3\xa9", -1}, /* a sequence across a run's end */
    {"caf\xc3\xa9", -1}, {"\xe2\x82\xac", -1}, {"\xf0\x9f\x98\x80", -1},
    {"\xed\x9f\xbf", -1},          /* U+D7FF, the last before the surrogates */
    {"\xee\x80\x80", -1},          /* U+E000, the first after */
    {"\xf4\x8f\xbf\xbf", -1},      /* U+10FFFF */
    {"ab\xc0\xaf", 2},             /* overlong '/' */
    {"\xc1\xbf", 0},               /* overlong */
    {"\xe0\x80\xaf", 0},           /* overlong, 3 bytes */
    {"\xf0\x80\x80\xaf", 0},       /* overlong, 4 bytes */
    {"x\xed\xa0\x80", 1},          /* U+D800, a surrogate (what CESU-8 writes) */
    {"\xed\xbf\xbf", 0},           /* U+DFFF */
    {"\xf4\x90\x80\x80", 0},       /* U+110000 */
    {"\xf5\x80\x80\x80", 0}, {"\xff", 0},
    {"abcdefgh\x80", 8},           /* a stray continuation byte after a fast ASCII run */
    {"\xe2\x82", 0},               /* cut short */
    {"\xc3(", 0},
};

static void test_utf8_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof utf8_cases / sizeof utf8_cases[0]; i++) {
        size_t bad = 999;
        bool ok = utf8_is_valid(utf8_cases[i].s, strlen(utf8_cases[i].s), &bad);
        if (ok != (utf8_cases[i].bad < 0) || (!ok && bad != (size_t)utf8_cases[i].bad))
            fail_msg("case %zu: valid %d bad %zu, want %d", i, ok, bad, utf8_cases[i].bad);
    }
    const char *e = "a\xe2\x82\xac"; /* "a€": a cut inside the euro sign steps back before it */
    assert_int_equal(utf8_cut(e, 4, 4), 4);
    assert_int_equal(utf8_cut(e, 4, 3), 1);
    assert_int_equal(utf8_cut(e, 4, 2), 1);
    assert_int_equal(utf8_cut(e, 4, 1), 1);
}

/* A NUL byte or a \u0000 escape, wherever it is; "\\u0000" (an escaped backslash) is text. */
static void test_utf8_json_find_nul(void **state)
{
    (void)state;
    static const char raw[] = "{\"a\":\"x\0y\"}";
    assert_int_equal(utf8_json_find_nul(raw, sizeof raw - 1), 7);
    assert_int_equal(utf8_json_find_nul("{\"a\":\"\\u0000\"}", 14), 6);
    assert_int_equal(utf8_json_find_nul("{\"a\":\"\\\\u0000\"}", 15), -1);
    assert_int_equal(utf8_json_find_nul("{\"a\":\"\\\\\\u0000\"}", 17), 8);
    static const char both[] = "\"\\u0000\0\"";
    assert_int_equal(utf8_json_find_nul(both, sizeof both - 1), 1);
    static const char raw_first[] = "\"\0\\u0000\"";
    assert_int_equal(utf8_json_find_nul(raw_first, sizeof raw_first - 1), 1);
    assert_int_equal(utf8_json_find_nul("\"\\u000\"", 7), -1);
    assert_int_equal(utf8_json_find_nul("", 0), -1);
}

static void test_log_lines(void **state)
{
    (void)state;
    char path[] = "/tmp/sg-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    log_setup(LOG_FORMAT_JSON, LOG_INFO, fd);
    log_debug("t", LOG_I("hidden", 1));
    log_info("t", LOG_S("uid", "abc"), LOG_I("n", 5));
    log_setup(LOG_FORMAT_LOGFMT, LOG_WARN, fd);
    log_info("t", LOG_I("hidden", 2));
    log_error("t", LOG_S("msg", "boom"));
    log_setup(LOG_FORMAT_LOGFMT, LOG_INFO, 2);
    char text[1024] = "";
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    assert_true(n > 0);
    text[n] = '\0';
    close(fd);
    unlink(path);
    assert_null(strstr(text, "hidden"));
    assert_non_null(strstr(text, "\"level\":\"info\",\"component\":\"t\",\"uid\":\"abc\",\"n\":5}\n"));
    assert_non_null(strstr(text, "level=error component=t msg=boom\n"));
    enum log_level lv;
    enum log_format lf;
    assert_int_equal(log_parse_level("warn", &lv), 0);
    assert_int_equal(lv, LOG_WARN);
    assert_int_equal(log_parse_level("WARN", &lv), -1);
    assert_int_equal(log_parse_format("json", &lf), 0);
    assert_int_equal(log_parse_format("yaml", &lf), -1);
}

static const struct {
    const char *s;
    unsigned long long min, max;
    int rc;
    unsigned long long want;
} num_cases[] = {
    {"0", 0, 10, 0, 0},   {"10", 0, 10, 0, 10},  {"11", 0, 10, -1, 0},
    {"-1", 0, 10, -1, 0}, {"+1", 0, 10, -1, 0},  {" 1", 0, 10, -1, 0},
    {"1x", 0, 10, -1, 0}, {"", 0, 10, -1, 0},    {"0", 1, 10, -1, 0},
    {"99999999999999999999999", 0, ~0ULL, -1, 0}, {"65535", 0, 65535, 0, 65535},
};

static void test_num_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof num_cases / sizeof num_cases[0]; i++) {
        unsigned long long v = 0;
        int rc = num_parse_uint(num_cases[i].s, num_cases[i].min, num_cases[i].max, &v);
        if (rc != num_cases[i].rc || (rc == 0 && v != num_cases[i].want))
            fail_msg("case %zu: '%s' => rc %d v %llu", i, num_cases[i].s, rc, v);
    }
    unsigned long long v;
    assert_int_equal(num_parse_uint(NULL, 0, 1, &v), -1);
}

/* num_ll_text() against printf's "%lld", at the edges and on a sweep of magnitudes. */
static void test_num_ll_text(void **state)
{
    (void)state;
    long long edge[] = {0, 1, -1, 9, 10, -10, 99, 100, LLONG_MAX, LLONG_MIN, LLONG_MIN + 1,
                        999999999999999999LL, -1000000000000000000LL};
    for (int k = 0; k < 13 + 2 * 63; k++) {
        int e = (k - 13) / 2; /* then -2^e and 2^e - 1 for e up to 62 */
        long long v = k < 13 ? edge[k] : (k - 13) % 2 ? -(1LL << e) : (1LL << e) - 1;
        char want[32], buf[NUM_LL_MAX];
        snprintf(want, sizeof want, "%lld", v);
        const char *t = num_ll_text(buf, v);
        size_t n = (size_t)(buf + NUM_LL_MAX - t);
        if (n != strlen(want) || memcmp(t, want, n) != 0)
            fail_msg("%s: got '%.*s'", want, (int)n, t);
    }
}

static void test_file_roundtrip(void **state)
{
    (void)state;
    char dir[] = "/tmp/sg-file-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/f.txt", dir);
    diag_list dl;
    diag_list_init(&dl);
    assert_int_equal(file_write_atomic(path, "hello\n", 6, 0600, &dl), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    buf b;
    buf_init(&b, 100);
    assert_int_equal(file_read(path, 100, &b, &dl), 0);
    assert_string_equal(b.data, "hello\n");
    assert_int_equal(file_read(path, 3, &b, &dl), -1); /* over the cap */
    assert_string_equal(dl.items[0].code, "io.too_large");
    snprintf(path, sizeof path, "%s/missing", dir);
    assert_int_equal(file_read(path, 100, &b, &dl), -1);
    assert_string_equal(dl.items[1].code, "io.read");
    snprintf(path, sizeof path, "%s/no/such/dir/f", dir);
    assert_int_equal(file_write_atomic(path, "x", 1, 0644, &dl), -1);
    assert_string_equal(dl.items[2].code, "io.write");
    snprintf(path, sizeof path, "%s/empty", dir);
    assert_int_equal(file_write_atomic(path, "", 0, 0644, &dl), 0);
    assert_int_equal(file_read(path, 100, &b, &dl), 0);
    assert_non_null(b.data);
    assert_int_equal(b.len, 0);
    buf_clear(&b);
    diag_list_clear(&dl);
    unlink(path);
    snprintf(path, sizeof path, "%s/f.txt", dir);
    unlink(path);
    rmdir(dir);
}


static bool want_yaml(const char *name)
{
    size_t n = strlen(name);
    return n > 5 && strcmp(name + n - 5, ".yaml") == 0;
}

/* Directories are walked recursively and sorted; dot entries and unwanted names skipped. */
static void test_file_list(void **state)
{
    (void)state;
    char dir[] = "/tmp/sg-list-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "cd %s && mkdir -p b/c ..data .hidden && touch z.yaml a.yaml b/c/d.yaml b/n.txt "
             "..data/x.yaml .hidden/y.yaml", dir);
    assert_int_equal(system(cmd), 0);
    diag_list dl;
    diag_list_init(&dl);
    char **files = NULL;
    size_t n = 0;
    assert_int_equal(file_list(dir, want_yaml, 100, &files, &n, &dl), 0);
    assert_int_equal(n, 3);
    char want[3][256];
    snprintf(want[0], sizeof want[0], "%s/a.yaml", dir);
    snprintf(want[1], sizeof want[1], "%s/b/c/d.yaml", dir);
    snprintf(want[2], sizeof want[2], "%s/z.yaml", dir);
    for (int i = 0; i < 3; i++)
        assert_string_equal(files[i], want[i]);
    /* A file given by name is listed whatever its name; the cap holds. */
    char txt[256];
    snprintf(txt, sizeof txt, "%s/b/n.txt", dir);
    assert_int_equal(file_list(txt, want_yaml, 4, &files, &n, &dl), 0);
    assert_int_equal(n, 4);
    assert_string_equal(files[3], txt);
    assert_int_equal(file_list(dir, want_yaml, 4, &files, &n, &dl), 0);
    assert_int_equal(n, 4);
    file_list_free(files, n);
    files = NULL;
    n = 0;
    snprintf(txt, sizeof txt, "%s/missing", dir);
    assert_int_equal(file_list(txt, want_yaml, 10, &files, &n, &dl), -1);
    assert_int_equal(n, 0);
    assert_string_equal(dl.items[0].code, "io.read");
    file_list_free(files, n);
    diag_list_clear(&dl);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* keyindex: the first item of a key wins; keys are bytes (empty, NUL inside, UTF-8, long
 * common prefixes); keys in one bucket are told apart; a full index refuses more. */
static void test_keyindex(void **state)
{
    (void)state;
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    keyindex *ix = keyindex_new(a, 2000);
    assert_non_null(ix);
    static const char *const odd[] = {"", "a", "ä", "日本語", "a\0b", "a\0c", "~/", "A"};
    static const size_t odd_len[] = {0, 1, 2, 9, 3, 3, 2, 1};
    for (size_t i = 0; i < 8; i++)
        assert_true(keyindex_add(ix, odd[i], odd_len[i], odd[i]));
    assert_true(keyindex_add(ix, "a", 1, "second a")); /* a duplicate keeps the first */
    for (size_t i = 0; i < 8; i++)
        assert_ptr_equal(keyindex_find(ix, odd[i], odd_len[i]), odd[i]);
    assert_null(keyindex_find(ix, "a\0d", 3));
    assert_null(keyindex_find(ix, "b", 1));

    /* 1,000 keys of 200 'a' then a counter: they differ only at the end */
    static char keys[1000][210];
    for (int i = 0; i < 1000; i++) {
        memset(keys[i], 'a', 200);
        snprintf(keys[i] + 200, 10, "%d", i % 1000);
        assert_true(keyindex_add(ix, keys[i], strlen(keys[i]), keys[i]));
    }
    for (int i = 0; i < 1000; i++)
        assert_ptr_equal(keyindex_find(ix, keys[i], strlen(keys[i])), keys[i]);
    char miss[210];
    memcpy(miss, keys[7], sizeof miss);
    miss[strlen(miss) - 1] = 'x';
    assert_null(keyindex_find(ix, miss, strlen(miss)));
    assert_null(keyindex_find(ix, keys[7], 200)); /* a prefix of keys is no key */

    /* keys that land in the same bucket of a small index (found with this process's hash
     * key, so whatever it is), added in an order that puts a duplicate among them */
    keyindex *small = keyindex_new(a, 8);
    static char names[4000][16];
    int same[4], n = 0;
    for (int i = 0; i < 4000 && n < 4; i++) {
        snprintf(names[i], sizeof names[i], "k%d", i);
        if ((key_hash(names[i], strlen(names[i])) & small->mask) == 3)
            same[n++] = i;
    }
    assert_int_equal(n, 4);
    for (int k = 0; k < 4; k++)
        assert_true(keyindex_add(small, names[same[k]], strlen(names[same[k]]), &same[k]));
    assert_true(keyindex_add(small, names[same[1]], strlen(names[same[1]]), "later"));
    for (int k = 0; k < 4; k++)
        assert_ptr_equal(keyindex_find(small, names[same[k]], strlen(names[same[k]])), &same[k]);
    assert_null(keyindex_find(small, "k-1", 3));
    for (int k = 0; k < 4; k++) /* room for 8: four more, then it is full */
        assert_true(keyindex_add(small, odd[k], odd_len[k], NULL));
    assert_false(keyindex_add(small, "one more", 8, NULL));

    /* the work: one comparison of bytes a lookup (the stored hash half rejects the rest) */
    uint64_t before = lookup_steps;
    for (int i = 0; i < 1000; i++)
        keyindex_find(ix, keys[i], strlen(keys[i]));
    assert_true(lookup_steps - before <= 1100);
    arena_free(a);

    arena *tiny = arena_new(64); /* no room: NULL, and the caller scans */
    assert_null(keyindex_new(tiny, 1000));
    arena_free(tiny);
}

/* vec_grow: doubling from 'first', on the heap and in an arena, with the array untouched
 * when the size would overflow or the arena's cap is reached. */
static void test_vec_grow(void **state)
{
    (void)state;
    int *v = NULL;
    size_t n = 0, cap = 0;
    for (int i = 0; i < 100; i++) {
        assert_int_equal(vec_grow(NULL, v, n, cap, 4), 0);
        v[n++] = i;
    }
    assert_int_equal(cap, 128); /* 4, 8, ... 128 */
    for (int i = 0; i < 100; i++)
        assert_int_equal(v[i], i);
    assert_int_equal(vec_grow(NULL, v, 10, cap, 4), 0); /* room already: nothing moves */
    assert_int_equal(cap, 128);
    int *keep = v;
    size_t huge = SIZE_MAX / 2 + 1;
    assert_int_equal(vec_reserve(&v, &huge, huge, sizeof *v, 4, NULL), -1); /* overflow */
    assert_ptr_equal(v, keep);
    free(v);

    arena *a = arena_new(4096);
    long *w = NULL;
    n = cap = 0;
    int rc = 0;
    while ((rc = vec_grow(a, w, n, cap, 8)) == 0) {
        w[n] = (long)n;
        n++;
    }
    assert_int_equal(rc, -1); /* the cap, not a crash; what was pushed is intact */
    assert_true(n >= 128 && n < 512);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(w[i], (long)i);
    arena_free(a);
}

struct t_opts {
    const char *out, *name;
    unsigned n;
    bool quiet;
    int mode;
};

static int t_mode(void *opts, const char *arg)
{
    if (strcmp(arg, "a") != 0 && strcmp(arg, "b") != 0)
        return -1;
    ((struct t_opts *)opts)->mode = arg[0];
    return 0;
}

static const opt_row t_rows[] = {
    OPT_STRING_ROW("output", 'o', struct t_opts, out), OPT_STRING_ROW("name", 0, struct t_opts, name),
    OPT_UINT_ROW("count", struct t_opts, n, 1, 10),   OPT_FLAG_ROW("quiet", 'q', struct t_opts, quiet),
    OPT_FN_ROW("mode", t_mode, "must be a or b"),
};

static int t_parse(struct t_opts *o, int *first, int argc, ...)
{
    char *argv[16] = {"cmd"};
    va_list ap;
    va_start(ap, argc);
    for (int i = 1; i < argc; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    memset(o, 0, sizeof *o);
    return opts_parse("cmd", t_rows, sizeof t_rows / sizeof t_rows[0], argc, argv, o, first);
}

/* opts_parse: each kind of row, short letters, "--name=value", operands, help and the bad
 * values, which are refused with the option named. */
static void test_opts_rows(void **state)
{
    (void)state;
    struct t_opts o;
    int first = -1;
    assert_int_equal(t_parse(&o, &first, 10, "-o", "json", "--name=x", "--count", "7", "-q",
                             "--mode", "b", "file.yaml"), 0);
    assert_string_equal(o.out, "json");
    assert_string_equal(o.name, "x");
    assert_int_equal(o.n, 7);
    assert_true(o.quiet);
    assert_int_equal(o.mode, 'b');
    assert_int_equal(first, 9); /* argv[9], "file.yaml" */
    assert_int_equal(t_parse(&o, NULL, 2, "--quiet"), 0);
    assert_int_equal(t_parse(&o, NULL, 2, "operand"), -1); /* no operands wanted */
    assert_int_equal(t_parse(&o, NULL, 3, "--count", "0"), -1);
    assert_int_equal(t_parse(&o, NULL, 3, "--count", "11"), -1);
    assert_int_equal(t_parse(&o, NULL, 3, "--count", "7x"), -1);
    assert_int_equal(t_parse(&o, NULL, 3, "--mode", "c"), -1);
    assert_int_equal(t_parse(&o, NULL, 2, "--unknown"), -1);
    assert_int_equal(t_parse(&o, NULL, 2, "--name"), -1); /* its value is missing */
    assert_int_equal(t_parse(&o, NULL, 4, "--count", "3", "--help"), 1);
    assert_int_equal(t_parse(&o, NULL, 2, "-h"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_cap),
        cmocka_unit_test(test_log_numbers_as_printf),
        cmocka_unit_test(test_arena_cap_small),        cmocka_unit_test(test_arena_large_and_strings),
        cmocka_unit_test(test_arena_reset_and_defer),
        cmocka_unit_test(test_arena_set_cap),
        cmocka_unit_test(test_buf_cap),          cmocka_unit_test(test_buf_put_label),          cmocka_unit_test(test_base64_table),
        cmocka_unit_test(test_diag_format_and_cap), cmocka_unit_test(test_diag_source),
        cmocka_unit_test(test_diag_source_line_breaks),
        cmocka_unit_test(test_log_values_escaped),
        cmocka_unit_test(test_log_types),        cmocka_unit_test(test_log_cut),
        cmocka_unit_test(test_log_strings_as_before),
        cmocka_unit_test(test_log_scan_paths),
        cmocka_unit_test(test_bytescan_sets),
        cmocka_unit_test(test_utf8_table),
        cmocka_unit_test(test_utf8_json_find_nul),
        cmocka_unit_test(test_log_lines),
        cmocka_unit_test(test_num_table),
        cmocka_unit_test(test_num_ll_text),
        cmocka_unit_test(test_file_roundtrip),
        cmocka_unit_test(test_file_list),        cmocka_unit_test(test_keyindex),
        cmocka_unit_test(test_vec_grow),
        cmocka_unit_test(test_opts_rows),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
