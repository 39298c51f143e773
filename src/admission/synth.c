/* synth.c - the AdmissionRequest of a CREATE (or of another operation, for 'test'), built as
 * kube-apiserver builds it; see synth.h. */
#include "synth.h"

#include <string.h>

#include "resource.h"

static const char *str_at(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* Adds {group, version, NAME_KEY: name} under 'key' of 'to'. */
static bool add_gv(cJSON *to, const char *key, const char *group, const char *version,
                   const char *name_key, const char *name)
{
    cJSON *o = cJSON_AddObjectToObject(to, key);
    return o != NULL && cJSON_AddStringToObject(o, "group", group) &&
           cJSON_AddStringToObject(o, "version", version) &&
           cJSON_AddStringToObject(o, name_key, name);
}

/* The object kube-apiserver admits: 'obj' itself (referenced), or, when it names no
 * namespace and 'ns' is one, a copy in 'ns' (the API server sets metadata.namespace from the
 * request's before admission). Added to 'r' as 'key' ("object" or "oldObject"). */
static bool add_object_in(cJSON *r, const cJSON *obj, const char *ns, const char *key)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    if (str_at(md, "namespace")[0] != '\0' || ns[0] == '\0')
        return cJSON_AddItemReferenceToObject(r, key, (cJSON *)obj);
    cJSON *o = cJSON_Duplicate(obj, 1);
    if (o == NULL || !cJSON_AddItemToObject(r, key, o)) {
        cJSON_Delete(o);
        return false;
    }
    cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "metadata");
    if (!cJSON_IsObject(m)) /* no name either: kube-apiserver would refuse it */
        return true;
    cJSON_DeleteItemFromObjectCaseSensitive(m, "namespace"); /* "" or not a string */
    return cJSON_AddStringToObject(m, "namespace", ns) != NULL;
}

/* The options kube-apiserver sends with each operation (CONNECT sends none). */
static const char *const options_kinds[] = {"CreateOptions", "UpdateOptions", "DeleteOptions",
                                            NULL};

static bool add_user(cJSON *r, const admission_synth *o)
{
    cJSON *ui = cJSON_AddObjectToObject(r, "userInfo");
    cJSON *groups = ui ? cJSON_AddArrayToObject(ui, "groups") : NULL;
    if (groups == NULL || !cJSON_AddStringToObject(ui, "username", o->username))
        return false;
    if (o->groups == NULL) /* every authenticated user is in it */
        return cJSON_AddItemToArray(groups, cJSON_CreateString("system:authenticated"));
    for (size_t i = 0; i < o->n_groups; i++)
        if (!cJSON_AddItemToArray(groups, cJSON_CreateString(o->groups[i])))
            return false;
    return true;
}

/* The request member of the review for operation o->operation on 'obj' in namespace 'ns'
 * (members in kube-apiserver's order). On DELETE 'obj' is what is deleted: kube-apiserver
 * sends it as oldObject, and object null. */
static bool fill_request(cJSON *r, const cJSON *obj, const admission_synth *o, const char *group,
                         const char *version, const char *resource, const char *ns)
{
    const char *kind = str_at(obj, "kind");
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const char *opts_kind = options_kinds[o->operation];
    if (!add_user(r, o))
        return false;
    if (opts_kind != NULL) {
        cJSON *opts = cJSON_AddObjectToObject(r, "options");
        bool writes = o->operation == ADMISSION_CREATE || o->operation == ADMISSION_UPDATE;
        if (opts == NULL || !cJSON_AddStringToObject(opts, "kind", opts_kind) ||
            !cJSON_AddStringToObject(opts, "apiVersion", "meta.k8s.io/v1") ||
            (writes && !cJSON_AddStringToObject(opts, "fieldManager", "kubectl-client-side-apply")))
            return false;
    }
    if (!cJSON_AddStringToObject(r, "uid", o->username) ||
        !add_gv(r, "kind", group, version, "kind", kind) ||
        !add_gv(r, "resource", group, version, "resource", resource) ||
        !add_gv(r, "requestKind", group, version, "kind", kind) ||
        !add_gv(r, "requestResource", group, version, "resource", resource) ||
        !cJSON_AddStringToObject(r, "name", str_at(md, "name")) ||
        !cJSON_AddStringToObject(r, "namespace", ns) ||
        !cJSON_AddStringToObject(r, "operation", admission_op_name(o->operation)))
        return false;
    bool ok;
    if (o->operation == ADMISSION_DELETE)
        ok = cJSON_AddNullToObject(r, "object") && add_object_in(r, obj, ns, "oldObject");
    else if (o->old_object == NULL)
        ok = add_object_in(r, obj, ns, "object") && cJSON_AddNullToObject(r, "oldObject");
    else
        ok = add_object_in(r, obj, ns, "object") &&
             add_object_in(r, o->old_object, ns, "oldObject");
    return ok && cJSON_AddBoolToObject(r, "dryRun", o->dry_run);
}

admission_request *admission_request_synth(const cJSON *object, const admission_synth *o,
                                           arena *a, diag_list *dl)
{
    const char *api = str_at(object, "apiVersion");
    const char *slash = strchr(api, '/');
    char *group = arena_strndup(a, api, slash ? (size_t)(slash - api) : 0);
    const char *version = slash ? slash + 1 : api;
    const char *kind = str_at(object, "kind");
    const char *resource = group ? admission_kind_resource(group, kind, a, NULL) : NULL;
    const char *ns = str_at(cJSON_GetObjectItemCaseSensitive(object, "metadata"), "namespace");
    if (ns[0] == '\0' && group != NULL && admission_kind_namespaced(group, kind))
        ns = o->context_ns ? o->context_ns : "default"; /* where kubectl applies it */
    cJSON *review = cJSON_CreateObject();
    cJSON *req = cJSON_AddObjectToObject(review, "request");
    if (resource == NULL || req == NULL ||
        !cJSON_AddStringToObject(review, "apiVersion", "admission.k8s.io/v1") ||
        !cJSON_AddStringToObject(review, "kind", "AdmissionReview") ||
        !fill_request(req, object, o, group, version, resource, ns)) {
        cJSON_Delete(review);
        diag_add(dl, DIAG_ERROR, "engine.limit", NULL, "out of memory");
        return NULL;
    }
    return admission_request_take(a, review, dl);
}

admission_request *admission_request_for_create(const cJSON *object, const char *user,
                                                const char *context_ns, arena *a, diag_list *dl)
{
    admission_synth o = {.operation = ADMISSION_CREATE, .username = user, .dry_run = true,
                         .context_ns = context_ns};
    return admission_request_synth(object, &o, a, dl);
}
