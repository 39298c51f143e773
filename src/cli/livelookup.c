/* livelookup.c - the documents, then the live cluster; see livelookup.h. */
#include "livelookup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One question asked of the cluster and its answer. 'list' holds the items of a LIST (a cJSON
 * array owned here), 'obj' the object of a GET. */
struct live_answer {
    char *key; /* "L|G apiVersion kind ns name" */
    enum policy_lookup_result res;
    cJSON *obj, *list;
    char why[512];
    struct live_answer *next;
};

static char *make_key(char op, const char *av, const char *kind, const char *ns, const char *name)
{
    size_t n = strlen(av) + strlen(kind) + strlen(ns) + strlen(name) + 8;
    char *k = malloc(n);
    if (k != NULL)
        snprintf(k, n, "%c\n%s\n%s\n%s\n%s", op, av, kind, ns, name);
    return k;
}

static struct live_answer *answered(live_lookup *l, const char *key)
{
    for (struct live_answer *a = l->answers; a != NULL; a = a->next)
        if (strcmp(a->key, key) == 0)
            return a;
    return NULL;
}

static int on_item(void *arg, cJSON *item)
{
    cJSON_AddItemToArray(arg, item);
    return 0;
}

/* Asks the cluster: a GET of one object, or (name NULL) a LIST of the kind in 'ns'. */
static void ask(live_lookup *l, const char *av, const char *kind, const char *ns,
                const char *name, struct live_answer *a)
{
    kube_resource res;
    if (kube_discover(l->client, av, kind, l->timeout_ms, &res, a->why) != 0) {
        a->res = LOOKUP_UNAVAILABLE;
        return;
    }
    /* A document without a namespace is applied to the context's namespace: its lookup of a
     * namespaced object looks there, as the webhook would once kubectl applied it. */
    if (name != NULL && res.namespaced && ns[0] == '\0')
        ns = l->namespace_ != NULL ? l->namespace_ : "default";
    char path[1024];
    if (kube_path(&res, ns, name, path, sizeof path) < 0) {
        /* A name that cannot be a Kubernetes name names no object. */
        a->res = LOOKUP_NOT_FOUND;
        return;
    }
    kube_response r = {0};
    if (name == NULL) {
        char rv[64];
        a->list = cJSON_CreateArray();
        if (a->list == NULL || kube_list(l->client, path, 500, l->timeout_ms, on_item, a->list,
                                         rv, sizeof rv, &r) != 0) {
            snprintf(a->why, sizeof a->why, "%s", a->list ? r.error : "out of memory");
            a->res = LOOKUP_UNAVAILABLE;
        } else {
            a->res = cJSON_GetArraySize(a->list) > 0 ? LOOKUP_FOUND : LOOKUP_NOT_FOUND;
        }
    } else if (kube_get(l->client, path, l->timeout_ms, &r) == 0) {
        a->obj = cJSON_ParseWithLength(r.body, r.len);
        a->res = a->obj != NULL ? LOOKUP_FOUND : LOOKUP_UNAVAILABLE;
        if (a->obj == NULL)
            snprintf(a->why, sizeof a->why, "GET %.400s: the answer is not JSON", path);
    } else {
        /* Only the API server saying the object does not exist is "not found". */
        a->res = kube_not_found(&r, name) ? LOOKUP_NOT_FOUND : LOOKUP_UNAVAILABLE;
        snprintf(a->why, sizeof a->why, "%s", r.error);
    }
    kube_response_free(&r);
}

static struct live_answer *cluster_answer(live_lookup *l, char op, const char *av,
                                          const char *kind, const char *ns, const char *name)
{
    char *key = make_key(op, av, kind, ns, name ? name : "");
    if (key == NULL)
        return NULL;
    struct live_answer *a = answered(l, key);
    if (a != NULL) {
        free(key);
        return a;
    }
    a = calloc(1, sizeof *a);
    if (a == NULL) {
        free(key);
        return NULL;
    }
    a->key = key;
    ask(l, av, kind, ns, name, a);
    a->next = l->answers;
    l->answers = a;
    return a;
}

static enum policy_lookup_result find(void *data, const char *av, const char *kind,
                                      const char *ns, const char *name, arena *ar,
                                      const cJSON **out, const char **why)
{
    live_lookup *l = data;
    const policy_lookup *d = l->docs;
    enum policy_lookup_result res =
        d && d->find ? d->find(d->data, av, kind, ns, name, ar, out, why) : LOOKUP_NOT_FOUND;
    if (res != LOOKUP_NOT_FOUND)
        return res;
    struct live_answer *a = cluster_answer(l, 'G', av, kind, ns, name);
    if (a == NULL) {
        *why = "out of memory";
        return LOOKUP_UNAVAILABLE;
    }
    *out = a->obj;
    *why = a->why;
    return a->res;
}

static const char *meta(const cJSON *o, const char *field)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(o, "metadata"), field);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static int by_namespace_name(const void *x, const void *y)
{
    const cJSON *a = *(const cJSON *const *)x, *b = *(const cJSON *const *)y;
    int c = strcmp(meta(a, "namespace"), meta(b, "namespace"));
    return c != 0 ? c : strcmp(meta(a, "name"), meta(b, "name"));
}

static enum policy_lookup_result list(void *data, const char *av, const char *kind,
                                      const char *ns, arena *ar, const cJSON ***out, size_t *n,
                                      const char **why)
{
    live_lookup *l = data;
    const policy_lookup *d = l->docs;
    const cJSON **docs = NULL;
    size_t nd = 0;
    enum policy_lookup_result res =
        d && d->list ? d->list(d->data, av, kind, ns, ar, &docs, &nd, why) : LOOKUP_NOT_FOUND;
    if (res == LOOKUP_UNAVAILABLE)
        return res;
    struct live_answer *a = cluster_answer(l, 'L', av, kind, ns, NULL);
    if (a == NULL) {
        *why = "out of memory";
        return LOOKUP_UNAVAILABLE;
    }
    if (a->res == LOOKUP_UNAVAILABLE) {
        *why = a->why;
        return LOOKUP_UNAVAILABLE;
    }
    size_t nl = a->list ? (size_t)cJSON_GetArraySize(a->list) : 0;
    const cJSON **items = arena_alloc(ar, (nd + nl + 1) * sizeof *items);
    if (items == NULL) {
        *why = "out of memory";
        return LOOKUP_UNAVAILABLE;
    }
    size_t k = 0;
    for (size_t i = 0; i < nd; i++)
        items[k++] = docs[i];
    /* The documents given win over the cluster's object of the same namespace and name. A
     * document without a namespace is in the one listed, or (listing every namespace) in
     * the context's, where kubectl would apply it. */
    const char *home = ns[0] ? ns : l->namespace_ != NULL ? l->namespace_ : "default";
    const cJSON *it;
    cJSON_ArrayForEach(it, a->list) {
        bool shadowed = false;
        for (size_t i = 0; i < nd && !shadowed; i++) {
            const char *dns = meta(docs[i], "namespace");
            shadowed = strcmp(dns[0] ? dns : home, meta(it, "namespace")) == 0 &&
                       strcmp(meta(docs[i], "name"), meta(it, "name")) == 0;
        }
        if (!shadowed)
            items[k++] = it;
    }
    qsort(items, k, sizeof *items, by_namespace_name);
    *out = items;
    *n = k;
    return k > 0 ? LOOKUP_FOUND : LOOKUP_NOT_FOUND;
}

policy_lookup live_lookup_make(live_lookup *l)
{
    return (policy_lookup){.find = find, .list = list, .data = l};
}

void live_lookup_free(live_lookup *l)
{
    struct live_answer *a = l->answers;
    while (a != NULL) {
        struct live_answer *next = a->next;
        cJSON_Delete(a->obj);
        cJSON_Delete(a->list);
        free(a->key);
        free(a);
        a = next;
    }
    l->answers = NULL;
}
