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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lit_bc_fn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_folded_literals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_optional_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_args_qualified_name2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_walks_over_every_kind, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
