/* share.c - the variables several policies compute alike, evaluated once per run.
 *
 * Seven Flink policies declare the same variable `cfg` (flinkConfig() of the object over the
 * operator's ConfigMap). flinkConfig() remembers its answer for the run, but evaluating the
 * call's arguments still cost ~2,400 instructions per policy on the typical review. Two
 * variables of different policies get one value per run (eval.c) when:
 *
 * - their expression texts are the same (so are their compiled programs: the same functions,
 *   the same bindings);
 * - the text names no per-policy binding but params: no `variables` (another variable of its
 *   own policy) and no `element` (a forEach element), anywhere in it, even in a string
 *   (object, oldObject and request are the same for every policy of a run);
 * - each params path the text names (params.a.b, up to a method call, an index, an optional
 *   field or the end of the path) is the same JSON in both policies, or missing in both. A
 *   path not written out (params alone, params[...], params.?a) compares the whole params.
 *
 * A word in a string literal is taken as code: a comparison too many, never one too few. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

#define SHARE_PATH_MAX 8 /* fields of a params path; a longer one compares its first ones */

static bool is_ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

static const char *skip_space(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    return s;
}

/* The node of 'params' that the path after "params" at 's' reads: its plain fields, not the
 * last one when a call follows it (a method of the value before). NULL fields are missing. */
static const cJSON *params_node(const cJSON *params, const char *s, int *depth)
{
    const char *field[SHARE_PATH_MAX];
    size_t len[SHARE_PATH_MAX], n = 0;
    for (s = skip_space(s); *s == '.' && n < SHARE_PATH_MAX; s = skip_space(s)) {
        const char *f = skip_space(s + 1);
        size_t l = 0;
        while (is_ident_char(f[l]))
            l++;
        if (l == 0)
            break; /* .? or something else: the path ends */
        field[n] = f;
        len[n++] = l;
        s = f + l;
    }
    if (n > 0 && *s == '(')
        n--; /* params.a.size(): reads params.a */
    const cJSON *node = params;
    *depth = 0;
    for (size_t i = 0; i < n && cJSON_IsObject(node); i++) {
        const cJSON *c = node->child;
        while (c != NULL && !(c->string != NULL && strlen(c->string) == len[i] &&
                              memcmp(c->string, field[i], len[i]) == 0))
            c = c->next;
        node = c;
        (*depth)++;
        if (node == NULL)
            break;
    }
    return node;
}

/* Whether every params path 'text' names reads the same JSON in 'x' and 'y'. */
static bool same_params(const char *text, const cJSON *x, const cJSON *y)
{
    for (const char *s = strstr(text, "params"); s != NULL; s = strstr(s + 6, "params")) {
        if ((s > text && (is_ident_char(s[-1]) || s[-1] == '.')) || is_ident_char(s[6]))
            continue; /* another name, or a field named params */
        int dx, dy;
        const cJSON *nx = params_node(x, s + 6, &dx), *ny = params_node(y, s + 6, &dy);
        if (dx != dy || (nx == NULL) != (ny == NULL))
            return false;
        if (nx != NULL && !cJSON_Compare(nx, ny, true))
            return false;
    }
    return true;
}

static bool may_share(const char *text)
{
    return strstr(text, "variables") == NULL && strstr(text, "element") == NULL;
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
                !same_params(e[i].text, items[e[i].policy].params, items[e[k].policy].params))
                continue;
            x->shared = ++*groups;
        }
        for (size_t k = i + 1; k < n && x->shared != 0; k++) {
            policy_variable *y = &items[e[k].policy].vars[e[k].var];
            if (y->shared == 0 && e[k].policy != e[i].policy &&
                same_params(e[i].text, items[e[i].policy].params, items[e[k].policy].params))
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
            if (e != NULL && text != NULL && may_share(text))
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
