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
    /* The steps left before the limit, counted down one per node, below 0 past it: the test on
     * every node is then one subtraction and a sign jump, where counting up and comparing with
     * max_steps took five instructions. */
    int64_t left;
    uint32_t max_steps;
    /* The steps taken (max_steps - left, at most UINT32_MAX), where budget->live points while
     * the evaluation runs: brought up to date before 'resolve' or 'resolve_decl' is asked for a
     * name (a variable evaluated there goes on from it, a shared one is charged to it) and read
     * back after (steps_publish, steps_reload). */
    uint32_t steps;
    expr_index *ix; /* the request's (env->index), else 'own' */
    expr_budget *budget; /* env->budget, or NULL */
    local locals[EXPR_MAX_DEPTH + 1];
    int nlocals;
    expr_index own;
} evalctx;

#define ERR(e, code, span, ...) expr_error_new((e)->a, code, span, __VA_ARGS__)

typedef expr_value (*node_fn)(evalctx *e, const expr_node *n);
extern const node_fn eval_node_fns[R_COUNT]; /* by enum node_run (expr_int.h); eval.c */

/* The expr.limit error of a node past the step budget (eval.c). */
__attribute__((noinline, cold)) expr_value eval_step_limit(evalctx *e, const expr_node *n);

/* The expr.no_overload error of 'fn' applied to 'a' (and 'b' unless NULL; eval.c). */
__attribute__((cold)) expr_value eval_no_overload(evalctx *e, expr_span span, const char *fn,
                                                 const expr_value *a, const expr_value *b);

/* A comprehension (eval_comp.c): all, exists, existsOne, map, filter, cel.bind, optMap,
 * optFlatMap and the two-variable forms; a row of eval_node_fns. */
expr_value eval_comp(evalctx *e, const expr_node *n);
/* cel.bind (eval_comp.c), the row R_BIND. */
expr_value eval_bind(evalctx *e, const expr_node *n);

/* Evaluates 'n'. Inlined at every call site, so that each site has its own branches: literals
 * and comprehension variables (a third of the nodes evaluated) are answered in place, and the
 * others go through that site's own indirect call, by the node's 'run' (expr_int.h), which
 * the CPU predicts far better than one shared switch over every kind of node (-8% per review
 * on the shipped policies). */
static inline __attribute__((always_inline)) expr_value eval(evalctx *e, const expr_node *n)
{
    if (__builtin_expect(--e->left < 0, 0))
        return eval_step_limit(e, n);
    /* The two rows answered in place are the first two, so that the others (two thirds of
     * the nodes evaluated) go to their call after one comparison, not one for each. */
    unsigned run = n->run;
    if (run <= R_LOCAL) {
        if (run == R_LIT)
            return n->lit;
        return e->locals[n->local].v;
    }
    return eval_node_fns[run](e, n);
}
_Static_assert(R_LIT == 0 && R_LOCAL == 1, "eval(): the rows answered in place come first");

/* Counts 'n' elements an operator scanned or copied against the step budget, one step per
 * EXPR_SCAN_PER_STEP: `x in list`, list `+` and `==` cost O(n), and inside a comprehension over
 * the same list O(n^2), which counting nodes alone would not see. True when over budget. */
static inline bool charge(evalctx *e, uint64_t n)
{
    uint64_t k = n / EXPR_SCAN_PER_STEP;
    /* no further down than the count can tell (UINT32_MAX), so that 'left' cannot wrap */
    int64_t floor = (int64_t)e->max_steps - UINT32_MAX;
    e->left = k >= (uint64_t)(e->left - floor) ? floor : e->left - (int64_t)k;
    return e->left < 0;
}

/* Writes the count of steps taken where budget->live points (e->steps). */
static inline void steps_publish(evalctx *e)
{
    int64_t s = (int64_t)e->max_steps - e->left;
    e->steps = s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

/* Reads the count back, as an evaluation made inside or a charge may have moved it on. */
static inline void steps_reload(evalctx *e)
{
    e->left = (int64_t)e->max_steps - e->steps;
}

#endif
