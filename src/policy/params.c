/* params.c - PolicyParams documents: a policy's params set from outside its file.
 *
 * A kustomize overlay (or a --params file) changes a policy's thresholds without a copy of the
 * policy: the document names the policy and gives the params it changes. Its params are merged
 * into the policy's own, map by map (a key it gives replaces the policy's value; a key it does
 * not give keeps it), so an overlay names only what it changes. Every key must be one the
 * policy declares, with a value of the declared type: an override that no expression reads, or
 * one that turns a number into a string, would otherwise surface only as a wrong verdict or an
 * evaluation error on some later request. See docs/policy-authoring.md, "Params without
 * forking a policy". */
#include "policy_int.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PARAMS_API_VERSION "streamguard.dev/v1alpha1"

static void perr(loader *ld, const ynode *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void perr(loader *ld, const ynode *at, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    srcpos pos = {.file = ld->file, .line = at ? at->line : 0, .col = at ? at->col : 0};
    diag_add(ld->dl, DIAG_ERROR, "policy.params", &pos, "%s", msg);
    ld->errors++;
}

static const char *scalar_of(const ynode *n)
{
    return n != NULL && n->kind == YNODE_SCALAR ? n->str : NULL;
}

/* Keys of mapping 'n' must be among 'allowed'; false (with diags) when one is not. */
static bool only_keys(loader *ld, const ynode *n, const char *where, const char *const *allowed)
{
    if (n == NULL || n->kind != YNODE_MAP) {
        perr(ld, n, "%s must be a mapping", where);
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < n->n; i++) {
        const char *k = scalar_of(n->items[2 * i]);
        bool found = false;
        for (size_t j = 0; k != NULL && allowed[j] != NULL && !found; j++)
            found = strcmp(k, allowed[j]) == 0;
        if (!found) {
            perr(ld, n->items[2 * i], "unknown field '%s' in %s", k ? k : "?", where);
            ok = false;
        }
    }
    return ok;
}

int policy_params_parse(loader *ld, const ydoc *doc, policy_params *out)
{
    static const char *const top[] = {"apiVersion", "kind", "metadata", "spec", NULL};
    /* what kustomize and kubectl may add to any document's metadata */
    static const char *const md_keys[] = {"name", "namespace", "labels", "annotations", NULL};
    static const char *const spec_keys[] = {"policy", "params", NULL};
    int before = ld->errors;
    const ynode *root = doc->root;
    memset(out, 0, sizeof *out);
    out->file = ld->file;
    out->line = doc->line;
    if (!only_keys(ld, root, "a PolicyParams document", top))
        return -1;
    const ynode *api = yaml_get(root, "apiVersion"), *md = yaml_get(root, "metadata");
    const ynode *spec = yaml_get(root, "spec");
    if (scalar_of(api) == NULL || strcmp(api->str, PARAMS_API_VERSION) != 0)
        perr(ld, api ? api : root, "a PolicyParams document's apiVersion must be %s",
             PARAMS_API_VERSION);
    if (md == NULL || !only_keys(ld, md, "metadata", md_keys) ||
        scalar_of(yaml_get(md, "name")) == NULL || yaml_get(md, "name")->str[0] == '\0')
        perr(ld, md ? md : root, "a PolicyParams document needs metadata.name");
    else
        out->name = yaml_get(md, "name")->str;
    if (spec == NULL || !only_keys(ld, spec, "spec", spec_keys))
        return spec == NULL ? (perr(ld, root, "spec is required"), -1) : -1;
    const ynode *pol = yaml_get(spec, "policy"), *params = yaml_get(spec, "params");
    if (scalar_of(pol) == NULL || pol->str[0] == '\0')
        perr(ld, pol ? pol : spec, "spec.policy must name a policy (its metadata.name)");
    else
        out->policy = pol;
    if (params == NULL || params->kind != YNODE_MAP)
        perr(ld, params ? params : spec, "spec.params must be a mapping of the params to set");
    else
        out->params = params;
    return ld->errors == before ? 0 : -1;
}

/* ---- checking and merging ---- */

static const char *json_type(const cJSON *j)
{
    if (cJSON_IsNull(j))
        return "null";
    if (cJSON_IsBool(j))
        return "bool";
    if (cJSON_IsNumber(j))
        return "number";
    if (cJSON_IsString(j))
        return "string";
    if (cJSON_IsArray(j))
        return "list";
    return "map";
}

/* The key of map 'decl' nearest to 'key' (at most a third of its length away), or NULL. */
static const char *nearest_key(const cJSON *decl, const char *key)
{
    const char *best = NULL;
    size_t best_d = strlen(key) / 3 + 1;
    for (const cJSON *c = decl ? decl->child : NULL; c != NULL; c = c->next) {
        size_t d = expr_edit_distance(key, c->string);
        if (d <= best_d) {
            best = c->string;
            best_d = d;
        }
    }
    return best;
}

/* A number as the expressions see it (expr_from_json, expr_type_of_json): "int" when whole
 * and within int64, else "double"; any other value's json_type. */
static const char *cel_type(const cJSON *j)
{
    if (!cJSON_IsNumber(j))
        return json_type(j);
    double d = j->valuedouble;
    bool whole = d >= -9223372036854775808.0 && d < 9223372036854775808.0 &&
                 d == (double)(int64_t)d;
    return whole ? "int" : "double";
}

/* The type the checker gave the items of declared list 'decl': the CEL type their values
 * share, "number" when they are numbers of both kinds (dyn to the checker), else the JSON
 * type of the first. */
static const char *item_type(const cJSON *decl)
{
    const char *t = cel_type(decl->child);
    for (const cJSON *it = decl->child->next; it != NULL; it = it->next)
        if (strcmp(cel_type(it), t) != 0)
            return cJSON_IsNumber(decl->child) && cJSON_IsNumber(it) ? "number" : t;
    return t;
}

/* Whether a value of CEL type 'got' may stand where the checker expects 'want'. */
static bool same_type(const char *want, const char *got)
{
    return strcmp(want, got) == 0 ||
           (strcmp(want, "number") == 0 && (strcmp(got, "int") == 0 || strcmp(got, "double") == 0));
}

/* Checks the value 'n' (its JSON 'j') given for the param at 'path' against what the policy
 * declares there ('decl'). A declared null takes anything; a map is checked key by key; a
 * list's items must have the type of the declared list's items. Numbers keep their CEL type:
 * the policy's expressions were type-checked against its own values, and an int where they
 * expect a double (or the reverse) fails every evaluation ("no matching overload for '_*_'"),
 * which failurePolicy then turns into a denial of every request, or lets every one through. */
static void check_value(loader *ld, const char *policy, const char *path, const ynode *n,
                        const cJSON *j, const cJSON *decl)
{
    if (cJSON_IsNull(decl))
        return;
    if (strcmp(json_type(j), json_type(decl)) != 0) {
        perr(ld, n, "param '%s' of policy '%s' is a %s, not a %s", path, policy,
             json_type(decl), json_type(j));
        return;
    }
    if (strcmp(cel_type(j), cel_type(decl)) != 0) {
        perr(ld, n, "param '%s' of policy '%s' is %s, not %s (%s): the policy's expressions "
             "read it as %s%s", path, policy, cel_type(decl)[0] == 'i' ? "an int" : "a double",
             cel_type(j)[0] == 'i' ? "an int" : "a double", n->kind == YNODE_SCALAR ? n->str : "",
             cel_type(decl)[0] == 'i' ? "an int" : "a double",
             cel_type(decl)[0] == 'i' ? "" : " (a whole number, 1.0 too, is an int to them)");
        return;
    }
    if (cJSON_IsArray(decl) && decl->child != NULL) {
        size_t i = 0;
        const char *want = item_type(decl);
        for (const cJSON *it = j->child; it != NULL; it = it->next, i++)
            if (!same_type(want, cel_type(it))) {
                perr(ld, n->kind == YNODE_SEQ && i < n->n ? n->items[i] : n,
                     "param '%s' of policy '%s' is a list of %s, not of %s (item %zu)", path,
                     policy, want, cel_type(it), i);
                return;
            }
        return;
    }
    if (!cJSON_IsObject(decl) || n->kind != YNODE_MAP)
        return;
    for (size_t i = 0; i < n->n; i++) {
        const ynode *k = n->items[2 * i];
        const char *key = scalar_of(k);
        if (key == NULL)
            continue; /* yaml_to_json refused it already */
        char sub[512];
        snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", key);
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(decl, key);
        if (d == NULL) {
            const char *near = nearest_key(decl, key);
            perr(ld, k, "policy '%s' has no param '%s'%s%s%s", policy, sub,
                 near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
            continue;
        }
        check_value(ld, policy, sub, n->items[2 * i + 1],
                    cJSON_GetObjectItemCaseSensitive(j, key), d);
    }
}

/* Merges 'over' into 'into' (both maps): a key of 'over' replaces the value in 'into', or,
 * when both are maps, is merged into it. 'over' is consumed. Returns false when out of
 * memory. */
static bool merge(cJSON *into, cJSON *over)
{
    while (over->child != NULL) {
        cJSON *item = cJSON_DetachItemViaPointer(over, over->child);
        cJSON *have = cJSON_GetObjectItemCaseSensitive(into, item->string);
        if (have != NULL && cJSON_IsObject(have) && cJSON_IsObject(item)) {
            bool ok = merge(have, item);
            cJSON_Delete(item);
            if (!ok)
                return false;
        } else if (have != NULL) {
            if (!cJSON_ReplaceItemViaPointer(into, have, item)) {
                cJSON_Delete(item);
                return false;
            }
        } else if (!cJSON_AddItemToObject(into, item->string, item)) {
            cJSON_Delete(item);
            return false;
        }
    }
    return true;
}

/* The policy a PolicyParams names, or NULL with a diag ("did you mean" the nearest name). */
static policy *target(loader *ld, policy *items, size_t n, const policy_params *pp)
{
    const char *name = pp->policy->str;
    const char *near = NULL;
    size_t near_d = strlen(name) / 3 + 1;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(items[i].name, name) == 0)
            return &items[i];
        size_t d = expr_edit_distance(name, items[i].name);
        if (d <= near_d) {
            near = items[i].name;
            near_d = d;
        }
    }
    perr(ld, pp->policy, "PolicyParams '%s' names policy '%s', which is not loaded%s%s%s",
         pp->name ? pp->name : "?", name, near ? " (did you mean '" : "", near ? near : "",
         near ? "'?)" : "");
    return NULL;
}

void policy_params_apply(loader *ld, policy *items, size_t n, const policy_params *pps,
                         size_t n_pps)
{
    for (size_t i = 0; i < n_pps; i++) {
        const policy_params *pp = &pps[i];
        ld->file = pp->file;
        policy *p = target(ld, items, n, pp);
        if (p == NULL)
            continue;
        if (p->params == NULL) {
            perr(ld, pp->params, "policy '%s' (%s:%d) declares no params (spec.params) to set",
                 p->name, p->at.file, p->at.line);
            continue;
        }
        size_t before = ld->dl->errors;
        cJSON *over = yaml_to_json(pp->params, pp->file, ld->dl);
        if (over == NULL) {
            ld->errors += (int)(ld->dl->errors - before) + (ld->dl->errors == before);
            continue;
        }
        int errors = ld->errors;
        check_value(ld, p->name, "", pp->params, over, p->params);
        if (ld->errors == errors) {
            cJSON *merged = cJSON_Duplicate(p->params, 1);
            bool ok = merged != NULL && merge(merged, over);
            if (!ok)
                cJSON_Delete(merged);
            else
                ok = policy_defer_json(ld->a, merged) == 0; /* which deletes it on failure */
            if (ok)
                p->params = merged; /* the policy's own stays with the set's arena */
            else
                perr(ld, pp->params, "out of memory");
        }
        cJSON_Delete(over);
    }
}
