/* test_expr.c - the expression language: the tests/fixtures/expr/ case tables (evaluation
 * against JSON objects), syntax and checking errors with their positions, and the limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "expr/expr_int.h"
#include "policy/functions.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/keyindex.h"
#include "util/vec.h"

static const char *const var_names[] = {"object", "oldObject", "params"};
static const expr_decls decls = {.vars = var_names, .n_vars = 3, .fns = policy_functions,
                                 .n_fns = 0 /* set in main */};
static expr_decls the_decls;

/* Compiles and evaluates 'src' against the JSON 'input' as 'object'; returns the result as
 * plain JSON, "!code" for an error, or "!!code" for a compile error. malloc'd. */
static char *run(const char *src, const char *input)
{
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    cJSON *obj = cJSON_Parse(input);
    if (obj == NULL)
        fail_msg("bad test input JSON: %s", input);
    diag_list dl;
    diag_list_init(&dl);
    char *out;
    expr_prog *p = expr_compile(a, src, strlen(src), &the_decls, NULL, &dl);
    if (p == NULL) {
        out = NULL;
        if (asprintf(&out, "!!%s", dl.count ? dl.items[0].code : "?") < 0)
            out = NULL;
    } else {
        expr_binding vars[] = {{"object", expr_from_json(obj)}};
        expr_env env = {.vars = vars, .n_vars = 1};
        expr_value v = expr_eval(p, &env, a);
        if (v.kind == EXPR_ERROR) {
            if (asprintf(&out, "!%s", v.v.err->code) < 0)
                out = NULL;
        } else {
            out = expr_to_json(&v, false);
        }
    }
    diag_list_clear(&dl);
    cJSON_Delete(obj);
    arena_free(a);
    return out;
}

/* Compares JSON texts by meaning (key order and number spelling aside). */
static bool json_same(const char *a, const char *b)
{
    if (a[0] == '!' || b[0] == '!')
        return strcmp(a, b) == 0;
    cJSON *x = cJSON_Parse(a), *y = cJSON_Parse(b);
    bool same = x && y && cJSON_Compare(x, y, true);
    cJSON_Delete(x);
    cJSON_Delete(y);
    return same;
}

/* The lines of a .cases file that are not comments or blank: groups of three (expression,
 * input JSON, expected value or !code). */
typedef struct case_lines {
    buf text;
    char **v;
    size_t n, cap;
} case_lines;

static void case_lines_clear(case_lines *c)
{
    buf_clear(&c->text);
    free(c->v);
}

/* Reads 'path' into 'c' (case_lines_clear() it after). Returns NULL, or why it is not a case
 * table: it cannot be read, holds no case (an empty table would pass without testing
 * anything), or its lines are not groups of three. No line limit: every case runs. */
static const char *case_lines_read(const char *path, case_lines *c)
{
    diag_list dl;
    diag_list_init(&dl);
    memset(c, 0, sizeof *c);
    buf_init(&c->text, 16u << 20);
    int rc = file_read(path, c->text.cap, &c->text, &dl);
    diag_list_clear(&dl);
    if (rc != 0)
        return "cannot read it";
    for (char *save = NULL, *l = strtok_r(c->text.data ? c->text.data : "", "\n", &save); l;
         l = strtok_r(NULL, "\n", &save)) {
        if (l[0] == '#' || l[0] == '\0')
            continue;
        if (vec_grow(NULL, c->v, c->n, c->cap, 256) != 0)
            return "out of memory";
        c->v[c->n++] = l;
    }
    if (c->n == 0)
        return "no case in it";
    return c->n % 3 == 0 ? NULL : "its lines are not groups of three";
}

static void run_cases_file(const char *path)
{
    case_lines c;
    const char *why = case_lines_read(path, &c);
    if (why != NULL)
        fail_msg("%s: %s (%zu lines)", path, why, c.n);
    for (size_t i = 0; i < c.n; i += 3) {
        char *got = run(c.v[i], c.v[i + 1]);
        if (got == NULL || !json_same(got, c.v[i + 2]))
            fail_msg("%s case %zu: %s\n  input %s\n  got   %s\n  want  %s", path, i / 3 + 1,
                     c.v[i], c.v[i + 1], got ? got : "(null)", c.v[i + 2]);
        free(got);
    }
    case_lines_clear(&c);
}

/* The case reader refuses what would test nothing, and reads past any line count: the old
 * reader stopped at 4,096 lines without a word and passed an empty file. */
static void test_case_lines(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *why; /* NULL: read */
    } shapes[] = {
        {"", "no case in it"},
        {"# only a comment\n\n", "no case in it"},
        {"1 + 1\n{}\n2\n1\n", "its lines are not groups of three"},
        {"1 + 1\n{}\n2\n", NULL},
    };
    char path[] = "/tmp/sg-cases-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(shapes[i].text, f);
        fclose(f);
        case_lines c;
        const char *why = case_lines_read(path, &c), *want = shapes[i].why;
        if (strcmp(why ? why : "read", want ? want : "read") != 0)
            fail_msg("shape %zu: %s, want %s", i, why ? why : "read", want ? want : "read");
        case_lines_clear(&c);
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 5000; i++)
        fprintf(f, "# case %d\n%d + 1\n{}\n%d\n", i, i, i + 1);
    fclose(f);
    case_lines c;
    assert_null(case_lines_read(path, &c));
    assert_int_equal(c.n, 15000);
    assert_string_equal(c.v[14997], "4999 + 1");
    case_lines_clear(&c);
    run_cases_file(path);
    unlink(path);
}

static void test_policy_cases(void **state)
{
    (void)state;
    run_cases_file("tests/fixtures/expr/policy.cases");
}

/* The message of the error 'src' gives on 'input' (the caller frees it). */
static char *run_error_msg(const char *src, const char *input)
{
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    cJSON *obj = cJSON_Parse(input);
    diag_list dl;
    diag_list_init(&dl);
    expr_prog *p = expr_compile(a, src, strlen(src), &the_decls, NULL, &dl);
    char *out = NULL;
    if (p != NULL && obj != NULL) {
        expr_binding vars[] = {{"object", expr_from_json(obj)}};
        expr_env env = {.vars = vars, .n_vars = 1};
        expr_value v = expr_eval(p, &env, a);
        if (v.kind == EXPR_ERROR)
            out = strdup(v.v.err->msg);
    }
    diag_list_clear(&dl);
    cJSON_Delete(obj);
    arena_free(a);
    return out;
}

/* podResources() counts requests and limits in one walk, but a bad quantity is the error
 * podRequests() gives, else the one podLimits() gives: container b's request, not container
 * a's limit, which comes first in the walk. */
static void test_pod_resources_error_order(void **state)
{
    (void)state;
    const char *input = "{\"containers\":[{\"name\":\"a\",\"resources\":"
                        "{\"requests\":{\"cpu\":\"1\"},\"limits\":{\"cpu\":\"x\"}}},"
                        "{\"name\":\"b\",\"resources\":{\"requests\":{\"memory\":\"y\"}}}]}";
    static const char *const srcs[] = {"podRequests(object)", "podResources(object)",
                                       "podResources(object, [])"};
    for (size_t i = 0; i < sizeof srcs / sizeof *srcs; i++) {
        char *msg = run_error_msg(srcs[i], input);
        if (msg == NULL || strstr(msg, "container b: resources.requests.memory") == NULL)
            fail_msg("%s: %s", srcs[i], msg ? msg : "(no error)");
        free(msg);
    }
    char *msg = run_error_msg("podLimits(object)", input);
    if (msg == NULL || strstr(msg, "container a: resources.limits.cpu") == NULL)
        fail_msg("podLimits: %s", msg ? msg : "(no error)");
    free(msg);
    /* limits alone bad: the limits' error, as podLimits() gives it */
    msg = run_error_msg("podResources(object)",
                        "{\"containers\":[{\"name\":\"a\",\"resources\":"
                        "{\"requests\":{\"cpu\":\"1\"},\"limits\":{\"cpu\":\"x\"}}}]}");
    if (msg == NULL || strstr(msg, "container a: resources.limits.cpu") == NULL)
        fail_msg("podResources, limits alone: %s", msg ? msg : "(no error)");
    free(msg);
}

static void test_limit_cases(void **state)
{
    (void)state;
    run_cases_file("tests/fixtures/expr/limits.cases");
}

/* A step budget counts one step per node evaluated and one per 16 elements an operator scans,
 * goes on from where the evaluations before stopped (budget.used), fails with expr.limit on
 * the first step past budget.max and not before, and gives back the exact count, past the
 * limit too: the evaluator counts down from the limit (eval_int.h), the budget counts up. */
static void test_budget_counts(void **state)
{
    (void)state;
    static const struct {
        const char *src;
        uint32_t used, max; /* the budget before */
        const char *want;
        uint32_t after;     /* budget.used after */
    } cases[] = {
        {"1 + 2", 0, 3, "3", 3},          /* three nodes: exactly the budget */
        {"1 + 2", 0, 2, "!expr.limit", 3}, /* the third node is one too many, and counted */
        {"1 + 2", 5, 8, "3", 8},          /* on from the count of earlier evaluations */
        {"1 + 2", 6, 8, "!expr.limit", 9},
        {"true || 1 / 0 == 1", 0, 2, "true", 2}, /* what is not evaluated is not counted */
        {"[1, 2, 3].exists(x, x == 2)", 0, 100, "true", 11}, /* the literal list: 1 + 3 */
        {"size(object.l + object.l) == 64", 0, 100, "true", 12}, /* 8 nodes, 64 copied: 4 */
        {"size(object.l + object.l) == 64", 0, 9, "!expr.limit", 11}, /* the copy: 7 + 4 */
        {"cel.bind(x, 1, x + x)", 0, 4, "!expr.limit", 5},
        {"cel.bind(x, 1, x + x)", 0, 5, "2", 5},
    };
    char input[512] = "{\"l\":[0";
    for (int i = 1; i < 32; i++)
        snprintf(input + strlen(input), sizeof input - strlen(input), ",%d", i);
    strcat(input, "]}");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        arena *a = arena_new(ARENA_REQUEST_BUDGET);
        cJSON *obj = cJSON_Parse(input);
        diag_list dl;
        diag_list_init(&dl);
        expr_prog *p = expr_compile(a, cases[i].src, strlen(cases[i].src), &the_decls, NULL, &dl);
        assert_non_null(p);
        expr_budget b = {.used = cases[i].used, .max = cases[i].max};
        expr_binding vars[] = {{"object", expr_from_json(obj)}};
        expr_env env = {.vars = vars, .n_vars = 1, .budget = &b};
        expr_value v = expr_eval(p, &env, a);
        char *got = v.kind == EXPR_ERROR ? NULL : expr_to_json(&v, false);
        const char *shown = v.kind == EXPR_ERROR ? v.v.err->code : got;
        bool ok = v.kind == EXPR_ERROR ? cases[i].want[0] == '!' &&
                                             strcmp(shown, cases[i].want + 1) == 0
                                       : got != NULL && strcmp(got, cases[i].want) == 0;
        if (!ok || b.used != cases[i].after || b.live != NULL)
            fail_msg("case %zu: %s from %u of %u: %s%s, %u steps; want %s, %u steps", i,
                     cases[i].src, cases[i].used, cases[i].max, v.kind == EXPR_ERROR ? "!" : "",
                     shown ? shown : "(null)", b.used, cases[i].want, cases[i].after);
        free(got);
        diag_list_clear(&dl);
        cJSON_Delete(obj);
        arena_free(a);
    }
}

/* resolve_decl of test_vars_are_decls: counts its calls; declaration 1 ("later") is 7, and it
 * answers declaration 0 ("first") with 99, which 'vars' says otherwise. */
static int decl_calls;
static bool count_decl(void *ctx, size_t index, arena *a, expr_value *out)
{
    (void)ctx;
    (void)a;
    decl_calls++;
    *out = (expr_value){.kind = EXPR_INT};
    out->v.i = index == 0 ? 99 : 7;
    return index < 2;
}

/* expr_env.vars_are_decls: a binding declared first is read from 'vars' without asking
 * resolve_decl; a later declaration is still asked of it; without the flag every one is. */
static void test_vars_are_decls(void **state)
{
    (void)state;
    static const char *const names[] = {"first", "later"};
    expr_decls d = {.vars = names, .n_vars = 2};
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    diag_list dl;
    diag_list_init(&dl);
    const char *src = "[first, later, first + later]";
    expr_prog *p = expr_compile(a, src, strlen(src), &d, NULL, &dl);
    assert_non_null(p);
    expr_binding vars[] = {{"first", (expr_value){.kind = EXPR_INT}}};
    vars[0].value.v.i = 1;
    for (int flag = 0; flag <= 1; flag++) {
        expr_env env = {.vars = vars, .n_vars = 1, .vars_are_decls = flag,
                        .resolve_decl = count_decl};
        decl_calls = 0;
        expr_value v = expr_eval(p, &env, a);
        char *got = expr_to_json(&v, false);
        const char *want = flag ? "[1,7,8]" : "[99,7,106]";
        if (got == NULL || strcmp(got, want) != 0 || decl_calls != (flag ? 2 : 4))
            fail_msg("vars_are_decls %d: %s after %d resolve_decl calls, want %s after %d", flag,
                     got ? got : "(null)", decl_calls, want, flag ? 2 : 4);
        free(got);
    }
    diag_list_clear(&dl);
    arena_free(a);
}

/* resolve_decl of test_decl_memo: counts its calls; declaration d answers 10 * d. */
static bool tens_decl(void *ctx, size_t index, arena *a, expr_value *out)
{
    (void)ctx;
    (void)a;
    decl_calls++;
    *out = (expr_value){.kind = EXPR_INT};
    out->v.i = 10 * (int64_t)index;
    return true;
}

/* expr_env.memo: a declaration after 'vars' whose memo_state is EXPR_MEMO_READY is read from
 * the memo, as an identifier or a qualified name, without asking resolve_decl; any other
 * state, or an index past n_memo, is asked of it. The steps are those of asking. */
static void test_decl_memo(void **state)
{
    (void)state;
    static const char *const names[] = {"object", "variables.v", "variables.w", "later"};
    expr_decls d = {.vars = names, .n_vars = 4};
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    diag_list dl;
    diag_list_init(&dl);
    const char *src = "[variables.v, variables.w, later, variables.v + variables.w + later]";
    expr_prog *p = expr_compile(a, src, strlen(src), &d, NULL, &dl);
    assert_non_null(p);
    expr_binding vars[] = {{"object", (expr_value){.kind = EXPR_NULL}}};
    /* the memo holds what resolve_decl would answer, so only the call count tells them apart */
    expr_value memo[3];
    for (int i = 0; i < 3; i++)
        memo[i] = (expr_value){.kind = EXPR_INT, .v.i = 10 * (i + 1)};
    static const struct {
        unsigned char st[3];
        size_t n_memo;
        int calls;
    } cases[] = {
        {{0, 0, 0}, 0, 6},                               /* no memo: every read asks */
        {{EXPR_MEMO_READY, 0, 0}, 3, 4},                 /* v read in place */
        {{EXPR_MEMO_READY, EXPR_MEMO_READY, 1}, 3, 2},   /* v and w; 'later' busy: asked */
        {{EXPR_MEMO_READY, EXPR_MEMO_READY, EXPR_MEMO_READY}, 3, 0},
        {{EXPR_MEMO_READY, EXPR_MEMO_READY, EXPR_MEMO_READY}, 2, 2}, /* 'later' past n_memo */
    };
    uint32_t steps0 = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        expr_budget b = {0};
        expr_env env = {.vars = vars, .n_vars = 1, .vars_are_decls = true,
                        .resolve_decl = tens_decl, .budget = &b, .memo = memo,
                        .memo_state = cases[i].st, .n_memo = cases[i].n_memo};
        decl_calls = 0;
        expr_value v = expr_eval(p, &env, a);
        char *got = expr_to_json(&v, false);
        if (i == 0)
            steps0 = b.used;
        if (got == NULL || strcmp(got, "[10,20,30,60]") != 0 || decl_calls != cases[i].calls ||
            b.used != steps0)
            fail_msg("memo case %zu: %s after %d resolve_decl calls and %u steps, want "
                     "[10,20,30,60] after %d and %u", i, got ? got : "(null)", decl_calls, b.used,
                     cases[i].calls, steps0);
        free(got);
    }
    diag_list_clear(&dl);
    arena_free(a);
}

/* The evaluator's fast paths give what the general paths give (fastpaths.cases). */
static void test_fastpath_cases(void **state)
{
    (void)state;
    run_cases_file("tests/fixtures/expr/fastpaths.cases");
}

/* The edges of the fast paths and of the semantics they keep (edges.cases): ace892d's answers. */
static void test_edge_cases(void **state)
{
    (void)state;
    run_cases_file("tests/fixtures/expr/edges.cases");
}

static void test_compat_cases(void **state)
{
    (void)state;
    run_cases_file("tests/fixtures/expr/compat.cases");
}

/* Compile errors: code and line:col, relative to where the expression sits in its file. */
static const struct {
    const char *src, *code;
    int line, col;
} compile_errors[] = {
    {"1 +", "expr.syntax", 10, 8},
    {"(1 + 2", "expr.syntax", 10, 11},
    {"object.", "expr.syntax", 10, 12},
    {"a b", "expr.syntax", 10, 7},
    {"'unterminated", "expr.syntax", 10, 5},
    {"\"a\nb\"", "expr.syntax", 10, 5},
    {"'\\q'", "expr.syntax", 10, 5},
    {"b'\\u00ff'", "expr.syntax", 10, 5},
    {"9223372036854775809", "expr.syntax", 10, 5},
    {"18446744073709551616u", "expr.syntax", 10, 5},
    {"if", "expr.syntax", 10, 5},
    {"object.x.all(1, true)", "expr.syntax", 10, 18},
    {"has(object)", "expr.syntax", 10, 5},
    {"Foo{a: 1}", "expr.unsupported", 10, 8},
    {"nope.x", "expr.undeclared", 10, 5},
    {"object.x &&\n  frobnicate(1)", "expr.undeclared", 11, 3},
    {"size()", "expr.arity", 10, 5},
    {"'a'.startsWith()", "expr.arity", 10, 5},
    {"'a'.int()", "expr.undeclared", 10, 5},
    {"'x'.matches('(')", "expr.regex", 10, 17},
    {"`a`", "expr.syntax", 10, 5},
    {"1 @ 2", "expr.syntax", 10, 7},
};

static void test_compile_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof compile_errors / sizeof compile_errors[0]; i++) {
        arena *a = arena_new(1 << 20);
        diag_list dl;
        diag_list_init(&dl);
        /* the expression sits at line 10, column 5 of its file */
        const char *src = compile_errors[i].src;
        char file[256];
        snprintf(file, sizeof file, "\n\n\n\n\n\n\n\n\n    %s\n", src);
        diag_source *text = diag_source_new(file, strlen(file));
        srcpos at = {.file = "policies/p.yaml", .source = text, .offset = 13};
        expr_prog *p = expr_compile(a, src, strlen(src), &the_decls, &at, &dl);
        diag_source_unref(text); /* the diags keep it */
        if (p != NULL || dl.count == 0)
            fail_msg("case %zu (%s): compiled", i, src);
        const diag *d = &dl.items[0];
        int line, col;
        srcpos_line_col(&d->at, &line, &col);
        if (strcmp(d->code, compile_errors[i].code) != 0 || line != compile_errors[i].line ||
            col != compile_errors[i].col || strcmp(d->at.file, "policies/p.yaml") != 0)
            fail_msg("case %zu (%s): %s:%d:%d [%s] %s, want %d:%d [%s]", i, src, d->at.file,
                     line, col, d->code, d->msg, compile_errors[i].line,
                     compile_errors[i].col, compile_errors[i].code);
        diag_list_clear(&dl);
        arena_free(a);
    }
}

/* One pass reports several problems. */
static void test_reports_several_errors(void **state)
{
    (void)state;
    arena *a = arena_new(1 << 20);
    diag_list dl;
    diag_list_init(&dl);
    const char *src = "foo(1) + bar(2) + nope";
    assert_null(expr_compile(a, src, strlen(src), &the_decls, NULL, &dl));
    assert_int_equal(dl.count, 3);
    diag_list_clear(&dl);
    const char *syn = "(1 + ) * (2 + ) ]";
    assert_null(expr_compile(a, syn, strlen(syn), &the_decls, NULL, &dl));
    assert_true(dl.count >= 2);
    diag_list_clear(&dl);
    arena_free(a);
}

/* Deep nesting, long chains, huge sources: a limit error, not a crash. */
static void test_hostile_sources(void **state)
{
    (void)state;
    static const struct { const char *open, *close; int reps; } shapes[] = {
        {"(", ")", 100000}, {"[", "]", 5000}, {"{1:", "}", 5000}, {"!", "", 100000},
        {"-", "", 100000},  {"f(", ")", 5000}, {"1 + ", "", 20000}, {"a.", "b", 20000},
        {"true ? 1 : ", "0", 5000}, {"x.map(y, ", ")", 5000},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        buf b;
        buf_init(&b, 8 << 20);
        for (int k = 0; k < shapes[i].reps; k++)
            buf_puts(&b, shapes[i].open);
        buf_puts(&b, "1");
        for (int k = 0; k < shapes[i].reps; k++)
            buf_puts(&b, shapes[i].close);
        arena *a = arena_new(ARENA_REQUEST_BUDGET);
        diag_list dl;
        diag_list_init(&dl);
        expr_prog *p = expr_compile(a, b.data, b.len, &the_decls, NULL, &dl);
        if (p != NULL)
            fail_msg("shape %zu compiled", i);
        bool limit = false;
        for (size_t d = 0; d < dl.count; d++)
            limit |= strcmp(dl.items[d].code, "expr.limit") == 0;
        if (!limit)
            fail_msg("shape %zu: no expr.limit (first: %s)", i, dl.count ? dl.items[0].msg : "-");
        diag_list_clear(&dl);
        arena_free(a);
        buf_clear(&b);
    }
}

/* The JSON number rule: integral numbers are ints, others doubles. */
static void test_json_numbers(void **state)
{
    (void)state;
    static const struct { const char *json, *type; } cases[] = {
        {"3", "int"}, {"3.0", "int"}, {"-0", "int"}, {"1e3", "int"}, {"2.5", "double"},
        {"1e300", "double"}, {"9223372036854775807", "double"}, {"-9223372036854775808", "int"},
        {"\"3\"", "string"}, {"true", "bool"}, {"null", "null_type"}, {"[]", "list"}, {"{}", "map"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *j = cJSON_Parse(cases[i].json);
        expr_value v = expr_from_json(j);
        if (strcmp(expr_type_name(&v), cases[i].type) != 0)
            fail_msg("case %zu: %s is %s, want %s", i, cases[i].json, expr_type_name(&v), cases[i].type);
        cJSON_Delete(j);
    }
}

/* A field name may hold a NUL (`a<NUL>b`, written in the source): no JSON key can, so on the
 * object it is never found, not even as the key "a" that a C string comparison would see, and
 * reading it must not run past the key; a CEL map keeps such keys and finds them. */
static void test_field_name_nul(void **state)
{
    (void)state;
    static const struct { const char *src; size_t len; const char *want; } cases[] = {
        {"object.`a\0b`", sizeof "object.`a\0b`" - 1, "!expr.no_such_key"},
        {"object.?`a\0b`.orValue(2)", sizeof "object.?`a\0b`.orValue(2)" - 1, "2"},
        {"has(object.`a\0b`)", sizeof "has(object.`a\0b`)" - 1, "false"},
        {"has(object.`a\0`)", sizeof "has(object.`a\0`)" - 1, "false"},
        {"{'a\\x00b': 3}.`a\0b`", sizeof "{'a\\x00b': 3}.`a\0b`" - 1, "3"},
        {"has({'a\\x00b': 3}.`a\0b`)", sizeof "has({'a\\x00b': 3}.`a\0b`)" - 1, "true"},
        {"has({'a': 3}.`a\0b`)", sizeof "has({'a': 3}.`a\0b`)" - 1, "false"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        arena *a = arena_new(1 << 20);
        cJSON *obj = cJSON_Parse("{\"a\": 1, \"b\": 2}");
        diag_list dl;
        diag_list_init(&dl);
        expr_prog *p = expr_compile(a, cases[i].src, cases[i].len, &the_decls, NULL, &dl);
        if (p == NULL)
            fail_msg("case %zu does not compile: %s", i, dl.items[0].msg);
        expr_binding vars[] = {{"object", expr_from_json(obj)}};
        expr_env env = {.vars = vars, .n_vars = 1};
        expr_value v = expr_eval(p, &env, a);
        char *got = NULL;
        if (v.kind == EXPR_ERROR) {
            if (asprintf(&got, "!%s", v.v.err->code) < 0)
                got = NULL;
        } else {
            got = expr_to_json(&v, false);
        }
        if (got == NULL || strcmp(got, cases[i].want) != 0)
            fail_msg("case %zu: got %s, want %s", i, got ? got : "(null)", cases[i].want);
        free(got);
        diag_list_clear(&dl);
        cJSON_Delete(obj);
        arena_free(a);
    }
}

/* A CEL string keeps its NUL (it has a length); JSON out through cJSON (C strings) cannot, so a
 * value holding one has no JSON form: never a string cut at the NUL. */
static void test_json_output_nul(void **state)
{
    (void)state;
    static const char *const srcs[] = {
        "'a\\x00b'", "'\\u0000/tmp/cp'", "'file:///data/x' + '\\000' + '/../../tmp/ha'",
        "{'k\\x00': 1}", "['ok', 'x\\x00']", "{'a': {'b': ['\\x00']}}", "optional.of('\\x00')",
        "[{'\\x00': 1}]",
    };
    for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) {
        arena *a = arena_new(1 << 20);
        diag_list dl;
        diag_list_init(&dl);
        expr_prog *p = expr_compile(a, srcs[i], strlen(srcs[i]), &the_decls, NULL, &dl);
        if (p == NULL)
            fail_msg("case %zu: %s does not compile: %s", i, srcs[i], dl.items[0].msg);
        expr_env env = {0};
        expr_value v = expr_eval(p, &env, a);
        assert_int_not_equal(v.kind, EXPR_ERROR);
        char *plain = expr_to_json(&v, false), *typed = expr_to_json(&v, true);
        cJSON *tree = expr_to_cjson(&v);
        if (plain != NULL || typed != NULL || tree != NULL)
            fail_msg("case %zu: %s gave JSON %s / %s", i, srcs[i], plain ? plain : "-",
                     typed ? typed : "-");
        const char *why = expr_json_problem(&v, false);
        assert_non_null(why);
        assert_non_null(strstr(why, "NUL"));
        diag_list_clear(&dl);
        arena_free(a);
    }
    char *ok = run("size('a\\x00b')", "{}"); /* the string itself is whole */
    assert_string_equal(ok, "3");
    free(ok);
    ok = run("'a\\\\x00b'", "{}"); /* a backslash, then text: no NUL */
    assert_string_equal(ok, "\"a\\\\x00b\"");
    free(ok);
}

/* A compiled program is immutable: evaluating it many times, with different inputs, gives
 * independent answers. */
static void test_compile_once_eval_many(void **state)
{
    (void)state;
    arena *pa = arena_new(1 << 20);
    diag_list dl;
    diag_list_init(&dl);
    const char *src = "object.n * 2";
    expr_prog *p = expr_compile(pa, src, strlen(src), &the_decls, NULL, &dl);
    assert_non_null(p);
    for (int i = 0; i < 100; i++) {
        char in[32];
        snprintf(in, sizeof in, "{\"n\":%d}", i);
        cJSON *obj = cJSON_Parse(in);
        arena *a = arena_new(4096);
        expr_binding vars[] = {{"object", expr_from_json(obj)}};
        expr_env env = {.vars = vars, .n_vars = 1};
        expr_value v = expr_eval(p, &env, a);
        assert_int_equal(v.kind, EXPR_INT);
        assert_int_equal(v.v.i, 2 * i);
        arena_free(a);
        cJSON_Delete(obj);
    }
    arena_free(pa);
}

/* A JSON object of 'n' keys 'prefix' + i (+ 'extra' members, a JSON fragment starting with
 * a comma, at the end), every value "v". malloc'd. */
static char *big_object(int n, const char *prefix, const char *extra)
{
    buf b;
    buf_init(&b, (size_t)64 << 20);
    char item[400];
    buf_puts(&b, "{");
    for (int i = 0; i < n; i++) {
        snprintf(item, sizeof item, "%s\"%s%d\":\"v\"", i ? "," : "", prefix, i);
        buf_puts(&b, item);
    }
    buf_puts(&b, extra);
    buf_puts(&b, "}");
    return b.data;
}

/* Evaluates 'src' on 'object' and returns the work of its lookups (util/keyindex.h);
 * the result must be 'want' (JSON). */
static uint64_t lookup_work(const char *src, const char *object, const char *want)
{
    uint64_t before = lookup_steps;
    char *got = run(src, object);
    uint64_t work = lookup_steps - before;
    if (got == NULL || !json_same(got, want))
        fail_msg("%s => %s, want %s", src, got ? got : "(null)", want);
    free(got);
    return work;
}

/* Looking every key of a 10,000-key map up costs O(1) comparisons a lookup, not O(keys): a
 * scan made ~5,000 per lookup (50 million for the map), whatever the key spelling (a 200-byte
 * common prefix too). Counted, not timed. */
static void test_large_map_lookups(void **state)
{
    (void)state;
    static const char *const exprs[] = {
        "object.all(k, object[k] == 'v')",
        "object.all(k, k in object)",
        "object.all(k, object[?k].hasValue())",
        "cel.bind(c, flinkConfig(object), c.all(k, c[k] == 'v' && k in c))",
        "cel.bind(c, flinkConfig(object), c == flinkConfig(object))",
        "object == flinkConfig(object) && flinkConfig(object) == object",
    };
    char prefix[201];
    memset(prefix, 'a', 200);
    prefix[200] = '\0';
    for (int p = 0; p < 2; p++) {
        int n = 10000;
        char *obj = big_object(n, p ? prefix : "key.", "");
        for (size_t i = 0; i < sizeof exprs / sizeof exprs[0]; i++) {
            uint64_t work = lookup_work(exprs[i], obj, "true");
            if (work > 40u * (uint64_t)n)
                fail_msg("%s on %d keys: %llu key comparisons, want at most %d", exprs[i], n,
                         (unsigned long long)work, 40 * n);
        }
        free(obj);
    }
}

/* Through the index a lookup answers what the scan answered: the first of two equal keys,
 * the empty key, UTF-8 keys, keys that differ only after a long common prefix, no match for
 * a key with a NUL or a prefix of a key; and small maps alike. */
static void test_large_map_lookup_answers(void **state)
{
    (void)state;
    char prefix[201];
    memset(prefix, 'p', 200);
    prefix[200] = '\0';
    for (int n = 4; n <= 64; n *= 4) { /* below and above the scan's limit */
        char *obj = big_object(n, "k",
                               ",\"dup\":\"first\",\"x\":1,\"dup\":\"second\",\"\":\"empty\","
                               "\"日本\":\"utf8\",\"k1\":\"again\"");
        static const struct { const char *src, *want; } cases[] = {
            {"object.dup", "\"first\""},
            {"object['dup']", "\"first\""},
            {"object[?'dup'].orValue('')", "\"first\""},
            {"has(object.dup) && 'dup' in object", "true"},
            {"object['']", "\"empty\""},
            {"object['日本']", "\"utf8\""},
            {"object.k1", "\"v\""},
            {"object['k1\\x00']", "!expr.no_such_key"},
            {"'k' in object || 'du' in object || 'dupe' in object", "false"},
            {"object.nope", "!expr.no_such_key"},
            /* the empty key is no option to either Flink version (k8s/flinkconf.c) */
            {"flinkConfig(object).dup", "!expr.flink_config"},
            {"object['日本'] + object.k2", "\"utf8v\""},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            lookup_work(cases[i].src, obj, cases[i].want);
        free(obj);
        obj = big_object(n, prefix, "");
        char src[600];
        for (int k = 0; k < n; k += n / 4) {
            snprintf(src, sizeof src, "object['%s%d'] + string('%s%d' in object)", prefix, k,
                     prefix, k + n);
            lookup_work(src, obj, "\"vfalse\"");
        }
        free(obj);
    }
}

/* size() and list[i] on a 10,000-element JSON list, asked for each element: O(1) a call after
 * the first, not a walk of the list each time (150 million elements walked before). */
static void test_large_list_access(void **state)
{
    (void)state;
    enum { N = 10000 };
    buf b;
    buf_init(&b, 1 << 20);
    char item[32];
    buf_puts(&b, "{\"l\":[");
    for (int i = 0; i < N; i++) {
        snprintf(item, sizeof item, "%s%d", i ? "," : "", i);
        buf_puts(&b, item);
    }
    buf_puts(&b, "],\"m\":{\"a\":1}}");
    static const struct { const char *src, *want; } cases[] = {
        {"object.l.all(x, object.l[x] == x && size(object.l) == 10000)", "true"},
        {"object.l.all(x, object.l.size() > x && object.l[?x].hasValue())", "true"},
        {"object.l[9999] + object.l[16] + object.l[15] + object.l[0]", "10030"},
        {"object.l[10000]", "!expr.index"},
        {"object.l[?10000].orValue(-1)", "-1"},
        {"size(object.m) + size(object.l.filter(x, x < 3))", "4"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t work = lookup_work(cases[i].src, b.data, cases[i].want);
        if (work > 40u * N)
            fail_msg("%s: %llu elements walked, want at most %d", cases[i].src,
                     (unsigned long long)work, 40 * N);
    }
    buf_clear(&b);
}

/* `x in list`, list `+` and `==` on lists and maps scan or copy the whole of them: asked for every element of a
 * 10,000-element list they would cost 10^8 element operations (0.8 s; 20 s at 50,000) under a
 * step budget that counted only nodes. They are counted (one step per 16 elements), so such
 * an expression ends with expr.limit; at 1,000 elements it still evaluates. */
static void test_scan_costs_steps(void **state)
{
    (void)state;
    static const char *const exprs[] = {
        "object.l.all(x, x in object.l)",
        "object.l.all(x, size(object.l + [x]) > 0)",
        "object.l.all(x, object.l == object.l)",
        "object.l.all(x, object.m == object.m)",
    };
    for (int n = 1000; n <= 10000; n *= 10) {
        buf b;
        buf_init(&b, 1 << 20);
        char item[32];
        buf_puts(&b, "{\"l\":[");
        for (int i = 0; i < n; i++) {
            snprintf(item, sizeof item, "%s%d", i ? "," : "", i);
            buf_puts(&b, item);
        }
        buf_puts(&b, "],\"m\":{");
        for (int i = 0; i < n; i++) {
            snprintf(item, sizeof item, "%s\"k%d\":%d", i ? "," : "", i, i);
            buf_puts(&b, item);
        }
        buf_puts(&b, "}}");
        for (size_t i = 0; i < sizeof exprs / sizeof exprs[0]; i++) {
            char *got = run(exprs[i], b.data);
            const char *want = n == 10000 ? "!expr.limit" : "true";
            if (got == NULL || strcmp(got, want) != 0)
                fail_msg("%s on %d elements: %s, want %s", exprs[i], n, got ? got : "(null)", want);
            free(got);
        }
        buf_clear(&b);
    }
}

int main(void)
{
    the_decls = decls;
    the_decls.n_fns = policy_n_functions;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_cases),     cmocka_unit_test(test_limit_cases),
        cmocka_unit_test(test_pod_resources_error_order),
        cmocka_unit_test(test_compat_cases),
        cmocka_unit_test(test_fastpath_cases),
        cmocka_unit_test(test_edge_cases),
        cmocka_unit_test(test_budget_counts),
        cmocka_unit_test(test_vars_are_decls),
        cmocka_unit_test(test_decl_memo),
        cmocka_unit_test(test_case_lines),
        cmocka_unit_test(test_compile_errors),   cmocka_unit_test(test_reports_several_errors),
        cmocka_unit_test(test_hostile_sources),  cmocka_unit_test(test_json_numbers),
        cmocka_unit_test(test_compile_once_eval_many),
        cmocka_unit_test(test_json_output_nul),
        cmocka_unit_test(test_field_name_nul),
        cmocka_unit_test(test_large_map_lookups),
        cmocka_unit_test(test_large_map_lookup_answers),
        cmocka_unit_test(test_large_list_access),
        cmocka_unit_test(test_scan_costs_steps),
    };
    return cmocka_run_group_tests_name("expr", tests, NULL, NULL);
}
