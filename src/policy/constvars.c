/* constvars.c - the variables of a policy that are the same on every review, computed once.
 *
 * A variable that reads only params, literals and earlier constant variables, and calls no
 * impure function (lookup(): expr_fn_def.impure), has the same value on every review: node-sizing-limits' quantity(params.node.cpu),
 * a map of side-container defaults. The set computes it here once, after PolicyParams have set
 * the params; the engine (eval.c, variable()) then answers it without evaluating it, and charges
 * the steps its evaluation took to the rule that first uses it, as evaluating it would, so step
 * budgets run out where they did. One that fails here (an error, the step limit) is left to
 * each review, which fails the same way. The values live in the set's arena and are only read
 * from then on, as the literal lists the checker folds are (check.c). */
#include "policy_int.h"

/* What expr_prog_constant() asks about variable 'upto' of 'p'. */
typedef struct judge {
    const policy *p;
    size_t upto;   /* the variables before it: it can read only those */
    uint64_t deps; /* the constant variables it reads */
} judge;

static bool decl_constant(void *ctx, size_t index)
{
    judge *j = ctx;
    if (index == PB_PARAMS)
        return true;
    if (index < PB_COUNT) /* object, oldObject, request, namespaceObject, element... */
        return false;
    size_t v = index - PB_COUNT;
    if (v >= j->upto || !j->p->vars[v].constant)
        return false;
    j->deps |= (uint64_t)1 << v;
    return true;
}

typedef struct folding {
    const policy *p;
    const expr_binding *bindings;
} folding;

/* The bindings by index (only params is read), and the constant variables computed so far. */
static bool folded_decl(void *ctx, size_t index, arena *a, expr_value *out)
{
    (void)a;
    const folding *f = ctx;
    if (index < PB_COUNT) {
        *out = f->bindings[index].value;
        return true;
    }
    if (index - PB_COUNT >= f->p->n_vars || !f->p->vars[index - PB_COUNT].constant)
        return false;
    *out = f->p->vars[index - PB_COUNT].value;
    return true;
}

void policy_fold_constants(policy *items, size_t n, arena *a)
{
    _Static_assert(POLICY_MAX_VARIABLES <= 64, "policy_variable.deps is a 64-bit set");
    for (size_t k = 0; k < n; k++) {
        policy *p = &items[k];
        expr_binding bindings[PB_COUNT];
        for (size_t b = 0; b < PB_COUNT; b++)
            bindings[b] = (expr_binding){policy_bindings[b],
                                         expr_from_json(b == PB_PARAMS ? p->params : NULL)};
        folding f = {.p = p, .bindings = bindings};
        for (size_t i = 0; i < p->n_vars; i++) {
            judge j = {.p = p, .upto = i};
            if (!expr_prog_constant(p->vars[i].prog, decl_constant, &j))
                continue;
            expr_budget budget = {0, 0, NULL};
            expr_env env = {.vars = bindings, .n_vars = PB_COUNT, .budget = &budget,
                            .resolve_decl = folded_decl, .resolve_ctx = &f};
            expr_value v = expr_eval(p->vars[i].prog, &env, a);
            if (v.kind == EXPR_ERROR)
                continue;
            p->vars[i].value = v;
            p->vars[i].steps = budget.used;
            p->vars[i].deps = j.deps;
            p->vars[i].constant = true;
        }
    }
}
