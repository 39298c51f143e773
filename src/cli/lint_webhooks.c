/* lint_webhooks.c - does a webhook configuration send what each policy matches? See
 * lint_webhooks.h. */
#include "lint_webhooks.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../admission/resource.h"
#include "../admission/review.h"
#include "../policy/yamldoc.h"
#include "../util/file.h"

#define WEBHOOKS_MAX_FILE ((size_t)4 << 20)

enum hook_type { HOOK_VALIDATE, HOOK_MUTATE };

struct lint_webhooks {
    char *file;
    /* Every rule of every webhook, each with the type of its configuration. */
    struct hook_rule {
        enum hook_type type;
        const cJSON *rule;
    } * rules;
    size_t n;
    cJSON **docs; /* owned: the documents the rules point into */
    size_t n_docs;
};

void lint_webhooks_free(lint_webhooks *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->n_docs; i++)
        cJSON_Delete(w->docs[i]);
    free(w->docs);
    free(w->rules);
    free(w->file);
    free(w);
}

static int add_rule(lint_webhooks *w, enum hook_type type, const cJSON *rule)
{
    struct hook_rule *r = realloc(w->rules, (w->n + 1) * sizeof *r);
    if (r == NULL)
        return -1;
    w->rules = r;
    w->rules[w->n++] = (struct hook_rule){type, rule};
    return 0;
}

/* Takes the rules of one object when it is a webhook configuration (or, for a List, of each
 * item). Returns how many configurations it found, or -1 when out of memory. */
static int take_object(lint_webhooks *w, const cJSON *o)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(o, "kind");
    if (!cJSON_IsString(kind))
        return 0;
    if (strcmp(kind->valuestring, "List") == 0) {
        int found = 0;
        const cJSON *item;
        cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(o, "items"))
        {
            int k = take_object(w, item);
            if (k < 0)
                return -1;
            found += k;
        }
        return found;
    }
    enum hook_type type;
    if (strcmp(kind->valuestring, "ValidatingWebhookConfiguration") == 0)
        type = HOOK_VALIDATE;
    else if (strcmp(kind->valuestring, "MutatingWebhookConfiguration") == 0)
        type = HOOK_MUTATE;
    else
        return 0;
    const cJSON *hook;
    cJSON_ArrayForEach(hook, cJSON_GetObjectItemCaseSensitive(o, "webhooks"))
    {
        const cJSON *rule;
        cJSON_ArrayForEach(rule, cJSON_GetObjectItemCaseSensitive(
                                     hook, "rules")) if (cJSON_IsObject(rule) &&
                                                         add_rule(w, type, rule) < 0) return -1;
    }
    return 1;
}

lint_webhooks *lint_webhooks_load(const char *path, diag_list *dl)
{
    srcpos at = {.file = path};
    size_t errors = dl->errors;
    buf text;
    buf_init(&text, WEBHOOKS_MAX_FILE);
    lint_webhooks *w = calloc(1, sizeof *w);
    arena *a = arena_new(64u << 20);
    bool ok = w != NULL && a != NULL && (w->file = strdup(path)) != NULL;
    ok = ok && file_read(path, WEBHOOKS_MAX_FILE, &text, dl) == 0;
    ydoc *docs = NULL;
    size_t partial = 0;
    long n =
        ok ? yaml_load(a, path, text.data ? text.data : "", text.len, &docs, &partial, dl) : -1;
    ok = n >= 0 && (w->docs = calloc((size_t)n + 1, sizeof *w->docs)) != NULL;
    int found = 0;
    for (long i = 0; ok && i < n; i++) {
        cJSON *doc = yaml_to_json(docs[i].root, path, dl);
        ok = doc != NULL;
        if (ok)
            w->docs[w->n_docs++] = doc;
        int k = ok ? take_object(w, doc) : 0;
        ok = ok && k >= 0;
        found += k;
    }
    arena_free(a);
    buf_clear(&text);
    if (ok && found > 0)
        return w;
    if (ok)
        diag_add(dl, DIAG_ERROR, "input.webhooks", &at,
                 "no ValidatingWebhookConfiguration or MutatingWebhookConfiguration in the file");
    else if (dl->errors == errors) /* no reader said why: memory ran out */
        diag_add(dl, DIAG_ERROR, "input.webhooks", &at, "out of memory");
    lint_webhooks_free(w);
    return NULL;
}

/* True when the string list 'l' (a JSON array) holds 'want' or "*". */
static bool list_has(const cJSON *l, const char *want)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, l)
    {
        if (cJSON_IsString(it) &&
            (strcmp(it->valuestring, "*") == 0 || strcmp(it->valuestring, want) == 0))
            return true;
    }
    return false;
}

/* True when a rule's resources send 'resource' (with subresource 'sub', "" for the main
 * resource), as kube-apiserver reads them: a star alone is every resource but no subresource,
 * star/star everything, R/star every subresource of R, star/S subresource S of each. A
 * 'resource' of "*" (a policy matching any kind) is sent by any entry that sends a resource. */
static bool resources_send(const cJSON *l, const char *resource, const char *sub)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, l)
    {
        if (!cJSON_IsString(it))
            continue;
        const char *s = it->valuestring, *slash = strchr(s, '/');
        size_t rlen = slash ? (size_t)(slash - s) : strlen(s);
        const char *rsub = slash ? slash + 1 : "";
        bool res_ok = strcmp(resource, "*") == 0 || (rlen == 1 && s[0] == '*') ||
                      (strlen(resource) == rlen && strncmp(s, resource, rlen) == 0);
        bool sub_ok =
            *sub == '\0' ? *rsub == '\0' : strcmp(rsub, "*") == 0 || strcmp(rsub, sub) == 0;
        if (res_ok && sub_ok)
            return true;
    }
    return false;
}

/* The operations (a policy mask) of type 'type' that some rule sends for the resource. */
static unsigned ops_sent(const lint_webhooks *w, enum hook_type type, const char *group,
                         const char *resource, const char *sub, bool namespaced)
{
    unsigned ops = 0;
    for (size_t i = 0; i < w->n; i++) {
        const cJSON *r = w->rules[i].rule;
        if (w->rules[i].type != type)
            continue;
        bool group_ok =
            strcmp(group, "*") == 0
                ? cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "apiGroups")) > 0
                : list_has(cJSON_GetObjectItemCaseSensitive(r, "apiGroups"), group);
        if (!group_ok ||
            cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "apiVersions")) == 0 ||
            !resources_send(cJSON_GetObjectItemCaseSensitive(r, "resources"), resource, sub))
            continue;
        /* scope: "*" (the default) sends both; Namespaced or Cluster only theirs. */
        const cJSON *scope = cJSON_GetObjectItemCaseSensitive(r, "scope");
        if (cJSON_IsString(scope) && strcmp(scope->valuestring, "*") != 0 &&
            strcmp(scope->valuestring, namespaced ? "Namespaced" : "Cluster") != 0)
            continue;
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(r, "operations");
        for (int op = ADMISSION_CREATE; op <= ADMISSION_CONNECT; op++)
            if (list_has(l, admission_op_name((enum admission_op)op)))
                ops |= 1u << op;
    }
    return ops;
}

/* "CREATE, DELETE" for a mask, into 'out'. */
static const char *ops_text(unsigned ops, char *out, size_t cap)
{
    out[0] = '\0';
    for (int op = ADMISSION_CREATE; op <= ADMISSION_CONNECT; op++) {
        if (!(ops & (1u << op)))
            continue;
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%s%s", len ? ", " : "",
                 admission_op_name((enum admission_op)op));
    }
    return out;
}

/* Warns for one (group, kind, subresource) of a rule of 'p' that a webhook of 'type' lacks. */
static size_t check_kind(const lint_webhooks *w, const policy *p, enum hook_type type,
                         const char *group, const char *kind, const char *sub, unsigned ops,
                         arena *a, diag_list *dl)
{
    const char *resource =
        strcmp(kind, "*") == 0 ? "*" : admission_kind_resource(group, kind, a, NULL);
    if (resource == NULL)
        return 0;
    bool namespaced = admission_kind_namespaced(group, kind);
    unsigned missing = ops & ~ops_sent(w, type, group, resource, sub, namespaced);
    if (missing == 0)
        return 0;
    char opstr[64];
    diag_add(dl, DIAG_WARNING, "policy.unsent", &p->at,
             "policy '%s' matches %s (group '%s', resource %s%s%s) on %s, but no rule of a %s in "
             "%s sends it there: the policy is never %s in the cluster",
             p->name, kind, group, resource, *sub ? "/" : "", sub,
             ops_text(missing, opstr, sizeof opstr),
             type == HOOK_VALIDATE ? "ValidatingWebhookConfiguration"
                                   : "MutatingWebhookConfiguration",
             w->file, type == HOOK_VALIDATE ? "enforced" : "applied");
    return 1;
}

size_t lint_webhooks_check(const lint_webhooks *w, const policy_set *s, diag_list *dl)
{
    size_t n, warned = 0;
    const policy *ps = policy_set_items(s, &n);
    arena *a = arena_new(1u << 20);
    if (a == NULL)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const policy *p = &ps[i];
        for (int t = HOOK_VALIDATE; t <= HOOK_MUTATE; t++) {
            if (t == HOOK_VALIDATE ? p->n_validations == 0 : p->n_mutations == 0)
                continue;
            for (size_t r = 0; r < p->match.n_rules; r++) {
                const policy_resource_rule *rule = &p->match.rules[r];
                for (size_t g = 0; g < rule->api_groups.n; g++)
                    for (size_t k = 0; k < rule->kinds.n; k++) {
                        if (rule->subresources.n == 0) {
                            warned += check_kind(w, p, (enum hook_type)t, rule->api_groups.v[g],
                                                 rule->kinds.v[k], "", rule->ops, a, dl);
                            continue;
                        }
                        for (size_t sr = 0; sr < rule->subresources.n; sr++)
                            warned += check_kind(w, p, (enum hook_type)t, rule->api_groups.v[g],
                                                 rule->kinds.v[k], rule->subresources.v[sr],
                                                 rule->ops, a, dl);
                    }
            }
        }
    }
    arena_free(a);
    return warned;
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

char *lint_webhooks_find(const char *const *paths, size_t n)
{
    static const char *const beside[] = {"/../deploy/base/webhooks.yaml", "/../webhooks.yaml"};
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0)
            continue;
        char *dir = strdup(paths[i]);
        if (dir == NULL)
            return NULL;
        size_t dl = strlen(dir);
        while (dl > 1 && dir[dl - 1] == '/') /* policies/ -> policies, so the path reads well */
            dir[--dl] = '\0';
        if (!S_ISDIR(st.st_mode)) {
            char *slash = strrchr(dir, '/');
            if (slash == NULL)
                strcpy(dir, ".");
            else
                slash[slash == dir ? 1 : 0] = '\0';
        }
        for (size_t b = 0; b < sizeof beside / sizeof beside[0]; b++) {
            size_t len = strlen(dir) + strlen(beside[b]) + 1;
            char *cand = malloc(len);
            if (cand == NULL)
                break;
            snprintf(cand, len, "%s%s", dir, beside[b]);
            if (is_file(cand)) {
                free(dir);
                return cand;
            }
            free(cand);
        }
        free(dir);
    }
    return NULL;
}
