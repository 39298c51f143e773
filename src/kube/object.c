/* object.c - a cached object: stripped, then copied into one allocation.
 *
 * A cJSON tree as the parser makes it is one malloc per node (64 bytes) and one per string:
 * a ~1 KB PersistentVolumeClaim with managedFields becomes ~110 nodes and ~110 strings, about
 * 12 KB of heap. Ten thousand claims must fit in 24 MiB, so the cache keeps a copy without
 * metadata.managedFields and the last-applied annotation (which the API server adds and no
 * policy reads), packed into one allocation: the nodes in an array, the strings after them,
 * and the names and values every object repeats ("metadata", "ReadWriteOnce") pointing at
 * constants of this file instead of being copied. It is still an ordinary read-only cJSON
 * tree (next/prev/child/string/valuestring), so the policy engine walks it like any other.
 * It is never given to cJSON_Delete: kube_obj_unref frees the one block. */
#include "cache_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"

/* Names and values found in most objects of the kinds policies look up (claims, nodes,
 * storage classes, volumes). Any string equal to one is not copied. Sorted at first use. */
static const char *interned[] = {
    "apiVersion", "kind", "metadata", "name", "namespace", "uid", "resourceVersion",
    "generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
    "labels", "annotations", "finalizers", "ownerReferences", "controller",
    "blockOwnerDeletion", "generateName", "selfLink", "spec", "status", "accessModes",
    "resources", "requests", "limits", "storage", "volumeName", "storageClassName",
    "volumeMode", "phase", "capacity", "allocatable", "conditions", "type", "reason",
    "message", "lastTransitionTime", "lastProbeTime", "lastHeartbeatTime", "selector",
    "matchLabels", "matchExpressions", "key", "operator", "values", "dataSource",
    "dataSourceRef", "apiGroup", "cpu", "memory", "pods", "ephemeral-storage",
    "ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany", "ReadWriteOncePod", "Bound",
    "Pending", "Lost", "Available", "Released", "Failed", "Filesystem", "Block", "True",
    "False", "Unknown", "Ready", "v1", "PersistentVolumeClaim", "PersistentVolume", "Node",
    "storage.k8s.io/v1", "StorageClass", "provisioner", "reclaimPolicy", "Delete", "Retain",
    "volumeBindingMode", "WaitForFirstConsumer", "Immediate", "allowVolumeExpansion",
    "parameters", "kubernetes.io/pvc-protection", "kubernetes.io/pv-protection",
    "pv.kubernetes.io/bind-completed", "pv.kubernetes.io/bound-by-controller",
    "pv.kubernetes.io/provisioned-by", "volume.beta.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/storage-provisioner", "volume.kubernetes.io/selected-node",
    "yes", "app", "app.kubernetes.io/name", "app.kubernetes.io/instance",
    "app.kubernetes.io/component", "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by", "kubernetes.io/hostname", "kubernetes.io/os",
    "kubernetes.io/arch", "linux", "amd64", "arm64", "claimRef", "persistentVolumeReclaimPolicy",
    "nodeAffinity", "required", "nodeSelectorTerms", "In", "NotIn", "Exists", "hostPath",
    "path", "local", "csi", "driver", "volumeHandle", "fsType", "taints", "effect",
    "NoSchedule", "NoExecute", "podCIDR", "podCIDRs", "addresses", "address", "InternalIP",
    "Hostname", "nodeInfo", "images", "names", "sizeBytes", "daemonEndpoints",
    "kubeletEndpoint", "Port",
};
#define N_INTERNED (sizeof interned / sizeof interned[0])

static pthread_once_t interned_once = PTHREAD_ONCE_INIT;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void interned_sort(void)
{
    qsort(interned, N_INTERNED, sizeof interned[0], cmp_str);
}

/* The constant equal to 's', or NULL. */
static const char *intern_find(const char *s)
{
    const char *const *hit = bsearch(&s, interned, N_INTERNED, sizeof interned[0], cmp_str);
    return hit != NULL ? *hit : NULL;
}

/* Where a node sits, for stripping: only these two places lose members. */
enum place { AT_ROOT, AT_METADATA, AT_ANNOTATIONS, AT_OTHER };

static enum place child_place(enum place parent, const cJSON *child)
{
    if (child->string == NULL || !cJSON_IsObject(child))
        return AT_OTHER;
    if (parent == AT_ROOT && strcmp(child->string, "metadata") == 0)
        return AT_METADATA;
    if (parent == AT_METADATA && strcmp(child->string, "annotations") == 0)
        return AT_ANNOTATIONS;
    return AT_OTHER;
}

static bool is_stripped(enum place parent, const cJSON *child)
{
    if (child->string == NULL)
        return false;
    if (parent == AT_METADATA)
        return strcmp(child->string, "managedFields") == 0;
    if (parent == AT_ANNOTATIONS)
        return strcmp(child->string, LAST_APPLIED) == 0;
    return false;
}

typedef struct packer {
    size_t nodes, bytes; /* counting pass */
    cJSON *node;         /* copying pass: the next free node */
    char *str;           /* and the next free string byte */
} packer;

static size_t str_cost(const char *s)
{
    return s == NULL || intern_find(s) != NULL ? 0 : strlen(s) + 1;
}

static void count(packer *p, const cJSON *n, enum place at)
{
    p->nodes++;
    p->bytes += str_cost(n->string);
    if (cJSON_IsString(n) || cJSON_IsRaw(n))
        p->bytes += str_cost(n->valuestring);
    for (const cJSON *c = n->child; c != NULL; c = c->next) {
        if (!is_stripped(at, c))
            count(p, c, child_place(at, c));
    }
}

static char *put_str(packer *p, const char *s)
{
    if (s == NULL)
        return NULL;
    const char *k = intern_find(s);
    if (k != NULL)
        return (char *)k; /* never written through: the tree is read-only */
    size_t len = strlen(s) + 1;
    char *d = memcpy(p->str, s, len);
    p->str += len;
    return d;
}

/* Fills the node 'd' from 's' and links its children, which take the next nodes. */
static void copy(packer *p, cJSON *d, const cJSON *s, enum place at)
{
    memset(d, 0, sizeof *d);
    d->type = s->type & ~(cJSON_IsReference | cJSON_StringIsConst);
    d->string = put_str(p, s->string);
    if (d->string != NULL)
        d->type |= cJSON_StringIsConst;
    if (cJSON_IsString(s) || cJSON_IsRaw(s))
        d->valuestring = put_str(p, s->valuestring);
    d->valueint = s->valueint;
    d->valuedouble = s->valuedouble;
    cJSON *last = NULL;
    for (const cJSON *c = s->child; c != NULL; c = c->next) {
        if (is_stripped(at, c))
            continue;
        cJSON *dc = p->node++;
        copy(p, dc, c, child_place(at, c));
        if (last == NULL) {
            d->child = dc;
        } else {
            last->next = dc;
            dc->prev = last;
        }
        last = dc;
    }
    if (d->child != NULL)
        d->child->prev = last; /* cJSON keeps the last item in the first one's prev */
}

uint64_t kube_key_hash(const char *ns, const char *name)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *s = (const unsigned char *)ns; *s; s++)
        h = (h ^ *s) * 1099511628211ull;
    h = (h ^ '/') * 1099511628211ull;
    for (const unsigned char *s = (const unsigned char *)name; *s; s++)
        h = (h ^ *s) * 1099511628211ull;
    return h;
}

/* Adds a string member 'key': 'val' in front of the root's members (apiVersion, kind). */
static void prepend_string(packer *p, cJSON *root, const char *key, const char *val)
{
    cJSON *n = p->node++;
    memset(n, 0, sizeof *n);
    n->type = cJSON_String | cJSON_StringIsConst;
    n->string = put_str(p, key);
    n->valuestring = put_str(p, val);
    cJSON *first = root->child;
    n->next = first;
    n->prev = first != NULL ? first->prev : n;
    if (first != NULL)
        first->prev = n;
    root->child = n;
}

kube_obj *kube_obj_compact(const cJSON *src, const char *api_version, const char *kind)
{
    pthread_once(&interned_once, interned_sort);
    if (!cJSON_IsObject(src))
        return NULL;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(src, "metadata");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(meta, "name");
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(meta, "namespace");
    if (!cJSON_IsObject(meta) || !cJSON_IsString(name) || (ns != NULL && !cJSON_IsString(ns)))
        return NULL;
    bool add_kind = !cJSON_HasObjectItem(src, "kind") && kind != NULL;
    bool add_av = !cJSON_HasObjectItem(src, "apiVersion") && api_version != NULL;
    packer p = {0};
    count(&p, src, AT_ROOT);
    p.nodes += add_kind + add_av;
    p.bytes += (add_kind ? str_cost("kind") + str_cost(kind) : 0) +
               (add_av ? str_cost("apiVersion") + str_cost(api_version) : 0);
    size_t size = offsetof(kube_obj, root) + p.nodes * sizeof(cJSON) + p.bytes;
    kube_obj *o = malloc(size);
    if (o == NULL)
        return NULL;
    atomic_init(&o->refs, 1);
    o->size = size;
    p.node = &o->root + 1;
    p.str = (char *)(&o->root + p.nodes);
    copy(&p, &o->root, src, AT_ROOT);
    if (add_kind)
        prepend_string(&p, &o->root, "kind", kind);
    if (add_av)
        prepend_string(&p, &o->root, "apiVersion", api_version);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(&o->root, "metadata");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(m, "namespace");
    o->name = cJSON_GetObjectItemCaseSensitive(m, "name")->valuestring;
    o->ns = n != NULL ? n->valuestring : "";
    o->hash = kube_key_hash(o->ns, o->name);
    return o;
}

const cJSON *kube_obj_json(const kube_obj *o)
{
    return &o->root;
}

kube_obj *kube_obj_ref(kube_obj *o)
{
    if (o != NULL)
        atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
    return o;
}

void kube_obj_unref(kube_obj *o)
{
    if (o != NULL && atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel) == 1)
        free(o);
}
