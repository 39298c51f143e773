/* eval_comp.c - the comprehensions of the evaluator (eval.c): all(), exists(), existsOne(),
 * map(), filter(), cel.bind(), optMap(), optFlatMap() and the two-variable forms (all, exists,
 * existsOne, transformList, transformMap, transformMapEntry). Each binds its variables as
 * locals of the evaluation, which eval() answers in place. Split out of eval.c unchanged. */
#include "eval_int.h"

#include <string.h>

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
        return eval_no_overload(e, n->span, n->sub == M_OPT_MAP ? "optMap" : "optFlatMap", r, NULL);
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
                                  : eval_no_overload(e, n->b->span,
                                                n->sub == M_ALL ? "all" : "exists", p, NULL);
        return PRED_NEXT;
    }
    if (ev_is_error(p) || p->kind != EXPR_BOOL) {
        *out = ev_is_error(p) ? *p : eval_no_overload(e, n->b->span, "predicate", p, NULL);
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
    uint32_t count = 0, kept = 0;
    bool is_list = r->kind == EXPR_LIST;
    expr_value err = {.kind = EXPR_NULL}, key, el;
    ev_iter it;
    ev_iter_init(&it, r);
    expr_list *out = NULL;
    if (n->sub == M_MAP || n->sub == M_FILTER) { /* the size only here: JSON counts it */
        out = ev_list_new(e->a, ev_size_ix(e->ix, r));
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
        return eval_step_limit(e, n);
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
                return eval_no_overload(e, n->c->span, "transformMapEntry", &v, NULL);
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

/* cel.bind(v, x, body), the most common comprehension of the shipped policies: kept apart
 * from the loops, in a function small enough to need no saved registers beyond its own, which
 * a checked bind runs straight from eval() (R_BIND). */
expr_value eval_bind(evalctx *e, const expr_node *n)
{
    /* cel.bind binds even an error: as in cel-go, it surfaces only where the body uses it */
    expr_value r = eval(e, n->a);
    if (e->nlocals > EXPR_MAX_DEPTH)
        return ERR(e, "expr.limit", n->span, "comprehensions nested too deeply");
    e->locals[e->nlocals].name = n->name;
    e->locals[e->nlocals].v = r;
    e->nlocals++;
    expr_value v = eval(e, n->b);
    e->nlocals--;
    return v;
}

/* The other one-variable comprehensions. */
__attribute__((noinline)) static expr_value eval_comp1(evalctx *e, const expr_node *n)
{
    expr_value r = eval(e, n->a);
    if (ev_is_error(&r))
        return r;
    if (!push_local(e, n->name))
        return ERR(e, "expr.limit", n->span, "comprehensions nested too deeply");
    expr_value v;
    if (n->sub == M_OPT_MAP || n->sub == M_OPT_FLAT_MAP)
        v = eval_opt_comp(e, n, &r);
    else if (r.kind != EXPR_LIST && r.kind != EXPR_MAP)
        v = ERR(e, "expr.no_overload", n->a->span, "cannot iterate over %s", expr_type_name(&r));
    else
        v = comp_loop(e, n, &r);
    e->nlocals--;
    return v;
}

expr_value eval_comp(evalctx *e, const expr_node *n)
{
    if (n->name2 != NULL)
        return eval_comp2(e, n);
    if (n->sub == M_BIND)
        return eval_bind(e, n);
    return eval_comp1(e, n);
}
