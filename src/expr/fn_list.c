/* fn_list.c - the Kubernetes CEL list library: isSorted, sum, min, max, indexOf,
 * lastIndexOf (the last two dispatch here from builtins.c for list receivers), and flatten
 * from cel-go's ext lists library. */
#include "fn_int.h"

static bool is_list(const expr_value *v) { return v->kind == EXPR_LIST; }

expr_value fn_is_sorted(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    (void)a;
    (void)n;
    if (!is_list(r))
        return fn_no_overload(c, "isSorted", r);
    ev_iter it;
    expr_value x, y;
    ev_iter_init(&it, r);
    if (!ev_iter_next(&it, NULL, &x))
        return ev_bool(true);
    while (ev_iter_next(&it, NULL, &y)) {
        bool ok;
        int cmp = ev_compare(&x, &y, &ok);
        if (!ok)
            return fn_no_overload(c, "isSorted", &y);
        if (cmp > 0)
            return ev_bool(false);
        x = y;
    }
    return ev_bool(true);
}

expr_value fn_sum(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    (void)a;
    (void)n;
    if (!is_list(r))
        return fn_no_overload(c, "sum", r);
    ev_iter it;
    expr_value acc, x;
    ev_iter_init(&it, r);
    if (!ev_iter_next(&it, NULL, &acc))
        return ev_int(0);
    if (acc.kind != EXPR_INT && acc.kind != EXPR_UINT && acc.kind != EXPR_DOUBLE)
        return fn_no_overload(c, "sum", &acc);
    while (ev_iter_next(&it, NULL, &x)) {
        if (x.kind != acc.kind)
            return fn_no_overload(c, "sum", &x);
        bool over = false;
        if (x.kind == EXPR_INT)
            over = __builtin_add_overflow(acc.v.i, x.v.i, &acc.v.i);
        else if (x.kind == EXPR_UINT)
            over = __builtin_add_overflow(acc.v.u, x.v.u, &acc.v.u);
        else
            acc.v.d += x.v.d;
        if (over)
            return fn_error(c, "expr.overflow", "integer overflow in sum()");
    }
    return acc;
}

static expr_value extreme(const expr_call *c, const expr_value *r, bool want_max)
{
    const char *name = want_max ? "max" : "min";
    if (!is_list(r))
        return fn_no_overload(c, name, r);
    ev_iter it;
    expr_value best, x;
    ev_iter_init(&it, r);
    if (!ev_iter_next(&it, NULL, &best))
        return fn_error(c, "expr.index", want_max ? "max() of an empty list" : "min() of an empty list");
    uint32_t cnt = 1;
    while (ev_iter_next(&it, NULL, &x)) {
        cnt++;
        bool ok;
        int cmp = ev_compare(&x, &best, &ok);
        if (!ok)
            return fn_no_overload(c, name, &x);
        if (want_max ? cmp > 0 : cmp < 0)
            best = x;
    }
    if (cnt == 1) { /* a single element must still be orderable */
        bool ok;
        ev_compare(&best, &best, &ok);
        if (!ok)
            return fn_no_overload(c, name, &best);
    }
    return best;
}

expr_value fn_min(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    (void)a;
    (void)n;
    return extreme(c, r, false);
}

expr_value fn_max(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    (void)a;
    (void)n;
    return extreme(c, r, true);
}

expr_value fn_list_index_of(const expr_call *c, const expr_value *r, const expr_value *a, size_t n,
                            bool last)
{
    if (n > 1)
        return fn_no_overload(c, last ? "lastIndexOf" : "indexOf", r);
    ev_iter it;
    expr_value x;
    int64_t found = -1, i = 0;
    ev_iter_init(&it, r);
    for (; ev_iter_next(&it, NULL, &x); i++) {
        if (expr_equal(&x, &a[0])) {
            found = i;
            if (!last)
                break;
        }
    }
    return ev_int(found);
}

/* list.flatten() and list.flatten(depth), as cel-go's ext lists library: the elements of
 * nested lists, 'depth' levels deep (default 1). */
static int64_t flat_count(const expr_value *v, int64_t depth)
{
    ev_iter it;
    expr_value x;
    int64_t n = 0;
    ev_iter_init(&it, v);
    while (ev_iter_next(&it, NULL, &x) && n <= EXPR_MAX_ELEMENTS)
        n += depth > 0 && x.kind == EXPR_LIST ? flat_count(&x, depth - 1) : 1;
    return n;
}

static void flat_fill(const expr_value *v, int64_t depth, expr_list *out)
{
    ev_iter it;
    expr_value x;
    ev_iter_init(&it, v);
    while (ev_iter_next(&it, NULL, &x)) {
        if (depth > 0 && x.kind == EXPR_LIST)
            flat_fill(&x, depth - 1, out);
        else
            out->items[out->n++] = x;
    }
}

expr_value fn_flatten(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    if (!is_list(r))
        return fn_no_overload(c, "flatten", r);
    int64_t depth = 1;
    if (n == 1) {
        if (a[0].kind != EXPR_INT)
            return fn_no_overload(c, "flatten", &a[0]);
        if (a[0].v.i < 0)
            return fn_error(c, "expr.range", "flatten(): the depth must not be negative");
        depth = a[0].v.i > EXPR_MAX_DEPTH ? EXPR_MAX_DEPTH : a[0].v.i;
    }
    int64_t count = flat_count(r, depth);
    if (count > EXPR_MAX_ELEMENTS)
        return fn_error(c, "expr.limit", "flatten(): more than 100000 elements");
    expr_list *l = ev_list_new(c->a, (uint32_t)count);
    if (l == NULL)
        return fn_error(c, "expr.limit", "out of memory");
    l->n = 0;
    flat_fill(r, depth, l);
    expr_value v = {.kind = EXPR_LIST};
    v.v.list = l;
    return v;
}
