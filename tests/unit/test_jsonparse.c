/* test_jsonparse.c - the request body parser (util/jsonparse.c) and the answers' printer
 * (util/jsonprint.c) against cJSON.
 *
 * The reference (tests/fuzz/fuzz_json.h, which fuzz_review.c runs too) is what the review
 * path did before the parser existed: the UTF-8 and NUL checks of admission_request_decode(),
 * cJSON_ParseWithLengthOpts() and a walk for duplicate keys and infinite numbers. Every input
 * must get the same answer from both: the same tree, or the same rejection (the same duplicate
 * key). The parser may refuse more than cJSON, but only in the ways jsonparse.h lists, and
 * each such refusal is checked to point at one of them. The printer must write
 * cJSON_PrintUnformatted()'s bytes for every tree cJSON reads from those inputs, and for
 * generated numbers and strings. test_jsonparse_portable.c runs all of it again on the parser
 * built without its SSE2 scans. */
/* The parser itself, so that test_jsonparse_portable.c can build it without SSE2
 * (JSONPARSE_PORTABLE) and run these same tests on that path; before cmocka.h, whose fail()
 * macro would take the parser's fail(). */
#include "util/jsonparse.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "util/arena.h"
#include "util/file.h"
#include "util/jsonparse.h"
#include "util/jsonprint.h"
#include "util/utf8.h"

#include "../fuzz/fuzz_json.h"

static size_t n_inputs, n_accepted, n_stricter, n_files, n_printed;

/* jsonprint_tree() writes what cJSON_PrintUnformatted() writes. */
static void same_print(const cJSON *tree, const char *what)
{
    if (!jref_same_print(tree)) {
        fprintf(stderr, "%s: printed differently\n", what);
        fail();
    }
    n_printed++;
}

/* Parses 'text' (NUL at text[len]) both ways and checks the answers agree. */
static void differ(const char *text, size_t len, const char *what)
{
    arena *a = arena_new((size_t)64 << 20);
    assert_non_null(a);
    jref_result r;
    const char *why = jref_differ(text, len, a, &r);
    n_inputs++;
    n_accepted += r.want == JREF_OK && r.got == JSONPARSE_OK;
    n_stricter += r.want == JREF_OK && r.got != JSONPARSE_OK;
    if (why != NULL) {
        fprintf(stderr, "%s (%zu bytes): %s: reference %d, parser %d at %zu: %.120s\n", what,
                len, why, r.want, r.got, r.res.offset, text);
        fail();
    }
    if (r.ref != NULL)
        same_print(r.ref, what);
    cJSON_Delete(r.ref);
    arena_free(a);
}

static void differ_str(const char *text, const char *what)
{
    differ(text, strlen(text), what);
}

/* ---- inputs ---- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Truncations and byte changes of 'text': the places where a parser's bookkeeping slips. */
static void mutate(const char *text, size_t len, const char *what)
{
    static const char bytes[] = "\"\\{}[],:0-e.+ \x01\x1f\x7f\x80\xff\xc3un/tE9\0";
    char *m = malloc(len + 1);
    assert_non_null(m);
    size_t cuts = len < 4096 ? 12 : 4;
    for (size_t i = 0; i < cuts && len > 0; i++) {
        size_t n = next_rand() % len;
        memcpy(m, text, n);
        m[n] = '\0';
        differ(m, n, what);
    }
    size_t flips = len < 4096 ? 24 : 6;
    for (size_t i = 0; i < flips && len > 0; i++) {
        memcpy(m, text, len + 1);
        size_t at = next_rand() % len;
        m[at] = bytes[next_rand() % (sizeof bytes - 1)];
        if (i % 8 == 7 && len - at >= 6) /* an escape of U+0000 or of half a surrogate */
            memcpy(m + at, i % 16 == 7 ? "\\u0000" : "\\ud800", 6);
        differ(m, len, what);
    }
    free(m);
}

static int on_file(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    size_t n = strlen(path);
    if (flag != FTW_F || n < 5 || strcmp(path + n - 5, ".json") != 0 || st->st_size > (1 << 22))
        return 0;
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *text = malloc((size_t)st->st_size + 1);
    assert_non_null(text);
    size_t len = fread(text, 1, (size_t)st->st_size, f);
    fclose(f);
    text[len] = '\0';
    n_files++;
    differ(text, len, path);
    mutate(text, len, path);
    free(text);
    return 0;
}

/* Every JSON file of the tests and of the shared reference material, as is and mutated. */
static void test_jsonparse_corpus(void **state)
{
    (void)state;
    assert_int_equal(nftw("tests", on_file, 16, FTW_PHYS), 0);
    assert_true(n_files > 150); /* the fixtures were found */
    nftw("../shared/reference", on_file, 16, FTW_PHYS); /* absent outside the work tree */
    fprintf(stderr, "jsonparse: %zu files, %zu inputs, %zu accepted alike, %zu refused for "
            "strictness, %zu trees printed alike\n", n_files, n_inputs, n_accepted, n_stricter,
            n_printed);
}

/* Numbers, as cJSON's strtod reads them and as the RFC has them. */
static void test_jsonparse_numbers(void **state)
{
    (void)state;
    static const char *const nums[] = {
        "0", "-0", "1", "-1", "01", "-01", "00", "1.", "1.5", ".5", "-.5", "+1", "-", "1e",
        "1e+", "1e-5", "1E5", "1e05", "1.e5", "1.5e308", "1e308", "1e309", "1e400", "-1e400",
        "1e-400", "4.9e-324", "2.2250738585072014e-308", "0.1", "0x10", "Infinity", "NaN",
        "2147483647", "2147483648", "-2147483648", "-2147483649", "9007199254740993",
        "-9007199254740993", "9999999999999999", "99999999999999999", "123456789012345678",
        "1234567890123456789012", "12345678901234567890", "-9223372036854775809",
        "18446744073709551616", "1.5.5", "1e5e5", "1-2", "--1", "1+1", "1ee5", "0e0",
        "-0.0", "-0e-0", "123456789012345678901234567890123456789012345678901234567890123",
        "1234567890123456789012345678901234567890123456789012345678901234",
        "0.000000000000000000000000000000000000000000000000000000000000001",
    };
    char buf[256];
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
        differ_str(nums[i], nums[i]);
        snprintf(buf, sizeof buf, "[%s]", nums[i]);
        differ_str(buf, nums[i]);
        snprintf(buf, sizeof buf, "{\"n\": %s }", nums[i]);
        differ_str(buf, nums[i]);
    }
}

/* Strings: escapes, \u with and without surrogates, control characters, UTF-8. */
static void test_jsonparse_strings(void **state)
{
    (void)state;
    static const char *const strs[] = {
        "\"\"", "\"a\"", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\u0041\"", "\"\\u00e9\\u00E9\"",
        "\"\\u20ac\"", "\"\\uD83D\\uDE00\"", "\"\\ud83d\\ude00x\"", "\"\\uD83D\"", "\"\\uDE00\"",
        "\"\\uD83Dx\"", "\"\\uD83D\\u0041\"", "\"\\uD83D\\uD83D\"", "\"\\u0000\"", "\"a\\u0000b\"",
        "\"\\uZZZZ\"", "\"\\u12\"", "\"\\u123\"", "\"\\u\"", "\"\\x41\"", "\"\\a\"", "\"\\'\"",
        "\"\\", "\"abc", "\"a\tb\"", "\"a\nb\"", "\"a\x01\"", "\"a\x7f\"", "\"\xc3\xa9\"",
        "\"\xc3\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xe2\x82\xac\"",
        "\"\\\\u0000\"", "\"\\uFFFF\"", "\"\\uFEFF\"", "\"\\u0001\"", "\"0123456789abcdefg\"",
        "\"0123456\\\"89abcdefg\"", "\"\\/\\/\\/\\/\\/\\/\\/\\/\\/\"",
        /* a \u whose four characters take in a backslash and the byte after it: cJSON read
         * U+0000 (a cut string), the parser refuses the escape of that byte */
        "\"\\u0\\\xc3\xa9\"", "\"\\u01\\\xef\xbb\xbfi\"", "\"\\u0\\\xff\"",
    };
    char buf[256];
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) {
        differ_str(strs[i], strs[i]);
        snprintf(buf, sizeof buf, "{%s: %s}", strs[i], strs[i]);
        differ_str(buf, strs[i]);
    }
    /* a huge string, plain and with escapes throughout */
    size_t n = (size_t)1 << 20;
    char *big = malloc(n + 3);
    assert_non_null(big);
    big[0] = '"';
    for (size_t i = 1; i <= n; i++)
        big[i] = (char)('a' + i % 26);
    big[n + 1] = '"';
    big[n + 2] = '\0';
    differ(big, n + 2, "1 MiB string");
    for (size_t i = 1; i + 6 <= n; i += 97)
        memcpy(big + i, i % 2 ? "\\u00e9" : "\\n\\t\\\"", 6);
    differ(big, n + 2, "1 MiB string with escapes");
    free(big);
}

/* Structure: whitespace, literals, trailing garbage, nesting at and beyond the limit. */
static void test_jsonparse_structure(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "", " ", "null", "true", "false", "nul", "truex", "[]", "{}", "[ ]", "{ }", "[1,]",
        "[,1]", "{\"a\":1,}", "{\"a\"}", "{\"a\" 1}", "{a:1}", "{\"a\":1 \"b\":2}", "[1 2]",
        " \t\r\n[1]\n", "\x0b[1]", "[1]\x01", "\xEF\xBB\xBF{}", "[1] x", "[1]]", "{}}", "{\"\":1}",
        "{\"a\":1,\"a\":2}", "{\"a\":{\"b\":1,\"b\":2},\"a\":3}", "[1e400,{\"a\":1,\"a\":1}]",
        "[{\"a\":1,\"a\":1},1e400]", "{\"a\":1,\"a\":2,x", "{\"a\":[1e999,}",
        "{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,\"a\":9}",
        "{\"a\":1,\"b\":2,\"b\":3,\"a\":4}",
        "{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"b\":8,\"a\":9}",
    };
    for (size_t i = 0; i < sizeof docs / sizeof *docs; i++)
        differ_str(docs[i], docs[i]);
    /* objects of every size around the two thresholds of the duplicate check, with a
     * duplicate at each place */
    char buf[4096];
    for (int n = 2; n <= 40; n++) {
        for (int dup = -1; dup < n; dup++) {
            size_t o = 0;
            o += (size_t)snprintf(buf + o, sizeof buf - o, "{");
            for (int k = 0; k < n; k++)
                o += (size_t)snprintf(buf + o, sizeof buf - o, "%s\"k%d\":%d", k ? "," : "",
                                      k == dup ? 0 : k, k);
            snprintf(buf + o, sizeof buf - o, "}");
            differ_str(buf, "object sizes");
        }
    }
    /* nesting: cJSON's limit is 1000 levels; 10,000 must be refused without trouble */
    static const int depths[] = {999, 1000, 1001, 10000};
    for (size_t i = 0; i < sizeof depths / sizeof *depths; i++) {
        int d = depths[i];
        char *s = malloc((size_t)d * 6 + 8);
        assert_non_null(s);
        for (int kind = 0; kind < 2; kind++) {
            size_t o = 0;
            for (int k = 0; k < d; k++)
                o += (size_t)sprintf(s + o, "%s", kind ? "{\"a\":" : "[");
            o += (size_t)sprintf(s + o, "1");
            for (int k = 0; k < d; k++)
                s[o++] = kind ? '}' : ']';
            s[o] = '\0';
            differ(s, o, "deep nesting");
            differ(s, o / 2, "deep nesting, cut");
        }
        free(s);
    }
}

/* ---- block boundaries ----
 *
 * The scans go 16 bytes a step (SSE2; 8 in the portable build, test_jsonparse_portable.c) from
 * wherever a string or a run of whitespace starts, and a byte at a time over the last bytes of
 * the text. Each byte that stops them (or must not) is put at every offset of the first three
 * blocks of a key and of a value, then at the end of the text, and both parses must agree. */

/* A copy of the 'n' bytes at 'text' that ends where a page that cannot be read starts (no NUL
 * after it): a read past the text, even of one byte, faults. */
static const char *guarded(const char *text, size_t n)
{
    static char *base;
    static size_t size;
    if (base == NULL) {
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        size = 16 * page;
        base = mmap(NULL, size + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        assert_true(base != MAP_FAILED);
        assert_int_equal(mprotect(base + size, page, PROT_NONE), 0);
    }
    assert_true(n <= size);
    memcpy(base + size - n, text, n);
    return base + size - n;
}

/* Parses the 'n' bytes at 'text' both ways (differ()), and the parser's answer must be the
 * same from a guarded() copy. */
static void differ_exact(const char *text, size_t n, const char *what)
{
    char *copy = malloc(n + 1);
    assert_non_null(copy);
    memcpy(copy, text, n);
    copy[n] = '\0';
    differ(copy, n, what);
    arena *a = arena_new(1 << 20);
    jsonparse_result r1, r2;
    jsonparse_status s1 = jsonparse_parse(a, copy, n, &r1);
    jsonparse_status s2 = jsonparse_parse(a, guarded(copy, n), n, &r2);
    if (s1 != s2 || r1.offset != r2.offset) {
        fprintf(stderr, "%s: %d at %zu, but %d at %zu at a page's end\n", what, s1, r1.offset, s2,
                r2.offset);
        fail();
    }
    arena_free(a);
    free(copy);
}

/* The pieces put inside strings: every control character and the bytes that end a run, the
 * escapes (one after another too, and an escaped backslash before a real quote), and UTF-8
 * of every lead and continuation class, valid, cut short and invalid. */
static const char *const pieces[] = {
    "\"", "\\", "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "\\u00e9", "\\u0041",
    "\\u20AC", "\\ud83d\\ude00", "\\ud83d", "\\ude00", "\\u0000", "\\uZZZZ", "\\u12", "\\x",
    "\\'", "\\\x01", "\\\x1f", "\\\x7f", "\\\x80", "\\\xc3\xa9", "\\\"\\\"", "\\\\\\\"",
    "\\\\\"", "\\\\\\", "a\\", "\x7f", " ", "~",
    "\xc2\x80", "\xc3\xa9", "\xdf\xbf", "\xe0\xa0\x80", "\xe1\x80\x80", "\xec\xbf\xbf",
    "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf1\x80\x80\x80",
    "\xf3\xbf\xbf\xbf", "\xf4\x8f\xbf\xbf",
    "\x80", "\xbf", "\xc0\xaf", "\xc1\xbf", "\xc2", "\xc2\x41", "\xdf\xc0", "\xe0\x80\xaf",
    "\xe0\x9f\xbf", "\xe2\x82", "\xed\xa0\x80", "\xed\xbf\xbf", "\xf0\x80\x80\x80",
    "\xf0\x8f\xbf\xbf", "\xf0\x9f\x98", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xf8\x88\x80",
    "\xfe", "\xff", "\xc3\xa9\xff", "\xe2\x82\xac\x80",
};

/* Writes 'n' filler bytes at 'o', letters and digits that stop nothing. */
static size_t filler(char *o, size_t n)
{
    for (size_t i = 0; i < n; i++)
        o[i] = (char)('a' + i % 26);
    return n;
}

/* The parser refuses the 'n' bytes at 'text' (a guarded() copy) at 'off', as a
 * NUL, a byte that is not UTF-8 or a syntax error by the byte there: where a control
 * character is, which cJSON takes (so the comparison alone would not see it let through). */
static void refused_at(const char *text, size_t n, size_t off, const char *what)
{
    arena *a = arena_new(1 << 20);
    jsonparse_result r;
    jsonparse_status got = jsonparse_parse(a, guarded(text, n), n, &r);
    unsigned char c = (unsigned char)text[off];
    jsonparse_status want = c == 0 ? JSONPARSE_NUL : c >= 0x80 ? JSONPARSE_UTF8 : JSONPARSE_SYNTAX;
    if (got != want || r.offset != off) {
        fprintf(stderr, "%s: byte 0x%02x at %zu of %zu: got %d at %zu, want %d\n", what, c, off,
                n, got, r.offset, want);
        fail();
    }
    arena_free(a);
}

/* The parser accepts the 'n' bytes at 'text' (a guarded() copy; differ_exact() compares the
 * trees). */
static void accepted(const char *text, size_t n, const char *what)
{
    arena *a = arena_new(1 << 20);
    jsonparse_result r;
    jsonparse_status got = jsonparse_parse(a, guarded(text, n), n, &r);
    if (got != JSONPARSE_OK) {
        fprintf(stderr, "%s: %d at %zu: %.*s\n", what, got, r.offset, (int)n, text);
        fail();
    }
    arena_free(a);
    differ_exact(text, n, what);
}

/* A piece of 'plen' bytes at offset 'pre' of a key or a value, 'post' filler bytes after it;
 * then the same text cut right after the piece, so that it is the text's last bytes. A control
 * character (a piece of one byte below 0x20) must be refused where it is. */
static void one_piece(const char *piece, size_t plen, size_t pre, size_t post, bool in_key)
{
    bool ctl = plen == 1 && (unsigned char)piece[0] < 0x20;
    char doc[256];
    size_t o = 0;
    o += (size_t)sprintf(doc, in_key ? "{\"" : "{\"k\": \"");
    o += filler(doc + o, pre);
    size_t at = o;
    memcpy(doc + o, piece, plen);
    o += plen;
    size_t cut = o;
    o += filler(doc + o, post);
    o += (size_t)sprintf(doc + o, in_key ? "\": 1}" : "\"}");
    differ_exact(doc, o, in_key ? "piece in a key" : "piece in a value");
    differ_exact(doc, cut, "piece at the end of the text");
    if (ctl) {
        refused_at(doc, o, at, "control character in a string");
        refused_at(doc, cut, at, "control character at the end of the text");
    }
    /* and the string alone, its closing quote the text's last byte */
    o = 0;
    doc[o++] = '"';
    o += filler(doc + o, pre);
    memcpy(doc + o, piece, plen);
    o += plen;
    o += filler(doc + o, post);
    doc[o++] = '"';
    differ_exact(doc, o, "piece in a top-level string");
    if (ctl)
        refused_at(doc, o, 1 + pre, "control character in a top-level string");
}

/* 'run' bytes of whitespace at 'o' from the four ('kind' 0-3: one of them; 4: all in turn). */
static size_t ws_run(char *o, size_t run, int kind)
{
    static const char ws[] = " \t\n\r";
    for (size_t i = 0; i < run; i++)
        o[i] = ws[kind < 4 ? kind : (int)(i % 4)];
    return run;
}

static void test_jsonparse_blocks(void **state)
{
    (void)state;
    /* after the piece: nothing, a byte, or the rest of a block and more */
    static const size_t posts[] = {0, 1, 15, 16};
    size_t before = n_inputs, np = sizeof pieces / sizeof *pieces;
    for (size_t i = 0; i < 0x20 + np; i++) { /* every control character, NUL included */
        char ctl[1] = {(char)i};
        const char *piece = i < 0x20 ? ctl : pieces[i - 0x20];
        size_t plen = i < 0x20 ? 1 : strlen(piece);
        for (size_t pre = 0; pre < 34; pre++) {
            for (size_t j = 0; j < sizeof posts / sizeof *posts; j++) {
                one_piece(piece, plen, pre, posts[j], true);
                one_piece(piece, plen, pre, posts[j], false);
            }
        }
    }
    /* whitespace runs of every length across three blocks: of the four bytes JSON allows,
     * accepted between all tokens; ended by any other byte below 0x21 (or 0x7F, 0x80, 0xFF),
     * refused at that byte, also as the text's last */
    char doc[512];
    for (size_t run = 0; run < 40; run++) {
        for (int kind = 0; kind < 5; kind++) {
            static const char *const tokens[] = {"[", "1", ",", "{", "\"k\"", ":", "\"v\"", "}",
                                                 "]"};
            size_t o = 0;
            for (size_t t = 0; t < sizeof tokens / sizeof *tokens; t++) {
                o += ws_run(doc + o, run, kind);
                o += (size_t)sprintf(doc + o, "%s", tokens[t]);
            }
            o += ws_run(doc + o, run, kind);
            accepted(doc, o, "whitespace between tokens");
        }
        for (int b = 0; b < 0x100; b++) {
            if ((b > 0x20 && b != 0x7f && b != 0x80 && b != 0xff) || b == ' ' || b == '\t' ||
                b == '\n' || b == '\r')
                continue;
            size_t o = 0;
            doc[o++] = '[';
            o += ws_run(doc + o, run, 4);
            doc[o++] = (char)b;
            refused_at(doc, o, o - 1, "whitespace run ended at the end of the text");
            differ_exact(doc, o, "whitespace run ended at the end of the text");
            o += (size_t)sprintf(doc + o, " 1]");
            refused_at(doc, o, o - 4, "whitespace run ended by a byte");
            differ_exact(doc, o, "whitespace run ended by a byte");
            o = (size_t)sprintf(doc, "{\"k\"");
            o += ws_run(doc + o, run, run % 5);
            doc[o++] = (char)b;
            o += (size_t)sprintf(doc + o, ": 1}");
            refused_at(doc, o, o - 5, "whitespace before a colon");
        }
    }
    fprintf(stderr, "jsonparse: %zu inputs at block boundaries, %s scans\n", n_inputs - before,
            JSONPARSE_SSE2 ? "SSE2" : "portable");
}

/* scan_string()'s first block: a string whose quote is its first stop byte ends there, one
 * with anything before the quote (an escape, a control character, a byte from 0x80 up) goes
 * on the loop's way. Each piece at every offset of the first block, the quote right after it,
 * and more than a block of text behind, in a key and in a value. */
static void test_jsonparse_first_block(void **state)
{
    (void)state;
    size_t before = n_inputs, np = sizeof pieces / sizeof *pieces;
    char doc[256];
    for (size_t i = 0; i <= np; i++) {
        const char *piece = i < np ? pieces[i] : ""; /* "": the quote alone */
        size_t plen = strlen(piece);
        for (size_t pre = 0; pre + plen <= 16; pre++) {
            for (int in_key = 0; in_key < 2; in_key++) {
                size_t o = (size_t)sprintf(doc, in_key ? "{\"" : "{\"k\":\"");
                o += filler(doc + o, pre);
                memcpy(doc + o, piece, plen);
                o += plen;
                o += (size_t)sprintf(doc + o, in_key ? "\":\"%s\"}" : "\",\"%s\":1}",
                                     "abcdefghijklmnopqrstuvwxyz");
                differ_exact(doc, o, in_key ? "first block of a key" : "first block of a value");
            }
        }
    }
    fprintf(stderr, "jsonparse: %zu inputs on first blocks\n", n_inputs - before);
}

/* scan_escaped()'s blocks: an escape, then a gap, then a second piece (every piece, a
 * control character among them: the one-byte pieces below 0x20), at every offset of the first
 * two blocks of a value and of a key, so that blocks of lone escapes, blocks with a stop or a
 * bad byte after an escape, and an escape at a block's last byte all come up; with more text
 * behind and with the text cut after the second piece. */
static void test_jsonparse_escape_blocks(void **state)
{
    (void)state;
    static const char *const escapes[] = {"\\\"", "\\n", "\\\\", "\\u00e9", "\\/"};
    size_t before = n_inputs, np = sizeof pieces / sizeof *pieces;
    char doc[256];
    for (size_t e = 0; e < sizeof escapes / sizeof *escapes; e++) {
        for (size_t i = 0; i < np + 0x20; i++) {
            char ctl[1] = {(char)(i - np)};
            const char *piece = i < np ? pieces[i] : ctl;
            size_t plen = i < np ? strlen(piece) : 1;
            for (size_t pre = 0; pre < 20; pre++) {
                for (size_t gap = 0; gap < 3; gap++) {
                    for (int in_key = 0; in_key < 2; in_key++) {
                        size_t o = (size_t)sprintf(doc, in_key ? "{\"" : "{\"k\":\"");
                        o += filler(doc + o, pre);
                        o += (size_t)sprintf(doc + o, "%s", escapes[e]);
                        o += filler(doc + o, gap);
                        memcpy(doc + o, piece, plen);
                        o += plen;
                        size_t cut = o;
                        o += filler(doc + o, 17);
                        o += (size_t)sprintf(doc + o, in_key ? "\":1}" : "\"}");
                        differ_exact(doc, o, "escape then a piece");
                        differ_exact(doc, cut, "escape then a piece at the end of the text");
                    }
                }
            }
        }
    }
    fprintf(stderr, "jsonparse: %zu inputs on blocks with escapes\n", n_inputs - before);
}

/* Random strings of the bytes the scans treat apart (quote, backslash, escape letters, hex
 * digits, control characters, bytes from 0x80 up in valid and broken UTF-8) and plain text,
 * as a value and as a key, whole and cut at a random byte: both parses must agree. A fixed
 * seed, so that a failure comes again. No raw NUL: one after a \u0000 of the same string is
 * told at the raw NUL, the reference tells the escape (both refuse the review: only the
 * offset in the message differs, as before this parser's fast paths). */
static void test_jsonparse_random_strings(void **state)
{
    (void)state;
    static const char *const bits[] = {"\\", "\\\\", "\"", "u", "00", "e9", "D8",
                                       "3d", "dc", "\\u", "\\ud83d\\ude00", "\\n", "/",
                                       "\xc3\xa9", "\xe2\x82", "\xf0\x9f\x98\x80",
                                       "\xff", "\x80", "\x1f", "\x7f", "\t", "abcdefghijklmnopq",
                                       "x", " "};
    size_t before = n_inputs, nb = sizeof bits / sizeof *bits;
    uint64_t seed = 0x9e3779b97f4a7c15u;
    char doc[512];
    for (int round = 0; round < 20000; round++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        uint64_t r = seed;
        int in_key = (int)(r & 1);
        size_t o = (size_t)sprintf(doc, in_key ? "{\"" : "{\"k\":\"");
        size_t pieces_n = (size_t)(r >> 1) % 24;
        for (size_t k = 0; k < pieces_n; k++) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            const char *b = bits[(seed >> 8) % nb];
            size_t bl = strlen(b);
            memcpy(doc + o, b, bl);
            o += bl;
        }
        size_t full = o;
        o += (size_t)sprintf(doc + o, in_key ? "\":1}" : "\"}");
        differ_exact(doc, o, "random string");
        differ_exact(doc, (size_t)(r >> 32) % (full + 1), "random string cut");
    }
    fprintf(stderr, "jsonparse: %zu random strings\n", n_inputs - before);
}

/* The hostile cases by name, with the answers the review path gives. */
static void test_jsonparse_hostile(void **state)
{
    (void)state;
    arena *a = arena_new(1 << 20);
    jsonparse_result r;
    assert_int_equal(jsonparse_parse(a, "\"\\u0000\"", 8, &r), JSONPARSE_NUL);
    assert_int_equal(r.offset, 1);
    assert_int_equal(jsonparse_parse(a, "[1]\0", 4, &r), JSONPARSE_NUL);
    assert_int_equal(r.offset, 3);
    assert_int_equal(jsonparse_parse(a, "\"a\0b\"", 5, &r), JSONPARSE_NUL);
    assert_int_equal(r.offset, 2);
    assert_int_equal(jsonparse_parse(a, "\"\\\0\"", 4, &r), JSONPARSE_NUL);
    assert_int_equal(r.offset, 2);
    assert_int_equal(jsonparse_parse(a, "\"\xff\"", 3, &r), JSONPARSE_UTF8);
    assert_int_equal(r.offset, 1);
    assert_int_equal(jsonparse_parse(a, "[1]\xe2\x82", 5, &r), JSONPARSE_UTF8);
    assert_int_equal(r.offset, 3);
    assert_int_equal(jsonparse_parse(a, "\"\\\xc3\xa9\"", 5, &r), JSONPARSE_SYNTAX);
    assert_int_equal(jsonparse_parse(a, "\"\\uZZZZ\"", 8, &r), JSONPARSE_SYNTAX);
    assert_int_equal(r.offset, 1);
    assert_int_equal(jsonparse_parse(a, "{\"a\":1,\"a\":2}", 13, &r), JSONPARSE_DUPLICATE);
    assert_string_equal(r.key, "a");
    assert_null(r.doc);
    assert_int_equal(jsonparse_parse(a, "[1e400]", 7, &r), JSONPARSE_INFINITE);
    assert_int_equal(jsonparse_parse(a, "[{\"b\":1,\"b\":2},-1e999]", 22, &r),
                     JSONPARSE_DUPLICATE);
    assert_int_equal(jsonparse_parse(a, "{\"b\":1,\"b\":2,", 13, &r), JSONPARSE_SYNTAX);
    assert_int_equal(jsonparse_parse(a, "01", 2, &r), JSONPARSE_SYNTAX);
    assert_int_equal(r.offset, 0);
    assert_int_equal(jsonparse_parse(a, "{\"n\":-0}", 8, &r), JSONPARSE_OK);
    assert_true(signbit(r.doc->child->valuedouble));
    assert_int_equal(jsonparse_parse(a, "[2147483648]", 12, &r), JSONPARSE_OK);
    assert_int_equal(r.doc->child->valueint, 2147483647);
    arena_free(a);

    /* a tree that does not fit the arena: NOMEM, not a syntax error; a larger cap parses */
    a = arena_new(4096);
    char doc[8192];
    size_t o = 0;
    doc[o++] = '[';
    for (int i = 0; i < 1000; i++)
        o += (size_t)sprintf(doc + o, "%s1", i ? "," : "");
    doc[o++] = ']';
    assert_int_equal(jsonparse_parse(a, doc, o, &r), JSONPARSE_NOMEM);
    arena_free(a);
    a = arena_new(1 << 20);
    assert_int_equal(jsonparse_parse(a, doc, o, &r), JSONPARSE_OK);
    assert_int_equal(cJSON_GetArraySize(r.doc), 1000);
    arena_free(a);
}

/* The printer on what the answers hold and on what cJSON prints in its own ways: every byte
 * in a string (control characters as \u00XX, lower case), cJSON's number forms, raw text,
 * a NULL string or key, and the nodes it refuses. */
static void test_jsonprint_values(void **state)
{
    (void)state;
    static const double nums[] = {
        0.0, -0.0, 1.0, -1.0, 0.1, 1.0 / 3.0, 2.0 / 3.0, 1e21, 1e22, 1e-7, 123456789.125,
        2147483647.0, 2147483648.0, -2147483648.0, -2147483649.0, 9007199254740993.0,
        1.7976931348623157e308, 5e-324, 2.2250738585072014e-308, 0.30000000000000004, 100.5,
        422, 3.14159265358979, NAN, INFINITY, -INFINITY, 999999999999999.0, 1e15, 1e15 + 1,
        -999999999999999.0, -1e15, 123456789012345.0, 4503599627370497.0, -7.0, 1e14 + 0.5,
    };
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(root, "n");
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
        cJSON *one = cJSON_CreateNumber(nums[i]);
        same_print(one, "number");
        cJSON_Delete(one);
        cJSON_AddItemToArray(arr, cJSON_CreateNumber(nums[i]));
    }
    char all[256];
    for (int i = 1; i < 256; i++)
        all[i - 1] = (char)i;
    all[255] = '\0';
    cJSON_AddStringToObject(root, all, all);
    /* every length around the 8-byte steps, with an escape at each end and none */
    static const char ends[] = "\"\\\n\x1f\x7f\xc3";
    for (size_t n = 0; n < 40; n++) {
        for (size_t e = 0; e <= sizeof ends - 1; e++) {
            char str[64];
            memset(str, 'a', n);
            str[n] = ends[e];
            str[n + 1] = 'b';
            str[n + 2] = '\0';
            cJSON_AddItemToArray(arr, cJSON_CreateString(str));
            cJSON_AddItemToArray(arr, cJSON_CreateString(str + (n > 0)));
        }
    }
    cJSON_AddItemToObject(root, "raw", cJSON_CreateRaw("{\"r\":[1,2]}"));
    cJSON_AddItemToObject(root, "empty", cJSON_CreateObject());
    cJSON_AddItemToObject(root, "none", cJSON_CreateArray());
    cJSON_AddItemToObject(root, "t", cJSON_CreateTrue());
    cJSON_AddItemToObject(root, "f", cJSON_CreateFalse());
    cJSON_AddItemToObject(root, "z", cJSON_CreateNull());
    cJSON *nulls = cJSON_CreateString("x");
    cJSON_free(nulls->valuestring);
    nulls->valuestring = NULL; /* cJSON prints "" for it, as for a NULL key */
    cJSON_AddItemToArray(arr, nulls);
    same_print(root, "values");

    cJSON *raw = cJSON_CreateRaw("1");
    cJSON_free(raw->valuestring);
    raw->valuestring = NULL;
    size_t len;
    assert_null(cJSON_PrintUnformatted(raw));
    assert_null(jsonprint_tree(raw, &len));
    cJSON_Delete(raw);
    cJSON *bad = cJSON_CreateNull();
    bad->type = cJSON_Invalid;
    assert_null(cJSON_PrintUnformatted(bad));
    assert_null(jsonprint_tree(bad, &len));
    cJSON_Delete(bad);
    cJSON_Delete(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jsonparse_hostile),
        cmocka_unit_test(test_jsonparse_blocks),
        cmocka_unit_test(test_jsonparse_first_block),
        cmocka_unit_test(test_jsonparse_escape_blocks),
        cmocka_unit_test(test_jsonparse_random_strings),
        cmocka_unit_test(test_jsonparse_numbers),
        cmocka_unit_test(test_jsonparse_strings),
        cmocka_unit_test(test_jsonparse_structure),
        cmocka_unit_test(test_jsonparse_corpus),
        cmocka_unit_test(test_jsonprint_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
