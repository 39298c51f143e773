/* cache.h - watch caches of the cluster (informers), answering lookup() and lookupList().
 *
 * Per watched kind: LIST (paged) then WATCH from the list's resourceVersion with bookmarks;
 * on 410 Gone or a dropped stream it watches again or lists again, with capped exponential
 * backoff and jitter. Objects are kept by namespace/name, without metadata.managedFields and
 * the kubectl last-applied annotation, as immutable reference-counted kube_obj: a reader takes
 * a reference and never waits for the network or for a parse, only for a pointer swap.
 *
 * A miss asks the API server once (a live GET with a short timeout: an object applied a
 * moment ago may not have reached the cache) and keeps that answer briefly; a watch event for
 * the same object replaces it. */
#ifndef SG_KUBE_CACHE_H
#define SG_KUBE_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "../policy/engine.h"
#include "../util/buf.h"
#include "client.h"

typedef struct kube_obj kube_obj;

/* The object (read-only; valid while the reference is held). */
const cJSON *kube_obj_json(const kube_obj *o);
kube_obj *kube_obj_ref(kube_obj *o);
void kube_obj_unref(kube_obj *o);

/* A kind to watch, as policies name it in lookup(apiVersion, kind, ...): the whole kind, or
 * with a 'name' only the object 'ns'/'name' (a LIST and a WATCH in 'ns', "" for every
 * namespace or a cluster-scoped kind, with fieldSelector=metadata.name=NAME, which
 * kube-apiserver authorises against RBAC's resourceNames). */
typedef struct kube_kind {
    char api_version[320]; /* a group (253) + "/" + a version (63) */
    char kind[64];
    char ns[64];    /* a namespace (a DNS label, 63) or "" */
    char name[254]; /* "": the whole kind; else an object's name (253 at most) */
} kube_kind;

typedef struct kube_cache_opts {
    long live_timeout_ms;   /* a live GET on a miss (--lookup-timeout): default 1000 */
    long live_ttl_ms;       /* how long a live answer is kept: default 5000 */
    long request_timeout_ms;/* a LIST page, a discovery: default 30000 */
    long watch_timeout_s;   /* timeoutSeconds of one watch (jittered up to 2x): default 60 */
    long backoff_min_ms, backoff_max_ms; /* default 500 and 30000 */
    /* Told after each change a watch brings (an object of 'kind' added, modified or deleted:
     * 'ns' "" for a cluster-scoped one) and after each re-list of a kind ('ns' and 'name'
     * NULL: anything may have changed). Called on the kind's watch thread, after the cache
     * holds the change: it must return quickly and not call the cache back (the background
     * audit only notes that a round is due). NULL: nobody is told. */
    void (*on_change)(void *arg, const kube_kind *kind, const char *ns, const char *name);
    void *on_change_arg;
} kube_cache_opts;

typedef struct kube_cache kube_cache;

/* 'client' is borrowed and must outlive the cache. 'o' NULL: the defaults. */
kube_cache *kube_cache_new(kube_client *client, const kube_cache_opts *o);

/* Stops every watch (each ends within a second) and frees the cache. */
void kube_cache_free(kube_cache *c);

/* Watches exactly 'kinds': starts a watch for each kind (or one object of a kind: a kube_kind
 * with a name) not yet watched, stops the watches not named (their objects are dropped). An
 * object of a kind also named whole is watched by the whole kind's watch only. Called at
 * start and after each policy reload. Returns 0, or -1 when a thread could not be started. */
int kube_cache_set_kinds(kube_cache *c, const kube_kind *kinds, size_t n);

/* True when every watched kind has listed once. */
bool kube_cache_synced(kube_cache *c);

enum kube_lookup {
    KUBE_FOUND,        /* *out holds a reference: kube_obj_unref it */
    KUBE_NOT_FOUND,    /* the API server says there is none (or the synced cache has none and
                          the live GET says 404) */
    KUBE_UNAVAILABLE   /* the cluster could not be asked: 'why' says why */
};

/* lookup(apiVersion, kind, namespace, name). From the cache when the kind (or that one
 * object) is watched and synced and holds the object; otherwise a live GET (its answer kept
 * live_ttl_ms): an object of a kind of which only other objects are watched is asked live,
 * never answered "not found" from a store that could not hold it. 'ns' is "" for
 * cluster-scoped kinds. */
enum kube_lookup kube_cache_get(kube_cache *c, const char *api_version, const char *kind,
                                const char *ns, const char *name, kube_obj **out,
                                char why[256]);

/* lookupList(apiVersion, kind, namespace): every cached object of a watched, synced kind (the
 * whole kind: watches of single objects do not answer) in
 * 'ns' ("" : all namespaces, or a cluster-scoped kind), sorted by namespace then name.
 * '*out' is an array from 'a', the asking request's arena, which also holds the references
 * (released when 'a' is freed or reset): nothing is left for the caller to free. A kind that
 * is not watched or not synced, or a full arena, is KUBE_UNAVAILABLE. */
enum kube_lookup kube_cache_list(kube_cache *c, const char *api_version, const char *kind,
                                 const char *ns, arena *a, kube_obj ***out, size_t *n,
                                 char why[256]);

/* Appends the cache's metrics in the Prometheus text format: objects per kind, last successful
 * list and last watch event per kind, watch restarts by reason, lookups by kind and outcome
 * (hit, live_hit, not_found, unavailable), live GET latency. Returns 0, or -1 when 'out' is
 * full. */
int kube_cache_metrics(kube_cache *c, buf *out);

/* lookup() and lookupList() answered by 'c' (lookup.c): KUBE_FOUND is LOOKUP_FOUND with the
 * object referenced until the asking request's arena is freed, and the other outcomes map
 * one to one (an empty list is LOOKUP_NOT_FOUND). 'c' must outlive the requests. */
policy_lookup kube_cache_lookup(kube_cache *c);

#endif
