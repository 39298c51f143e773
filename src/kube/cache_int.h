/* cache_int.h - what the files of the watch cache share (object.c, store.c, informer.c,
 * cache.c) and what their tests reach. Never included from outside src/kube/ and tests.
 *
 * object.c  a cached object: a stripped, compact, read-only cJSON tree; nested lists shared
 * store.c   the objects of one kind by namespace/name; readers never wait for a parse
 * informer.c  LIST + WATCH of one kind, one step at a time (its thread loops over the steps)
 * cache.c   the public API: kinds, lookups, the live GET on a miss, metrics */
#ifndef SG_KUBE_CACHE_INT_H
#define SG_KUBE_CACHE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "cache.h"

/* ---- object.c ---------------------------------------------------------------------------- */

/* Child lists (the members of an object, the items of an array) shared by the objects of one
 * kind: most claims have equal spec.resources, status, finalizers... Each list is one
 * allocation holding its nodes and their strings; its nodes' children are lists of the same
 * pool. The kind's writer alone adds lists and frees them (those no object uses any more);
 * any thread may drop a reference. */
typedef struct kube_pool kube_pool;

/* A new pool with one reference (the informer's). NULL when memory is exhausted. */
kube_pool *kube_pool_new(void);

/* Drops a reference; the last one frees the pool and every list left in it. */
void kube_pool_unref(kube_pool *p);

/* Writer: frees the lists no object uses when there are enough of them to be worth a pass.
 * 'force': whenever there is one. */
void kube_pool_sweep(kube_pool *p, bool force);

/* Writer: the lists in the pool (for tests and the bench). */
size_t kube_pool_count(const kube_pool *p);

/* One allocation: this header, the nodes kept inline (all of them without a pool; with one,
 * the root, its members and the members of metadata), then their strings not interned. The
 * other nodes are in the pool's lists, each held by one reference. Immutable once built;
 * freed when the last reference goes. */
struct kube_obj {
    atomic_long refs;
    uint64_t hash;    /* kube_key_hash(ns, name) */
    const char *ns;   /* metadata.namespace, "" when none (cluster-scoped) */
    const char *name; /* metadata.name */
    size_t size;      /* bytes of the allocation */
    kube_pool *pool;  /* NULL: every node inline */
    cJSON root;
};

/* Copies 'src' into a new object (one reference) without metadata.managedFields and the
 * kubectl.kubernetes.io/last-applied-configuration annotation. When 'src' has no apiVersion
 * or kind (items of a LIST have none), 'api_version' and 'kind' are put first, so an object
 * looks the same whether it came from a list, a watch event or a GET. With a 'pool' (only
 * from the pool's writer), nested lists are shared with the pool's other objects. Borrows
 * 'src'. Returns NULL when 'src' is not an object with a string metadata.name (and, when
 * present, a string metadata.namespace), or when memory is exhausted. */
kube_obj *kube_obj_compact(kube_pool *pool, const cJSON *src, const char *api_version,
                           const char *kind);

/* FNV-1a over 'ns' '/' 'name'. */
uint64_t kube_key_hash(const char *ns, const char *name);

/* ---- store.c ----------------------------------------------------------------------------- */

/* An open-addressing table (linear probing) of objects; each slot holds one reference. */
typedef struct kube_table {
    size_t cap; /* a power of two */
    size_t count;
    kube_obj **slot;
} kube_table;

/* A new empty table, or NULL when memory is exhausted. */
kube_table *kube_table_new(void);

/* Puts 'o' (its reference moves to the table) into a table nobody else sees (a re-list
 * being built), replacing an object of the same key. Returns 0, or -1 when memory is
 * exhausted ('o' is then released). */
int kube_table_put(kube_table *t, kube_obj *o);

/* Releases every object and frees the table. NULL is ignored. */
void kube_table_free(kube_table *t);

/* The objects of one kind. One writer (the kind's informer) changes it; any number of readers
 * take references. The writer does every parse and allocation outside the lock and holds it
 * (write side) only to store a pointer, move a few slots or swap a table. */
typedef struct kube_store {
    pthread_rwlock_t lock;
    kube_table *tab;
} kube_store;

int kube_store_init(kube_store *s);
void kube_store_clear(kube_store *s);

/* Writer: puts 'o' (reference moved), replacing the object of the same key. Returns 0, or -1
 * when memory is exhausted ('o' released, the store unchanged). */
int kube_store_put(kube_store *s, kube_obj *o);

/* Writer: removes the object 'ns'/'name'. Returns 1 when there was one, else 0. */
int kube_store_remove(kube_store *s, const char *ns, const char *name);

/* Writer: replaces the whole table by 't' (a re-list); the old one is freed after the swap. */
void kube_store_swap(kube_store *s, kube_table *t);

/* Reader: a reference to 'ns'/'name', or NULL. */
kube_obj *kube_store_get(kube_store *s, const char *ns, const char *name);

/* Reader: references to every object in 'ns' ("" : all), sorted by namespace then name, in an
 * array from 'a' (a request's arena), which also holds the references: they are released when
 * it is freed or reset. Returns 0, or -1 when 'a' or memory is exhausted (no array; what the
 * arena took it releases as usual, the rest at once). */
int kube_store_snapshot(kube_store *s, const char *ns, arena *a, kube_obj ***out, size_t *n);

/* Reader: the number of objects. */
size_t kube_store_count(kube_store *s);

/* ---- informer.c -------------------------------------------------------------------------- */

/* The client calls the cache makes, as a table, so that tests can answer them from recorded
 * API answers without a server. kube_cache_new fills it with client.h's functions. */
typedef struct kube_api {
    void *arg;
    int (*discover)(void *arg, const char *api_version, const char *kind, long timeout_ms,
                    kube_resource *out, char error[512]);
    int (*path)(const kube_resource *res, const char *ns, const char *name, char *out, size_t cap);
    int (*get)(void *arg, const char *path, long timeout_ms, kube_response *r);
    int (*list)(void *arg, const char *path, long limit, long timeout_ms,
                int (*on_item)(void *a, cJSON *item), void *item_arg, char *rv, size_t rv_cap,
                kube_response *r);
    int (*stream)(void *arg, const char *path, long idle_timeout_ms,
                  int (*on_line)(void *a, const char *line, size_t len), void *line_arg,
                  const atomic_bool *stop, kube_response *r);
    /* Optional: makes the calling thread's requests end when '*stop' is set (the informer's
     * thread calls it first), so that a stop never waits for a request in flight. */
    void (*thread_stop)(const atomic_bool *stop);
} kube_api;

/* Why a watch was started again (streamguard_kube_watch_restarts_total{reason}). */
enum kube_restart {
    KUBE_RESTART_GONE,   /* 410: the resourceVersion is too old; listed again */
    KUBE_RESTART_ERROR,  /* an ERROR event (or an undecodable line); listed again */
    KUBE_RESTART_CLOSED, /* the server ended the watch (timeoutSeconds); watched again */
    KUBE_RESTART_FAILED, /* no answer, a cut stream, an HTTP error, a failed discovery/list */
    KUBE_RESTART_COUNT
};

enum kube_outcome {
    KUBE_HIT,
    KUBE_LIVE_HIT,
    KUBE_MISS_NOT_FOUND,
    KUBE_MISS_UNAVAILABLE,
    KUBE_OUTCOME_COUNT
};

/* Counters of one kind; never freed while the cache lives (a kind dropped from the policies
 * keeps its counters), so the request path counts with atomics and no lock. */
typedef struct kube_kind_stats {
    kube_kind kind;
    char label[400]; /* "apiVersion/Kind" */
    atomic_ullong lookups[KUBE_OUTCOME_COUNT];
    atomic_ullong restarts[KUBE_RESTART_COUNT];
    atomic_llong last_list_ms, last_event_ms; /* Unix time; 0: never */
    atomic_long objects; /* the sum over the kind's informers (whole, or one object each) */
    atomic_int watched;  /* the kind's informers running */
    atomic_int scope; /* KUBE_SCOPE_*: from the kind's discovery, once its informer ran one */
} kube_kind_stats;

/* Whether a kind is namespaced, as discovery said. A cluster-scoped kind's objects are kept
 * under the namespace "", and a lookup of one ignores the namespace asked, as the API server's
 * path and kubectl do. */
enum { KUBE_SCOPE_UNKNOWN, KUBE_SCOPE_NAMESPACED, KUBE_SCOPE_CLUSTER };

typedef struct kube_informer kube_informer;

/* 'changed' is called by the writer after each change of a key (ns, name), and with NULL
 * 'ns' and 'name' after a re-list: the cache drops its live answers for them. */
typedef void (*kube_changed_fn)(void *arg, const kube_kind_stats *kind, const char *ns,
                                const char *name);

/* A new informer of 'stats->kind' (not started). NULL when memory is exhausted. */
kube_informer *kube_informer_new(const kube_api *api, const kube_cache_opts *o,
                                 kube_kind_stats *stats, kube_changed_fn changed,
                                 void *changed_arg);

/* Before kube_informer_start: watches only the object 'ns'/'name' (kube_kind), not the whole
 * kind. Returns 0, or -1 when they do not fit a kube_kind. */
int kube_informer_set_scope(kube_informer *inf, const char *ns, const char *name);

/* The whole kind's, or the scope kube_informer_set_scope gave (its 'name' non-empty). */
const kube_kind *kube_informer_scope(kube_informer *inf);

/* One step of the state machine: discovery, a LIST (all pages) or one WATCH. Returns the
 * milliseconds to wait before the next step (0: at once). */
long kube_informer_step(kube_informer *inf);

/* Starts the thread that loops over the steps. Returns 0 or -1. */
int kube_informer_start(kube_informer *inf);

/* Tells the thread to stop (it ends within the stream's stop check, about 200 ms, unless a
 * LIST page or a discovery is in flight), waits for it and frees everything. */
void kube_informer_free(kube_informer *inf);

kube_store *kube_informer_store(kube_informer *inf);
bool kube_informer_synced(kube_informer *inf);
const kube_kind_stats *kube_informer_stats(kube_informer *inf);

/* ---- cache.c ----------------------------------------------------------------------------- */

/* kube_cache_new with another API table (copied); tests use it. */
kube_cache *kube_cache_new_api(const kube_api *api, const kube_cache_opts *o);

#endif
