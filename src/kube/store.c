/* store.c - the objects of one kind by namespace/name.
 *
 * An open-addressing table with linear probing; each slot holds a reference to an immutable
 * kube_obj, which carries its key and its hash. One writer (the kind's informer thread)
 * changes the table, so it may read it without the lock; it builds what is expensive (the
 * object, a grown slot array, a whole re-listed table) before taking the lock, and holds the
 * write side only to store a pointer, shift the few slots after a removal, or swap. Readers
 * hold the read side while they probe and take a reference, and release the reference later
 * (after the lock), so a replaced object lives on while a request still reads it.
 * The lock prefers writers, so a stream of lookups cannot starve the informer. */
#include "cache_int.h"

#include <stdlib.h>
#include <string.h>

#define TABLE_MIN 16

static kube_obj **slots_new(size_t cap)
{
    return calloc(cap, sizeof(kube_obj *));
}

kube_table *kube_table_new(void)
{
    kube_table *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->cap = TABLE_MIN;
    t->slot = slots_new(t->cap);
    if (t->slot == NULL) {
        free(t);
        return NULL;
    }
    return t;
}

void kube_table_free(kube_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->cap; i++)
        kube_obj_unref(t->slot[i]);
    free(t->slot);
    free(t);
}

static bool same_key(const kube_obj *o, uint64_t h, const char *ns, const char *name)
{
    return o->hash == h && strcmp(o->name, name) == 0 && strcmp(o->ns, ns) == 0;
}

/* The slot holding 'ns'/'name', or the empty slot where it would go. */
static size_t probe(const kube_obj *const *slot, size_t cap, uint64_t h, const char *ns,
                    const char *name)
{
    size_t i = (size_t)h & (cap - 1);
    while (slot[i] != NULL && !same_key(slot[i], h, ns, name))
        i = (i + 1) & (cap - 1);
    return i;
}

/* A slot array of 'cap' holding the objects of 't' (not their references: the caller
 * swaps it in and frees the old array). NULL when memory is exhausted. */
static kube_obj **rehash(const kube_table *t, size_t cap)
{
    kube_obj **s = slots_new(cap);
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < t->cap; i++) {
        kube_obj *o = t->slot[i];
        if (o != NULL)
            s[probe((const kube_obj *const *)s, cap, o->hash, o->ns, o->name)] = o;
    }
    return s;
}

/* Room for one more at a load of at most 3/4: a new slot array, or NULL when the current
 * one has room (or memory is exhausted: '*oom' is set). */
static kube_obj **grown(const kube_table *t, size_t *cap, bool *oom)
{
    *oom = false;
    if ((t->count + 1) * 4 <= t->cap * 3)
        return NULL;
    *cap = t->cap * 2;
    kube_obj **s = rehash(t, *cap);
    *oom = s == NULL;
    return s;
}

/* Puts 'o' into 't', first swapping in 'grew' (of 'cap' slots) when not NULL, whose old array
 * goes to '*old_slots' for the caller to free. Returns the object 'o' replaced, or NULL. */
static kube_obj *insert(kube_table *t, kube_obj **grew, size_t cap, kube_obj ***old_slots,
                        kube_obj *o)
{
    if (grew != NULL) {
        *old_slots = t->slot;
        t->slot = grew;
        t->cap = cap;
    }
    size_t i = probe((const kube_obj *const *)t->slot, t->cap, o->hash, o->ns, o->name);
    kube_obj *old = t->slot[i];
    t->slot[i] = o;
    if (old == NULL)
        t->count++;
    return old;
}

/* Puts 'o' into 't', under 'lock' (write) when there is one: the table grows outside it, so
 * readers wait only for the swap; what the put replaced is freed after it. */
static int put(kube_table *t, kube_obj *o, pthread_rwlock_t *lock)
{
    size_t cap;
    bool oom;
    kube_obj **grew = grown(t, &cap, &oom), **old_slots = NULL;
    if (oom) {
        kube_obj_unref(o);
        return -1;
    }
    if (lock != NULL)
        pthread_rwlock_wrlock(lock);
    kube_obj *old = insert(t, grew, cap, &old_slots, o);
    if (lock != NULL)
        pthread_rwlock_unlock(lock);
    free(old_slots);
    kube_obj_unref(old);
    return 0;
}

int kube_table_put(kube_table *t, kube_obj *o)
{
    return put(t, o, NULL);
}

int kube_store_init(kube_store *s)
{
    pthread_rwlockattr_t at;
    pthread_rwlockattr_init(&at);
    pthread_rwlockattr_setkind_np(&at, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int rc = pthread_rwlock_init(&s->lock, &at);
    pthread_rwlockattr_destroy(&at);
    if (rc != 0)
        return -1;
    s->tab = kube_table_new();
    if (s->tab == NULL) {
        pthread_rwlock_destroy(&s->lock);
        return -1;
    }
    return 0;
}

void kube_store_clear(kube_store *s)
{
    kube_table_free(s->tab);
    s->tab = NULL;
    pthread_rwlock_destroy(&s->lock);
}

int kube_store_put(kube_store *s, kube_obj *o)
{
    return put(s->tab, o, &s->lock); /* only this writer changes the table: grown unlocked */
}

int kube_store_remove(kube_store *s, const char *ns, const char *name)
{
    kube_table *t = s->tab;
    uint64_t h = kube_key_hash(ns, name);
    size_t mask = t->cap - 1, i = probe((const kube_obj *const *)t->slot, t->cap, h, ns, name);
    kube_obj *old = t->slot[i];
    if (old == NULL)
        return 0;
    pthread_rwlock_wrlock(&s->lock);
    /* Backward-shift deletion: move up each later object of the run whose home slot is not
     * between the hole and it, so every probe still reaches its object without tombstones. */
    for (size_t j = i;;) {
        j = (j + 1) & mask;
        kube_obj *o = t->slot[j];
        if (o == NULL)
            break;
        size_t home = (size_t)o->hash & mask;
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            t->slot[i] = o;
            i = j;
        }
    }
    t->slot[i] = NULL;
    t->count--;
    pthread_rwlock_unlock(&s->lock);
    kube_obj_unref(old);
    return 1;
}

void kube_store_swap(kube_store *s, kube_table *t)
{
    pthread_rwlock_wrlock(&s->lock);
    kube_table *old = s->tab;
    s->tab = t;
    pthread_rwlock_unlock(&s->lock);
    kube_table_free(old);
}

kube_obj *kube_store_get(kube_store *s, const char *ns, const char *name)
{
    uint64_t h = kube_key_hash(ns, name);
    pthread_rwlock_rdlock(&s->lock);
    const kube_table *t = s->tab;
    kube_obj *o = t->slot[probe((const kube_obj *const *)t->slot, t->cap, h, ns, name)];
    kube_obj_ref(o);
    pthread_rwlock_unlock(&s->lock);
    return o;
}

size_t kube_store_count(kube_store *s)
{
    pthread_rwlock_rdlock(&s->lock);
    size_t n = s->tab->count;
    pthread_rwlock_unlock(&s->lock);
    return n;
}

static int cmp_obj(const void *a, const void *b)
{
    const kube_obj *x = *(kube_obj *const *)a, *y = *(kube_obj *const *)b;
    int c = strcmp(x->ns, y->ns);
    return c != 0 ? c : strcmp(x->name, y->name);
}

static void unref_obj(void *o)
{
    kube_obj_unref(o);
}

int kube_store_snapshot(kube_store *s, const char *ns, arena *a, kube_obj ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    pthread_rwlock_rdlock(&s->lock);
    const kube_table *t = s->tab;
    kube_obj **v = arena_calloc(a, t->count + 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; v != NULL && i < t->cap; i++) {
        kube_obj *o = t->slot[i];
        if (o != NULL && (ns[0] == '\0' || strcmp(o->ns, ns) == 0))
            v[k++] = kube_obj_ref(o);
    }
    pthread_rwlock_unlock(&s->lock);
    if (v == NULL)
        return -1;
    qsort(v, k, sizeof *v, cmp_obj); /* outside the lock: the references keep them alive */
    /* Each reference goes to the arena as soon as the request has it. A full arena releases
     * the one it refused (arena_defer) and the rest are released here: none is held then. */
    int rc = 0;
    for (size_t i = 0; i < k; i++) {
        if (rc != 0)
            kube_obj_unref(v[i]);
        else
            rc = arena_defer(a, unref_obj, v[i]);
    }
    if (rc != 0)
        return -1;
    *out = v;
    *n = k;
    return 0;
}
