/* eval.c - tree-walking evaluator for checked expressions.
 *
 * Runs an expr_prog against an environment of named bindings. It never fails hard: runtime
 * problems become EXPR_ERROR values carrying the span of the failing node. Errors
 * propagate left to right, except where CEL says otherwise: && and || absorb an error when
 * the other side decides, and so do all() and exists(). Every node evaluated costs a step;
 * past the budget the result is an expr.limit error. Allocates only from the caller's arena;
 * recursion is bounded by the parser's height cap. */
#include "expr_int.h"

#include <math.h>
#include <string.h>

#include "re.h"

typedef struct local {
    const char *name;
    expr_value v;
} local;

typedef struct evalctx {
    arena *a;
    const expr_env *env;
    uint32_t steps, max_steps;
    expr_index *ix; /* the request's (env->index), else 'own' */
    expr_budget *budget; /* env->budget, or NULL */
    local locals[EXPR_MAX_DEPTH + 1];
    int nlocals;
    expr_index own;
} evalctx;

#define ERR(e, code, span, ...) expr_error_new((e)->a, code, span, __VA_ARGS__)

typedef expr_value (*node_fn)(evalctx *e, const expr_node *n);
static const node_fn node_fns[N_COMP + 1]; /* by enum node_op; defined at the end */

__attribute__((noinline, cold)) static expr_value step_limit(evalctx *e, const expr_node *n)
{
    return ERR(e, "expr.limit", n->span, "evaluation exceeded %u steps", e->max_steps);
}

/* Evaluates 'n'. Inlined at every call site, so that each site has its own branches: literals
 * and comprehension variables (a third of the nodes evaluated) are answered in place, and the
 * others go through that site's own indirect call, which the CPU predicts far better than
 * one shared switch over every kind of node (-8% per review on the shipped policies). */
static inline __attribute__((always_inline)) expr_value eval(evalctx *e, const expr_node *n)
{
    if (++e->steps > e->max_steps)
        return step_limit(e, n);
    if (n->op == N_LIT && !n->int_overflow)
        return n->lit;
    if (n->op == N_IDENT && n->local >= 0)
        return e->locals[n->local].v;
    return node_fns[n->op](e, n);
}

/* Counts 'n' elements an operator scanned or copied against the step budget, one step per
 * EXPR_SCAN_PER_STEP: `x in list`, list `+` and `==` cost O(n), and inside a comprehension over
 * the same list O(n^2), which counting nodes alone would not see. True when over budget. */
static bool charge(evalctx *e, uint64_t n)
{
    uint64_t s = e->steps + n / EXPR_SCAN_PER_STEP;
    e->steps = s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
    return e->steps > e->max_steps;
}

static const char *op_name(enum bin_op op)
{
    static const char *const names[] = {"_+_",  "_-_",  "_*_", "_/_",  "_%_", "_==_",
                                        "_!=_", "_<_",  "_<=_", "_>_", "_>=_", "@in"};
    return names[op];
}

static expr_value no_overload(evalctx *e, expr_span span, const char *fn, const expr_value *a,
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
    expr_span span = field_span(sel);
    if (!is_map(t))
        return ERR(e, "expr.no_such_field", span, "type '%s' has no field '%s'",
                   expr_type_name(t), name);
    expr_value key = ev_str(name, sel->name_len), out;
    if (sel->name_nul ? ev_map_find(e->ix, t, &key, &out) : ev_map_find_name(e->ix, t, &key, &out))
        return opt ? ev_optional(e->a, &out) : out;
    if (opt)
        return ev_optional(e->a, NULL);
    return ERR(e, "expr.no_such_key", span, "no such key: %s", name);
}

static bool find_binding(const evalctx *e, const char *name, expr_value *out)
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
    return e->env && e->env->resolve && e->env->resolve(e->env->resolve_ctx, name, e->a, out);
}

/* A name the checker resolved to a declaration, by its index; false to look it up by name. */
static bool find_decl(const evalctx *e, const expr_node *n, expr_value *out)
{
    return n->decl >= 0 && e->env && e->env->resolve_decl &&
           e->env->resolve_decl(e->env->resolve_ctx, (size_t)n->decl, e->a, out);
}

static expr_value eval_select(evalctx *e, const expr_node *n)
{
    expr_value q;
    if (n->qualified != NULL && (find_decl(e, n, &q) || find_binding(e, n->qualified, &q)))
        return q;
    expr_value t = eval(e, n->a);
    if (ev_is_error(&t))
        return t;
    if (t.kind == EXPR_OPTIONAL) { /* optional chaining: none stays none */
        if (t.v.opt == NULL)
            return t;
        return select_field(e, t.v.opt, n, true);
    }
    return select_field(e, &t, n, n->optional);
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
            return no_overload(e, span, "_[_]", t, k);
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
            return no_overload(e, span, "_[_]", t, k);
        expr_value out;
        if (ev_map_find(e->ix, t, k, &out))
            return opt ? ev_optional(e->a, &out) : out;
        if (opt)
            return ev_optional(e->a, NULL);
        if (k->kind == EXPR_STRING)
            return ERR(e, "expr.no_such_key", span, "no such key: %.*s", (int)k->len, k->v.s);
        return ERR(e, "expr.no_such_key", span, "no such key");
    }
    return no_overload(e, span, "_[_]", t, k);
}

static expr_value eval_index(evalctx *e, const expr_node *n)
{
    expr_value t = eval(e, n->a);
    if (ev_is_error(&t))
        return t;
    expr_value k = eval(e, n->b);
    if (ev_is_error(&k))
        return k;
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
    if (find_decl(e, n, &v) || find_binding(e, n->name, &v))
        return v;
    return ERR(e, "expr.no_such_attribute", n->span, "no value for '%s'", n->name);
}

/* A folded literal (check.c, fold_literal): its value, for the steps its entries cost. */
static expr_value folded(evalctx *e, const expr_node *n)
{
    if (charge(e, (uint64_t)n->fold_steps * EXPR_SCAN_PER_STEP))
        return step_limit(e, n);
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
        return no_overload(e, n->span, is_and ? "_&&_" : "_||_", &l, &r);
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
    return no_overload(e, span, "@in", x, c);
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

static expr_value eval_bin(evalctx *e, const expr_node *n)
{
    expr_value x = eval(e, n->a);
    if (ev_is_error(&x))
        return x;
    expr_value y = eval(e, n->b);
    if (ev_is_error(&y))
        return y;
    enum bin_op op = (enum bin_op)n->sub;
    switch (op) {
    case B_EQ:
    case B_NE:
        if ((x.kind == EXPR_LIST || x.kind == EXPR_MAP) && x.kind == y.kind)
            return aggregate_equal(e, n, &x, &y, op == B_EQ);
        return ev_bool(ev_equal(e->ix, &x, &y) == (op == B_EQ));
    case B_IN: return eval_in(e, &x, &y, n->span);
    case B_LT: case B_LE: case B_GT: case B_GE: {
        bool ok;
        int c = ev_compare(&x, &y, &ok);
        if (!ok) {
            bool nan = (x.kind == EXPR_DOUBLE && isnan(x.v.d)) || (y.kind == EXPR_DOUBLE && isnan(y.v.d));
            if (nan)
                return ev_bool(false);
            return no_overload(e, n->span, op_name(op), &x, &y);
        }
        return ev_bool(op == B_LT ? c < 0 : op == B_LE ? c <= 0 : op == B_GT ? c > 0 : c >= 0);
    }
    default: break;
    }
    if (x.kind != y.kind)
        return no_overload(e, n->span, op_name(op), &x, &y);
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
    return no_overload(e, n->span, op_name(op), &x, &y);
}

static expr_value eval_unary(evalctx *e, const expr_node *n)
{
    expr_value x = eval(e, n->a);
    if (ev_is_error(&x))
        return x;
    if (n->op == N_NOT) {
        if (x.kind != EXPR_BOOL)
            return no_overload(e, n->span, "!_", &x, NULL);
        return ev_bool(!x.v.b);
    }
    if (x.kind == EXPR_INT) {
        if (x.v.i == INT64_MIN)
            return ERR(e, "expr.overflow", n->span, "integer overflow");
        return ev_int(-x.v.i);
    }
    if (x.kind == EXPR_DOUBLE)
        return ev_double(-x.v.d);
    return no_overload(e, n->span, "-_", &x, NULL);
}

static expr_value eval_cond(evalctx *e, const expr_node *n)
{
    expr_value c = eval(e, n->a);
    if (ev_is_error(&c))
        return c;
    if (c.kind != EXPR_BOOL)
        return no_overload(e, n->a->span, "_?_:_", &c, NULL);
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
    if (++e->steps > e->max_steps)
        return step_limit(e, sel);
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

static expr_value eval_call(evalctx *e, const expr_node *n)
{
    expr_value recv, args[16];
    if (n->nargs > 16)
        return ERR(e, "expr.limit", n->span, "too many arguments");
    if (n->or_value) {
        bool done = false;
        expr_value v = eval_or_value(e, n, &recv, &done);
        if (done)
            return v;
        /* recv holds the plain select's value: evaluate the argument and call */
    } else if (n->member) {
        recv = eval(e, n->a);
        if (ev_is_error(&recv))
            return recv;
    }
    for (uint32_t i = 0; i < n->nargs; i++) {
        args[i] = eval(e, n->args[i]);
        if (ev_is_error(&args[i]))
            return args[i];
    }
    if (n->re != NULL) { /* matches() with a pattern compiled at load time */
        const expr_value *s = n->member ? &recv : &args[0];
        if (s->kind != EXPR_STRING)
            return no_overload(e, n->span, "matches", s, NULL);
        char err[256];
        int m = expr_regex_match(n->re, s->v.s, s->len, e->a, err, sizeof err);
        if (m < 0)
            return ERR(e, "expr.limit", n->span, "regular expression: %s", err);
        return ev_bool(m == 1);
    }
    expr_call c = {.a = e->a, .span = n->span, .ctx = e->env ? e->env->fn_ctx : NULL,
                   .index = e->ix};
    return n->fn->fn(&c, n->member ? &recv : NULL, args, n->nargs);
}

/* Binds the comprehension variable; returns false when nesting is too deep. */
static bool push_local(evalctx *e, const char *name)
{
    if (e->nlocals > EXPR_MAX_DEPTH)
        return false;
    e->locals[e->nlocals].name = name;
    e->locals[e->nlocals].v = ev_null();
    e->nlocals++;
    return true;
}

static expr_value eval_opt_comp(evalctx *e, const expr_node *n, const expr_value *r)
{
    if (r->kind != EXPR_OPTIONAL)
        return no_overload(e, n->span, n->sub == M_OPT_MAP ? "optMap" : "optFlatMap", r, NULL);
    if (r->v.opt == NULL)
        return *r;
    e->locals[e->nlocals - 1].v = *r->v.opt;
    expr_value v = eval(e, n->b);
    if (ev_is_error(&v) || n->sub == M_OPT_FLAT_MAP) {
        if (!ev_is_error(&v) && v.kind != EXPR_OPTIONAL)
            return ERR(e, "expr.no_overload", n->span, "optFlatMap() needs an optional result");
        return v;
    }
    return ev_optional(e->a, &v);
}

/* One step of a comprehension after its predicate 'p' (all, exists, existsOne, or the filter
 * of map, filter and the transforms): PRED_KEEP when the element goes on to be kept or
 * transformed, PRED_NEXT when the step is over, PRED_DONE when *out is the comprehension's
 * answer. all() and exists() keep going past an error that a later element may make moot,
 * and give the first one at the end (*err); existsOne() counts in *count. */
enum pred_step { PRED_KEEP, PRED_NEXT, PRED_DONE };

static inline __attribute__((always_inline)) enum pred_step
pred_step(evalctx *e, const expr_node *n, const expr_value *p, expr_value *err, uint32_t *count,
          expr_value *out)
{
    if (n->sub == M_ALL || n->sub == M_EXISTS) {
        bool decisive = n->sub == M_EXISTS;
        if (p->kind == EXPR_BOOL && p->v.b == decisive) {
            *out = ev_bool(decisive);
            return PRED_DONE;
        }
        if (p->kind != EXPR_BOOL && err->kind != EXPR_ERROR)
            *err = ev_is_error(p) ? *p
                                  : no_overload(e, n->b->span,
                                                n->sub == M_ALL ? "all" : "exists", p, NULL);
        return PRED_NEXT;
    }
    if (ev_is_error(p) || p->kind != EXPR_BOOL) {
        *out = ev_is_error(p) ? *p : no_overload(e, n->b->span, "predicate", p, NULL);
        return PRED_DONE;
    }
    if (n->sub == M_EXISTS_ONE) {
        *count += p->v.b;
        return PRED_NEXT;
    }
    return p->v.b ? PRED_KEEP : PRED_NEXT;
}

/* The answer of all(), exists() and existsOne() once every element is seen. */
static expr_value quantifier_answer(const expr_node *n, const expr_value *err, uint32_t count)
{
    if (n->sub == M_EXISTS_ONE)
        return ev_bool(count == 1);
    return err->kind == EXPR_ERROR ? *err : ev_bool(n->sub == M_ALL);
}

static expr_value comp_loop(evalctx *e, const expr_node *n, const expr_value *r)
{
    uint32_t len = ev_size(r), count = 0, kept = 0;
    bool is_list = r->kind == EXPR_LIST;
    expr_value err = {.kind = EXPR_NULL}, key, el;
    ev_iter it;
    ev_iter_init(&it, r);
    expr_list *out = NULL;
    if (n->sub == M_MAP || n->sub == M_FILTER) {
        out = ev_list_new(e->a, len);
        if (out == NULL)
            return ERR(e, "expr.limit", n->span, "out of memory");
    }
    while (ev_iter_next(&it, &key, &el)) {
        if (!is_list)
            el = key; /* a map's comprehension ranges over its keys */
        e->locals[e->nlocals - 1].v = el;
        expr_value p = n->b ? eval(e, n->b) : ev_bool(true), done;
        enum pred_step st = pred_step(e, n, &p, &err, &count, &done);
        if (st == PRED_DONE)
            return done;
        if (st == PRED_NEXT)
            continue;
        if (n->sub == M_MAP) {
            el = eval(e, n->c);
            if (ev_is_error(&el))
                return el;
        }
        out->items[kept++] = el;
    }
    if (out == NULL)
        return quantifier_answer(n, &err, count);
    out->n = kept;
    expr_value v = {.kind = EXPR_LIST};
    v.v.list = out;
    return v;
}

/* Adds 'k': 'v' to the map 'm' (room for 'cap' entries, grown from the arena), refusing a key
 * already there (CEL equality: 1 and 1u collide), as cel-go's cel.@mapInsert does. */
static expr_value map_insert(evalctx *e, const expr_node *n, expr_map **m, uint32_t *cap,
                             const expr_value *k, const expr_value *v)
{
    expr_value cur = {.kind = EXPR_MAP}, dup;
    cur.v.map = *m;
    if (charge(e, (*m)->n))
        return step_limit(e, n);
    if (ev_map_find(NULL, &cur, k, &dup))
        return ERR(e, "expr.duplicate_key", n->c->span,
                   "insert failed: a %s key is already in the map", expr_type_name(k));
    if ((*m)->n == *cap) {
        if (*cap >= EXPR_MAX_ELEMENTS)
            return ERR(e, "expr.limit", n->span, "map of more than %u entries", EXPR_MAX_ELEMENTS);
        uint32_t ncap = *cap < 8 ? 8 : *cap * 2;
        expr_map *g = ev_map_new(e->a, ncap);
        if (g == NULL)
            return ERR(e, "expr.limit", n->span, "out of memory");
        memcpy(g->kv, (*m)->kv, sizeof g->kv[0] * 2 * (*m)->n);
        g->n = (*m)->n;
        *m = g;
        *cap = ncap;
    }
    (*m)->kv[2 * (*m)->n] = *k;
    (*m)->kv[2 * (*m)->n + 1] = *v;
    (*m)->n++;
    return ev_null();
}

/* The two-variable comprehensions (cel-go's comprehensions extension): over a list the
 * variables are the index and the element, over a map the key and its value. all() and
 * exists() absorb errors as their one-variable forms do; existsOne() and the transforms
 * stop at the first error. The transforms' filter, when given, must be a bool. */
__attribute__((noinline)) static expr_value comp_loop2(evalctx *e, const expr_node *n,
                                                       const expr_value *r)
{
    uint32_t len = ev_size(r), count = 0, cap = 0, idx = 0;
    bool is_list = r->kind == EXPR_LIST;
    expr_value err = {.kind = EXPR_NULL}, key, el;
    local *first = &e->locals[e->nlocals - 2], *second = &e->locals[e->nlocals - 1];
    expr_list *out = NULL;
    expr_map *m = NULL;
    if (n->sub == M_TRANSFORM_LIST) {
        if ((out = ev_list_new(e->a, len)) == NULL)
            return ERR(e, "expr.limit", n->span, "out of memory");
        out->n = 0;
    } else if (n->sub == M_TRANSFORM_MAP || n->sub == M_TRANSFORM_MAP_ENTRY) {
        cap = n->sub == M_TRANSFORM_MAP ? len : 0;
        if ((m = ev_map_new(e->a, cap)) == NULL)
            return ERR(e, "expr.limit", n->span, "out of memory");
        m->n = 0;
    }
    ev_iter it;
    ev_iter_init(&it, r);
    for (; ev_iter_next(&it, &key, &el); idx++) {
        first->v = is_list ? ev_int(idx) : key;
        second->v = el;
        expr_value p = n->b ? eval(e, n->b) : ev_bool(true), done;
        enum pred_step st = pred_step(e, n, &p, &err, &count, &done);
        if (st == PRED_DONE)
            return done;
        if (st == PRED_NEXT)
            continue;
        expr_value v = eval(e, n->c);
        if (ev_is_error(&v))
            return v;
        if (n->sub == M_TRANSFORM_LIST) {
            out->items[out->n++] = v;
        } else if (n->sub == M_TRANSFORM_MAP) {
            m->kv[2 * m->n] = first->v; /* the keys are the range's own: no two alike */
            m->kv[2 * m->n + 1] = v;
            m->n++;
        } else {
            if (v.kind != EXPR_MAP)
                return no_overload(e, n->c->span, "transformMapEntry", &v, NULL);
            ev_iter vi;
            expr_value k2, v2;
            ev_iter_init(&vi, &v);
            while (ev_iter_next(&vi, &k2, &v2)) {
                expr_value ins = map_insert(e, n, &m, &cap, &k2, &v2);
                if (ev_is_error(&ins))
                    return ins;
            }
        }
    }
    expr_value v = {.kind = EXPR_LIST};
    switch (n->sub) {
    case M_ALL: case M_EXISTS: case M_EXISTS_ONE: return quantifier_answer(n, &err, count);
    case M_TRANSFORM_LIST: v.v.list = out; return v;
    default: v.kind = EXPR_MAP; v.v.map = m; return v;
    }
}

/* A two-variable comprehension: kept out of eval_comp(), so that the one-variable macros the
 * shipped policies use run the code they ran before. */
__attribute__((noinline)) static expr_value eval_comp2(evalctx *e, const expr_node *n)
{
    expr_value r = eval(e, n->a);
    if (ev_is_error(&r))
        return r;
    if (r.kind != EXPR_LIST && r.kind != EXPR_MAP)
        return ERR(e, "expr.no_overload", n->a->span, "cannot iterate over %s",
                   expr_type_name(&r));
    if (e->nlocals + 1 > EXPR_MAX_DEPTH || !push_local(e, n->name) || !push_local(e, n->name2))
        return ERR(e, "expr.limit", n->span, "comprehensions nested too deeply");
    expr_value v = comp_loop2(e, n, &r);
    e->nlocals -= 2;
    return v;
}

static expr_value eval_comp(evalctx *e, const expr_node *n)
{
    if (n->name2 != NULL)
        return eval_comp2(e, n);
    expr_value r = eval(e, n->a);
    /* cel.bind binds even an error: as in cel-go, it surfaces only where the body uses it */
    if (ev_is_error(&r) && n->sub != M_BIND)
        return r;
    if (!push_local(e, n->name))
        return ERR(e, "expr.limit", n->span, "comprehensions nested too deeply");
    expr_value v;
    if (n->sub == M_BIND) {
        e->locals[e->nlocals - 1].v = r;
        v = eval(e, n->b);
    } else if (n->sub == M_OPT_MAP || n->sub == M_OPT_FLAT_MAP)
        v = eval_opt_comp(e, n, &r);
    else if (r.kind != EXPR_LIST && r.kind != EXPR_MAP)
        v = ERR(e, "expr.no_overload", n->a->span, "cannot iterate over %s", expr_type_name(&r));
    else
        v = comp_loop(e, n, &r);
    e->nlocals--;
    return v;
}

static expr_value eval_lit(evalctx *e, const expr_node *n)
{
    if (n->int_overflow)
        return ERR(e, "expr.overflow", n->span, "int literal out of range");
    return n->lit;
}

static const node_fn node_fns[N_COMP + 1] = {
    [N_LIT] = eval_lit,     [N_IDENT] = lookup,      [N_SELECT] = eval_select,
    [N_INDEX] = eval_index, [N_CALL] = eval_call,    [N_LIST] = eval_list,
    [N_MAP] = eval_map,     [N_NOT] = eval_unary,    [N_NEG] = eval_unary,
    [N_BIN] = eval_bin,     [N_AND] = eval_logic,    [N_OR] = eval_logic,
    [N_COND] = eval_cond,   [N_HAS] = eval_has,      [N_COMP] = eval_comp,
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
    e.steps = 0;
    e.budget = env ? env->budget : NULL;
    e.max_steps = env && env->max_steps ? env->max_steps : EXPR_MAX_STEPS;
    uint32_t *outer = NULL;
    if (e.budget != NULL) {
        /* inside another evaluation of the budget (a variable it asked for): go on from its
         * count, which it keeps in memory since 'live' points at it; else from the budget's */
        outer = e.budget->live;
        e.steps = outer ? *outer : e.budget->used;
        e.max_steps = e.budget->max ? e.budget->max : EXPR_MAX_STEPS;
        e.budget->live = &e.steps;
    }
    e.nlocals = 0;
    e.ix = env && env->index ? env->index : &e.own;
    if (e.ix == &e.own)
        expr_index_init(&e.own, a);
    /* eval()'s own steps, minus its fast paths: the root is never a literal worth it nor a
     * comprehension variable, and inlined here they would read the unset locals */
    expr_value v = ++e.steps > e.max_steps ? step_limit(&e, p->root)
                                           : node_fns[p->root->op](&e, p->root);
    if (e.budget != NULL) { /* the steps go back to the evaluation around, or the budget */
        e.budget->live = outer;
        if (outer)
            *outer = e.steps;
        e.budget->used = e.steps;
    }
    return v;
}
