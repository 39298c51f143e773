/* fn_podtemplate.c - flinkMergePodTemplates(base, override, mergeByName): the pod template the
 * Flink operator gives a JobManager or a TaskManager.
 *
 * The operator (FlinkConfigBuilder.applyPodTemplate) merges spec.podTemplate with
 * spec.jobManager.podTemplate for the JobManager and with spec.taskManager.podTemplate for the
 * TaskManagers (FlinkUtils.mergePodTemplates, over Jackson trees). A policy that reads the
 * volumes and mounts of the two templates side by side sees another pod than the one that
 * runs: by default arrays merge by position, so a JobManager template's first volumeMount
 * replaces the shared template's first one, field by field. This is the operator's merge,
 * so that every policy reads the pods as they are created:
 *   - a member of 'override' replaces the one of 'base', except that two maps merge member by
 *     member and two lists merge as below; a map of 'base' is kept when 'override' has
 *     anything else there (Jackson's mergeInto walks no fields of a non-object);
 *   - two lists merge by position: element i of both merges when both are maps, else the
 *     element of 'base' stays; the elements past the end of 'base' are appended;
 *   - with 'mergeByName' (kubernetes.operator.pod-template.merge-arrays-by-name) and every
 *     element of both lists a map with a "name", elements merge by name (the later of two
 *     equal names wins, in the place of the first, as a LinkedHashMap keeps it), and names
 *     only 'override' has are appended.
 * A null member counts as absent: the operator reads the template into fabric8's typed model,
 * which leaves nulls out when it writes the tree back. Values that need no merging are
 * shared, not copied; the work is linear in the two templates. */
#include <string.h>

#include "../util/keyindex.h"
#include "policy_int.h"

/* One entry of a map or element of a list, whichever way the value is held. */
typedef struct entry {
    expr_value key; /* maps only */
    expr_value val;
} entry;

static bool is_map(const expr_value *v)
{
    return v->kind == EXPR_MAP;
}

static bool is_list(const expr_value *v)
{
    return v->kind == EXPR_LIST;
}

/* The entries of the map or list 'v', in order, into an arena array; '*n' their count.
 * Returns NULL when out of memory (an empty one gives a valid pointer). */
static entry *entries(const expr_call *c, const expr_value *v, size_t *n)
{
    size_t count = 0;
    if (v->json) {
        for (const cJSON *j = v->v.j->child; j != NULL; j = j->next)
            count++;
    } else {
        count = is_map(v) ? v->v.map->n : v->v.list->n;
    }
    entry *e = arena_alloc(c->a, (count ? count : 1) * sizeof *e);
    if (e == NULL)
        return NULL;
    size_t i = 0;
    if (v->json) {
        for (const cJSON *j = v->v.j->child; j != NULL; j = j->next, i++) {
            if (is_map(v)) {
                e[i].key = (expr_value){.kind = EXPR_STRING, .len = (uint32_t)strlen(j->string)};
                e[i].key.v.s = j->string;
            }
            e[i].val = expr_from_json(j);
        }
    } else {
        for (; i < count; i++) {
            if (is_map(v)) {
                e[i].key = v->v.map->kv[2 * i];
                e[i].val = v->v.map->kv[2 * i + 1];
            } else {
                e[i].val = v->v.list->items[i];
            }
        }
    }
    *n = count;
    return e;
}

static expr_value merge_map(const expr_call *c, const expr_value *to, const expr_value *from,
                            bool by_name, int depth);

/* The "name" of a list element as a string, when it is a map that has one. */
static bool element_name(const expr_call *c, const expr_value *v, expr_value *name)
{
    return is_map(v) && expr_map_get(c, v, "name", 4, name) && name->kind == EXPR_STRING;
}

/* A list value from 'n' entries. */
static expr_value list_of(const expr_call *c, const entry *e, size_t n)
{
    expr_list *l = arena_alloc(c->a, sizeof *l + (n ? n : 1) * sizeof(expr_value));
    if (l == NULL)
        return policy_oom(c);
    l->n = (uint32_t)n;
    for (size_t i = 0; i < n; i++)
        l->items[i] = e[i].val;
    expr_value v = {.kind = EXPR_LIST};
    v.v.list = l;
    return v;
}

/* The elements 'e' (n, every one named) grouped by name into 'out' as groupByName does (a
 * LinkedHashMap): a later element of an equal name replaces the earlier one, in its place.
 * 'ix' indexes 'out' by name. Returns the number of groups. */
static size_t group_by_name(const expr_call *c, const entry *e, size_t n, entry *out, keyindex *ix)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        expr_value name;
        if (!element_name(c, &e[i].val, &name)) { /* cannot be: the caller checked */
            out[k++] = e[i];
            continue;
        }
        entry *hit = (entry *)keyindex_find(ix, name.v.s, name.len);
        if (hit != NULL) {
            hit->val = e[i].val;
            continue;
        }
        out[k] = e[i];
        keyindex_add(ix, name.v.s, name.len, &out[k]);
        k++;
    }
    return k;
}

/* FlinkUtils.mergeArray with merge-by-name: 'te' (nt) and 'fe' (nf), every element named. Each
 * side is grouped by name; a group of 'from' merges into the group of 'to' of its name, or is
 * appended. Names are indexed, so the work is linear in the two lists. */
static expr_value merge_by_name(const expr_call *c, entry *te, size_t nt, entry *fe, size_t nf,
                                int depth)
{
    entry *out = arena_alloc(c->a, (nt + nf ? nt + nf : 1) * sizeof *out);
    entry *fg = arena_alloc(c->a, (nf ? nf : 1) * sizeof *fg);
    keyindex *ix = keyindex_new(c->a, nt + nf ? nt + nf : 1);
    keyindex *fix = keyindex_new(c->a, nf ? nf : 1);
    if (out == NULL || fg == NULL || ix == NULL || fix == NULL)
        return policy_oom(c);
    size_t n = group_by_name(c, te, nt, out, ix);
    size_t ng = group_by_name(c, fe, nf, fg, fix);
    for (size_t i = 0; i < ng; i++) {
        expr_value name;
        element_name(c, &fg[i].val, &name);
        entry *hit = (entry *)keyindex_find(ix, name.v.s, name.len);
        if (hit == NULL) {
            out[n++] = fg[i];
            continue;
        }
        hit->val = merge_map(c, &hit->val, &fg[i].val, true, depth + 1);
        if (hit->val.kind == EXPR_ERROR)
            return hit->val;
    }
    return list_of(c, out, n);
}

/* FlinkUtils.mergeArray. */
static expr_value merge_list(const expr_call *c, const expr_value *to, const expr_value *from,
                             bool by_name, int depth)
{
    size_t nt, nf;
    entry *te = entries(c, to, &nt), *fe = entries(c, from, &nf);
    if (te == NULL || fe == NULL)
        return policy_oom(c);
    bool named = by_name;
    for (size_t i = 0; named && i < nt + nf; i++) {
        expr_value name;
        named = element_name(c, i < nt ? &te[i].val : &fe[i - nt].val, &name);
    }
    if (named)
        return merge_by_name(c, te, nt, fe, nf, depth);
    entry *out = arena_alloc(c->a, (nt > nf ? nt : nf ? nf : 1) * sizeof *out);
    if (out == NULL)
        return policy_oom(c);
    for (size_t i = 0; i < nt || i < nf; i++) {
        if (i >= nt) {
            out[i] = fe[i];
        } else if (i < nf && is_map(&te[i].val) && is_map(&fe[i].val)) {
            out[i].val = merge_map(c, &te[i].val, &fe[i].val, by_name, depth + 1);
            if (out[i].val.kind == EXPR_ERROR)
                return out[i].val;
        } else {
            out[i] = te[i];
        }
    }
    return list_of(c, out, nt > nf ? nt : nf);
}

/* FlinkUtils.mergeInto, on two maps: the members of 'to' in their order (replaced or merged
 * where 'from' has them), then those only 'from' has, in its order. */
static expr_value merge_map(const expr_call *c, const expr_value *to, const expr_value *from,
                            bool by_name, int depth)
{
    if (depth > 100)
        return expr_error_new(c->a, "expr.limit", c->span,
                              "flinkMergePodTemplates: templates nested deeper than 100 levels");
    size_t nt, nf;
    entry *fe = entries(c, from, &nf);
    if (fe == NULL)
        return policy_oom(c);
    if (nf == 0)
        return *to; /* no role template (the usual case): the shared one as it is */
    entry *te = entries(c, to, &nt);
    if (te == NULL)
        return policy_oom(c);
    expr_map *m = arena_alloc(c->a, sizeof *m + 2 * (nt + nf) * sizeof(expr_value));
    if (m == NULL)
        return policy_oom(c);
    m->n = 0;
    for (int side = 0; side < 2; side++) {
        entry *e = side == 0 ? te : fe;
        size_t ne = side == 0 ? nt : nf;
        for (size_t i = 0; i < ne; i++) {
            expr_value tv = {.kind = EXPR_NULL}, fv = {.kind = EXPR_NULL}, v;
            bool in_to = side == 0 || expr_map_get(c, to, e[i].key.v.s, e[i].key.len, &tv);
            if (side == 1 && in_to)
                continue; /* merged in its place on the first side */
            bool in_from = side == 1 || expr_map_get(c, from, e[i].key.v.s, e[i].key.len, &fv);
            if (side == 0) {
                tv = e[i].val;
                if (!in_from)
                    fv.kind = EXPR_NULL;
            } else {
                tv.kind = EXPR_NULL;
                fv = e[i].val;
            }
            in_to = tv.kind != EXPR_NULL;
            in_from = fv.kind != EXPR_NULL;
            if (!in_from)
                v = tv;
            else if (in_to && is_list(&tv) && is_list(&fv))
                v = merge_list(c, &tv, &fv, by_name, depth + 1);
            else if (in_to && is_map(&tv))
                v = is_map(&fv) ? merge_map(c, &tv, &fv, by_name, depth + 1) : tv;
            else
                v = fv;
            if (v.kind == EXPR_ERROR)
                return v;
            if (v.kind == EXPR_NULL)
                continue; /* absent on both sides */
            m->kv[2 * m->n] = e[i].key;
            m->kv[2 * m->n + 1] = v;
            m->n++;
        }
    }
    expr_value out = {.kind = EXPR_MAP};
    out.v.map = m;
    return out;
}

/* flinkMergePodTemplates(base, override, mergeByName): see the file's comment. 'base' or
 * 'override' may be null (no template). Returns the merged template, an error value when an
 * argument has another type. */
expr_value policy_fn_merge_pod_templates(const expr_call *c, const expr_value *r,
                                         const expr_value *a, size_t n)
{
    (void)r;
    (void)n;
    for (int i = 0; i < 2; i++)
        if (a[i].kind != EXPR_MAP && a[i].kind != EXPR_NULL)
            return expr_error_new(c->a, "expr.no_overload", c->span,
                                  "flinkMergePodTemplates: a pod template must be a map or null, "
                                  "not %s",
                                  expr_type_name(&a[i]));
    if (a[2].kind != EXPR_BOOL)
        return expr_error_new(c->a, "expr.no_overload", c->span,
                              "flinkMergePodTemplates: mergeByName must be a bool, not %s",
                              expr_type_name(&a[2]));
    if (a[1].kind == EXPR_NULL)
        return a[0];
    if (a[0].kind == EXPR_NULL)
        return a[1];
    return merge_map(c, &a[0], &a[1], a[2].v.b, 0);
}
