/* cache.c - the watch caches behind lookup() and lookupList(); see cache.h.
 *
 * The watched kinds are an array of informers behind a read-write lock that only
 * kube_cache_set_kinds takes for writing. A lookup takes it for reading, finds the kind's
 * informer and asks its store (which has its own lock, held only for a probe). On a miss it
 * asks the API server (a live GET) and keeps the answer in the live cache: a small table,
 * bounded at LIVE_MAX entries, under its own mutex. An entry is created "pending" before the
 * GET, and any watch event or re-list of its key removes it; the GET's answer is kept only if
 * its entry is still there, so an answer fetched before a delete (or a re-create) is never
 * kept past the event that made it stale. The store always answers before the live cache.
 *
 * Counters per kind live in an append-only table (at most MAX_KINDS kinds, then "other"),
 * so the request path counts with one atomic add and no lock. */
#include "cache_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/log.h"
#include "../util/clock.h"

#define MAX_KINDS 64 /* kinds with their own series; more share the last row ("other") */
#define LIVE_MAX 1024

static const double live_le[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,   0.25,   0.5,   1,    2.5,   5};
#define N_LIVE_LE (sizeof live_le / sizeof live_le[0])

static const char *const restart_names[KUBE_RESTART_COUNT] = {"gone", "error", "closed", "failed"};
static const char *const outcome_names[KUBE_OUTCOME_COUNT] = {"hit", "live_hit", "not_found",
                                                              "unavailable"};

typedef struct live_entry {
    const kube_kind_stats *kind; /* NULL: a free entry */
    uint64_t hash;               /* kube_key_hash(ns, name) */
    char ns[254], name[254];
    bool pending;
    uint64_t ticket;
    enum kube_lookup answer; /* KUBE_FOUND or KUBE_NOT_FOUND */
    kube_obj *obj;           /* a reference when KUBE_FOUND */
    long long expires_ms;    /* monotonic */
} live_entry;

struct kube_cache {
    kube_api api;
    kube_cache_opts opts;

    pthread_mutex_t set_mu; /* one kube_cache_set_kinds at a time */
    pthread_rwlock_t kinds_lock;
    kube_informer **inf;
    size_t n_inf;

    pthread_mutex_t stats_mu; /* adding a row */
    kube_kind_stats stats[MAX_KINDS + 1];
    atomic_size_t n_stats;

    pthread_mutex_t live_mu;
    live_entry live[LIVE_MAX];
    uint64_t next_ticket;

    atomic_ullong live_bucket[N_LIVE_LE + 1];
    atomic_ullong live_sum_us, live_count;
};

static void opts_default(kube_cache_opts *d, const kube_cache_opts *o)
{
    *d = (kube_cache_opts){.live_timeout_ms = 1000,
                           .live_ttl_ms = 5000,
                           .request_timeout_ms = 30000,
                           .watch_timeout_s = 60,
                           .backoff_min_ms = 500,
                           .backoff_max_ms = 30000};
    if (o == NULL)
        return;
    d->on_change = o->on_change;
    d->on_change_arg = o->on_change_arg;
    if (o->live_timeout_ms > 0)
        d->live_timeout_ms = o->live_timeout_ms;
    if (o->live_ttl_ms > 0)
        d->live_ttl_ms = o->live_ttl_ms;
    if (o->request_timeout_ms > 0)
        d->request_timeout_ms = o->request_timeout_ms;
    if (o->watch_timeout_s > 0)
        d->watch_timeout_s = o->watch_timeout_s;
    if (o->backoff_min_ms > 0)
        d->backoff_min_ms = o->backoff_min_ms;
    if (o->backoff_max_ms >= d->backoff_min_ms)
        d->backoff_max_ms = o->backoff_max_ms;
    else if (d->backoff_max_ms < d->backoff_min_ms)
        d->backoff_max_ms = d->backoff_min_ms;
}

kube_cache *kube_cache_new_api(const kube_api *api, const kube_cache_opts *o)
{
    kube_cache *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->api = *api;
    opts_default(&c->opts, o);
    pthread_mutex_init(&c->set_mu, NULL);
    pthread_rwlock_init(&c->kinds_lock, NULL);
    pthread_mutex_init(&c->stats_mu, NULL);
    pthread_mutex_init(&c->live_mu, NULL);
    atomic_init(&c->n_stats, 0);
    snprintf(c->stats[MAX_KINDS].label, sizeof c->stats[MAX_KINDS].label, "other");
    return c;
}

static void live_release(live_entry *e)
{
    kube_obj_unref(e->obj);
    memset(e, 0, sizeof *e);
}

void kube_cache_free(kube_cache *c)
{
    if (c == NULL)
        return;
    kube_cache_set_kinds(c, NULL, 0);
    for (size_t i = 0; i < LIVE_MAX; i++)
        live_release(&c->live[i]);
    free(c->inf);
    pthread_mutex_destroy(&c->set_mu);
    pthread_rwlock_destroy(&c->kinds_lock);
    pthread_mutex_destroy(&c->stats_mu);
    pthread_mutex_destroy(&c->live_mu);
    free(c);
}

/* An apiVersion and a kind that fit a kube_kind (longer ones name nothing the API serves). */
static bool kind_fits(const char *api_version, const char *kind)
{
    return strlen(api_version) < sizeof((kube_kind *)0)->api_version &&
           strlen(kind) < sizeof((kube_kind *)0)->kind && api_version[0] && kind[0];
}

static bool same_kind(const kube_kind *k, const char *api_version, const char *kind)
{
    return strcmp(k->kind, kind) == 0 && strcmp(k->api_version, api_version) == 0;
}

/* The counters of a kind, created at first use. Lock-free when the row exists. */
static kube_kind_stats *stats_for(kube_cache *c, const char *api_version, const char *kind)
{
    size_t n = atomic_load_explicit(&c->n_stats, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        if (same_kind(&c->stats[i].kind, api_version, kind))
            return &c->stats[i];
    }
    pthread_mutex_lock(&c->stats_mu);
    n = atomic_load_explicit(&c->n_stats, memory_order_relaxed);
    kube_kind_stats *s = NULL;
    for (size_t i = 0; i < n && s == NULL; i++) {
        if (same_kind(&c->stats[i].kind, api_version, kind))
            s = &c->stats[i];
    }
    if (s == NULL && n < MAX_KINDS) {
        s = &c->stats[n];
        snprintf(s->kind.api_version, sizeof s->kind.api_version, "%s", api_version);
        snprintf(s->kind.kind, sizeof s->kind.kind, "%s", kind);
        snprintf(s->label, sizeof s->label, "%s/%s", api_version, kind);
        atomic_store_explicit(&c->n_stats, n + 1, memory_order_release);
    } else if (s == NULL) {
        s = &c->stats[MAX_KINDS];
    }
    pthread_mutex_unlock(&c->stats_mu);
    return s;
}

static void count(kube_kind_stats *s, enum kube_outcome o)
{
    atomic_fetch_add_explicit(&s->lookups[o], 1, memory_order_relaxed);
}

/* The informer of a whole kind, under kinds_lock (read side). */
static kube_informer *find_informer(kube_cache *c, const char *api_version, const char *kind)
{
    for (size_t i = 0; i < c->n_inf; i++) {
        const kube_kind *k = kube_informer_scope(c->inf[i]);
        if (k->name[0] == '\0' && same_kind(k, api_version, kind))
            return c->inf[i];
    }
    return NULL;
}

/* The informer of the kind's object 'ns'/'name' alone, under kinds_lock (read side). A
 * cluster-scoped kind's ('cluster') objects have no namespace, whatever the scope was given. */
static kube_informer *find_scoped(kube_cache *c, const char *api_version, const char *kind,
                                  const char *ns, const char *name, bool cluster)
{
    for (size_t i = 0; i < c->n_inf; i++) {
        const kube_kind *k = kube_informer_scope(c->inf[i]);
        if (k->name[0] != '\0' && strcmp(k->name, name) == 0 &&
            (cluster || strcmp(k->ns, ns) == 0) && same_kind(k, api_version, kind))
            return c->inf[i];
    }
    return NULL;
}

static bool same_scope(const kube_kind *a, const kube_kind *b)
{
    return same_kind(a, b->api_version, b->kind) && strcmp(a->ns, b->ns) == 0 &&
           strcmp(a->name, b->name) == 0;
}

/* The running informer of exactly 'k' (set_mu held). */
static kube_informer *find_same(kube_cache *c, const kube_kind *k)
{
    for (size_t i = 0; i < c->n_inf; i++) {
        if (same_scope(kube_informer_scope(c->inf[i]), k))
            return c->inf[i];
    }
    return NULL;
}

/* Called by an informer after a change of 'ns'/'name' (NULL: every key of the kind). */
static void live_drop(void *arg, const kube_kind_stats *kind, const char *ns, const char *name)
{
    kube_cache *c = arg;
    uint64_t h = ns != NULL ? kube_key_hash(ns, name) : 0;
    pthread_mutex_lock(&c->live_mu);
    for (size_t i = 0; i < LIVE_MAX; i++) {
        live_entry *e = &c->live[i];
        if (e->kind == kind &&
            (ns == NULL || (e->hash == h && strcmp(e->ns, ns) == 0 && strcmp(e->name, name) == 0)))
            live_release(e);
    }
    pthread_mutex_unlock(&c->live_mu);
}

/* What a watch changed: the live answers for it go, and the cache's user is told. */
static void changed(void *arg, const kube_kind_stats *kind, const char *ns, const char *name)
{
    kube_cache *c = arg;
    live_drop(c, kind, ns, name);
    if (c->opts.on_change != NULL)
        c->opts.on_change(c->opts.on_change_arg, &kind->kind, ns, name);
}

static live_entry *live_find(kube_cache *c, const kube_kind_stats *kind, uint64_t h, const char *ns,
                             const char *name)
{
    for (size_t i = 0; i < LIVE_MAX; i++) {
        live_entry *e = &c->live[i];
        if (e->kind == kind && e->hash == h && strcmp(e->ns, ns) == 0 && strcmp(e->name, name) == 0)
            return e;
    }
    return NULL;
}

/* A slot for a new entry: a free one, else an expired one, else the one expiring first. */
static live_entry *live_slot(kube_cache *c, long long now)
{
    live_entry *best = NULL;
    for (size_t i = 0; i < LIVE_MAX; i++) {
        live_entry *e = &c->live[i];
        if (e->kind == NULL || (!e->pending && e->expires_ms <= now))
            return e;
        if (best == NULL || e->expires_ms < best->expires_ms)
            best = e;
    }
    return best;
}

/* The live cache's answer, or -1 when it has none; otherwise a pending entry is made and
 * '*ticket' names it. */
static int live_lookup(kube_cache *c, const kube_kind_stats *kind, const char *ns, const char *name,
                       kube_obj **out, uint64_t *ticket)
{
    uint64_t h = kube_key_hash(ns, name);
    long long now = clock_mono_ms();
    int answer = -1;
    pthread_mutex_lock(&c->live_mu);
    live_entry *e = live_find(c, kind, h, ns, name);
    if (e != NULL && !e->pending && e->expires_ms > now) {
        answer = (int)e->answer;
        *out = kube_obj_ref(e->obj);
    } else if (kind != &c->stats[MAX_KINDS] && strlen(ns) < sizeof e->ns &&
               strlen(name) < sizeof e->name) { /* "other" mixes kinds: never kept */
        if (e == NULL) {
            e = live_slot(c, now);
            live_release(e);
            e->kind = kind;
            e->hash = h;
            snprintf(e->ns, sizeof e->ns, "%s", ns);
            snprintf(e->name, sizeof e->name, "%s", name);
        }
        kube_obj_unref(e->obj); /* an expired answer */
        e->obj = NULL;
        e->pending = true;
        e->expires_ms = now + c->opts.live_timeout_ms + c->opts.live_ttl_ms;
        e->ticket = ++c->next_ticket;
        *ticket = e->ticket;
    }
    pthread_mutex_unlock(&c->live_mu);
    return answer;
}

/* Keeps a live GET's answer if nothing changed the key since the GET began. */
static void live_keep(kube_cache *c, const kube_kind_stats *kind, const char *ns, const char *name,
                      uint64_t ticket, enum kube_lookup answer, kube_obj *o)
{
    pthread_mutex_lock(&c->live_mu);
    live_entry *e = live_find(c, kind, kube_key_hash(ns, name), ns, name);
    if (e != NULL && e->ticket == ticket) {
        if (answer == KUBE_UNAVAILABLE) {
            live_release(e); /* not kept: the next lookup asks again */
        } else {
            e->pending = false;
            e->answer = answer;
            e->obj = kube_obj_ref(o);
            e->expires_ms = clock_mono_ms() + c->opts.live_ttl_ms;
        }
    }
    pthread_mutex_unlock(&c->live_mu);
}

static void live_observe(kube_cache *c, double seconds)
{
    size_t b = 0;
    while (b < N_LIVE_LE && seconds > live_le[b])
        b++;
    atomic_fetch_add_explicit(&c->live_bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->live_sum_us, (unsigned long long)(seconds * 1e6),
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&c->live_count, 1, memory_order_relaxed);
}

/* One GET of the object within live_timeout_ms, discovery included. */
static enum kube_lookup live_get(kube_cache *c, const char *api_version, const char *kind,
                                 const char *ns, const char *name, kube_obj **out, char why[256])
{
    long long t0 = clock_mono_ms();
    kube_resource res;
    char err[512] = "", path[1024];
    if (c->api.discover(c->api.arg, api_version, kind, c->opts.live_timeout_ms, &res, err) != 0) {
        snprintf(why, 256, "%.255s", err);
        return KUBE_UNAVAILABLE;
    }
    if (res.namespaced && ns[0] == '\0') {
        /* No object of a namespaced kind lives outside a namespace; the path without one is
         * a collection's, which cannot be asked for one object. */
        snprintf(why, 256, "a %s is namespaced: no namespace was given", kind);
        return KUBE_NOT_FOUND;
    }
    if (c->api.path(&res, ns, name, path, sizeof path) < 0) {
        snprintf(why, 256, "%s/%s cannot be the name of a %s", ns, name, kind);
        return KUBE_NOT_FOUND; /* no object can have that name */
    }
    long left = c->opts.live_timeout_ms - (long)(clock_mono_ms() - t0);
    kube_response r = {0};
    int rc = c->api.get(c->api.arg, path, left > 1 ? left : 1, &r);
    live_observe(c, (double)(clock_mono_ms() - t0) / 1e3);
    enum kube_lookup res_code = KUBE_UNAVAILABLE;
    if (rc == 0) {
        cJSON *doc = r.body != NULL ? cJSON_ParseWithLength(r.body, r.len) : NULL;
        *out = kube_obj_compact(NULL, doc, api_version, kind); /* kept apart from any pool */
        cJSON_Delete(doc);
        if (*out != NULL)
            res_code = KUBE_FOUND;
        else
            snprintf(why, 256, "the API server's answer is not a %s", kind);
    } else if (kube_not_found(&r, name)) {
        res_code = KUBE_NOT_FOUND;
    } else {
        snprintf(why, 256, "%.255s", r.error[0] ? r.error : "no answer");
    }
    free(r.body); /* client.h: malloc'd */
    return res_code;
}

enum kube_lookup kube_cache_get(kube_cache *c, const char *api_version, const char *kind,
                                const char *ns, const char *name, kube_obj **out, char why[256])
{
    *out = NULL;
    why[0] = '\0';
    if (api_version == NULL || kind == NULL || ns == NULL || name == NULL ||
        !kind_fits(api_version, kind)) {
        snprintf(why, 256,
                 "lookup needs an apiVersion (at most 319 bytes), a kind (at most 63) "
                 "and a name");
        return KUBE_UNAVAILABLE;
    }
    if (name[0] == '\0') {
        /* A claimName left empty: no object has that name (as the CLI answers), and the
         * policy decides; never "could not be asked", which would deny under Fail. */
        snprintf(why, 256, "no object has an empty name");
        return KUBE_NOT_FOUND;
    }
    kube_kind_stats *st = stats_for(c, api_version, kind);
    bool cluster = atomic_load(&st->scope) == KUBE_SCOPE_CLUSTER;
    if (cluster)
        ns = ""; /* the store and the live answers key a cluster-scoped object without one */
    pthread_rwlock_rdlock(&c->kinds_lock);
    kube_informer *inf = find_informer(c, api_version, kind);
    if (inf == NULL) /* only some objects of the kind watched: this one, or a live GET */
        inf = find_scoped(c, api_version, kind, ns, name, cluster);
    if (inf != NULL && kube_informer_synced(inf))
        *out = kube_store_get(kube_informer_store(inf), ns, name);
    pthread_rwlock_unlock(&c->kinds_lock);
    if (*out != NULL) {
        count(st, KUBE_HIT);
        return KUBE_FOUND;
    }
    uint64_t ticket = 0;
    int cached = live_lookup(c, st, ns, name, out, &ticket);
    if (cached >= 0) {
        count(st, cached == KUBE_FOUND ? KUBE_LIVE_HIT : KUBE_MISS_NOT_FOUND);
        return (enum kube_lookup)cached;
    }
    enum kube_lookup r = live_get(c, api_version, kind, ns, name, out, why);
    live_keep(c, st, ns, name, ticket, r, *out);
    count(st, r == KUBE_FOUND       ? KUBE_LIVE_HIT
              : r == KUBE_NOT_FOUND ? KUBE_MISS_NOT_FOUND
                                    : KUBE_MISS_UNAVAILABLE);
    return r;
}

enum kube_lookup kube_cache_list(kube_cache *c, const char *api_version, const char *kind,
                                 const char *ns, arena *a, kube_obj ***out, size_t *n,
                                 char why[256])
{
    *out = NULL;
    *n = 0;
    why[0] = '\0';
    if (api_version == NULL || kind == NULL || ns == NULL || !kind_fits(api_version, kind)) {
        snprintf(why, 256,
                 "lookupList needs an apiVersion (at most 319 bytes) and a kind (at "
                 "most 63)");
        return KUBE_UNAVAILABLE;
    }
    kube_kind_stats *st = stats_for(c, api_version, kind);
    if (atomic_load(&st->scope) == KUBE_SCOPE_CLUSTER)
        ns = ""; /* a namespace given for Nodes would otherwise list none */
    enum kube_lookup r = KUBE_FOUND;
    pthread_rwlock_rdlock(&c->kinds_lock);
    kube_informer *inf = find_informer(c, api_version, kind);
    if (inf == NULL) {
        snprintf(why, 256, "%s/%s is not watched", api_version, kind);
        r = KUBE_UNAVAILABLE;
    } else if (!kube_informer_synced(inf)) {
        snprintf(why, 256, "%s/%s is not yet listed", api_version, kind);
        r = KUBE_UNAVAILABLE;
    } else if (kube_store_snapshot(kube_informer_store(inf), ns, a, out, n) != 0) {
        snprintf(why, 256, "out of memory");
        r = KUBE_UNAVAILABLE;
    }
    pthread_rwlock_unlock(&c->kinds_lock);
    count(st, r == KUBE_FOUND ? KUBE_HIT : KUBE_MISS_UNAVAILABLE);
    return r;
}

bool kube_cache_synced(kube_cache *c)
{
    bool all = true;
    pthread_rwlock_rdlock(&c->kinds_lock);
    for (size_t i = 0; i < c->n_inf && all; i++)
        all = kube_informer_synced(c->inf[i]);
    pthread_rwlock_unlock(&c->kinds_lock);
    return all;
}

/* The informers of 'kinds': the running ones kept, new ones started. Returns the array
 * (malloc'd) and its length in '*n', or NULL with '*n' 0 when 'kinds' is empty. */
static kube_informer **informers_for(kube_cache *c, const kube_kind *kinds, size_t n_kinds,
                                     size_t *n, int *rc)
{
    *n = 0;
    kube_informer **v = n_kinds ? calloc(n_kinds, sizeof *v) : NULL;
    if (n_kinds && v == NULL) {
        *rc = -1;
        return NULL;
    }
    for (size_t i = 0; i < n_kinds; i++) {
        const kube_kind *k = &kinds[i];
        if (strnlen(k->api_version, sizeof k->api_version) == sizeof k->api_version ||
            strnlen(k->kind, sizeof k->kind) == sizeof k->kind ||
            strnlen(k->ns, sizeof k->ns) == sizeof k->ns ||
            strnlen(k->name, sizeof k->name) == sizeof k->name ||
            !kind_fits(k->api_version, k->kind)) { /* not NUL-terminated, or empty */
            *rc = -1;
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < *n && !dup; j++)
            dup = same_scope(kube_informer_scope(v[j]), k);
        /* one object of a kind also watched whole: the whole kind's store holds it */
        for (size_t j = 0; j < n_kinds && !dup && k->name[0]; j++)
            dup = kinds[j].name[0] == '\0' && same_kind(&kinds[j], k->api_version, k->kind);
        if (dup)
            continue;
        kube_informer *inf = find_same(c, k); /* set_mu held */
        if (inf == NULL) {
            kube_kind_stats *st = stats_for(c, k->api_version, k->kind);
            inf = st == &c->stats[MAX_KINDS]
                      ? NULL
                      : kube_informer_new(&c->api, &c->opts, st, changed, c);
            if (inf != NULL && kube_informer_set_scope(inf, k->ns, k->name) != 0) {
                kube_informer_free(inf);
                inf = NULL;
            }
            if (inf == NULL || kube_informer_start(inf) != 0) {
                log_error("kube", LOG_S("msg", "cannot start a watch"), LOG_S("kind", st->label));
                kube_informer_free(inf);
                *rc = -1;
                continue;
            }
        }
        v[(*n)++] = inf;
    }
    return v;
}

int kube_cache_set_kinds(kube_cache *c, const kube_kind *kinds, size_t n)
{
    int rc = 0;
    pthread_mutex_lock(&c->set_mu);
    size_t n_new;
    kube_informer **v = informers_for(c, kinds, n, &n_new, &rc);
    if (n > 0 && v == NULL) {
        pthread_mutex_unlock(&c->set_mu);
        return -1;
    }
    pthread_rwlock_wrlock(&c->kinds_lock);
    kube_informer **old = c->inf;
    size_t n_old = c->n_inf;
    c->inf = v;
    c->n_inf = n_new;
    pthread_rwlock_unlock(&c->kinds_lock);
    for (size_t i = 0; i < n_old; i++) {
        bool kept = false;
        for (size_t j = 0; j < n_new && !kept; j++)
            kept = old[i] == v[j];
        if (!kept) {
            const kube_kind_stats *st = kube_informer_stats(old[i]);
            kube_informer_free(old[i]); /* no reader can reach it any more */
            live_drop(c, st, NULL, NULL);
        }
    }
    free(old);
    pthread_mutex_unlock(&c->set_mu);
    return rc;
}

static int put_series(buf *out, const char *metric, const kube_kind_stats *s, const char *k2,
                      const char *v2, const char *value)
{
    int rc = buf_printf(out, "%s{kind=\"", metric);
    rc |= buf_put_label(out, s->label);
    if (k2 != NULL)
        rc |= buf_printf(out, "\",%s=\"%s", k2, v2);
    rc |= buf_printf(out, "\"} %s\n", value);
    return rc != 0 ? -1 : 0;
}

static int put_header(buf *out, const char *name, const char *type, const char *help)
{
    return buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int metrics_per_kind(kube_cache *c, buf *out, size_t n)
{
    char v[64];
    int rc = put_header(out, "streamguard_kube_objects", "gauge",
                        "Objects in the watch cache of each watched kind "
                        "(kind=\"apiVersion/Kind\").");
    for (size_t i = 0; i < n; i++) {
        if (atomic_load(&c->stats[i].watched) <= 0)
            continue;
        snprintf(v, sizeof v, "%ld", atomic_load(&c->stats[i].objects));
        rc |= put_series(out, "streamguard_kube_objects", &c->stats[i], NULL, NULL, v);
    }
    static const char *const ts_names[2] = {"streamguard_kube_last_list_timestamp_seconds",
                                            "streamguard_kube_last_event_timestamp_seconds"};
    static const char *const ts_help[2] = {
        "Unix time of the last successful LIST of each kind.",
        "Unix time of the last watch event (bookmarks included) of each kind."};
    for (int t = 0; t < 2; t++) {
        rc |= put_header(out, ts_names[t], "gauge", ts_help[t]);
        for (size_t i = 0; i < n; i++) {
            long long ms =
                atomic_load(t == 0 ? &c->stats[i].last_list_ms : &c->stats[i].last_event_ms);
            if (ms == 0)
                continue;
            snprintf(v, sizeof v, "%.3f", (double)ms / 1e3);
            rc |= put_series(out, ts_names[t], &c->stats[i], NULL, NULL, v);
        }
    }
    return rc;
}

static int metrics_counters(kube_cache *c, buf *out, size_t n)
{
    char v[32];
    int rc = put_header(out, "streamguard_kube_watch_restarts_total", "counter",
                        "Watches started again, by kind and reason: gone (410, listed again), "
                        "error (an ERROR event, listed again), closed (ended by the server), "
                        "failed (no connection, a cut stream, a failed discovery or list).");
    for (size_t i = 0; i < n; i++) {
        for (int r = 0; r < KUBE_RESTART_COUNT; r++) {
            snprintf(v, sizeof v, "%llu", atomic_load(&c->stats[i].restarts[r]));
            rc |= put_series(out, "streamguard_kube_watch_restarts_total", &c->stats[i], "reason",
                             restart_names[r], v);
        }
    }
    rc |= put_header(out, "streamguard_kube_lookups_total", "counter",
                     "lookup() and lookupList() calls by kind and outcome: hit (the watch "
                     "cache), live_hit (a live GET or its kept answer), not_found, "
                     "unavailable (the cluster could not be asked).");
    for (size_t i = 0; i < n; i++) {
        for (int o = 0; o < KUBE_OUTCOME_COUNT; o++) {
            snprintf(v, sizeof v, "%llu", atomic_load(&c->stats[i].lookups[o]));
            rc |= put_series(out, "streamguard_kube_lookups_total", &c->stats[i], "outcome",
                             outcome_names[o], v);
        }
    }
    return rc;
}

static int metrics_live(kube_cache *c, buf *out)
{
    const char *h = "streamguard_kube_live_get_seconds";
    int rc = put_header(out, h, "histogram",
                        "Seconds of each live GET made on a cache miss, discovery included.");
    unsigned long long cum = 0;
    for (size_t b = 0; b <= N_LIVE_LE; b++) {
        cum += atomic_load(&c->live_bucket[b]);
        if (b < N_LIVE_LE)
            rc |= buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", h, live_le[b], cum);
        else
            rc |= buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n", h, cum);
    }
    rc |= buf_printf(out, "%s_sum %.6f\n%s_count %llu\n", h,
                     (double)atomic_load(&c->live_sum_us) / 1e6, h, atomic_load(&c->live_count));
    return rc;
}

int kube_cache_metrics(kube_cache *c, buf *out)
{
    size_t n = atomic_load_explicit(&c->n_stats, memory_order_acquire);
    if (n == MAX_KINDS)
        n = MAX_KINDS + 1; /* the "other" row may be in use */
    int rc = metrics_per_kind(c, out, n);
    rc |= metrics_counters(c, out, n);
    rc |= metrics_live(c, out);
    return rc != 0 ? -1 : 0;
}
