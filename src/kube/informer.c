/* informer.c - LIST then WATCH one kind into its store, for as long as the kind is watched.
 *
 * One thread per watched kind. A watch is a long blocking HTTP stream; with one thread per
 * kind a slow or failing kind (a CRD not installed, a stalled LIST) never delays another, the
 * state of each kind is plain locals of its thread, and the few kinds policies look up (two or
 * three) cost two or three mostly sleeping threads. The thread loops over
 * kube_informer_step(), which does one thing (a discovery, a whole LIST, or one WATCH) and
 * says how long to wait; tests drive the steps directly with recorded API answers.
 *
 *   discover -> LIST (pages of 500) -> WATCH from the list's resourceVersion, with bookmarks
 *   ADDED/MODIFIED replace, DELETED removes, BOOKMARK moves the resourceVersion on,
 *   ERROR 410 (or HTTP 410) -> LIST again at once, other ERROR -> backoff + LIST again,
 *   the server ends the watch -> WATCH again from the last resourceVersion,
 *   the stream is cut or cannot be opened -> backoff + WATCH again from there,
 *   a failed discovery or LIST -> backoff + the same again; a LIST that an answering API
 *   server refuses or that cannot be read also makes the kind unsynced (see unsync()).
 * Backoff: backoff_min_ms doubled on each consecutive failure up to backoff_max_ms, then a
 * random point in its upper half (so replicas do not retry in step). A LIST replaces the
 * store in one swap, so objects deleted while no watch ran disappear. */
#include "cache_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../util/log.h"
#include "../util/clock.h"

/* Watches refused (401/403) in a row before the kind lists again (step_watch). */
#define WATCH_REFUSALS 5

#define LIST_LIMIT 500

struct kube_informer {
    kube_api api;
    kube_cache_opts opts;
    kube_kind_stats *stats;
    kube_kind scope; /* the kind, and the one object watched when scope.name is not "" */
    char scope_label[320]; /* "all", or "namespace/name" (logs) */
    long counted;    /* this informer's share of stats->objects */
    kube_changed_fn changed;
    void *changed_arg;
    kube_store store;
    kube_pool *pool; /* the lists its objects share */
    atomic_bool stop;
    atomic_bool synced;
    pthread_t thread;
    bool started;
    pthread_mutex_t sleep_mu;
    pthread_cond_t sleep_cv;

    /* Writer state: only the informer's thread (or the test driving the steps) uses it. */
    kube_resource res;
    bool have_res, need_list, watching, failing;
    char rv[128];
    unsigned failures; /* consecutive, for the backoff */
    unsigned refusals; /* consecutive watches refused with 401/403 */
    uint64_t rng;

    /* One LIST or one WATCH in progress. */
    kube_table *building;
    size_t listed, skipped;
    unsigned long lines;
    enum { END_NONE, END_GONE, END_ERROR } end;
    char end_why[256];
};

kube_informer *kube_informer_new(const kube_api *api, const kube_cache_opts *o,
                                 kube_kind_stats *stats, kube_changed_fn changed, void *changed_arg)
{
    kube_informer *inf = calloc(1, sizeof *inf);
    if (inf == NULL)
        return NULL;
    inf->pool = kube_pool_new();
    if (inf->pool == NULL || kube_store_init(&inf->store) != 0) {
        kube_pool_unref(inf->pool);
        free(inf);
        return NULL;
    }
    inf->api = *api;
    inf->opts = *o;
    inf->stats = stats;
    inf->scope = stats->kind;
    strcpy(inf->scope_label, "all");
    inf->changed = changed;
    inf->changed_arg = changed_arg;
    inf->need_list = true;
    inf->rng = (uint64_t)clock_mono_ms() ^ (uint64_t)(uintptr_t)inf ^ 0x9e3779b97f4a7c15ull;
    atomic_init(&inf->stop, false);
    atomic_init(&inf->synced, false);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&inf->sleep_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&inf->sleep_mu, NULL);
    return inf;
}

kube_store *kube_informer_store(kube_informer *inf)
{
    return &inf->store;
}

bool kube_informer_synced(kube_informer *inf)
{
    return atomic_load(&inf->synced);
}

const kube_kind_stats *kube_informer_stats(kube_informer *inf)
{
    return inf->stats;
}

int kube_informer_set_scope(kube_informer *inf, const char *ns, const char *name)
{
    if (strlen(ns) >= sizeof inf->scope.ns || strlen(name) >= sizeof inf->scope.name)
        return -1;
    strcpy(inf->scope.ns, ns);
    strcpy(inf->scope.name, name);
    snprintf(inf->scope_label, sizeof inf->scope_label, "%s%s%s", ns, ns[0] ? "/" : "", name);
    return 0;
}

const kube_kind *kube_informer_scope(kube_informer *inf)
{
    return &inf->scope;
}

/* The kind's gauge counts the objects of all its informers: each adds its own change. */
static void count_objects(kube_informer *inf, long n)
{
    atomic_fetch_add(&inf->stats->objects, n - inf->counted);
    inf->counted = n;
}

/* The collection to LIST and WATCH: the kind's across every namespace, or for one object its
 * namespace's with a field selector on its name. The name is percent-encoded whole: the
 * selector's own syntax (',', '=', '!') must not be read into it. Returns the length of the
 * path written, which ends in a query when it has one, or -1 when it does not fit. */
static int collection_path(kube_informer *inf, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    const char *name = inf->scope.name;
    int n = inf->api.path(&inf->res, name[0] ? inf->scope.ns : "", NULL, out, cap);
    if (n < 0 || name[0] == '\0')
        return n;
    size_t len = (size_t)n;
    const char *q = "?fieldSelector=metadata.name%3D";
    if (len + strlen(q) + 3 * strlen(name) + 1 > cap)
        return -1;
    len += (size_t)sprintf(out + len, "%s", q);
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~", *p))
            out[len++] = (char)*p;
        else
            len += (size_t)sprintf(out + len, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
    }
    out[len] = '\0';
    return (int)len;
}

static void release(kube_response *r)
{
    free(r->body); /* client.h: malloc'd */
    r->body = NULL;
}

/* The wait before retrying after a failure, and the failure counted. */
static long backoff(kube_informer *inf)
{
    long lo = inf->opts.backoff_min_ms, hi = inf->opts.backoff_max_ms, d = lo;
    for (unsigned i = 0; i < inf->failures && d < hi; i++)
        d *= 2;
    if (d > hi)
        d = hi;
    inf->failures++;
    inf->rng ^= inf->rng << 13; /* xorshift64: jitter needs no quality */
    inf->rng ^= inf->rng >> 7;
    inf->rng ^= inf->rng << 17;
    return d / 2 + (long)(inf->rng % (uint64_t)(d / 2 + 1));
}

static void restart(kube_informer *inf, enum kube_restart why)
{
    atomic_fetch_add_explicit(&inf->stats->restarts[why], 1, memory_order_relaxed);
}

/* Logs a failure and returns the backoff. */
static long failed(kube_informer *inf, const char *what, const char *why)
{
    long ms = backoff(inf);
    inf->failing = true;
    log_warn("kube", LOG_S("msg", "watch failed"), LOG_S("kind", inf->stats->label),
             LOG_S("step", what), LOG_S("error", why), LOG_I("retry_ms", ms));
    return ms;
}

static void succeeded(kube_informer *inf)
{
    inf->failures = 0;
    if (inf->failing)
        log_info("kube", LOG_S("msg", "watch recovered"), LOG_S("kind", inf->stats->label));
    inf->failing = false;
}

static long step_discover(kube_informer *inf)
{
    char err[512] = "";
    const kube_kind *k = &inf->stats->kind;
    if (inf->api.discover(inf->api.arg, k->api_version, k->kind, inf->opts.request_timeout_ms,
                          &inf->res, err) != 0) {
        if (atomic_load(&inf->stop))
            return 0; /* stopped, not failed */
        restart(inf, KUBE_RESTART_FAILED);
        return failed(inf, "discovery", err);
    }
    inf->have_res = true;
    atomic_store(&inf->stats->scope,
                 inf->res.namespaced ? KUBE_SCOPE_NAMESPACED : KUBE_SCOPE_CLUSTER);
    return 0;
}

static int on_item(void *arg, cJSON *item)
{
    kube_informer *inf = arg;
    const kube_kind *k = &inf->stats->kind;
    kube_obj *o = kube_obj_compact(inf->pool, item, k->api_version, k->kind);
    cJSON_Delete(item);
    if (atomic_load_explicit(&inf->stop, memory_order_relaxed))
        return -1;
    if (o == NULL) {
        inf->skipped++; /* no metadata.name: nothing could look it up */
        return 0;
    }
    if (kube_table_put(inf->building, o) != 0)
        return -1;
    inf->listed++;
    return 0;
}

/* A resourceVersion goes into the watch's query as it is: opaque, but never anything that
 * would need escaping (etcd's are decimal numbers). */
static bool is_rv(const char *s)
{
    size_t n = strspn(s, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ._-");
    return n > 0 && s[n] == '\0' && n < sizeof((kube_informer *)0)->rv;
}

/* The API server answers, but its list cannot be had (403, 500, an answer that does not
 * parse: an object nested deeper than the parser goes...), while no watch runs: objects may
 * change without this cache seeing it. Its lookups become live GETs (lookupList: could not be
 * asked) until a list succeeds, rather than stale answers for as long as that lasts. With no
 * answer at all (the API server down) the cached objects keep answering: nothing changes
 * them then. */
static void unsync(kube_informer *inf, const char *why)
{
    if (!atomic_exchange(&inf->synced, false))
        return;
    log_warn("kube",
             LOG_S("msg", "the kind cannot be listed again: its lookups ask the API server "
                          "until a list succeeds"),
             LOG_S("kind", inf->stats->label), LOG_S("error", why));
}

static long step_list(kube_informer *inf)
{
    char path[1536];
    if (collection_path(inf, path, sizeof path) < 0) {
        restart(inf, KUBE_RESTART_FAILED);
        return failed(inf, "list", "the collection's path is too long");
    }
    inf->building = kube_table_new();
    if (inf->building == NULL)
        return failed(inf, "list", "out of memory");
    inf->listed = inf->skipped = 0;
    kube_response r = {0};
    char rv[sizeof inf->rv] = "";
    int rc = inf->api.list(inf->api.arg, path, LIST_LIMIT, inf->opts.request_timeout_ms, on_item,
                           inf, rv, sizeof rv, &r);
    if (rc != 0 || !is_rv(rv)) {
        kube_table_free(inf->building);
        inf->building = NULL;
        long http = r.http;
        char why[512];
        snprintf(why, sizeof why, "%s",
                 rc != 0 ? r.error : "the list has no usable resourceVersion");
        release(&r);
        if (atomic_load(&inf->stop))
            return 0;
        restart(inf, http == 410 ? KUBE_RESTART_GONE : KUBE_RESTART_FAILED);
        if (http == 404)
            inf->have_res = false; /* the kind may be gone (a CRD deleted): discover again */
        if (http == 410) /* a continue token expired mid-list: list again from the start */
            return 0;
        if (http != 0)
            unsync(inf, why);
        return failed(inf, "list", why);
    }
    release(&r);
    size_t n = inf->building->count;
    kube_store_swap(&inf->store, inf->building);
    inf->building = NULL;
    kube_pool_sweep(inf->pool, true); /* the lists only the old objects used */
    snprintf(inf->rv, sizeof inf->rv, "%s", rv);
    inf->need_list = false;
    inf->refusals = 0;
    inf->watching = false;
    count_objects(inf, (long)n);
    atomic_store(&inf->stats->last_list_ms, clock_real_ms());
    atomic_store(&inf->synced, true);
    if (inf->changed != NULL)
        inf->changed(inf->changed_arg, inf->stats, NULL, NULL);
    log_info("kube", LOG_S("msg", "listed"), LOG_S("kind", inf->stats->label),
             LOG_S("scope", inf->scope_label), LOG_I("objects", n),
             LOG_I("skipped", inf->skipped), LOG_S("resource_version", rv));
    succeeded(inf);
    return 0;
}

/* The resourceVersion of 'obj', kept as the point a watch starts again from. */
static void note_rv(kube_informer *inf, const cJSON *obj)
{
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "resourceVersion");
    if (cJSON_IsString(rv) && is_rv(rv->valuestring))
        strcpy(inf->rv, rv->valuestring);
}

/* An ERROR event's object is a Status: 410 means the resourceVersion is too old. */
static int on_error_event(kube_informer *inf, const cJSON *status)
{
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(status, "code");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(status, "message");
    inf->end = cJSON_IsNumber(code) && code->valuedouble == 410 ? END_GONE : END_ERROR;
    snprintf(inf->end_why, sizeof inf->end_why, "ERROR event %d: %s",
             cJSON_IsNumber(code) ? (int)code->valuedouble : 0,
             cJSON_IsString(msg) ? msg->valuestring : "(no message)");
    return 1;
}

static int apply_event(kube_informer *inf, const char *type, const cJSON *obj)
{
    const kube_kind *k = &inf->stats->kind;
    if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0) {
        kube_obj *o = kube_obj_compact(inf->pool, obj, k->api_version, k->kind);
        if (o == NULL)
            return 0;
        /* Our own reference keeps the key for the announcement after the put; a copy into
         * fixed buffers cut keys longer than Kubernetes allows, which a server can send. */
        kube_obj_ref(o);
        if (kube_store_put(&inf->store, o) != 0) {
            kube_obj_unref(o);
            inf->end = END_ERROR; /* out of memory: the store misses an event; list again */
            snprintf(inf->end_why, sizeof inf->end_why, "out of memory");
            return 1;
        }
        if (inf->changed != NULL)
            inf->changed(inf->changed_arg, inf->stats, o->ns, o->name);
        kube_obj_unref(o);
    } else if (strcmp(type, "DELETED") == 0) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(m, "name");
        const cJSON *ns = cJSON_GetObjectItemCaseSensitive(m, "namespace");
        if (!cJSON_IsString(name))
            return 0;
        const char *nss = cJSON_IsString(ns) ? ns->valuestring : "";
        kube_store_remove(&inf->store, nss, name->valuestring);
        if (inf->changed != NULL)
            inf->changed(inf->changed_arg, inf->stats, nss, name->valuestring);
    } else if (strcmp(type, "ERROR") == 0) {
        return on_error_event(inf, obj);
    } else if (strcmp(type, "BOOKMARK") != 0) {
        return 0; /* a type this code does not know: nothing to change */
    }
    note_rv(inf, obj);
    return 0;
}

static int on_line(void *arg, const char *line, size_t len)
{
    kube_informer *inf = arg;
    inf->lines++;
    cJSON *ev = cJSON_ParseWithLength(line, len);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(ev, "object");
    int rc;
    if (!cJSON_IsString(type) || !cJSON_IsObject(obj)) {
        inf->end = END_ERROR; /* the stream cannot be trusted past this line */
        snprintf(inf->end_why, sizeof inf->end_why, "a watch event that is not an event");
        rc = 1;
    } else {
        rc = apply_event(inf, type->valuestring, obj);
    }
    cJSON_Delete(ev);
    kube_pool_sweep(inf->pool, false);
    count_objects(inf, (long)inf->store.tab->count);
    atomic_store_explicit(&inf->stats->last_event_ms, clock_real_ms(), memory_order_relaxed);
    return rc;
}

static long step_watch(kube_informer *inf)
{
    char path[1792];
    int n = collection_path(inf, path, sizeof path - 200);
    if (n < 0) {
        restart(inf, KUBE_RESTART_FAILED);
        return failed(inf, "watch", "the collection's path is too long");
    }
    long t = inf->opts.watch_timeout_s;
    t += (long)(inf->rng % (uint64_t)(t + 1)); /* jittered up to 2x: watches end apart */
    snprintf(path + n, sizeof path - (size_t)n,
             "%cwatch=1&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=%ld",
             strchr(path, '?') ? '&' : '?', inf->rv, t);
    if (!inf->watching)
        log_info("kube", LOG_S("msg", "watch started"), LOG_S("kind", inf->stats->label),
                 LOG_S("scope", inf->scope_label),
                 LOG_S("resource_version", inf->rv));
    inf->watching = true;
    inf->lines = 0;
    inf->end = END_NONE;
    kube_response r = {0};
    long long t0 = clock_mono_ms();
    /* The idle timeout: kube-apiserver 1.20 sends its bookmark just before it ends the watch
     * after timeoutSeconds; silence past that is a dead connection. */
    int rc = inf->api.stream(inf->api.arg, path, (t + 30) * 1000, on_line, inf, &inf->stop, &r);
    long http = r.http;
    char err[512];
    snprintf(err, sizeof err, "%s", r.error);
    release(&r);
    if (atomic_load(&inf->stop))
        return 0;
    if (inf->end == END_GONE || (rc != 0 && http == 410)) {
        restart(inf, KUBE_RESTART_GONE);
        inf->need_list = true;
        log_info("kube", LOG_S("msg", "watch expired, listing again"),
                 LOG_S("kind", inf->stats->label), LOG_S("resource_version", inf->rv));
        return 0;
    }
    if (inf->end == END_ERROR) {
        restart(inf, KUBE_RESTART_ERROR);
        inf->need_list = true;
        return failed(inf, "watch", inf->end_why);
    }
    if (rc != 0) {
        restart(inf, KUBE_RESTART_FAILED);
        if (http == 404)
            inf->have_res = false;
        /* A watch refused for our credentials (RBAC allowing list but not watch, a token
         * that lost its rights) will not come back by watching again, while objects go on
         * changing: once refused WATCH_REFUSALS times running, list again, which either
         * refreshes them or, refused too, stops the kind answering from them. Not at the first
         * refusal: a restarting kube-apiserver refuses for a moment, until its RBAC caches
         * have synced, and a watch from the old resourceVersion is what tells a compacted
         * etcd (410). Other failures (no answer, 5xx) watch again from where they were. */
        if (http == 401 || http == 403) {
            if (++inf->refusals >= WATCH_REFUSALS) {
                inf->refusals = 0;
                inf->need_list = true;
            }
        } else {
            inf->refusals = 0;
        }
        return failed(inf, "watch", err);
    }
    inf->refusals = 0;
    restart(inf, KUBE_RESTART_CLOSED);
    if (inf->lines > 0 || clock_mono_ms() - t0 >= 1000) {
        succeeded(inf);
        return 0;
    }
    /* Ended at once with nothing: a server that does this must not be asked in a loop. */
    return failed(inf, "watch", "the server ended the watch at once");
}

long kube_informer_step(kube_informer *inf)
{
    if (!inf->have_res)
        return step_discover(inf);
    if (inf->need_list)
        return step_list(inf);
    return step_watch(inf);
}

/* Waits 'ms' or until stopped. */
static void nap(kube_informer *inf, long ms)
{
    struct timespec until = clock_mono_after_ms(ms);
    pthread_mutex_lock(&inf->sleep_mu);
    while (!atomic_load(&inf->stop)) {
        if (pthread_cond_timedwait(&inf->sleep_cv, &inf->sleep_mu, &until) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&inf->sleep_mu);
}

static void *informer_main(void *arg)
{
    kube_informer *inf = arg;
    if (inf->api.thread_stop != NULL)
        inf->api.thread_stop(&inf->stop); /* a stop ends a LIST page or discovery in flight */
    while (!atomic_load(&inf->stop)) {
        long ms = kube_informer_step(inf);
        if (ms > 0)
            nap(inf, ms);
    }
    return NULL;
}

int kube_informer_start(kube_informer *inf)
{
    if (pthread_create(&inf->thread, NULL, informer_main, inf) != 0)
        return -1;
    inf->started = true;
    atomic_fetch_add(&inf->stats->watched, 1);
    return 0;
}

void kube_informer_free(kube_informer *inf)
{
    if (inf == NULL)
        return;
    pthread_mutex_lock(&inf->sleep_mu);
    atomic_store(&inf->stop, true);
    pthread_cond_broadcast(&inf->sleep_cv);
    pthread_mutex_unlock(&inf->sleep_mu);
    if (inf->started) {
        pthread_join(inf->thread, NULL);
        atomic_fetch_sub(&inf->stats->watched, 1);
        count_objects(inf, 0);
        log_info("kube", LOG_S("msg", "watch stopped"), LOG_S("kind", inf->stats->label));
    }
    kube_table_free(inf->building);
    kube_store_clear(&inf->store);
    kube_pool_unref(inf->pool); /* objects still held by readers keep it */
    pthread_cond_destroy(&inf->sleep_cv);
    pthread_mutex_destroy(&inf->sleep_mu);
    free(inf);
}
