/* test_expr_conformance.c - every non-skipped case of the cel-spec vectors in
 * tests/fixtures/cel-spec/ through the expression library.
 *
 * A case passes when the expression compiles and evaluates to the expected value with the
 * same CEL type (1 and 1u and 1.0 are different answers here), or, when an error is
 * expected, when compiling or evaluating fails. Prints the pass count per file. Fails when a
 * case fails that docs/cel-compat.md does not list as a known difference, and when a listed
 * case passes (so the list stays true).
 *
 * cJSON's strings end at a NUL, and a few expressions hold raw control characters inside
 * bytes literals (b'<U+0000>'; only inside expressions, never in expected values). Before
 * parsing, the raw file text has each \u0000 written as the CEL escape \\x00, which denotes
 * the same byte inside a literal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr/expr_int.h"
#include "util/buf.h"
#include "util/file.h"

static const char *const files[] = {"basic", "comparisons", "logic", "lists", "macros",
                                    "string", "integer_math", "fields", "optionals", "plumbing"};

/* tests/fixtures/cel-ext/: the libraries beyond the core that Kubernetes enables (cel-go's
 * two-variable comprehensions and strings extension, Kubernetes' url, ip and cidr), some
 * converted from cel-spec, some written from the libraries' documentation. Counted apart,
 * so the core's count stays comparable; failures follow the same table. */
static const char *const ext_files[] = {"macros2", "string_ext", "format", "k8s_url",
                                        "network_ext", "k8s_ip"};

static char *known; /* docs/cel-compat.md */

/* Strict equality for tests: same kinds all the way down; NaN equals NaN. */
static bool same(const expr_value *a, const expr_value *b)
{
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case EXPR_DOUBLE: return (isnan(a->v.d) && isnan(b->v.d)) || a->v.d == b->v.d;
    case EXPR_LIST:
    case EXPR_MAP: {
        if (ev_size(a) != ev_size(b))
            return false;
        ev_iter ia, ib;
        expr_value k, x, y;
        ev_iter_init(&ia, a);
        ev_iter_init(&ib, b);
        while (ev_iter_next(&ia, &k, &x)) {
            if (a->kind == EXPR_LIST ? !ev_iter_next(&ib, NULL, &y) : !ev_map_find(NULL, b, &k, &y))
                return false;
            if (!same(&x, &y))
                return false;
        }
        return true;
    }
    case EXPR_OPTIONAL:
        if (!a->v.opt || !b->v.opt)
            return a->v.opt == b->v.opt;
        return same(a->v.opt, b->v.opt);
    default: return expr_equal(a, b);
    }
}

/* Rewrites the JSON escape \u0000 as \\x00 (a CEL escape, still valid JSON). */
static void escape_controls(buf *b)
{
    buf out;
    buf_init(&out, b->cap);
    for (size_t i = 0; i < b->len; i++) {
        if (b->data[i] == '\\' && i + 1 < b->len && b->data[i + 1] == '\\') {
            buf_append(&out, b->data + i, 2); /* an escaped backslash: copy both */
            i++;
            continue;
        }
        if (i + 5 < b->len && strncmp(b->data + i, "\\u0000", 6) == 0) {
            buf_puts(&out, "\\\\x00");
            i += 5;
            continue;
        }
        buf_append(&out, b->data + i, 1);
    }
    buf_clear(b);
    *b = out;
}

/* Runs one case; returns true when it passes. '*why' describes a failure. */
static bool run_case(const cJSON *tc, char *why, size_t cap)
{
    const char *src = cJSON_GetObjectItemCaseSensitive(tc, "expr")->valuestring;
    const cJSON *bindings = cJSON_GetObjectItemCaseSensitive(tc, "bindings");
    const cJSON *expect = cJSON_GetObjectItemCaseSensitive(tc, "expect");
    bool want_error = cJSON_GetObjectItemCaseSensitive(expect, "error") != NULL;
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    expr_binding vars[16];
    size_t nv = 0;
    for (const cJSON *b = bindings ? bindings->child : NULL; b && nv < 16; b = b->next) {
        vars[nv].name = b->string;
        vars[nv].value = expr_from_typed_json(b, a);
        nv++;
    }
    expr_decls decls = {.allow_any_var = true};
    diag_list dl;
    diag_list_init(&dl);
    expr_prog *p = expr_compile(a, src, strlen(src), &decls, NULL, &dl);
    bool ok;
    if (p == NULL) {
        ok = want_error;
        snprintf(why, cap, "compile error: %s", dl.count ? dl.items[0].msg : "?");
    } else {
        expr_env env = {.vars = vars, .n_vars = nv};
        expr_value got = expr_eval(p, &env, a);
        if (want_error) {
            ok = got.kind == EXPR_ERROR;
            char *g = expr_to_json(&got, true);
            snprintf(why, cap, "want an error, got %s", g ? g : "?");
            free(g);
        } else if (got.kind == EXPR_ERROR) {
            ok = false;
            snprintf(why, cap, "error: %s", got.v.err->msg);
        } else {
            expr_value want = expr_from_typed_json(cJSON_GetObjectItemCaseSensitive(expect, "value"), a);
            ok = same(&got, &want);
            char *g = expr_to_json(&got, true);
            char *w = expr_to_json(&want, true);
            snprintf(why, cap, "got %s, want %s", g ? g : "?", w ? w : "?");
            free(g);
            free(w);
        }
    }
    diag_list_clear(&dl);
    arena_free(a);
    return ok;
}

/* A case is known when docs/cel-compat.md has a table row "| FILE | SECTION/NAME |". */
static bool is_known(const char *file, const char *id)
{
    char needle[512];
    snprintf(needle, sizeof needle, "| %s | %s |", file, id);
    return known != NULL && strstr(known, needle) != NULL;
}

/* Runs the files 'names' of 'dir'; adds to the counts. */
static void run_files(const char *dir, const char *const *names, size_t n_names, int *unexpected,
                      int *stale, diag_list *dl)
{
    int total_pass = 0, total = 0;
    for (size_t f = 0; f < n_names; f++) {
        char path[256], file[64];
        snprintf(file, sizeof file, "%s.json", names[f]);
        snprintf(path, sizeof path, "tests/fixtures/%s/%s", dir, file);
        buf b;
        buf_init(&b, 8 << 20);
        if (file_read(path, 8 << 20, &b, dl) != 0)
            fail_msg("cannot read %s (run from the repository root)", path);
        escape_controls(&b);
        cJSON *cases = cJSON_Parse(b.data);
        assert_non_null(cases);
        int pass = 0, n = 0;
        for (const cJSON *tc = cases->child; tc; tc = tc->next) {
            const cJSON *skip = cJSON_GetObjectItemCaseSensitive(tc, "skip");
            if (skip && !cJSON_IsNull(skip))
                continue;
            char id[400], why[600];
            snprintf(id, sizeof id, "%s/%s", cJSON_GetObjectItemCaseSensitive(tc, "section")->valuestring,
                     cJSON_GetObjectItemCaseSensitive(tc, "name")->valuestring);
            n++;
            bool ok = run_case(tc, why, sizeof why);
            pass += ok;
            if (!ok && !is_known(file, id)) {
                (*unexpected)++;
                printf("FAIL %s %s: %s\n    %s\n", file, id,
                       cJSON_GetObjectItemCaseSensitive(tc, "expr")->valuestring, why);
            } else if (ok && is_known(file, id)) {
                (*stale)++;
                printf("PASSES BUT LISTED %s %s\n", file, id);
            }
        }
        printf("%-8s %-18s %3d/%3d passed\n", dir, file, pass, n);
        total_pass += pass;
        total += n;
        cJSON_Delete(cases);
        buf_clear(&b);
    }
    printf("%-8s total              %3d/%3d passed (%.1f%%)\n", dir, total_pass, total,
           100.0 * total_pass / total);
}

static void test_conformance(void **state)
{
    (void)state;
    diag_list dl;
    diag_list_init(&dl);
    buf doc;
    buf_init(&doc, 1 << 20);
    if (file_read("docs/cel-compat.md", 1 << 20, &doc, &dl) == 0)
        known = doc.data;
    int unexpected = 0, stale = 0;
    run_files("cel-spec", files, sizeof files / sizeof files[0], &unexpected, &stale, &dl);
    run_files("cel-ext", ext_files, sizeof ext_files / sizeof ext_files[0], &unexpected, &stale,
              &dl);
    buf_clear(&doc);
    diag_list_clear(&dl);
    if (unexpected > 0 || stale > 0)
        fail_msg("%d unexpected failures, %d listed cases that pass", unexpected, stale);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_conformance)};
    return cmocka_run_group_tests_name("expr_conformance", tests, NULL, NULL);
}
