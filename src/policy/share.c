/* share.c - the variables several policies compute alike, evaluated once per run.
 *
 * Nine policies declare the same variable `cfg` (flinkConfig() of the object over the
 * operator's ConfigMap), and image-pinned and no-inline-credentials the same `holders` (the
 * places containers are declared). flinkConfig() remembers its answer for the run, but
 * evaluating the call's arguments still cost ~2,400 instructions per policy on the typical
 * review. Two
 * variables of different policies get one value per run (eval.c) when:
 *
 * - their expression texts are the same (so are their compiled programs: the same functions,
 *   the same bindings);
 * - it reads no per-policy binding but params (expr_each_decl(), on the compiled program): no
 *   variable of its own policy and no forEach element or index (object, oldObject and request
 *   are the same for every policy of a run);
 * - each params path it reads (params.a.b, as far as plain fields go) is the same JSON in both
 *   policies, or missing in both. A path not written out (params alone, params[...],
 *   params.?a) compares the whole params. */
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

/* The node of 'params' at 'path' ('n' fields), NULL when missing; '*depth': how many of the
 * fields were found (a missing one counts, so that a.x missing is not a.y missing). */
static const cJSON *params_at(const cJSON *params, const char *const *path, uint32_t n,
                              int *depth)
{
    const cJSON *node = params;
    *depth = 0;
    for (uint32_t i = 0; i < n && cJSON_IsObject(node); i++) {
        node = cJSON_GetObjectItemCaseSensitive(node, path[i]);
        (*depth)++;
        if (node == NULL)
            break;
    }
    return node;
}

/* What the reads of one program are checked against: two policies' params (NULL: only whether
 * it reads what may not be shared). */
typedef struct reads {
    const cJSON *x, *y;
    bool ok;
} reads;

static void check_read(void *ctx, int32_t decl, const char *const *path, uint32_t n)
{
    reads *r = ctx;
    if (decl < 0 || decl >= PB_COUNT || decl == PB_ELEMENT || decl == PB_ELEMENT_INDEX) {
        r->ok = false; /* its policy's own variable, a forEach element, or a name unresolved */
        return;
    }
    if (decl != PB_PARAMS || (r->x == NULL && r->y == NULL) || !r->ok)
        return;
    int dx, dy;
    const cJSON *nx = params_at(r->x, path, n, &dx), *ny = params_at(r->y, path, n, &dy);
    if (dx != dy || (nx == NULL) != (ny == NULL) || (nx != NULL && !cJSON_Compare(nx, ny, true)))
        r->ok = false;
}

static bool may_share(const expr_prog *p)
{
    reads r = {.ok = true};
    expr_each_decl(p, check_read, &r);
    return r.ok;
}

/* Whether every params path 'p' reads is the same JSON in 'x' and 'y'. */
static bool same_params(const expr_prog *p, const cJSON *x, const cJSON *y)
{
    reads r = {.x = x, .y = y, .ok = true};
    expr_each_decl(p, check_read, &r);
    return r.ok;
}

/* A variable that may be shared: where it is and its text. */
typedef struct share_entry {
    size_t policy, var;
    const char *text;
} share_entry;

/* By text, then in the policies' order, so that the variables of one text are one run. */
static int entry_cmp(const void *x, const void *y)
{
    const share_entry *a = x, *b = y;
    int c = strcmp(a->text, b->text);
    if (c != 0)
        return c;
    if (a->policy != b->policy)
        return a->policy < b->policy ? -1 : 1;
    return (a->var > b->var) - (a->var < b->var);
}

/* Groups the variables of entries 'e' ('n', one text) that read the same params. */
static void share_run(policy *items, const share_entry *e, size_t n, size_t *groups)
{
    for (size_t i = 0; i < n; i++) {
        policy_variable *x = &items[e[i].policy].vars[e[i].var];
        for (size_t k = i + 1; k < n && x->shared == 0; k++) {
            policy_variable *y = &items[e[k].policy].vars[e[k].var];
            if (y->shared != 0 || e[k].policy == e[i].policy ||
                !same_params(x->prog, items[e[i].policy].params, items[e[k].policy].params))
                continue;
            x->shared = ++*groups;
        }
        for (size_t k = i + 1; k < n && x->shared != 0; k++) {
            policy_variable *y = &items[e[k].policy].vars[e[k].var];
            if (y->shared == 0 && e[k].policy != e[i].policy &&
                same_params(x->prog, items[e[i].policy].params, items[e[k].policy].params))
                y->shared = x->shared;
        }
    }
}

size_t policy_share_variables(policy *items, size_t n)
{
    size_t total = 0, m = 0, groups = 0;
    for (size_t i = 0; i < n; i++)
        total += items[i].n_vars;
    share_entry *e = total > 0 ? malloc(total * sizeof *e) : NULL;
    for (size_t i = 0; i < n; i++) {
        for (size_t v = 0; v < items[i].n_vars; v++) {
            policy_variable *x = &items[i].vars[v];
            const char *text = x->prog != NULL ? expr_source(x->prog) : NULL;
            x->shared = 0;
            if (e != NULL && text != NULL && may_share(x->prog))
                e[m++] = (share_entry){i, v, text};
        }
    }
    if (m > 1) /* nothing is shared when there is no memory for the list: it only costs time */
        qsort(e, m, sizeof *e, entry_cmp);
    for (size_t i = 0, j; i < m; i = j) {
        for (j = i + 1; j < m && strcmp(e[j].text, e[i].text) == 0;)
            j++;
        if (j - i > 1)
            share_run(items, e + i, j - i, &groups);
    }
    free(e);
    return groups;
}
