/* object.c - a cached object: stripped, then packed; nested lists shared within a kind.
 *
 * A cJSON tree as the parser makes it is one malloc per node (64 bytes) and one per string:
 * a ~1 KB PersistentVolumeClaim with managedFields becomes ~110 nodes and ~110 strings, about
 * 12 KB of heap. Ten thousand claims must fit in 24 MiB, so the cache keeps a copy without
 * metadata.managedFields and the last-applied annotation (which the API server adds and no
 * policy reads). The root, its members and metadata's members go into one block (the nodes in
 * an array, the strings after them); deeper lists (spec's members, status, labels...) go into
 * a pool of lists shared by the kind's objects, since most claims have equal ones; the names
 * and values every object repeats ("metadata", "ReadWriteOnce") point at constants of this
 * file. It is still an ordinary read-only cJSON tree (next/prev/child/string/valuestring), so
 * the policy engine walks it like any other. It is never given to cJSON_Delete:
 * kube_obj_unref frees the block and drops its references to the pool's lists.
 *
 * The pool belongs to the kind's writer: only it adds lists and frees unused ones (sweeps).
 * Any thread drops references (atomics); no reader ever takes one on a list, so a list whose
 * count reached zero can only be revived by the writer, and freed by it. */
#include "cache_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../util/keyindex.h"

#define LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"

/* Names and values found in most objects of the kinds policies look up (claims, nodes,
 * storage classes, volumes). Any string equal to one is not copied. Sorted at first use. */
static const char *interned[] = {
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "finalizers",
    "ownerReferences",
    "controller",
    "blockOwnerDeletion",
    "generateName",
    "selfLink",
    "spec",
    "status",
    "accessModes",
    "resources",
    "requests",
    "limits",
    "storage",
    "volumeName",
    "storageClassName",
    "volumeMode",
    "phase",
    "capacity",
    "allocatable",
    "conditions",
    "type",
    "reason",
    "message",
    "lastTransitionTime",
    "lastProbeTime",
    "lastHeartbeatTime",
    "selector",
    "matchLabels",
    "matchExpressions",
    "key",
    "operator",
    "values",
    "dataSource",
    "dataSourceRef",
    "apiGroup",
    "cpu",
    "memory",
    "pods",
    "ephemeral-storage",
    "ReadWriteOnce",
    "ReadWriteMany",
    "ReadOnlyMany",
    "ReadWriteOncePod",
    "Bound",
    "Pending",
    "Lost",
    "Available",
    "Released",
    "Failed",
    "Filesystem",
    "Block",
    "True",
    "False",
    "Unknown",
    "Ready",
    "v1",
    "PersistentVolumeClaim",
    "PersistentVolume",
    "Node",
    "storage.k8s.io/v1",
    "StorageClass",
    "provisioner",
    "reclaimPolicy",
    "Delete",
    "Retain",
    "volumeBindingMode",
    "WaitForFirstConsumer",
    "Immediate",
    "allowVolumeExpansion",
    "parameters",
    "kubernetes.io/pvc-protection",
    "kubernetes.io/pv-protection",
    "pv.kubernetes.io/bind-completed",
    "pv.kubernetes.io/bound-by-controller",
    "pv.kubernetes.io/provisioned-by",
    "volume.beta.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/selected-node",
    "yes",
    "app",
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
    "kubernetes.io/hostname",
    "kubernetes.io/os",
    "kubernetes.io/arch",
    "linux",
    "amd64",
    "arm64",
    "claimRef",
    "persistentVolumeReclaimPolicy",
    "nodeAffinity",
    "required",
    "nodeSelectorTerms",
    "In",
    "NotIn",
    "Exists",
    "hostPath",
    "path",
    "local",
    "csi",
    "driver",
    "volumeHandle",
    "fsType",
    "taints",
    "effect",
    "NoSchedule",
    "NoExecute",
    "podCIDR",
    "podCIDRs",
    "addresses",
    "address",
    "InternalIP",
    "Hostname",
    "nodeInfo",
    "images",
    "names",
    "sizeBytes",
    "daemonEndpoints",
    "kubeletEndpoint",
    "Port",
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

/* ---- shared lists ------------------------------------------------------------------------ */

typedef struct shared_list {
    atomic_long refs; /* the objects and lists whose nodes point at it */
    uint64_t hash;
    struct shared_list *next; /* in its pool bucket */
    size_t n;
    cJSON node[]; /* then the strings */
} shared_list;

struct kube_pool {
    atomic_long refs; /* the informer's and one per object made with it */
    atomic_long zero; /* lists whose last reference went (about: a heuristic for sweeps) */
    shared_list **bucket;
    size_t cap, count;
};

static shared_list *list_of(const cJSON *first)
{
    return (shared_list *)((char *)first - offsetof(shared_list, node));
}

static void list_unref(kube_pool *p, shared_list *l)
{
    if (atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) == 1)
        atomic_fetch_add_explicit(&p->zero, 1, memory_order_relaxed);
}

kube_pool *kube_pool_new(void)
{
    kube_pool *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->cap = 256;
    p->bucket = calloc(p->cap, sizeof *p->bucket);
    if (p->bucket == NULL) {
        free(p);
        return NULL;
    }
    atomic_init(&p->refs, 1);
    atomic_init(&p->zero, 0);
    return p;
}

void kube_pool_unref(kube_pool *p)
{
    if (p == NULL || atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < p->cap; i++) {
        for (shared_list *l = p->bucket[i], *next; l != NULL; l = next) {
            next = l->next;
            free(l);
        }
    }
    free(p->bucket);
    free(p);
}

size_t kube_pool_count(const kube_pool *p)
{
    return p->count;
}

/* One pass: frees the lists nobody holds, releasing what they held. Returns how many. */
static size_t sweep_pass(kube_pool *p)
{
    size_t freed = 0;
    for (size_t i = 0; i < p->cap; i++) {
        for (shared_list **at = &p->bucket[i]; *at != NULL;) {
            shared_list *l = *at;
            if (atomic_load_explicit(&l->refs, memory_order_acquire) != 0) {
                at = &l->next;
                continue;
            }
            *at = l->next;
            for (size_t k = 0; k < l->n; k++) {
                if (l->node[k].child != NULL)
                    list_unref(p, list_of(l->node[k].child));
            }
            free(l);
            p->count--;
            freed++;
            atomic_fetch_sub_explicit(&p->zero, 1, memory_order_relaxed);
        }
    }
    return freed;
}

void kube_pool_sweep(kube_pool *p, bool force)
{
    long zero = atomic_load_explicit(&p->zero, memory_order_relaxed);
    if (zero <= 0 || (!force && (size_t)zero < p->count / 4 + 256))
        return;
    while (sweep_pass(p) > 0) /* a freed list may have held the last reference of another */
        ;
}

/* Room for one more list: the buckets doubled when the lists outnumber them. */
static void pool_grow(kube_pool *p)
{
    if (p->count < p->cap)
        return;
    shared_list **b = calloc(p->cap * 2, sizeof *b);
    if (b == NULL)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < p->cap; i++) {
        for (shared_list *l = p->bucket[i], *next; l != NULL; l = next) {
            next = l->next;
            l->next = b[l->hash & (p->cap * 2 - 1)];
            b[l->hash & (p->cap * 2 - 1)] = l;
        }
    }
    free(p->bucket);
    p->bucket = b;
    p->cap *= 2;
}

/* ---- copying ----------------------------------------------------------------------------- */

typedef struct packer {
    kube_pool *pool; /* NULL: every node inline */
    bool oom;
    size_t nodes, bytes; /* counting pass */
    cJSON *node;         /* copying pass: the next free node */
    char *str;           /* and the next free string byte */
} packer;

static size_t str_cost(const char *s)
{
    return s == NULL || intern_find(s) != NULL ? 0 : strlen(s) + 1;
}

static size_t node_cost(const cJSON *n)
{
    size_t b = str_cost(n->string);
    if (cJSON_IsString(n) || cJSON_IsRaw(n))
        b += str_cost(n->valuestring);
    return b;
}

/* With a pool, only the root's and metadata's members are inline; deeper lists are shared. */
static bool is_inline(const packer *p, enum place at)
{
    return p->pool == NULL || at == AT_ROOT || at == AT_METADATA;
}

static void count(packer *p, const cJSON *n, enum place at)
{
    p->nodes++;
    p->bytes += node_cost(n);
    if (!is_inline(p, at))
        return;
    for (const cJSON *c = n->child; c != NULL; c = c->next) {
        if (!is_stripped(at, c))
            count(p, c, child_place(at, c));
    }
}

static char *put_str(char **str, const char *s)
{
    if (s == NULL)
        return NULL;
    const char *k = intern_find(s);
    if (k != NULL)
        return (char *)k; /* never written through: the tree is read-only */
    size_t len = strlen(s) + 1;
    char *d = memcpy(*str, s, len);
    *str += len;
    return d;
}

/* The node 'd' made like 's', without links. */
static void copy_scalar(char **str, cJSON *d, const cJSON *s)
{
    memset(d, 0, sizeof *d);
    d->type = s->type & ~(cJSON_IsReference | cJSON_StringIsConst);
    d->string = put_str(str, s->string);
    if (d->string != NULL)
        d->type |= cJSON_StringIsConst;
    if (cJSON_IsString(s) || cJSON_IsRaw(s))
        d->valuestring = put_str(str, s->valuestring);
    d->valueint = s->valueint;
    d->valuedouble = s->valuedouble;
}

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    for (const unsigned char *b = p; n-- > 0; b++)
        h = (h ^ *b) * 1099511628211ull;
    return h;
}

static uint64_t mix_str(uint64_t h, const char *s)
{
    return s != NULL ? mix(h, s, strlen(s) + 1) : mix(h, "\xff", 1);
}

static bool same_str(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The kept members of 's' equal the nodes of 'l', whose children are 'sub'. */
static bool same_list(const shared_list *l, const cJSON *s, enum place at, shared_list *const *sub,
                      size_t n)
{
    if (l->n != n)
        return false;
    size_t i = 0;
    for (const cJSON *c = s->child; c != NULL; c = c->next) {
        if (is_stripped(at, c))
            continue;
        const cJSON *d = &l->node[i];
        bool str = cJSON_IsString(c) || cJSON_IsRaw(c);
        if ((d->type & 0xff) != (c->type & 0xff) || !same_str(d->string, c->string) ||
            (str && !same_str(d->valuestring, c->valuestring)) ||
            (cJSON_IsNumber(c) &&
             (d->valuedouble != c->valuedouble || d->valueint != c->valueint)) ||
            d->child != (sub[i] != NULL ? sub[i]->node : NULL))
            return false;
        i++;
    }
    return true;
}

static shared_list *share(packer *p, const cJSON *s, enum place at);

/* A new list of the kept members of 's' (children 'sub', whose references it takes). */
static shared_list *list_new(packer *p, const cJSON *s, enum place at, shared_list **sub, size_t n,
                             size_t bytes, uint64_t h)
{
    shared_list *l = malloc(sizeof *l + n * sizeof(cJSON) + bytes);
    if (l == NULL)
        return NULL;
    atomic_init(&l->refs, 1);
    l->hash = h;
    l->n = n;
    char *str = (char *)(l->node + n);
    size_t i = 0;
    for (const cJSON *c = s->child; c != NULL; c = c->next) {
        if (is_stripped(at, c))
            continue;
        cJSON *d = &l->node[i];
        copy_scalar(&str, d, c);
        d->child = sub[i] != NULL ? sub[i]->node : NULL;
        d->prev = i > 0 ? &l->node[i - 1] : &l->node[n - 1];
        d->next = i + 1 < n ? &l->node[i + 1] : NULL;
        i++;
    }
    pool_grow(p->pool);
    l->next = p->pool->bucket[h & (p->pool->cap - 1)];
    p->pool->bucket[h & (p->pool->cap - 1)] = l;
    p->pool->count++;
    return l;
}

/* The shared list of the kept members of 's' (a reference), or NULL when it has none (or
 * memory is exhausted: p->oom). */
static shared_list *share(packer *p, const cJSON *s, enum place at)
{
    size_t n = 0, bytes = 0;
    for (const cJSON *c = s->child; c != NULL; c = c->next) {
        if (!is_stripped(at, c)) {
            n++;
            bytes += node_cost(c);
        }
    }
    if (n == 0)
        return NULL;
    shared_list *stack[32], **sub = n <= 32 ? stack : malloc(n * sizeof *sub);
    if (sub == NULL) {
        p->oom = true;
        return NULL;
    }
    uint64_t h = 1469598103934665603ull;
    size_t i = 0;
    for (const cJSON *c = s->child; c != NULL; c = c->next) {
        if (is_stripped(at, c))
            continue;
        sub[i] = c->child != NULL ? share(p, c, child_place(at, c)) : NULL;
        int type = c->type & 0xff;
        h = mix(h, &type, sizeof type);
        h = mix_str(h, c->string);
        if (cJSON_IsString(c) || cJSON_IsRaw(c))
            h = mix_str(h, c->valuestring);
        if (cJSON_IsNumber(c))
            h = mix(h, &c->valuedouble, sizeof c->valuedouble);
        h = mix(h, &sub[i], sizeof sub[i]);
        i++;
    }
    shared_list *l = NULL;
    for (l = p->pool->bucket[h & (p->pool->cap - 1)]; l != NULL; l = l->next) {
        if (l->hash == h && same_list(l, s, at, sub, n))
            break;
    }
    if (l != NULL) {
        if (atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed) == 0)
            atomic_fetch_sub_explicit(&p->pool->zero, 1, memory_order_relaxed); /* revived */
        for (i = 0; i < n; i++) {
            if (sub[i] != NULL)
                list_unref(p->pool, sub[i]); /* 'l' holds the same ones */
        }
    } else if (!p->oom) {
        l = list_new(p, s, at, sub, n, bytes, h);
    }
    if (l == NULL) {
        p->oom = true;
        for (i = 0; i < n; i++) {
            if (sub[i] != NULL)
                list_unref(p->pool, sub[i]);
        }
    }
    if (sub != stack)
        free(sub);
    return l;
}

/* Fills the node 'd' from 's' and links its children: inline ones take the next nodes,
 * others are a shared list. */
static void copy(packer *p, cJSON *d, const cJSON *s, enum place at)
{
    copy_scalar(&p->str, d, s);
    if (!is_inline(p, at)) {
        shared_list *l = s->child != NULL ? share(p, s, at) : NULL;
        d->child = l != NULL ? l->node : NULL;
        return;
    }
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

/* Keyed (SipHash under the process's random key): claim names are chosen by tenants, and an
 * unkeyed hash would let one choose names that collide and slow every lookup of the kind. */
uint64_t kube_key_hash(const char *ns, const char *name)
{
    return keyindex_hash(ns, strlen(ns)) * 0x9E3779B97F4A7C15u ^ keyindex_hash(name, strlen(name));
}

/* Adds a string member 'key': 'val' in front of the root's members (apiVersion, kind). */
static void prepend_string(packer *p, cJSON *root, const char *key, const char *val)
{
    cJSON *n = p->node++;
    memset(n, 0, sizeof *n);
    n->type = cJSON_String | cJSON_StringIsConst;
    n->string = put_str(&p->str, key);
    n->valuestring = put_str(&p->str, val);
    cJSON *first = root->child;
    n->next = first;
    n->prev = first != NULL ? first->prev : n;
    if (first != NULL)
        first->prev = n;
    root->child = n;
}

/* Releases the shared lists that 'nd' (a node of 'o') and the inline nodes below it point at. */
static void release_lists(kube_obj *o, const cJSON *nd)
{
    const char *c = (const char *)nd->child, *lo = (const char *)o;
    if (c == NULL)
        return;
    if (c < lo || c >= lo + o->size) {
        list_unref(o->pool, list_of(nd->child));
        return;
    }
    for (const cJSON *k = nd->child; k != NULL; k = k->next)
        release_lists(o, k);
}

kube_obj *kube_obj_compact(kube_pool *pool, const cJSON *src, const char *api_version,
                           const char *kind)
{
    pthread_once(&interned_once, interned_sort);
    if (!cJSON_IsObject(src))
        return NULL;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(src, "metadata");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(meta, "name");
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(meta, "namespace");
    if (!cJSON_IsObject(meta) || !cJSON_IsString(name) || (ns != NULL && !cJSON_IsString(ns)))
        return NULL;
    /* Case-sensitive, as every reader of the object (cJSON_HasObjectItem is not: a member
     * "Kind" would have kept "kind" out of a LIST item). */
    bool add_kind = cJSON_GetObjectItemCaseSensitive(src, "kind") == NULL && kind != NULL;
    bool add_av =
        cJSON_GetObjectItemCaseSensitive(src, "apiVersion") == NULL && api_version != NULL;
    packer p = {.pool = pool};
    count(&p, src, AT_ROOT);
    p.nodes += add_kind + add_av;
    p.bytes += (add_kind ? str_cost("kind") + str_cost(kind) : 0) +
               (add_av ? str_cost("apiVersion") + str_cost(api_version) : 0);
    /* the strings after the nodes: the end of the block is where release_lists stops */
    size_t size = offsetof(kube_obj, root) + p.nodes * sizeof(cJSON) + p.bytes;
    kube_obj *o = malloc(size);
    if (o == NULL)
        return NULL;
    atomic_init(&o->refs, 1);
    o->size = size;
    o->pool = pool;
    p.node = &o->root + 1;
    p.str = (char *)(&o->root + p.nodes);
    copy(&p, &o->root, src, AT_ROOT);
    if (add_kind)
        prepend_string(&p, &o->root, "kind", kind);
    if (add_av)
        prepend_string(&p, &o->root, "apiVersion", api_version);
    if (pool != NULL)
        atomic_fetch_add_explicit(&pool->refs, 1, memory_order_relaxed);
    if (p.oom) {
        kube_obj_unref(o);
        return NULL;
    }
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
    if (o == NULL || atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel) != 1)
        return;
    kube_pool *pool = o->pool;
    if (pool != NULL)
        release_lists(o, &o->root);
    free(o);
    kube_pool_unref(pool);
}
