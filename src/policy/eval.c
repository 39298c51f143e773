/* eval.c - running policies on a request; see engine.h.
 *
 * Runs on each request, reads no files, and allocates only from the request arena (the
 * working copy of a mutated object is cJSON's, handed to the arena when it is made).
 * Variables are evaluated at most once per policy and request, and only when used: the
 * expression evaluator asks resolve_variable() for "variables.NAME". */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../k8s/jsonpatch.h"
#include "../util/utf8.h"
#include "../util/vec.h"
#include "functions.h"
#include "policy_int.h"

static bool has(const policy_strs *s, const char *v)
{
    for (size_t i = 0; i < s->n; i++) {
        const char *x = s->v[i];
        if ((x[0] == '*' && x[1] == '\0') || strcmp(x, v) == 0)
            return true;
    }
    return false;
}

static bool rule_matches(const policy_resource_rule *rule, const policy_request *r)
{
    if (!(rule->ops & (1u << r->op)))
        return false;
    if (rule->api_groups.n > 0 && !has(&rule->api_groups, r->group))
        return false;
    if (!has(&rule->kinds, r->kind))
        return false;
    /* Subresources as in webhook rules: a rule without them covers the main resource only;
     * a rule with them covers exactly those ("" names the main resource, "*" any). */
    if (rule->subresources.n == 0)
        return r->sub_resource[0] == '\0';
    return has(&rule->subresources, r->sub_resource);
}

static const char *label(const cJSON *labels, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(labels, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* What every policy's match reads of the object, looked up once per request rather than once
 * per policy and rule: its labels (NULL when it has none). */
typedef struct match_view {
    const policy_request *r;
    const cJSON *labels;
} match_view;

static void match_view_init(match_view *mv, const policy_request *r)
{
    const cJSON *obj = r->object ? r->object : r->old_object;
    mv->r = r;
    mv->labels = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "labels");
}

static bool selector_matches(const policy_selector *sel, const cJSON *labels)
{
    if (!sel->set)
        return true;
    for (size_t i = 0; i < sel->n; i++) {
        const policy_label_req *q = &sel->reqs[i];
        const char *v = label(labels, q->key);
        bool in = false;
        for (size_t k = 0; v && k < q->values.n; k++)
            in |= strcmp(v, q->values.v[k]) == 0;
        bool ok = q->op == LABEL_IN ? in : q->op == LABEL_NOT_IN ? !in
                : q->op == LABEL_EXISTS ? v != NULL : v == NULL;
        if (!ok)
            return false;
    }
    return true;
}

static bool matches(const policy *p, const match_view *mv)
{
    const policy_match *m = &p->match;
    const policy_request *r = mv->r;
    bool any = false;
    for (size_t i = 0; i < m->n_rules && !any; i++)
        any = rule_matches(&m->rules[i], r) && selector_matches(&m->rules[i].objects, mv->labels);
    if (!any)
        return false;
    if (m->ns_include.n > 0 && !has(&m->ns_include, r->namespace_))
        return false;
    if (m->ns_exclude.n > 0 && r->namespace_[0] && has(&m->ns_exclude, r->namespace_))
        return false;
    if (!selector_matches(&m->objects, mv->labels))
        return false;
    if (m->excluded_users.n > 0 && has(&m->excluded_users, r->username))
        return false;
    for (const cJSON *g = m->excluded_groups.n > 0 && r->groups ? r->groups->child : NULL; g;
         g = g->next)
        if (cJSON_IsString(g) && has(&m->excluded_groups, g->valuestring))
            return false;
    return true;
}

bool policy_matches(const policy *p, const policy_request *r)
{
    match_view mv;
    match_view_init(&mv, r);
    return matches(p, &mv);
}

/* ---- one policy's evaluation context ---- */

typedef struct run {
    const policy *p;
    arena *a;
    expr_env env;
    expr_binding vars[PB_COUNT]; /* indexed by enum policy_binding */
    expr_value *values; /* variables, once evaluated */
    /* 0 not yet, 1 evaluating, 2 done; 3 counted by use_constant(); with 'values', the memo
     * the evaluator reads a done variable from (expr_env.memo) */
    unsigned char *state;
    struct shared_value *shared; /* the run's values of shared variables (share.c) */
} run;

/* The value of a variable several policies compute alike (policy_variable.shared), once one
 * of them has evaluated it in this run, and the steps that cost: each policy that takes it
 * is charged them as if it had evaluated it (evaluation is deterministic, so it would have
 * spent the same), and evaluates it itself when they do not fit its budget. An error is not
 * kept: it may be the budget's of the rule that evaluated it. */
typedef struct shared_value {
    bool known;
    uint32_t steps;
    expr_value value;
} shared_value;

/* A done variable (state 2) is what the evaluator reads from the memo in place. */
_Static_assert(EXPR_MEMO_READY == 2, "run.state: 2 is a done variable");

/* The steps 'b' has counted so far, in the evaluation running or after the last one. */
static uint32_t budget_count(const expr_budget *b)
{
    return b->live != NULL ? *b->live : b->used;
}

/* Charges 'steps' that an evaluation not run would have cost to the running budget, as an
 * evaluation inside the running one leaves its count; false, with nothing charged, when they
 * would not fit (then the caller evaluates, and fails where it always did). Without a budget
 * each evaluation counts its own steps from 0 against env.max_steps. */
static bool budget_charge(run *rn, uint64_t steps)
{
    expr_budget *b = rn->env.budget;
    uint64_t max = b != NULL && b->max ? b->max
                   : b == NULL && rn->env.max_steps ? rn->env.max_steps : EXPR_MAX_STEPS;
    uint64_t used = (b != NULL ? budget_count(b) : 0) + steps;
    if (used > max)
        return false;
    if (b != NULL) {
        b->used = (uint32_t)used;
        if (b->live != NULL)
            *b->live = b->used;
    }
    return true;
}

/* Takes the kept value of 'sv' into '*out', charging its steps; false when there is none or
 * its steps do not fit. */
static bool shared_take(run *rn, shared_value *sv, expr_value *out)
{
    if (!sv->known || !budget_charge(rn, sv->steps))
        return false;
    *out = sv->value;
    return true;
}

/* The steps constant variable 'i' and the constant variables it reads that this run has not
 * used yet would cost to evaluate, marked (state 3) so that each is counted once. */
static uint64_t constant_steps(run *rn, size_t i)
{
    uint64_t steps = rn->p->vars[i].steps;
    rn->state[i] = 3;
    for (uint64_t d = rn->p->vars[i].deps; d != 0; d &= d - 1) {
        size_t k = (size_t)__builtin_ctzll(d);
        if (rn->state[k] == 0)
            steps += constant_steps(rn, k);
    }
    return steps;
}

/* Takes the variables constant_steps() marked from 'i' (those its dependencies reach: not
 * every variable of the policy is walked) out of state 3: done with their values computed at
 * load when 'fits', else not evaluated yet. */
static void constant_settle(run *rn, size_t i, bool fits)
{
    if (rn->state[i] != 3)
        return;
    rn->state[i] = fits ? 2 : 0;
    if (fits)
        rn->values[i] = rn->p->vars[i].value;
    for (uint64_t d = rn->p->vars[i].deps; d != 0; d &= d - 1)
        constant_settle(rn, (size_t)__builtin_ctzll(d), fits);
}

/* Answers constant variable 'i' (constvars.c) from its value computed at load, with the
 * variables it reads, charging the steps their evaluation would cost to the running budget.
 * False, with nothing changed, when they would not fit: then it is evaluated, and fails where
 * it always did. */
static bool use_constant(run *rn, size_t i)
{
    bool fits = budget_charge(rn, constant_steps(rn, i));
    constant_settle(rn, i, fits);
    return fits;
}

/* Variable i of the policy, evaluated on first use (or answered from its value computed at
 * load, or from the run's value of the variables it shares). The evaluator reads a variable
 * already done from the run's values itself (expr_env.memo), without asking for it. */
static expr_value variable(run *rn, size_t i, arena *a)
{
    if (rn->state[i] == 1) /* cannot happen: variables see only earlier ones */
        return expr_error_new(a, "expr.cycle", (expr_span){0, 0}, "variable '%s' depends on itself",
                              rn->p->vars[i].name);
    if (rn->state[i] == 0 && rn->p->vars[i].constant && use_constant(rn, i))
        return rn->values[i];
    if (rn->state[i] == 0) {
        rn->state[i] = 1;
        size_t sh = rn->p->vars[i].shared;
        shared_value *sv = sh > 0 && rn->shared != NULL ? &rn->shared[sh - 1] : NULL;
        if (sv == NULL || !shared_take(rn, sv, &rn->values[i])) {
            expr_budget *b = rn->env.budget;
            uint32_t before = b != NULL ? budget_count(b) : 0;
            rn->values[i] = expr_eval(rn->p->vars[i].prog, &rn->env, a);
            if (sv != NULL && rn->values[i].kind != EXPR_ERROR)
                *sv = (shared_value){.known = true,
                                     .steps = b != NULL ? budget_count(b) - before : 0,
                                     .value = rn->values[i]};
        }
        rn->state[i] = 2;
    }
    return rn->values[i];
}

static bool resolve_variable(void *ctx, const char *name, arena *a, expr_value *out)
{
    run *rn = ctx;
    if (strncmp(name, "variables.", 10) != 0)
        return false;
    for (size_t i = 0; i < rn->p->n_vars; i++) {
        if (strcmp(rn->p->vars[i].name, name + 10) == 0) {
            *out = variable(rn, i, a);
            return true;
        }
    }
    return false;
}

/* Expressions are compiled with the bindings (enum policy_binding, the order of rn->vars)
 * declared first and the policy's variables after them, so a declaration index says which. */
static bool resolve_decl(void *ctx, size_t index, arena *a, expr_value *out)
{
    run *rn = ctx;
    if (index < PB_COUNT) {
        *out = rn->vars[index].value;
        return true;
    }
    size_t i = index - PB_COUNT;
    if (i >= rn->p->n_vars)
        return false;
    *out = variable(rn, i, a);
    return true;
}

/* The bindings every policy of a run starts from: object (the request's), oldObject and
 * request; params is each policy's own (run_init()), element and elementIndex null until
 * forEach. */
typedef struct bindings {
    const cJSON *object;
    expr_binding v[PB_COUNT];
} bindings;

/* Points evaluation context 'rn' at policy 'p': its params, and its variables' values and
 * states, one block (none without variables). The rest is the run's and stays as it is. */
static int run_policy(run *rn, const policy *p, arena *a)
{
    rn->p = p;
    rn->values = NULL;
    rn->state = NULL;
    if (p->n_vars > 0) { /* only the states need zeroing: a value is read once its state is 2 */
        rn->values = arena_alloc(a, p->n_vars * (sizeof *rn->values + 1));
        if (rn->values == NULL)
            return -1;
        rn->state = memset(rn->values + p->n_vars, 0, p->n_vars);
    }
    rn->vars[PB_PARAMS].value = expr_from_json(p->params);
    rn->env.memo = rn->values;
    rn->env.memo_state = rn->state;
    rn->env.n_memo = p->n_vars;
    rn->env.budget = NULL;
    return 0;
}

/* Starts policy 'p''s evaluation context on 'object' (the request's, or the working copy of a
 * mutation), from the bindings the run's policies share ('bound', made once per request by
 * findings_init()). */
static int run_init(run *rn, const policy *p, const bindings *bound, const cJSON *object,
                    policy_fn_ctx *fnc, expr_index *index, shared_value *shared, arena *a)
{
    rn->a = a;
    rn->shared = shared;
    memcpy(rn->vars, bound->v, sizeof rn->vars);
    if (object != bound->object)
        rn->vars[PB_OBJECT].value = expr_from_json(object);
    rn->env = (expr_env){.vars = rn->vars, .n_vars = PB_COUNT, .vars_are_decls = true,
                         .resolve = resolve_variable,
                         .resolve_decl = resolve_decl,
                         .resolve_ctx = rn, .fn_ctx = fnc, .index = index};
    return run_policy(rn, p, a);
}

/* ---- findings ---- */

/* What one engine run collects (findings) and carries: the functions' state (policy_lib) and
 * the indexes of the large maps looked up in (expr_env.index). */
typedef struct findings {
    policy_finding *v;
    size_t n, cap;
    arena *a;
    policy_fn_ctx *fnc;
    expr_index *index; /* NULL: each evaluation indexes on its own */
    shared_value *shared; /* policy_set_shared_count(set) of them */
    size_t n_shared;
    bindings bound; /* made once for the run's policies */
    /* The context validations evaluate in: made by the first policy that validates, then
     * pointed at each next one (run_policy()), as validations leave the bindings as they are
     * (mutations make their own: they change the object). */
    run validating;
    expr_budget validating_budget; /* the validation's running (one per validation) */
    bool validating_made;
} findings;

/* Starts a run's state; -1 when out of memory. */
static int findings_init(findings *f, const policy_set *s, const policy_request *r, arena *a)
{
    f->a = a;
    f->fnc = policy_lib.ctx_init(a, r->lookup);
    f->index = expr_index_new(a);
    f->n_shared = policy_set_shared_count(s);
    f->shared = f->n_shared > 0 ? arena_calloc(a, f->n_shared, sizeof *f->shared) : NULL;
    const cJSON *json[PB_COUNT] = {[PB_OBJECT] = r->object, [PB_OLD_OBJECT] = r->old_object,
                                   [PB_REQUEST] = r->request};
    for (size_t b = 0; b < PB_COUNT; b++)
        f->bound.v[b] = (expr_binding){policy_bindings[b], expr_from_json(json[b])};
    f->bound.object = r->object;
    return f->fnc != NULL && (f->n_shared == 0 || f->shared != NULL) ? 0 : -1;
}

/* The object is about to change: what the functions, the indexes and the shared variables
 * remember of it is stale. */
static void object_changes(findings *f)
{
    policy_lib.ctx_reset(f->fnc);
    expr_index_clear(f->index);
    for (size_t i = 0; i < f->n_shared; i++)
        f->shared[i].known = false;
}

static int add_finding(findings *f, const policy *p, enum rule_result res, enum policy_action act,
                       const char *msg, const char *field, enum policy_reason reason,
                       const srcpos *at)
{
    if (vec_grow(f->a, f->v, f->n, f->cap, 8) != 0)
        return -1;
    if (msg == NULL) /* a message the caller could not make: the arena ran out */
        return -1;
    const char *text = field ? arena_cat(f->a, "[", p->name, "] ", field, ": ", msg)
                             : arena_cat(f->a, "[", p->name, "] ", msg);
    if (text == NULL)
        return -1;
    f->v[f->n++] = (policy_finding){.policy = p, .result = res, .action = act, .message = text,
                                    .field = field, .reason = reason, .at = *at};
    return 0;
}

/* What an evaluation error message quotes: the error and the expression, each cut (at a
 * character boundary) so that a deny message stays readable in kubectl and the log line. */
#define ERROR_TEXT_MAX 300
#define EXCERPT_MAX    80

/* The rule, where it is written: "validations[2] (policies/x.yaml:31)". */
static const char *rule_label(arena *a, const srcpos *at)
{
    return arena_sprintf(a, "%s (%s:%d)", at->path ? at->path : "a rule",
                         at->file ? at->file : "?", at->line);
}

/* The source of 'e' on one line (runs of white space as one space), at most EXCERPT_MAX bytes,
 * "..." when cut. */
static const char *excerpt(arena *a, const expr_prog *e)
{
    const char *src = e ? expr_source(e) : NULL;
    if (src == NULL)
        return "?";
    char line[EXCERPT_MAX + 1];
    size_t n = 0;
    bool space = false, cut = false; /* a blank run before the next character */
    for (const char *s = src; *s != '\0' && !cut; s++) {
        if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
            space = n > 0;
            continue;
        }
        if (n + space + 1 > EXCERPT_MAX) {
            cut = true;
            break;
        }
        if (space)
            line[n++] = ' ';
        line[n++] = *s;
        space = false;
    }
    if (cut)
        n = utf8_cut(line, n, EXCERPT_MAX - 3);
    line[n] = '\0';
    return arena_cat(a, line, cut ? "..." : "");
}

/* An expression ('src', under key 'what' of a mutation; NULL for a validation's) that could
 * not be evaluated: the policy's failurePolicy decides. The message names the rule, where it
 * is and the expression: "validations[2] (file:line) could not be evaluated: ERROR in `EXPR`".
 * The same error from another expression of the policy (one variable that several read) is
 * said once. */
static int eval_error(findings *f, const policy *p, const char *what, const expr_prog *src,
                      const expr_value *v, const srcpos *at)
{
    const char *err = v->kind == EXPR_ERROR ? v->v.err->msg : "not a boolean";
    size_t elen = utf8_cut(err, strlen(err), ERROR_TEXT_MAX);
    const char *key = arena_sprintf(f->a, "%s%s%.*s%s", what ? what : "", what ? ": " : "",
                                    (int)elen, err, elen < strlen(err) ? "..." : "");
    if (key == NULL)
        return -1;
    static const char said[] = "could not be evaluated: ";
    size_t klen = strlen(key);
    for (size_t i = 0; i < f->n; i++) {
        if (f->v[i].policy != p || f->v[i].result != RULE_ERROR || f->v[i].field != NULL)
            continue;
        const char *m = strstr(f->v[i].message, said);
        if (m != NULL && strncmp(m + sizeof said - 1, key, klen) == 0 &&
            strncmp(m + sizeof said - 1 + klen, " in `", 5) == 0)
            return 0;
    }
    const char *label = rule_label(f->a, at), *ex = excerpt(f->a, src);
    const char *msg = label && ex ? arena_cat(f->a, label, " ", said, key, " in `", ex, "`") : NULL;
    return add_finding(f, p, RULE_ERROR, p->failure == POLICY_FAIL ? POLICY_DENY : POLICY_WARN,
                       msg, NULL, POLICY_REASON_NONE, at);
}

static const char *failure_message(run *rn, const policy_validation *val)
{
    if (val->message_expr != NULL) {
        expr_value m = expr_eval(val->message_expr, &rn->env, rn->a);
        if (m.kind == EXPR_STRING && m.len > 0)
            return arena_strndup(rn->a, m.v.s, m.len);
    }
    if (val->message != NULL)
        return val->message;
    return arena_sprintf(rn->a, "failed expression: %s", expr_source(val->expr));
}

/* Each validation is one rule evaluation with one step budget, as Kubernetes charges one
 * budget per policy evaluation: its expression, the variables it is first to use and its
 * messageExpression share it (docs/cel-compat.md, "Cost"). A variable another validation
 * evaluated already costs nothing: its value is kept for the policy's run. */
static int validate(const policy *p, const policy_request *r, findings *f, arena *a)
{
    run *rn = &f->validating;
    if ((f->validating_made ? run_policy(rn, p, a)
                            : run_init(rn, p, &f->bound, r->object, f->fnc, f->index, f->shared,
                                       a)) != 0)
        return -1;
    f->validating_made = true;
    rn->env.budget = &f->validating_budget;
    for (size_t i = 0; i < p->n_validations; i++) {
        const policy_validation *val = &p->validations[i];
        f->validating_budget = (expr_budget){0, 0, NULL};
        expr_value v = expr_eval(val->expr, &rn->env, a);
        int rc = 0;
        if (v.kind != EXPR_BOOL)
            rc = eval_error(f, p, NULL, val->expr, &v, &val->at);
        else if (!v.v.b)
            rc = add_finding(f, p, val->action == POLICY_WARN ? RULE_WARN : RULE_FAIL,
                             val->action, failure_message(rn, val), val->field, val->reason,
                             &val->at);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* A value for a patch: the fixed one, or the expression's result through JSON, which the
 * request arena owns from here (jsonpatch_apply copies what it keeps). NULL with '*err' when
 * there is no value, or NULL with '*oom' set when the arena is full. */
static const cJSON *patch_value(const policy_patch *op, run *rn, expr_value *err, bool *oom)
{
    *oom = false;
    if (op->value_expr == NULL)
        return op->value;
    expr_value v = expr_eval(op->value_expr, &rn->env, rn->a);
    cJSON *j = expr_to_cjson(&v);
    if (j == NULL) {
        *err = v.kind == EXPR_ERROR ? v
                                    : expr_error_new(rn->a, "expr.json", (expr_span){0, 0},
                                                     "the value has no JSON form");
        return NULL;
    }
    *oom = policy_defer_json(rn->a, j) != 0;
    return *oom ? NULL : j;
}

static const char *const op_names[] = {"add", "replace", "remove"};

/* The object mutations see: the request's own until the first patch, then a working copy.
 * Copying on the first patch, not when the first mutating policy matches, spares a review no
 * mutation changes (most of them) a copy and a comparison of the whole object. */
typedef struct doc {
    const cJSON *orig;
    cJSON *work; /* NULL until the first patch; freed with the request arena */
    /* The JSON Pointers patched so far (the policies' own or arena strings): the working copy
     * differs from the request's object only there, which the comparisons below use
     * (jsonpatch_equal_at(), jsonpatch_diff_at()). */
    const char **paths;
    size_t n_paths, cap_paths;
} doc;

static const cJSON *doc_current(const doc *d)
{
    return d->work != NULL ? d->work : d->orig;
}

/* Applies operation 'op' at 'path' with 'val' to the working copy, made now when this is the
 * first patch; a failure becomes a finding. -1 only when out of memory. */
static int patch_doc(const policy *p, const policy_mutation *m, const policy_patch *op,
                     const char *path, const cJSON *val, run *rn, doc *d, findings *f)
{
    static const enum jsonpatch_op ops[] = {JSONPATCH_ADD, JSONPATCH_REPLACE, JSONPATCH_REMOVE};
    char why[256];
    if (d->work == NULL) {
        cJSON *copy = cJSON_Duplicate(d->orig, 1);
        if (policy_defer_json(rn->a, copy) != 0)
            return -1;
        d->work = copy;
        rn->vars[PB_OBJECT].value = expr_from_json(d->work); /* the rule's next operations see it */
    }
    /* recorded before it is applied, and whatever comes of it: an add that fails on a later
     * token (a bad escape, no memory) may already have created the parents before it, so a
     * failed operation can change the copy too; a place recorded in vain only makes the
     * comparisons look at more */
    if (vec_grow(rn->a, d->paths, d->n_paths, d->cap_paths, 4) != 0)
        return -1;
    d->paths[d->n_paths++] = path;
    if (jsonpatch_apply(d->work, ops[op->op], path, val, why, sizeof why) == 0)
        return 0;
    const char *label = rule_label(rn->a, &m->at);
    const char *msg = label ? arena_sprintf(rn->a, "%s could not apply %s %s: %s", label,
                                            op_names[op->op], path, why)
                            : NULL;
    enum policy_action act = p->failure == POLICY_FAIL ? POLICY_DENY : POLICY_WARN;
    return msg ? add_finding(f, p, RULE_ERROR, act, msg, NULL, POLICY_REASON_NONE, &m->at) : -1;
}

/* Applies one patch operation to the object; failures become findings. -1 only when out of
 * memory. */
static int apply_op(const policy *p, const policy_mutation *m, const policy_patch *op, run *rn,
                    doc *d, findings *f)
{
    const char *path = op->path;
    if (op->path_expr != NULL) {
        expr_value pv = expr_eval(op->path_expr, &rn->env, rn->a);
        /* A NUL would cut the path short (it is a C string from here on): the patch would
         * land on another member. */
        bool nul = pv.kind == EXPR_STRING && memchr(pv.v.s, '\0', pv.len) != NULL;
        if (pv.kind != EXPR_STRING || pv.len == 0 || pv.v.s[0] != '/' || nul) {
            expr_value e = pv.kind == EXPR_ERROR ? pv
                           : nul ? expr_error_new(rn->a, "expr.json", (expr_span){0, 0},
                                                  "the path holds a NUL character, which would "
                                                  "cut it short; refused")
                                 : expr_error_new(rn->a, "expr.type", (expr_span){0, 0},
                                                  "not a JSON Pointer (a string starting with "
                                                  "'/')");
            return eval_error(f, p, "pathExpression", op->path_expr, &e, &m->at);
        }
        path = arena_strndup(rn->a, pv.v.s, pv.len);
        if (path == NULL)
            return -1;
    }
    bool oom = false;
    expr_value err;
    const cJSON *val = op->op == PATCH_REMOVE ? NULL : patch_value(op, rn, &err, &oom);
    if (oom)
        return -1;
    object_changes(f); /* the object may change: memo and indexes are stale */
    /* So are the rule's variables evaluated so far: they may point into JSON this patch frees
     * (a replace or remove of a map they read), so the next operation evaluates them again,
     * on the patched object. */
    if (rn->p->n_vars > 0)
        memset(rn->state, 0, rn->p->n_vars);
    if (op->op != PATCH_REMOVE && val == NULL)
        return eval_error(f, p, "valueExpression", op->value_expr, &err, &m->at);
    return patch_doc(p, m, op, path, val, rn, d, f);
}

/* One mutation rule, for one element of forEach or (element null) once. A fresh evaluation
 * context each time: variables see the changes made so far. The rule's budget is shared by
 * all its elements. */
static int mutate_rule(const policy *p, const policy_mutation *m, doc *d, const cJSON *element,
                       int64_t index, expr_budget *budget, findings *f, arena *a)
{
    run rn;
    if (run_init(&rn, p, &f->bound, doc_current(d), f->fnc, f->index, f->shared, a) != 0)
        return -1;
    rn.env.budget = budget;
    if (element != NULL) {
        rn.vars[PB_ELEMENT].value = expr_from_json(element);
        rn.vars[PB_ELEMENT_INDEX].value = (expr_value){.kind = EXPR_INT};
        rn.vars[PB_ELEMENT_INDEX].value.v.i = index;
    }
    if (m->when != NULL) {
        expr_value w = expr_eval(m->when, &rn.env, a);
        if (w.kind != EXPR_BOOL)
            return eval_error(f, p, "when", m->when, &w, &m->at);
        if (!w.v.b)
            return 0;
    }
    for (size_t k = 0; k < m->n_ops; k++)
        if (apply_op(p, m, &m->ops[k], &rn, d, f) != 0)
            return -1;
    return 0;
}

/* The forEach list, copied out of the object: the patches that follow may free what the
 * evaluation pointed into. NULL with a finding (or -1 in '*rc') when it is not a list. */
static cJSON *for_each_list(const policy *p, const policy_mutation *m, const cJSON *object,
                            expr_budget *budget, findings *f, arena *a, int *rc)
{
    run rn;
    *rc = -1;
    if (run_init(&rn, p, &f->bound, object, f->fnc, f->index, f->shared, a) != 0)
        return NULL;
    rn.env.budget = budget;
    expr_value v = expr_eval(m->for_each, &rn.env, a);
    cJSON *list = v.kind == EXPR_LIST ? expr_to_cjson(&v) : NULL;
    if (list == NULL) {
        if (v.kind != EXPR_ERROR)
            v = expr_error_new(a, "expr.type", (expr_span){0, 0}, "forEach gives %s, not a list with a JSON form",
                               expr_type_name(&v));
        *rc = eval_error(f, p, "forEach", m->for_each, &v, &m->at);
        return NULL;
    }
    if (policy_defer_json(a, list) != 0)
        return NULL;
    *rc = 0;
    return list;
}

static int mutate(const policy *p, doc *d, findings *f, arena *a)
{
    for (size_t i = 0; i < p->n_mutations; i++) {
        const policy_mutation *m = &p->mutations[i];
        /* one budget for the rule: its forEach and every element's when and patches */
        expr_budget budget = {0, 0, NULL};
        if (m->for_each == NULL) {
            if (mutate_rule(p, m, d, NULL, 0, &budget, f, a) != 0)
                return -1;
            continue;
        }
        int rc;
        cJSON *list = for_each_list(p, m, doc_current(d), &budget, f, a, &rc);
        if (list == NULL && rc != 0)
            return -1;
        int64_t k = 0;
        for (const cJSON *e = list ? list->child : NULL; e; e = e->next, k++)
            if (mutate_rule(p, m, d, e, k, &budget, f, a) != 0)
                return -1;
    }
    return 0;
}

/* mutate(), and the observer told what policy 'p' changed. The object before is copied
 * only when an observer asks and an earlier policy has already made the working copy (else
 * it is the request's own, which patches never touch). */
static int mutate_observed(const policy *p, const policy_request *r, doc *d, findings *f,
                           arena *a)
{
    const policy_observer *ob = r->observer;
    if (ob == NULL || ob->mutated == NULL)
        return mutate(p, d, f, a);
    const cJSON *before = d->orig;
    if (d->work != NULL) {
        cJSON *copy = cJSON_Duplicate(d->work, 1);
        if (policy_defer_json(a, copy) != 0)
            return -1;
        before = copy;
    }
    if (mutate(p, d, f, a) != 0)
        return -1;
    if (jsonpatch_equal(before, doc_current(d)))
        return 0;
    return ob->mutated(ob->ctx, p, before, doc_current(d));
}

/* What policy 'p' came to, from the findings it added from 'first' on (see the observer's
 * evaluated() in engine.h): an error over a failure over a pass. */
static void policy_result_of(const findings *f, size_t first, const policy *p,
                             enum rule_result *result, enum policy_action *action)
{
    *result = RULE_PASS;
    *action = p->action;
    enum policy_action strongest = POLICY_AUDIT;
    for (size_t i = first; i < f->n; i++) {
        const policy_finding *x = &f->v[i];
        if (x->result == RULE_ERROR) {
            *result = RULE_ERROR;
            *action = p->action;
            return;
        }
        if (x->result == RULE_FAIL || x->result == RULE_WARN) {
            *result = RULE_FAIL;
            strongest = x->action < strongest ? x->action : strongest; /* deny < warn < audit */
        }
    }
    if (*result == RULE_FAIL)
        *action = strongest;
}

/* Tells the observer, if it asks, what 'p' came to. */
static void tell_evaluated(const policy_request *r, const findings *f, size_t first,
                           const policy *p, enum engine_mode mode)
{
    const policy_observer *ob = r->observer;
    if (ob == NULL || ob->evaluated == NULL)
        return;
    enum rule_result result;
    enum policy_action action;
    policy_result_of(f, first, p, &result, &action);
    ob->evaluated(ob->ctx, p, mode, result, action);
}

int policy_engine_run(const policy_set *s, enum engine_mode mode, const policy_request *r,
                      bool warn_only, arena *a, policy_outcome *out)
{
    findings f = {0};
    size_t n;
    const policy *ps = policy_set_items(s, &n);
    memset(out, 0, sizeof *out);
    if (findings_init(&f, s, r, a) != 0)
        return -1;
    doc d = {.orig = r->object, .work = NULL};
    match_view mv;
    match_view_init(&mv, r);
    /* Each match class decided once: 0 not yet, 1 no, 2 yes (indexed by match_class). */
    size_t nc = policy_set_match_classes(s);
    unsigned char *decided = arena_calloc(a, nc > 0 ? nc : 1, 1);
    if (decided == NULL)
        return -1;
    const policy_observer *ob = r->observer;
    for (size_t i = 0; i < n; i++) {
        const policy *p = &ps[i];
        bool relevant = mode == ENGINE_VALIDATE ? p->n_validations > 0 : p->n_mutations > 0;
        if (!relevant || (mode == ENGINE_MUTATE && r->object == NULL)) /* DELETE: no mutation */
            continue;
        unsigned char *m = &decided[p->match_class];
        if (*m == 0)
            *m = matches(p, &mv) ? 2 : 1;
        if (*m == 1)
            continue;
        out->n_matched++;
        if (ob != NULL && ob->matched != NULL)
            ob->matched(ob->ctx, p);
        size_t first = f.n;
        int rc = mode == ENGINE_VALIDATE ? validate(p, r, &f, a)
                                         : mutate_observed(p, r, &d, &f, a);
        if (rc != 0)
            return -1;
        tell_evaluated(r, &f, first, p, mode);
    }
    for (size_t i = 0; i < f.n; i++) {
        if (f.v[i].action == POLICY_DENY && warn_only) {
            f.v[i].action = POLICY_WARN;
            f.v[i].would_deny = true;
        }
        out->denied |= f.v[i].action == POLICY_DENY;
    }
    out->findings = f.v;
    out->n_findings = f.n;
    if (d.work != NULL && !jsonpatch_equal_at(d.work, r->object, d.paths, d.n_paths)) {
        out->mutated = d.work;
        out->mutated_paths = d.paths;
        out->n_mutated_paths = d.n_paths;
    }
    return 0;
}
