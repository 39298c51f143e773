/* eval.c - tree-walking evaluator for checked expressions.
 *
 * Runs an expr_prog against an environment of named bindings. It never fails hard: runtime
 * problems become EXPR_ERROR values carrying the span of the failing node. Errors
 * propagate left to right, except where CEL says otherwise: && and || absorb an error when
 * the other side decides, and so do all() and exists(). Every node evaluated costs a step;
 * past the budget the result is an expr.limit error. Allocates only from the caller's arena;
 * recursion is bounded by the parser's height cap. The comprehensions are eval_comp.c's. */
#include "eval_int.h"

#include <math.h>
#include <string.h>

#include "re.h"
#include "../util/keyindex.h"

expr_value eval_step_limit(evalctx *e, const expr_node *n)
{
    return ERR(e, "expr.limit", n->span, "evaluation exceeded %u steps", e->max_steps);
}

static const char *op_name(enum bin_op op)
{
    static const char *const names[] = {"_+_",  "_-_",  "_*_", "_/_",  "_%_", "_==_",
                                        "_!=_", "_<_",  "_<=_", "_>_", "_>=_", "@in"};
    return names[op];
}

expr_value eval_no_overload(evalctx *e, expr_span span, const char *fn, const expr_value *a,
                            const expr_value *b)
{
    if (b == NULL)
        return ERR(e, "expr.no_overload", span, "no matching overload for '%s' applied to (%s)",
                   fn, expr_type_name(a));
    return ERR(e, "expr.no_overload", span, "no matching overload for '%s' applied to (%s, %s)",
               fn, expr_type_name(a), expr_type_name(b));
}

static bool is_map(const expr_value *v) { return v->kind == EXPR_MAP; }

/* Field selection on a value that is not optional. 'opt': .?f semantics. */
/* The span of the field name of a selection (a.b: the 'b'), where errors point. */
static expr_span field_span(const expr_node *n)
{
    expr_span s = n->span;
    if (s.end - s.start > n->name_len)
        s.start = s.end - n->name_len;
    return s;
}

/* Selects field 'sel->name' of 't'; 'opt': .?f semantics. */
static expr_value select_field(evalctx *e, const expr_value *t, const expr_node *sel, bool opt)
{
    const char *name = sel->name;
    if (!is_map(t))
        return ERR(e, "expr.no_such_field", field_span(sel), "type '%s' has no field '%s'",
                   expr_type_name(t), name);
    expr_value key = ev_str(name, sel->name_len), out;
    if (sel->name_nul ? ev_map_find(e->ix, t, &key, &out) : ev_map_find_name(e->ix, t, &key, &out))
        return opt ? ev_optional(e->a, &out) : out;
    if (opt)
        return ev_optional(e->a, NULL);
    return ERR(e, "expr.no_such_key", field_span(sel), "no such key: %s", name);
}

/* select_field(.., true), x.?f and the fields of an optional (the K8ssandra policies' chains
 * x.?a.?b): a JSON map or a small built one looked up here, as eval_select() does. */
static expr_value select_optional(evalctx *e, const expr_value *t, const expr_node *n)
{
    if (t->kind != EXPR_MAP || n->name_nul || !(t->json || t->v.map->n <= EV_SCAN_MAX))
        return select_field(e, t, n, true);
    expr_value out;
    bool found;
    if (t->json) {
        found = ev_json_find(e->ix, t->v.j, n->name, n->name_len, &out);
    } else {
        const expr_map *m = t->v.map;
        uint32_t i = ev_str_key_scan(m->kv, m->n, n->name, n->name_len);
        lookup_steps += i + (i < m->n);
        found = i < m->n;
        if (found)
            out = m->kv[2 * i + 1];
    }
    return ev_optional(e->a, found ? &out : NULL);
}

static bool find_binding(evalctx *e, const char *name, expr_value *out)
{
    for (int i = e->nlocals - 1; i >= 0; i--) {
        if (strcmp(e->locals[i].name, name) == 0) {
            *out = e->locals[i].v;
            return true;
        }
    }
    for (size_t i = 0; e->env && i < e->env->n_vars; i++) {
        if (strcmp(e->env->vars[i].name, name) == 0) {
            *out = e->env->vars[i].value;
            return true;
        }
    }
    if (e->env == NULL || e->env->resolve == NULL)
        return false;
    steps_publish(e);
    bool found = e->env->resolve(e->env->resolve_ctx, name, e->a, out);
    steps_reload(e);
    return found;
}

/* A declaration whose value the caller already holds (variables.x read before, env->memo):
 * read in place, as resolve_decl would answer it, without the call to find_decl() and
 * resolve_decl and the step count's round trip around them. A declaration index of -1 wraps
 * past n_memo. */
static inline __attribute__((always_inline)) bool find_memo(const evalctx *e,
                                                            const expr_node *n, expr_value *out)
{
    const expr_env *env = e->env;
    size_t m = (size_t)n->decl - (env != NULL ? env->n_vars : 0);
    if (env == NULL || m >= env->n_memo || env->memo_state[m] != EXPR_MEMO_READY)
        return false;
    *out = env->memo[m];
    return true;
}

/* A name the checker resolved to a declaration, by its index; false to look it up by name. */
static bool find_decl(evalctx *e, const expr_node *n, expr_value *out)
{
    if (n->decl < 0 || e->env == NULL || e->env->resolve_decl == NULL)
        return false;
    steps_publish(e);
    bool found = e->env->resolve_decl(e->env->resolve_ctx, (size_t)n->decl, e->a, out);
    steps_reload(e);
    return found;
}

/* A selection that names no binding (R_FIELD): every checked one but variables.x, without
 * eval_select()'s test for one. */
static expr_value eval_field(evalctx *e, const expr_node *n)
{
    expr_value t = eval(e, n->a);
    if (ev_is_error(&t))
        return t;
    if (t.kind == EXPR_MAP && !n->optional && !n->name_nul) {
        /* a plain field of a map, the most common node: looked up here, not through
         * select_field() and ev_map_find_name(), which serve every case */
        expr_value out;
        if (t.json) {
            if (ev_json_find(e->ix, t.v.j, n->name, n->name_len, &out))
                return out;
            return ERR(e, "expr.no_such_key", field_span(n), "no such key: %s", n->name);
        }
        const expr_map *m = t.v.map;
        if (m->n <= EV_SCAN_MAX) {
            uint32_t i = ev_str_key_scan(m->kv, m->n, n->name, n->name_len);
            lookup_steps += i + (i < m->n);
            if (i < m->n)
                return m->kv[2 * i + 1];
            return ERR(e, "expr.no_such_key", field_span(n), "no such key: %s", n->name);
        }
    }
    if (t.kind == EXPR_OPTIONAL) { /* optional chaining: none stays none */
        if (t.v.opt == NULL)
            return t;
        return select_optional(e, t.v.opt, n);
    }
    return n->optional ? select_optional(e, &t, n) : select_field(e, &t, n, false);
}

/* A selection of any kind, checked or not: a binding its qualified name names, else the
 * field. */
static expr_value eval_select(evalctx *e, const expr_node *n)
{
    expr_value q;
    if (n->qualified != NULL &&
        (find_memo(e, n, &q) || find_decl(e, n, &q) || find_binding(e, n->qualified, &q)))
        return q;
    return eval_field(e, n);
}

/* A list index: int, uint, or a double with an integral value. */
static bool list_index(const expr_value *k, int64_t *out)
{
    if (k->kind == EXPR_INT) {
        *out = k->v.i;
        return true;
    }
    if (k->kind == EXPR_UINT) {
        *out = k->v.u > INT64_MAX ? -1 : (int64_t)k->v.u;
        return true;
    }
    if (k->kind == EXPR_DOUBLE && k->v.d == trunc(k->v.d) && fabs(k->v.d) < 9.2e18) {
        *out = (int64_t)k->v.d;
        return true;
    }
    return false;
}

static expr_value index_value(evalctx *e, const expr_value *t, const expr_value *k, bool opt,
                              expr_span span)
{
    if (t->kind == EXPR_LIST) {
        int64_t i;
        if (!list_index(k, &i))
            return eval_no_overload(e, span, "_[_]", t, k);
        if (i < 0 || i >= (int64_t)ev_size_ix(e->ix, t)) {
            if (opt)
                return ev_optional(e->a, NULL);
            return ERR(e, "expr.index", span, "index out of bounds: %lld", (long long)i);
        }
        expr_value v = ev_list_at_ix(e->ix, t, (uint32_t)i);
        return opt ? ev_optional(e->a, &v) : v;
    }
    if (is_map(t)) {
        if (k->kind != EXPR_STRING && k->kind != EXPR_INT && k->kind != EXPR_UINT &&
            k->kind != EXPR_BOOL && k->kind != EXPR_DOUBLE)
            return eval_no_overload(e, span, "_[_]", t, k);
        expr_value out;
        if (ev_map_find(e->ix, t, k, &out))
            return opt ? ev_optional(e->a, &out) : out;
        if (opt)
            return ev_optional(e->a, NULL);
        if (k->kind == EXPR_STRING)
            return ERR(e, "expr.no_such_key", span, "no such key: %.*s", (int)k->len, k->v.s);
        return ERR(e, "expr.no_such_key", span, "no such key");
    }
    return eval_no_overload(e, span, "_[_]", t, k);
}

/* The two operands of binary node 'n' into '*x' and '*y', in that order: NULL, or the first
 * error of them. Inline into each operator's function. */
static inline __attribute__((always_inline)) const expr_value *
operands(evalctx *e, const expr_node *n, expr_value *x, expr_value *y)
{
    *x = eval(e, n->a);
    if (ev_is_error(x))
        return x;
    *y = eval(e, n->b);
    return ev_is_error(y) ? y : NULL;
}

static expr_value eval_index(evalctx *e, const expr_node *n)
{
    expr_value t, k;
    const expr_value *err = operands(e, n, &t, &k);
    if (err != NULL)
        return *err;
    /* list[int] of a built list, the policies' rows (d[2], v[0][3]): answered here, without
     * the calls index_value() makes for every kind of list, map and key */
    if (t.kind == EXPR_LIST && !t.json && k.kind == EXPR_INT && !n->optional && k.v.i >= 0 &&
        (uint64_t)k.v.i < t.v.list->n)
        return t.v.list->items[k.v.i];
    if (t.kind == EXPR_OPTIONAL) {
        if (t.v.opt == NULL)
            return t;
        return index_value(e, t.v.opt, &k, true, n->span);
    }
    return index_value(e, &t, &k, n->optional, n->span);
}

static expr_value eval_has(evalctx *e, const expr_node *n)
{
    const expr_node *sel = n->a;
    expr_value t = eval(e, sel->a);
    if (ev_is_error(&t))
        return t;
    if (t.kind == EXPR_OPTIONAL) {
        if (t.v.opt == NULL)
            return ev_bool(false);
        t = *t.v.opt;
    }
    if (!is_map(&t))
        return ERR(e, "expr.no_such_field", n->span, "has() on type '%s', which has no fields",
                   expr_type_name(&t));
    expr_value key = ev_str(sel->name, sel->name_len), out;
    return ev_bool(sel->name_nul ? ev_map_find(e->ix, &t, &key, &out)
                                 : ev_map_find_name(e->ix, &t, &key, &out));
}

static expr_value lookup(evalctx *e, const expr_node *n)
{
    expr_value v; /* comprehension variables never get here: eval() answers them */
    if (n->is_type)
        return n->lit;
    if (n->decl >= 0 && e->env != NULL && e->env->vars_are_decls &&
        (size_t)n->decl < e->env->n_vars)
        return e->env->vars[n->decl].value;
    if (find_memo(e, n, &v) || find_decl(e, n, &v) || find_binding(e, n->name, &v))
        return v;
    return ERR(e, "expr.no_such_attribute", n->span, "no value for '%s'", n->name);
}

/* A folded literal (check.c, fold_literal): its value, for the steps its entries cost. */
static expr_value folded(evalctx *e, const expr_node *n)
{
    if (charge(e, (uint64_t)n->fold_steps * EXPR_SCAN_PER_STEP))
        return eval_step_limit(e, n);
    return n->lit;
}

static expr_value eval_list(evalctx *e, const expr_node *n)
{
    if (n->folded)
        return folded(e, n);
    expr_list *l = ev_list_new(e->a, n->nargs);
    if (l == NULL)
        return ERR(e, "expr.limit", n->span, "out of memory");
    uint32_t k = 0;
    for (uint32_t i = 0; i < n->nargs; i++) {
        expr_value v = eval(e, n->args[i]);
        if (ev_is_error(&v))
            return v;
        if (n->opt[i]) {
            if (v.kind != EXPR_OPTIONAL)
                return ERR(e, "expr.no_overload", n->args[i]->span,
                           "an optional element (?x) must be an optional, not %s", expr_type_name(&v));
            if (v.v.opt == NULL)
                continue;
            v = *v.v.opt;
        }
        l->items[k++] = v;
    }
    l->n = k;
    expr_value out = {.kind = EXPR_LIST};
    out.v.list = l;
    return out;
}

static expr_value eval_map(evalctx *e, const expr_node *n)
{
    if (n->folded)
        return folded(e, n);
    expr_map *m = ev_map_new(e->a, n->nargs / 2);
    if (m == NULL)
        return ERR(e, "expr.limit", n->span, "out of memory");
    m->n = 0;
    expr_value out = {.kind = EXPR_MAP};
    out.v.map = m;
    for (uint32_t i = 0; i + 1 < n->nargs; i += 2) {
        expr_value k = eval(e, n->args[i]);
        if (ev_is_error(&k))
            return k;
        expr_value v = eval(e, n->args[i + 1]);
        if (ev_is_error(&v))
            return v;
        if (k.kind != EXPR_STRING && k.kind != EXPR_INT && k.kind != EXPR_UINT && k.kind != EXPR_BOOL)
            return ERR(e, "expr.no_overload", n->args[i]->span, "unsupported map key type: %s",
                       expr_type_name(&k));
        if (n->opt[i / 2]) {
            if (v.kind != EXPR_OPTIONAL)
                return ERR(e, "expr.no_overload", n->args[i + 1]->span,
                           "an optional entry (?k: v) needs an optional value, not %s",
                           expr_type_name(&v));
            if (v.v.opt == NULL)
                continue;
            v = *v.v.opt;
        }
        expr_value dup; /* no index: the map is still growing */
        if (!n->distinct_keys && ev_map_find(NULL, &out, &k, &dup))
            return ERR(e, "expr.duplicate_key", n->args[i]->span, "Failed with repeated key");
        m->kv[2 * m->n] = k;
        m->kv[2 * m->n + 1] = v;
        m->n++;
    }
    return out;
}

static expr_value eval_logic(evalctx *e, const expr_node *n)
{
    bool is_and = n->op == N_AND;
    expr_value l = eval(e, n->a);
    if (l.kind == EXPR_BOOL && l.v.b != is_and)
        return l; /* false && x, true || x */
    expr_value r = eval(e, n->b);
    if (r.kind == EXPR_BOOL && r.v.b != is_and)
        return r; /* x && false, x || true: decides even when x is an error */
    if (ev_is_error(&l))
        return l;
    if (ev_is_error(&r))
        return r;
    if (l.kind != EXPR_BOOL || r.kind != EXPR_BOOL)
        return eval_no_overload(e, n->span, is_and ? "_&&_" : "_||_", &l, &r);
    return ev_bool(is_and);
}

static expr_value arith_int(evalctx *e, enum bin_op op, int64_t x, int64_t y, expr_span span)
{
    int64_t r;
    bool over = false;
    switch (op) {
    case B_ADD: over = __builtin_add_overflow(x, y, &r); break;
    case B_SUB: over = __builtin_sub_overflow(x, y, &r); break;
    case B_MUL: over = __builtin_mul_overflow(x, y, &r); break;
    case B_DIV:
    case B_MOD:
        if (y == 0)
            return ERR(e, "expr.div_zero", span, op == B_DIV ? "division by zero" : "modulus by zero");
        if (x == INT64_MIN && y == -1)
            over = true;
        else
            r = op == B_DIV ? x / y : x % y;
        break;
    default: r = 0; break;
    }
    if (over)
        return ERR(e, "expr.overflow", span, "integer overflow");
    return ev_int(r);
}

static expr_value arith_uint(evalctx *e, enum bin_op op, uint64_t x, uint64_t y, expr_span span)
{
    uint64_t r;
    bool over = false;
    switch (op) {
    case B_ADD: over = __builtin_add_overflow(x, y, &r); break;
    case B_SUB: over = __builtin_sub_overflow(x, y, &r); break;
    case B_MUL: over = __builtin_mul_overflow(x, y, &r); break;
    case B_DIV:
    case B_MOD:
        if (y == 0)
            return ERR(e, "expr.div_zero", span, op == B_DIV ? "division by zero" : "modulus by zero");
        r = op == B_DIV ? x / y : x % y;
        break;
    default: r = 0; break;
    }
    if (over)
        return ERR(e, "expr.overflow", span, "unsigned integer overflow");
    return ev_uint(r);
}

/* Concatenates two strings, bytes or lists. */
static expr_value concat(evalctx *e, const expr_value *x, const expr_value *y, expr_span span)
{
    if (x->kind == EXPR_LIST) {
        uint32_t n = ev_size_ix(e->ix, x), m = ev_size_ix(e->ix, y);
        if ((uint64_t)n + m > EXPR_MAX_ELEMENTS)
            return ERR(e, "expr.limit", span, "list larger than %u elements", EXPR_MAX_ELEMENTS);
        if (charge(e, (uint64_t)n + m))
            return ERR(e, "expr.limit", span, "evaluation exceeded %u steps", e->max_steps);
        expr_list *l = ev_list_new(e->a, n + m);
        if (l == NULL)
            return ERR(e, "expr.limit", span, "out of memory");
        ev_iter it;
        expr_value el;
        uint32_t k = 0;
        ev_iter_init(&it, x);
        while (ev_iter_next(&it, NULL, &el))
            l->items[k++] = el;
        ev_iter_init(&it, y);
        while (ev_iter_next(&it, NULL, &el))
            l->items[k++] = el;
        expr_value v = {.kind = EXPR_LIST};
        v.v.list = l;
        return v;
    }
    if ((uint64_t)x->len + y->len > EXPR_MAX_STRING)
        return ERR(e, "expr.limit", span, "string larger than %u bytes", EXPR_MAX_STRING);
    char *s = arena_alloc(e->a, (size_t)x->len + y->len + 1);
    if (s == NULL)
        return ERR(e, "expr.limit", span, "out of memory");
    memcpy(s, x->v.s, x->len);
    memcpy(s + x->len, y->v.s, y->len);
    s[x->len + y->len] = '\0';
    expr_value v = *x;
    v.v.s = s;
    v.len = x->len + y->len;
    return v;
}

static expr_value eval_in(evalctx *e, const expr_value *x, const expr_value *c, expr_span span)
{
    if (c->kind == EXPR_LIST) {
        ev_iter it;
        expr_value el;
        uint64_t seen = 0;
        bool found = false;
        ev_iter_init(&it, c);
        while (!found && ev_iter_next(&it, NULL, &el)) {
            seen++;
            found = ev_equal(e->ix, x, &el);
        }
        if (charge(e, seen))
            return ERR(e, "expr.limit", span, "evaluation exceeded %u steps", e->max_steps);
        return ev_bool(found);
    }
    if (is_map(c)) {
        expr_value out;
        return ev_bool(ev_map_find(e->ix, c, x, &out));
    }
    return eval_no_overload(e, span, "@in", x, c);
}

/* == and != on two lists or two maps: element by element, counted by the size of one side. */
__attribute__((noinline)) static expr_value aggregate_equal(evalctx *e, const expr_node *n,
                                                             const expr_value *x,
                                                             const expr_value *y, bool eq)
{
    if (charge(e, ev_size_ix(e->ix, x)))
        return ERR(e, "expr.limit", n->span, "evaluation exceeded %u steps", e->max_steps);
    return ev_bool(ev_equal(e->ix, x, y) == eq);
}

/* x == y ('eq') or x != y: a string against a string (d[3] == 'file', v[0] != 'deny'), the
 * most common comparison, and int against int (size(l) == 0, r[0] == 1) compared here rather
 * than through ev_equal()'s checks of every kind. */
static inline __attribute__((always_inline)) expr_value
equality(evalctx *e, const expr_node *n, const expr_value *x, const expr_value *y, bool eq)
{
    if (x->kind == EXPR_STRING && y->kind == EXPR_STRING)
        return ev_bool((x->len == y->len && ev_bytes_equal(x->v.s, y->v.s, x->len)) == eq);
    if (x->kind == EXPR_INT && y->kind == EXPR_INT)
        return ev_bool((x->v.i == y->v.i) == eq);
    if ((x->kind == EXPR_LIST || x->kind == EXPR_MAP) && x->kind == y->kind)
        return aggregate_equal(e, n, x, y, eq);
    return ev_bool(ev_equal(e->ix, x, y) == eq);
}

static expr_value eval_bin(evalctx *e, const expr_node *n)
{
    expr_value x, y;
    const expr_value *err = operands(e, n, &x, &y);
    if (err != NULL)
        return *err;
    enum bin_op op = (enum bin_op)n->sub;
    switch (op) {
    case B_EQ:
    case B_NE:
        return equality(e, n, &x, &y, op == B_EQ);
    case B_IN: return eval_in(e, &x, &y, n->span);
    case B_LT: case B_LE: case B_GT: case B_GE: {
        if (x.kind == EXPR_INT && y.kind == EXPR_INT) /* size(l) > 0, the commonest order */
            return ev_bool(op == B_LT ? x.v.i < y.v.i : op == B_LE ? x.v.i <= y.v.i
                           : op == B_GT ? x.v.i > y.v.i : x.v.i >= y.v.i);
        bool ok;
        int c = ev_compare(&x, &y, &ok);
        if (!ok) {
            bool nan = (x.kind == EXPR_DOUBLE && isnan(x.v.d)) || (y.kind == EXPR_DOUBLE && isnan(y.v.d));
            if (nan)
                return ev_bool(false);
            return eval_no_overload(e, n->span, op_name(op), &x, &y);
        }
        return ev_bool(op == B_LT ? c < 0 : op == B_LE ? c <= 0 : op == B_GT ? c > 0 : c >= 0);
    }
    default: break;
    }
    if (x.kind != y.kind)
        return eval_no_overload(e, n->span, op_name(op), &x, &y);
    switch (x.kind) {
    case EXPR_INT: return arith_int(e, op, x.v.i, y.v.i, n->span);
    case EXPR_UINT: return arith_uint(e, op, x.v.u, y.v.u, n->span);
    case EXPR_DOUBLE:
        switch (op) {
        case B_ADD: return ev_double(x.v.d + y.v.d);
        case B_SUB: return ev_double(x.v.d - y.v.d);
        case B_MUL: return ev_double(x.v.d * y.v.d);
        case B_DIV: return ev_double(x.v.d / y.v.d);
        default: break;
        }
        break;
    case EXPR_STRING:
    case EXPR_BYTES:
    case EXPR_LIST:
        if (op == B_ADD)
            return concat(e, &x, &y, n->span);
        break;
    default: break;
    }
    return eval_no_overload(e, n->span, op_name(op), &x, &y);
}

static expr_value eval_unary(evalctx *e, const expr_node *n)
{
    expr_value x = eval(e, n->a);
    if (ev_is_error(&x))
        return x;
    if (n->op == N_NOT) {
        if (x.kind != EXPR_BOOL)
            return eval_no_overload(e, n->span, "!_", &x, NULL);
        return ev_bool(!x.v.b);
    }
    if (x.kind == EXPR_INT) {
        if (x.v.i == INT64_MIN)
            return ERR(e, "expr.overflow", n->span, "integer overflow");
        return ev_int(-x.v.i);
    }
    if (x.kind == EXPR_DOUBLE)
        return ev_double(-x.v.d);
    return eval_no_overload(e, n->span, "-_", &x, NULL);
}

static expr_value eval_cond(evalctx *e, const expr_node *n)
{
    expr_value c = eval(e, n->a);
    if (ev_is_error(&c))
        return c;
    if (c.kind != EXPR_BOOL)
        return eval_no_overload(e, n->a->span, "_?_:_", &c, NULL);
    return eval(e, c.v.b ? n->b : n->c);
}

/* x.?f.orValue(d) (and x.?a.f.orValue(d), chained): the field, else d, without making the
 * optional between them, the most common pair of nodes in the shipped policies. The same
 * steps, values and errors as evaluating the select and then the call: the receiver first
 * (its error wins), then d (its error wins even when the field is there), and a receiver
 * that is not optional after all (x.f.orValue(d)) goes on to the call's no-overload error. */
static expr_value eval_or_value(evalctx *e, const expr_node *n, expr_value *recv, bool *done)
{
    /* '*done' false: 'recv' holds the receiver, and the call goes on as any other */
    const expr_node *sel = n->a;
    *done = true;
    if (--e->left < 0)
        return eval_step_limit(e, sel);
    expr_value t = eval(e, sel->a);
    if (ev_is_error(&t))
        return t;
    bool chained = t.kind == EXPR_OPTIONAL, has = false;
    expr_value found;
    if (chained && t.v.opt == NULL) {
        /* none stays none: the default */
    } else if ((chained || sel->optional) && is_map(chained ? t.v.opt : &t)) {
        const expr_value *m = chained ? t.v.opt : &t;
        expr_value key = ev_str(sel->name, sel->name_len);
        has = sel->name_nul ? ev_map_find(e->ix, m, &key, &found)
                            : ev_map_find_name(e->ix, m, &key, &found);
    } else {
        /* not a map (an error), or not optional: what the select gives, for the call */
        *recv = select_field(e, chained ? t.v.opt : &t, sel, chained || sel->optional);
        *done = ev_is_error(recv);
        return *recv;
    }
    expr_value d = eval(e, n->args[0]);
    if (ev_is_error(&d))
        return d;
    return has ? found : d;
}

/* matches() of 's' with the pattern the checker compiled for 'n'. */
__attribute__((noinline)) static expr_value match_literal(evalctx *e, const expr_node *n,
                                                          const expr_value *s)
{
    if (s->kind != EXPR_STRING)
        return eval_no_overload(e, n->span, "matches", s, NULL);
    char err[256];
    int m = expr_regex_match(n->re, s->v.s, s->len, e->a, err, sizeof err);
    if (m < 0)
        return ERR(e, "expr.limit", n->span, "regular expression: %s", err);
    return ev_bool(m == 1);
}

/* s.matches('literal') and matches(s, 'literal') (R_MATCH): the string and the pattern's
 * literal evaluated in eval_call()'s order, then the pattern the checker compiled. */
static expr_value eval_match(evalctx *e, const expr_node *n)
{
    expr_value s = eval(e, n->member ? n->a : n->args[0]);
    if (ev_is_error(&s))
        return s;
    expr_value pat = eval(e, n->args[n->nargs - 1]);
    if (ev_is_error(&pat))
        return pat;
    return match_literal(e, n, &s);
}

/* The receiver of call 'n' (when it has one) into '*recv' and its arguments into 'args', in
 * that order: NULL, or the first error among them. Inline into each caller, whose argument
 * arrays differ in size. */
static inline __attribute__((always_inline)) const expr_value *
call_operands(evalctx *e, const expr_node *n, expr_value *recv, expr_value *args)
{
    if (n->member) {
        *recv = eval(e, n->a);
        if (ev_is_error(recv))
            return recv;
    }
    for (uint32_t i = 0; i < n->nargs; i++) {
        args[i] = eval(e, n->args[i]);
        if (ev_is_error(&args[i]))
            return &args[i];
    }
    return NULL;
}

/* Calls the function of 'n' with its evaluated receiver (NULL: none) and arguments. */
static inline __attribute__((always_inline)) expr_value
call_fn(evalctx *e, const expr_node *n, const expr_value *recv, const expr_value *args,
        uint32_t nargs)
{
    expr_call c = {.a = e->a, .span = n->span, .ctx = e->env ? e->env->fn_ctx : NULL,
                   .index = e->ix};
    return n->fn->fn(&c, recv, args, nargs);
}

/* A call of a function of the table with at most R_CALL_ARGS arguments and no pattern
 * compiled at load time (R_CALL), nearly every call: without eval_call()'s tests of which call
 * it is, in a frame without its sixteen arguments and its message buffer for regex errors (the
 * stack a review's nested calls span: cgcold.sh counts its lines written). */
static expr_value eval_call_small(evalctx *e, const expr_node *n)
{
    expr_value recv, args[R_CALL_ARGS];
    const expr_value *err = call_operands(e, n, &recv, args);
    if (err != NULL)
        return *err;
    return call_fn(e, n, n->member ? &recv : NULL, args, n->nargs);
}

static expr_value eval_call(evalctx *e, const expr_node *n)
{
    expr_value recv, args[16];
    if (n->nargs > 16)
        return ERR(e, "expr.limit", n->span, "too many arguments");
    /* x.?f.orValue(d) runs through eval_or_value_node() (R_OR_VALUE) */
    const expr_value *err = call_operands(e, n, &recv, args);
    if (err != NULL)
        return *err;
    if (n->re != NULL) /* matches() with a pattern compiled at load time */
        return match_literal(e, n, n->member ? &recv : &args[0]);
    return call_fn(e, n, n->member ? &recv : NULL, args, n->nargs);
}

/* x.?f.orValue(d) whose receiver is not optional after all: the call, with its receiver
 * evaluated, as eval_call() makes it (the call's no-overload error, for orValue). */
__attribute__((noinline, cold)) static expr_value call_on(evalctx *e, const expr_node *n,
                                                          const expr_value *recv)
{
    expr_value arg = eval(e, n->args[0]); /* or_value: one argument (check.c) */
    if (ev_is_error(&arg))
        return arg;
    return call_fn(e, n, recv, &arg, 1);
}

/* x.?f.orValue(d) (R_OR_VALUE): eval_or_value() straight from eval(), without eval_call()'s
 * tests of which call it is and the frame of its argument array. */
static expr_value eval_or_value_node(evalctx *e, const expr_node *n)
{
    expr_value recv;
    bool done = false;
    expr_value v = eval_or_value(e, n, &recv, &done);
    if (done)
        return v;
    return call_on(e, n, &recv);
}

/* == and != (R_EQ): eval_bin()'s case of them, without its switch over every operator. */
static expr_value eval_eq(evalctx *e, const expr_node *n)
{
    expr_value x, y;
    const expr_value *err = operands(e, n, &x, &y);
    if (err != NULL)
        return *err;
    return equality(e, n, &x, &y, n->sub == B_EQ);
}

/* A selection that may name a binding, not in the memo: the declaration, the binding by
 * name, else the field of its operand, as eval_select() gives them. */
__attribute__((noinline)) static expr_value qualified_rest(evalctx *e, const expr_node *n)
{
    expr_value q;
    if (find_decl(e, n, &q) || find_binding(e, n->qualified, &q))
        return q;
    return eval_field(e, n);
}

/* variables.x and the other selections that may name a binding (R_QUALIFIED): a value the
 * caller already holds (a variable read before) answered without a saved register. */
static expr_value eval_qualified(evalctx *e, const expr_node *n)
{
    expr_value q;
    if (find_memo(e, n, &q))
        return q;
    return qualified_rest(e, n);
}

/* A comprehension variable (R_LOCAL), for a root evaluated by expr_eval() (eval() answers the
 * others in place). */
static expr_value eval_local(evalctx *e, const expr_node *n)
{
    return e->locals[n->local].v;
}

static expr_value eval_lit(evalctx *e, const expr_node *n)
{
    if (n->int_overflow)
        return ERR(e, "expr.overflow", n->span, "int literal out of range");
    return n->lit;
}

const node_fn eval_node_fns[R_COUNT] = {
    [R_LIT] = eval_lit,
    [R_LOCAL] = eval_local,
    [R_KIND + N_LIT] = eval_lit,     [R_KIND + N_IDENT] = lookup,
    [R_KIND + N_SELECT] = eval_select, [R_KIND + N_INDEX] = eval_index,
    [R_KIND + N_CALL] = eval_call,   [R_KIND + N_LIST] = eval_list,
    [R_KIND + N_MAP] = eval_map,     [R_KIND + N_NOT] = eval_unary,
    [R_KIND + N_NEG] = eval_unary,   [R_KIND + N_BIN] = eval_bin,
    [R_KIND + N_AND] = eval_logic,   [R_KIND + N_OR] = eval_logic,
    [R_KIND + N_COND] = eval_cond,   [R_KIND + N_HAS] = eval_has,
    [R_KIND + N_COMP] = eval_comp,
    [R_QUALIFIED] = eval_qualified,  [R_EQ] = eval_eq,
    [R_OR_VALUE] = eval_or_value_node, [R_BIND] = eval_bind,
    [R_CALL] = eval_call_small,      [R_MATCH] = eval_match,
    [R_FIELD] = eval_field,
};

const char *expr_source(const expr_prog *p)
{
    return p->src;
}

expr_value expr_eval(const expr_prog *p, const expr_env *env, arena *a)
{
    /* not "= {...}": that would zero the 2.4 KiB of locals on every evaluation, and a policy
     * evaluates dozens of expressions per review; only locals[0..nlocals) are ever read */
    evalctx e;
    e.a = a;
    e.env = env;
    e.budget = env ? env->budget : NULL;
    uint32_t *outer = NULL;
    if (e.budget != NULL) {
        /* inside another evaluation of the budget (a variable it asked for): go on from its
         * count, which it published where 'live' points before asking; else from the
         * budget's */
        outer = e.budget->live;
        e.steps = outer ? *outer : e.budget->used;
        e.max_steps = e.budget->max ? e.budget->max : EXPR_MAX_STEPS;
        e.budget->live = &e.steps;
    } else {
        e.steps = 0; /* the count the evaluation starts from */
        e.max_steps = env && env->max_steps ? env->max_steps : EXPR_MAX_STEPS;
    }
    steps_reload(&e);
    e.nlocals = 0;
    e.ix = env && env->index ? env->index : &e.own;
    if (e.ix == &e.own)
        expr_index_init(&e.own, a);
    /* eval()'s own steps, minus its fast paths: the root is never a literal worth it nor a
     * comprehension variable, and inlined here they would read the unset locals */
    expr_value v = --e.left < 0 ? eval_step_limit(&e, p->root)
                                : eval_node_fns[p->root->run](&e, p->root);
    if (e.budget != NULL) { /* the steps go back to the evaluation around, or the budget */
        steps_publish(&e);
        e.budget->live = outer;
        if (outer)
            *outer = e.steps;
        e.budget->used = e.steps;
    }
    return v;
}
