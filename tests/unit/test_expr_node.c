/* test_expr_node.c - the unions of expr_node (expr/expr_int.h): each shared field is written
 * and read only for the kinds of node that own it. For every member, a checked tree of each
 * kind that owns it holds what the parser and the checker put there, the other members of its
 * union are left alone where the same node still needs them, and the child walkers (node_b(),
 * node_c(), node_nargs(), and through them the height, the checker and the prog.c walks) see
 * no child where another kind's field is stored. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "expr/expr_int.h"

static const char *const var_names[] = {"object", "variables.x"};
static const expr_decls decls = {.vars = var_names, .n_vars = 2};

typedef struct fixture {
    arena *a;
    diag_list dl;
} fixture;

static int setup(void **state)
{
    static fixture f;
    f.a = arena_new(ARENA_REQUEST_BUDGET);
    diag_list_init(&f.dl);
    *state = &f;
    return f.a == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    diag_list_clear(&f->dl);
    arena_free(f->a);
    return 0;
}

/* The checked tree of 'src'; fails the test on a compile error. */
static const expr_node *tree(fixture *f, const char *src)
{
    expr_prog *p = expr_compile(f->a, src, strlen(src), &decls, NULL, &f->dl);
    if (p == NULL)
        fail_msg("%s: %s", src, f->dl.count ? f->dl.items[f->dl.count - 1].msg : "?");
    return p->root;
}

/* The value of 'src' with 'object' = {"spec": {"n": 2}}, as compact JSON, or "!code". */
static const char *value(fixture *f, const char *src)
{
    expr_prog *p = expr_compile(f->a, src, strlen(src), &decls, NULL, &f->dl);
    if (p == NULL)
        return "!!compile";
    cJSON *obj = cJSON_Parse("{\"spec\": {\"n\": 2}}");
    expr_binding vars[] = {{"object", expr_from_json(obj)}};
    expr_env env = {.vars = vars, .n_vars = 1};
    expr_value v = expr_eval(p, &env, f->a);
    const char *out;
    if (v.kind == EXPR_ERROR) {
        out = arena_cat(f->a, "!", v.v.err->code);
    } else {
        char *s = expr_to_json(&v, false);
        out = arena_strdup(f->a, s);
        free(s);
    }
    cJSON_Delete(obj);
    return out;
}

static size_t count(const expr_node *n)
{
    if (n == NULL)
        return 0;
    size_t c = 1 + count(n->a) + count(node_b(n)) + count(node_c(n));
    for (uint32_t i = 0; i < node_nargs(n); i++)
        c += count(n->args[i]);
    return c;
}

/* 'lit', 'b'/'c' and 'fn'/'re' share storage. A literal, a type name, a type's qualified name
 * made a literal by the checker, and a folded list each hold a value there and show no 'b'
 * or 'c'; a call holds its function and pattern there and shows none either; the kinds with
 * operands show them. */
static void test_lit_bc_fn(void **state)
{
    fixture *f = *state;
    const expr_node *n = tree(f, "1 + 2");
    assert_int_equal(n->op, N_BIN);
    assert_ptr_equal(node_b(n), n->b);
    assert_int_equal(n->b->op, N_LIT);
    assert_int_equal(n->b->lit.v.i, 2);
    assert_null(node_b(n->b));
    assert_null(node_c(n->b));

    n = tree(f, "int");
    assert_int_equal(n->op, N_IDENT);
    assert_true(n->is_type);
    assert_int_equal(n->lit.kind, EXPR_TYPE);
    assert_null(node_b(n)); /* the type value's bytes are not operands */
    assert_null(node_c(n));
    assert_string_equal(n->name, "int");

    /* net.IP: an N_SELECT the checker turns into a type literal; it keeps the selection's
     * operand and name, which has() reads, outside the value's storage */
    n = tree(f, "net.IP");
    assert_int_equal(n->op, N_LIT);
    assert_true(n->is_type);
    assert_int_equal(n->lit.kind, EXPR_TYPE);
    assert_null(node_b(n));
    assert_string_equal(n->name, "IP");
    assert_int_equal(n->name_len, 2);
    assert_int_equal(n->a->op, N_IDENT);
    assert_int_equal(count(n), 2);
    assert_string_equal(value(f, "type(ip('10.0.0.1')) == net.IP"), "true");
    assert_string_equal(value(f, "has(net.IP)"), "!expr.no_such_attribute");

    n = tree(f, "'abc'.matches('^a')");
    assert_int_equal(n->op, N_CALL);
    assert_non_null(n->fn);
    assert_non_null(n->re);
    assert_null(node_b(n)); /* fn and re are not operands */
    assert_null(node_c(n));
    assert_int_equal(node_nargs(n), 1);
    assert_int_equal(n->a->lit.len, 3);
    assert_int_equal(count(n), 3);
    assert_string_equal(value(f, "'abc'.matches('^a') && !matches('xbc', '^a')"), "true");

    n = tree(f, "[1, 2][1]");
    assert_int_equal(n->op, N_INDEX);
    assert_ptr_equal(node_b(n), n->b);
    assert_int_equal(n->b->lit.v.i, 1);
    assert_null(node_c(n));
    n = tree(f, "true ? 'y' : 'n'");
    assert_int_equal(n->op, N_COND);
    assert_string_equal(node_c(n)->lit.v.s, "n");
    n = tree(f, "true && (false || true)");
    assert_int_equal(n->op, N_AND);
    assert_int_equal(node_b(n)->op, N_OR);
    assert_int_equal(count(n), 5);
    assert_string_equal(value(f, "[1, 2][1] + (true ? 1 : 0)"), "3");
}

/* A folded list or map keeps its value in 'lit' (over 'b' and 'c') and its entries, their
 * count and its optional flags ('opt', over 'name') as the parser left them. */
static void test_folded_literals(void **state)
{
    fixture *f = *state;
    const expr_node *n = tree(f, "['a', 'b'].exists(x, x == 'b')");
    assert_int_equal(n->op, N_COMP);
    const expr_node *l = n->a;
    assert_int_equal(l->op, N_LIST);
    assert_true(l->folded);
    assert_int_equal(l->lit.kind, EXPR_LIST);
    assert_int_equal(l->fold_steps, 2);
    assert_null(node_b(l));
    assert_null(node_c(l));
    assert_int_equal(node_nargs(l), 2);
    assert_string_equal(l->args[1]->lit.v.s, "b");
    assert_int_equal(l->opt[0] + l->opt[1], 0);
    assert_string_equal(value(f, "['a', 'b'].exists(x, x == 'b')"), "true");

    n = tree(f, "{'k': [1, 2], 'l': [3]}");
    assert_int_equal(n->op, N_MAP);
    assert_true(n->folded);
    assert_true(n->distinct_keys);
    assert_int_equal(n->lit.kind, EXPR_MAP);
    assert_int_equal(n->fold_steps, 4 + 3); /* each entry 1, each folded list its own */
    assert_int_equal(node_nargs(n), 4);
    assert_int_equal(n->opt[0] + n->opt[1], 0);
    assert_int_equal(count(n), 8);
    assert_string_equal(value(f, "{'k': [1, 2], 'l': [3]}.k[1]"), "2");
}

/* 'opt' shares storage with 'name': a list or map with ?entries is not folded, and its
 * flags say which entries are optional. */
static void test_optional_entries(void **state)
{
    fixture *f = *state;
    const expr_node *n = tree(f, "[1, ?optional.none(), ?optional.of(3)]");
    assert_int_equal(n->op, N_LIST);
    assert_false(n->folded);
    assert_int_equal(node_nargs(n), 3);
    assert_int_equal(n->opt[0], 0);
    assert_int_equal(n->opt[1], 1);
    assert_int_equal(n->opt[2], 1);
    assert_null(node_b(n));
    assert_string_equal(value(f, "[1, ?optional.none(), ?optional.of(3)]"), "[1,3]");

    n = tree(f, "{'a': 1, ?'b': optional.none(), ?'c': optional.of(2)}");
    assert_int_equal(n->op, N_MAP);
    assert_false(n->folded);
    assert_int_equal(n->opt[0], 0);
    assert_int_equal(n->opt[1], 1);
    assert_int_equal(n->opt[2], 1);
    assert_string_equal(value(f, "{'a': 1, ?'b': optional.none(), ?'c': optional.of(2)}"),
                        "{\"a\":1,\"c\":2}");
}

/* 'args' shares storage with 'qualified' and 'name2': a selection of a binding's qualified
 * name and a two-variable comprehension have no arguments to walk. */
static void test_args_qualified_name2(void **state)
{
    fixture *f = *state;
    const expr_node *n = tree(f, "variables.x");
    assert_int_equal(n->op, N_SELECT);
    assert_string_equal(n->qualified, "variables.x");
    assert_int_equal(n->decl, 1);
    assert_int_equal(node_nargs(n), 0);
    assert_int_equal(n->name_len, 1);
    assert_int_equal(count(n), 2);

    n = tree(f, "object.spec.n");
    assert_int_equal(n->op, N_SELECT);
    assert_null(n->qualified); /* not a binding: a field of 'object' */
    assert_string_equal(n->name, "n");
    assert_string_equal(value(f, "object.spec.n"), "2");

    n = tree(f, "[5, 6].all(i, v, v > i)");
    assert_int_equal(n->op, N_COMP);
    assert_string_equal(n->name, "i");
    assert_string_equal(n->name2, "v");
    assert_int_equal(node_nargs(n), 0);
    assert_non_null(node_b(n));
    assert_string_equal(value(f, "[5, 6].all(i, v, v > i)"), "true");

    n = tree(f, "[5].map(x, x * 2)");
    assert_null(n->name2);
    assert_int_equal(node_nargs(n), 0);
    assert_non_null(node_c(n));
    assert_string_equal(value(f, "[5].map(x, x * 2)"), "[10]");

    n = tree(f, "size(object.spec)");
    assert_int_equal(n->op, N_CALL);
    assert_int_equal(node_nargs(n), 1);
    assert_int_equal(n->args[0]->op, N_SELECT);
    assert_string_equal(value(f, "size(object.spec) + size([1, 2])"), "3");
}

/* The walks of prog.c over every kind: the reads of declarations and the global calls are
 * found below literals, types, folded lists, calls and comprehensions alike. */
static void visit_decl(void *ctx, int32_t decl, const char *const *path, uint32_t n)
{
    (void)path;
    (void)n;
    int *seen = ctx;
    if (decl >= 0 && decl < 2)
        seen[decl]++;
}

static void visit_call(void *ctx, const expr_call_site *cs)
{
    (void)cs;
    (*(int *)ctx)++;
}

static void test_walks_over_every_kind(void **state)
{
    fixture *f = *state;
    static const char src[] =
        "[1, 2].exists(i, v, v == size(object.spec)) && type(1) == int && "
        "net.IP != int && {'a': [1]}.a[0] == 1 && variables.x.matches('^x') && "
        "[?optional.of(size(object))].size() > 0 ? size('') : -1";
    expr_prog *p = expr_compile(f->a, src, strlen(src), &decls, NULL, &f->dl);
    assert_non_null(p);
    int seen[2] = {0, 0};
    expr_each_decl(p, visit_decl, seen);
    assert_int_equal(seen[0], 2); /* object, twice */
    assert_int_equal(seen[1], 1); /* variables.x */
    int calls = 0;
    assert_int_equal(expr_each_call(p, "size", visit_call, &calls), 3);
    assert_int_equal(calls, 3);
}

/* How each checked node runs (enum node_run): in place, a form the checker chose for its
 * shape, or its kind's own function. */
static uint8_t want_run(const expr_node *n)
{
    if (n->op == N_LIT)
        return n->int_overflow ? R_KIND + N_LIT : R_LIT;
    if (n->op == N_IDENT)
        return n->local >= 0 ? R_LOCAL : R_KIND + N_IDENT;
    if (n->op == N_SELECT)
        return n->qualified != NULL ? R_QUALIFIED : R_FIELD;
    if (n->op == N_CALL && !n->or_value && n->re != NULL)
        return R_MATCH;
    if (n->op == N_CALL && !n->or_value && n->nargs <= R_CALL_ARGS)
        return R_CALL;
    if (n->op == N_BIN && (n->sub == B_EQ || n->sub == B_NE))
        return R_EQ;
    if (n->op == N_CALL && n->or_value)
        return R_OR_VALUE;
    if (n->op == N_COMP && n->sub == M_BIND && n->name2 == NULL)
        return R_BIND;
    return R_KIND + n->op;
}

/* Checks the run of every node under 'n' the checker reached (not the operand of a name it
 * resolved: variables.x's 'variables', which keeps its kind's), counting each form in 'seen'. */
static void check_runs(const expr_node *n, const char *src, unsigned seen[R_COUNT])
{
    if (n == NULL)
        return;
    if (n->run != want_run(n))
        fail_msg("%s: a node of kind %d runs by %d, want %d", src, n->op, n->run, want_run(n));
    seen[n->run]++;
    if (n->op == N_SELECT && n->qualified != NULL)
        return;
    check_runs(n->a, src, seen);
    check_runs(node_b(n), src, seen);
    check_runs(node_c(n), src, seen);
    for (uint32_t i = 0; i < node_nargs(n); i++)
        check_runs(n->args[i], src, seen);
}

/* Every node back to its kind's own function, as a tree that is parsed and not checked. */
static void reset_runs(expr_node *n)
{
    if (n == NULL)
        return;
    n->run = (uint8_t)(R_KIND + n->op);
    reset_runs(n->a);
    reset_runs(node_b(n));
    reset_runs(node_c(n));
    for (uint32_t i = 0; i < node_nargs(n); i++)
        reset_runs(n->args[i]);
}

/* 'src' evaluated under a budget of 'max' steps: its JSON or "!code msg @start-end", and the
 * steps, in 'out'. 'memo': variables.x comes from the memo, else from the bindings by name. */
static void outcome(fixture *f, const expr_prog *p, uint32_t max, bool memo, char *out,
                    size_t cap)
{
    cJSON *obj = cJSON_Parse("{\"spec\": {\"n\": 2, \"s\": \"a\", \"l\": [1, 2], "
                             "\"m\": {\"k\": \"v\"}, \"o\": null}}");
    cJSON *x = cJSON_Parse("{\"y\": 3}");
    expr_binding vars[] = {{"object", expr_from_json(obj)}, {"variables.x", expr_from_json(x)}};
    expr_value memo_v[1] = {expr_from_json(x)};
    unsigned char memo_st[1] = {EXPR_MEMO_READY};
    expr_budget b = {.max = max};
    expr_env env = {.vars = vars, .n_vars = memo ? 1 : 2, .budget = &b};
    if (memo) {
        env.memo = memo_v;
        env.memo_state = memo_st;
        env.n_memo = 1;
    }
    expr_value v = expr_eval(p, &env, f->a);
    if (v.kind == EXPR_ERROR) {
        snprintf(out, cap, "!%s %s @%u-%u, %u steps", v.v.err->code, v.v.err->msg,
                 v.v.err->span.start, v.v.err->span.end, b.used);
    } else {
        char *j = expr_to_json(&v, false);
        snprintf(out, cap, "%s, %u steps", j ? j : "?", b.used);
        free(j);
    }
    cJSON_Delete(obj);
    cJSON_Delete(x);
}

/* The forms (R_EQ, R_QUALIFIED, R_OR_VALUE, R_BIND) and the values answered in place give what
 * the kinds' own functions give, value or error (code, message, span) and steps, also when the
 * step budget ends at any node of the expression: each expression is run checked and again
 * with every node back to its kind's function, under every budget from 1 step to enough. */
static void test_run_forms(void **state)
{
    fixture *f = *state;
    static const char *const srcs[] = {
        /* == and != of each kind, an error on either side, lists and maps (counted) */
        "object.spec.s == 'a' && object.spec.s != 'b' && object.spec.n == 2",
        "[object.spec.n == 2.0, object.spec.n != 2u, object.spec.o == null, [1] == 'a']",
        "object.spec.l == [1, 2] && object.spec.m != {'k': 'w'} && object.spec.l == object.spec.l",
        "object.spec.missing == 1", "1 != object.spec.missing", "object.spec.s == 1 / 0",
        /* variables.x: from the memo or by name, its fields, and a missing field */
        "variables.x.y == 3 && variables.x != {}", "variables.x.z", "[variables.x, variables.x.y]",
        /* x.?f.orValue(d): present, absent, chained, none, not optional, errors on each side */
        "object.spec.?n.orValue(0) + object.spec.?missing.orValue(7)",
        "[object.?spec.?m.?k.orValue('d'), object.?nope.?m.orValue('d'), object.spec.?l.orValue([])]",
        "object.spec.n.orValue(1)", "object.spec.?n.orValue(1 / 0)", "object.missing.?n.orValue(1)",
        "object.spec.s.?x.orValue(1)", "object.spec.?o.orValue(1) == null",
        /* cel.bind: used, an unused error, a used one, nested; comprehension variables */
        "cel.bind(x, object.spec.n, x + x)", "cel.bind(x, 1 / 0, 2)", "cel.bind(x, 1 / 0, x)",
        "cel.bind(x, 1, cel.bind(y, x + 1, [x, y, x == y]))",
        "[1, 2].map(v, v * 10) == [10, 20] && [1, 2].exists(i, v, v == i + 1)",
        "[1, 9223372036854775808]", "true",
        /* a.f: JSON, built, missing, of a list, of an optional, of an error */
        "[object.spec.m.k, {'a': {'b': 1}}.a.b, optional.of({'a': 1}).a.orValue(0)]",
        "object.spec.m.nope", "object.spec.l.k", "object.missing.k", "(1 / 0).k",
        "optional.none().a.hasValue()",
        /* calls: global and member, with and without a literal pattern, and their errors */
        "size(object.spec.l) + object.spec.s.size() + 'abc'.substring(1).size()",
        "[object.spec.s.matches('^a'), object.spec.s.matches(object.spec.s), 'x'.upperAscii()]",
        "size(1 / 0)", "object.spec.missing.size()", "'a'.substring(5)", "'a'.matches(1 / 0)",
        "matches(object.spec.s, '^a') && !matches('b', 'a$')", "object.spec.n.matches('2')",
        "(1 / 0).matches('a')", "object.spec.s.matches('(a+)+$') || true",
        "object.spec.l.map(v, string(v)).join('-') == '1-2'",
    };
    unsigned seen[R_COUNT] = {0};
    for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) {
        const char *src = srcs[i];
        expr_prog *p = expr_compile(f->a, src, strlen(src), &decls, NULL, &f->dl);
        expr_prog *q = expr_compile(f->a, src, strlen(src), &decls, NULL, &f->dl);
        if (p == NULL || q == NULL)
            fail_msg("%s: %s", src, f->dl.count ? f->dl.items[f->dl.count - 1].msg : "?");
        check_runs(p->root, src, seen);
        reset_runs(q->root);
        for (int memo = 0; memo < 2; memo++) {
            char full[512];
            outcome(f, q, 1000, memo, full, sizeof full);
            uint32_t steps = (uint32_t)strtoul(strrchr(full, ',') + 2, NULL, 10);
            for (uint32_t max = 1; max <= steps + 1; max++) {
                char got[512], want[512];
                outcome(f, p, max, memo, got, sizeof got);
                outcome(f, q, max, memo, want, sizeof want);
                if (strcmp(got, want) != 0)
                    fail_msg("%s (memo %d) under %u steps: %s; the kinds' functions give %s",
                             src, memo, max, got, want);
            }
        }
    }
    /* each form and each value answered in place was run */
    const uint8_t forms[] = {R_LIT, R_LOCAL, R_QUALIFIED, R_EQ, R_OR_VALUE, R_BIND, R_CALL,
                             R_MATCH, R_FIELD};
    for (size_t i = 0; i < sizeof forms; i++)
        if (seen[forms[i]] == 0)
            fail_msg("no node runs by %d", forms[i]);
}

/* 'sub' and 'local' share a byte: a comprehension variable's slot, and the operator of a
 * binary node and the macro of a comprehension around it, each kept. */
static void test_sub_local(void **state)
{
    fixture *f = *state;
    const expr_node *n = tree(f, "[1].all(v, cel.bind(w, v, w == v))");
    assert_int_equal(n->op, N_COMP);
    assert_int_equal(n->sub, M_ALL);
    const expr_node *bind = n->b;
    assert_int_equal(bind->op, N_COMP);
    assert_int_equal(bind->sub, M_BIND);
    assert_int_equal(bind->a->op, N_IDENT);
    assert_int_equal(bind->a->local, 0); /* v */
    const expr_node *eq = bind->b;
    assert_int_equal(eq->op, N_BIN);
    assert_int_equal(eq->sub, B_EQ);
    assert_int_equal(eq->a->local, 1); /* w */
    assert_int_equal(eq->b->local, 0);
    assert_string_equal(value(f, "[1].all(v, cel.bind(w, v, w == v))"), "true");
    const expr_node *global = tree(f, "object");
    assert_int_equal(global->local, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lit_bc_fn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_folded_literals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_optional_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_args_qualified_name2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_walks_over_every_kind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sub_local, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
