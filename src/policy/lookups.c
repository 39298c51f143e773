/* lookups.c - the kinds a policy set looks up with lookup() and lookupList(), and the rule
 * that makes them known when the set loads: their apiVersion and kind are string literals
 * that can name a Kubernetes kind. The server watches exactly these kinds (and RBAC grants
 * exactly these reads), so a kind computed while a request is evaluated would be one it
 * never watched and is not allowed to read.
 *
 * Scopes: when every lookup() of a kind names its namespace and name with constants of the
 * loaded set (string literals, params.* paths: a policy's params do not change until the next
 * load), the server needs only those objects: it watches each one alone (a field selector on
 * metadata.name) and RBAC grants only those names. The Flink policies' one ConfigMap, the
 * operator's configuration, is why: without a scope the server would cache every ConfigMap
 * of the cluster and need the right to read them all. */
#include "policy_int.h"

#include "../util/vec.h"

#include <stdlib.h>
#include <string.h>

static const char *const lookup_fns[] = {"lookup", "lookupList"};

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* A DNS-1035 label (what Kubernetes requires of a version name, and of a kind lowercased):
 * a letter, then letters, digits and '-', ending in a letter or digit, at most 63 bytes. With
 * 'upper' the letters may be upper case too. */
static bool is_label(const char *s, size_t len, bool upper)
{
    if (len == 0 || len > 63 || !(is_alnum(s[0]) && !(s[0] >= '0' && s[0] <= '9')))
        return false;
    for (size_t i = 0; i < len; i++) {
        bool ok = (upper ? is_alnum(s[i]) : is_lower_alnum(s[i])) || (s[i] == '-' && i + 1 < len);
        if (!ok)
            return false;
    }
    return true;
}

/* A DNS-1123 subdomain (an API group): labels of lower-case letters, digits and '-', each
 * starting and ending with a letter or digit, joined by '.', at most 253 bytes. */
static bool is_group(const char *s, size_t len)
{
    if (len == 0 || len > 253)
        return false;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.') {
            if (!is_lower_alnum(s[i]) && s[i] != '-')
                return false;
            continue;
        }
        if (i == start || s[start] == '-' || s[i - 1] == '-')
            return false; /* an empty label, or one that starts or ends with '-' */
        start = i + 1;
    }
    return true;
}

const char *policy_api_version_problem(const char *s, size_t len)
{
    const char *slash = memchr(s, '/', len);
    if (slash == NULL)
        return is_label(s, len, false) ? NULL
                                       : "is not an apiVersion (a version such as v1, or "
                                         "group/version such as storage.k8s.io/v1)";
    size_t glen = (size_t)(slash - s);
    if (!is_group(s, glen))
        return "is not an apiVersion: its group is not a DNS subdomain (lower-case letters, "
               "digits, '-' and '.')";
    if (!is_label(slash + 1, len - glen - 1, false))
        return "is not an apiVersion: its version is not a lower-case name such as v1 or v1beta1";
    return NULL;
}

const char *policy_kind_problem(const char *s, size_t len)
{
    if (len == 0 || !(s[0] >= 'A' && s[0] <= 'Z') || !is_label(s, len, true))
        return "is not a kind: a kind is written as the object's 'kind' field, in CamelCase "
               "(PersistentVolumeClaim, not persistentvolumeclaims)";
    return NULL;
}

typedef struct visit_ctx {
    loader *ld;
    const expr_prog *p;
    const srcpos *at;
    const char *fn;
} visit_ctx;

static void add_kind(loader *ld, const char *api_version, const char *kind)
{
    for (size_t i = 0; i < ld->n_kinds; i++)
        if (strcmp(ld->kinds[i].api_version, api_version) == 0 &&
            strcmp(ld->kinds[i].kind, kind) == 0)
            return;
    if (vec_grow(ld->a, ld->kinds, ld->n_kinds, ld->cap_kinds, 16) != 0) {
        ld->errors++;
        diag_add(ld->dl, DIAG_ERROR, "policy.limit", NULL, "out of memory");
        return;
    }
    ld->kinds[ld->n_kinds++] = (policy_kind){api_version, kind, NULL, NULL};
}

static policy_lookup_arg site_arg(const expr_call_site *cs, int i)
{
    policy_lookup_arg a = {.lit = cs->args[i].lit, .len = cs->args[i].len,
                           .npath = cs->args[i].npath};
    memcpy(a.path, cs->args[i].path, sizeof a.path);
    return a;
}

static void add_site(loader *ld, const expr_call_site *cs, bool named)
{
    if (vec_grow(ld->a, ld->sites, ld->n_sites, ld->cap_sites, 16) != 0) {
        ld->errors++;
        diag_add(ld->dl, DIAG_ERROR, "policy.limit", NULL, "out of memory");
        return;
    }
    policy_lookup_site *s = &ld->sites[ld->n_sites++];
    *s = (policy_lookup_site){.api_version = cs->args[0].lit, .kind = cs->args[1].lit,
                              .policy = ld->cur_policy, .named = named};
    if (named) {
        s->ns = site_arg(cs, 2);
        s->name = site_arg(cs, 3);
    }
}

static void visit(void *ctx, const expr_call_site *cs)
{
    visit_ctx *v = ctx;
    static const char *const what[] = {"apiVersion", "kind"};
    bool ok = true;
    for (int i = 0; i < 2 && i < (int)cs->nargs; i++) {
        const char *problem;
        if (cs->args[i].lit == NULL) {
            expr_prog_diag(v->p, v->ld->dl, "policy.lookup", cs->args[i].span, v->at,
                           "the %s of %s() must be a string literal: the server watches the "
                           "kinds the policies look up, so it must know them when the "
                           "policies load",
                           what[i], v->fn);
        } else if (memchr(cs->args[i].lit, '\0', cs->args[i].len) != NULL) {
            expr_prog_diag(v->p, v->ld->dl, "policy.lookup", cs->args[i].span, v->at,
                           "the %s of %s() holds a NUL character, which no %s does", what[i],
                           v->fn, what[i]);
        } else if ((problem = i == 0 ? policy_api_version_problem(cs->args[i].lit, cs->args[i].len)
                                     : policy_kind_problem(cs->args[i].lit, cs->args[i].len))) {
            expr_prog_diag(v->p, v->ld->dl, "policy.lookup", cs->args[i].span, v->at,
                           "'%.*s' %s", (int)(cs->args[i].len > 100 ? 100 : cs->args[i].len),
                           cs->args[i].lit, problem);
        } else {
            continue;
        }
        v->ld->errors++;
        ok = false;
    }
    if (ok && cs->nargs >= 2) {
        add_kind(v->ld, cs->args[0].lit, cs->args[1].lit);
        add_site(v->ld, cs, strcmp(v->fn, "lookup") == 0 && cs->nargs == 4);
    }
}

void policy_check_lookups(loader *ld, const expr_prog *p, const srcpos *at)
{
    for (size_t i = 0; i < sizeof lookup_fns / sizeof lookup_fns[0]; i++) {
        visit_ctx v = {ld, p, at, lookup_fns[i]};
        expr_each_call(p, lookup_fns[i], visit, &v);
    }
}

static int kind_cmp(const void *x, const void *y)
{
    const policy_kind *a = x, *b = y;
    int c = strcmp(a->api_version, b->api_version);
    if (c == 0)
        c = strcmp(a->kind, b->kind);
    if (c == 0 && (a->name == NULL || b->name == NULL))
        return (a->name != NULL) - (b->name != NULL);
    if (c == 0)
        c = strcmp(a->ns, b->ns);
    return c != 0 ? c : strcmp(a->name, b->name);
}

/* The string an argument is at load time, or NULL when it is not a constant: a literal
 * (without a NUL of its own), or a params path whose value in 'params' is a string. */
static const char *constant(const policy_lookup_arg *a, const cJSON *params)
{
    if (a->lit != NULL)
        return memchr(a->lit, '\0', a->len) == NULL ? a->lit : NULL;
    if (a->npath < 2 || strcmp(a->path[0], "params") != 0)
        return NULL;
    const cJSON *v = params;
    for (uint32_t i = 1; i < a->npath && v != NULL; i++)
        v = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, a->path[i]) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Whether 's' can be the name of an object that kube-apiserver lets a client watch alone:
 * what it takes for a path segment and for a fieldSelector's name (IsValidPathSegmentName),
 * and within the length of a DNS subdomain. Another constant can never be found. */
static bool is_object_name(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 253 && strpbrk(s, "/%") == NULL && strcmp(s, ".") != 0 &&
           strcmp(s, "..") != 0;
}

static bool is_namespace(const char *s)
{
    return s[0] == '\0' || is_label(s, strlen(s), false);
}

static void add_scoped(loader *ld, policy_kind **v, size_t *n, size_t *cap, policy_kind k)
{
    for (size_t i = 0; i < *n; i++)
        if (kind_cmp(&(*v)[i], &k) == 0)
            return;
    if (vec_grow(ld->a, *v, *n, *cap, 16) != 0) {
        ld->errors++;
        diag_add(ld->dl, DIAG_ERROR, "policy.limit", NULL, "out of memory");
        return;
    }
    (*v)[(*n)++] = k;
}

/* The scope of 'kind': its objects named by constants added to 'v', or false (nothing
 * added) when a lookup of it is not constant and the whole kind must be watched. A constant
 * that cannot name an object adds nothing: such a lookup can never find anything. */
static bool scope_kind(loader *ld, const policy_kind *kind, const policy *items, size_t n_items,
                       policy_kind **v, size_t *n, size_t *cap)
{
    size_t start = *n;
    for (size_t i = 0; i < ld->n_sites; i++) {
        const policy_lookup_site *s = &ld->sites[i];
        if (strcmp(s->api_version, kind->api_version) != 0 || strcmp(s->kind, kind->kind) != 0)
            continue;
        const cJSON *params = s->policy < n_items ? items[s->policy].params : NULL;
        const char *ns = s->named ? constant(&s->ns, params) : NULL;
        const char *name = s->named ? constant(&s->name, params) : NULL;
        if (ns == NULL || name == NULL) {
            *n = start;
            return false;
        }
        if (is_namespace(ns) && is_object_name(name))
            add_scoped(ld, v, n, cap, (policy_kind){kind->api_version, kind->kind, ns, name});
    }
    return true;
}

void policy_scope_lookups(loader *ld, const policy *items, size_t n_items)
{
    policy_kind *v = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < ld->n_kinds; i++) {
        if (!scope_kind(ld, &ld->kinds[i], items, n_items, &v, &n, &cap))
            add_scoped(ld, &v, &n, &cap, ld->kinds[i]);
    }
    policy_sort_kinds(v, n);
    ld->kinds = v;
    ld->n_kinds = n;
    ld->cap_kinds = cap;
}

void policy_sort_kinds(policy_kind *k, size_t n)
{
    if (n > 1)
        qsort(k, n, sizeof *k, kind_cmp);
}
