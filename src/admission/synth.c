/* synth.c - the AdmissionRequest of a CREATE, built as kube-apiserver builds it; see synth.h. */
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
 * request's before admission). Added to 'r'. */
static bool add_object_in(cJSON *r, const cJSON *obj, const char *ns)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    if (str_at(md, "namespace")[0] != '\0' || ns[0] == '\0')
        return cJSON_AddItemReferenceToObject(r, "object", (cJSON *)obj);
    cJSON *o = cJSON_Duplicate(obj, 1);
    if (o == NULL || !cJSON_AddItemToObject(r, "object", o)) {
        cJSON_Delete(o);
        return false;
    }
    cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "metadata");
    if (!cJSON_IsObject(m)) /* no name either: kube-apiserver would refuse it */
        return true;
    cJSON_DeleteItemFromObjectCaseSensitive(m, "namespace"); /* "" or not a string */
    return cJSON_AddStringToObject(m, "namespace", ns) != NULL;
}

/* The request member of the review for creating 'obj' in namespace 'ns'. */
static bool fill_request(cJSON *r, const cJSON *obj, const char *user, const char *group,
                         const char *version, const char *resource, const char *ns)
{
    const char *kind = str_at(obj, "kind");
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    cJSON *ui = cJSON_AddObjectToObject(r, "userInfo");
    cJSON *groups = ui ? cJSON_AddArrayToObject(ui, "groups") : NULL;
    cJSON *opts = cJSON_AddObjectToObject(r, "options");
    return groups != NULL && opts != NULL && cJSON_AddStringToObject(r, "uid", user) &&
           add_gv(r, "kind", group, version, "kind", kind) &&
           add_gv(r, "resource", group, version, "resource", resource) &&
           add_gv(r, "requestKind", group, version, "kind", kind) &&
           add_gv(r, "requestResource", group, version, "resource", resource) &&
           cJSON_AddStringToObject(r, "name", str_at(md, "name")) &&
           cJSON_AddStringToObject(r, "namespace", ns) &&
           cJSON_AddStringToObject(r, "operation", "CREATE") &&
           cJSON_AddStringToObject(ui, "username", user) &&
           cJSON_AddItemToArray(groups, cJSON_CreateString("system:authenticated")) &&
           add_object_in(r, obj, ns) &&
           cJSON_AddNullToObject(r, "oldObject") && cJSON_AddBoolToObject(r, "dryRun", true) &&
           cJSON_AddStringToObject(opts, "kind", "CreateOptions") &&
           cJSON_AddStringToObject(opts, "apiVersion", "meta.k8s.io/v1") &&
           cJSON_AddStringToObject(opts, "fieldManager", "kubectl-client-side-apply");
}

admission_request *admission_request_for_create(const cJSON *object, const char *user,
                                                const char *context_ns, arena *a, diag_list *dl)
{
    const char *api = str_at(object, "apiVersion");
    const char *slash = strchr(api, '/');
    char *group = arena_strndup(a, api, slash ? (size_t)(slash - api) : 0);
    const char *version = slash ? slash + 1 : api;
    const char *kind = str_at(object, "kind");
    const char *resource = group ? admission_kind_resource(group, kind, a, NULL) : NULL;
    const char *ns = str_at(cJSON_GetObjectItemCaseSensitive(object, "metadata"), "namespace");
    if (ns[0] == '\0' && group != NULL && admission_kind_namespaced(group, kind))
        ns = context_ns ? context_ns : "default"; /* where kubectl applies it */
    cJSON *review = cJSON_CreateObject();
    cJSON *req = cJSON_AddObjectToObject(review, "request");
    if (resource == NULL || req == NULL ||
        !cJSON_AddStringToObject(review, "apiVersion", "admission.k8s.io/v1") ||
        !cJSON_AddStringToObject(review, "kind", "AdmissionReview") ||
        !fill_request(req, object, user, group, version, resource, ns)) {
        cJSON_Delete(review);
        diag_add(dl, DIAG_ERROR, "engine.limit", NULL, "out of memory");
        return NULL;
    }
    return admission_request_take(a, review, dl);
}
