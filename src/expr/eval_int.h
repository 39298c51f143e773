/* eval_int.h - shared by eval.c and eval_comp.c only: the evaluation's state, and eval(),
 * inlined into every caller of both files (see its comment). */
#ifndef SG_EXPR_EVAL_INT_H
#define SG_EXPR_EVAL_INT_H

#include "expr_int.h"

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
extern const node_fn eval_node_fns[N_COMP + 1]; /* by enum node_op; eval.c */

/* The expr.limit error of a node past the step budget (eval.c). */
__attribute__((noinline, cold)) expr_value eval_step_limit(evalctx *e, const expr_node *n);

/* The expr.no_overload error of 'fn' applied to 'a' (and 'b' unless NULL; eval.c). */
expr_value eval_no_overload(evalctx *e, expr_span span, const char *fn, const expr_value *a,
                            const expr_value *b);

/* A comprehension (eval_comp.c): all, exists, existsOne, map, filter, cel.bind, optMap,
 * optFlatMap and the two-variable forms; a row of eval_node_fns. */
expr_value eval_comp(evalctx *e, const expr_node *n);

/* Evaluates 'n'. Inlined at every call site, so that each site has its own branches: literals
 * and comprehension variables (a third of the nodes evaluated) are answered in place, and the
 * others go through that site's own indirect call, which the CPU predicts far better than
 * one shared switch over every kind of node (-8% per review on the shipped policies). */
static inline __attribute__((always_inline)) expr_value eval(evalctx *e, const expr_node *n)
{
    if (++e->steps > e->max_steps)
        return eval_step_limit(e, n);
    if (n->op == N_LIT && !n->int_overflow)
        return n->lit;
    if (n->op == N_IDENT && n->local >= 0)
        return e->locals[n->local].v;
    return eval_node_fns[n->op](e, n);
}

/* Counts 'n' elements an operator scanned or copied against the step budget, one step per
 * EXPR_SCAN_PER_STEP: `x in list`, list `+` and `==` cost O(n), and inside a comprehension over
 * the same list O(n^2), which counting nodes alone would not see. True when over budget. */
static inline bool charge(evalctx *e, uint64_t n)
{
    uint64_t s = e->steps + n / EXPR_SCAN_PER_STEP;
    e->steps = s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
    return e->steps > e->max_steps;
}

#endif
