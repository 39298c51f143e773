/* cluster.c - the server's view of the cluster; see cluster.h. */
#include "cluster.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../audit/auditor.h"
#include "../kube/cache.h"
#include "../kube/client.h"
#include "../kube/config.h"
#include "../kube/lease.h"
#include "../policy/policy.h"
#include "../util/log.h"

enum cluster_mode { MODE_LIVE, MODE_NONE, MODE_UNCONFIGURED };

struct cluster {
    enum cluster_mode mode;
    kube_client *client;
    kube_cache *cache;
    lease_elector *elector; /* --leader-elect, else NULL */
    struct timespec started;
    unsigned sync_timeout_s;
    atomic_bool ready;     /* latched: see cluster_ready() */
    atomic_bool timed_out; /* the sync timeout was logged */
    auditor *aud;          /* --audit, else NULL */
    pthread_mutex_t kinds_mu; /* the two lists of kinds the cache watches */
    kube_kind *lookup_kinds, *audit_kinds;
    size_t n_lookup, n_audit;
};

#define NO_CLUSTER_WHY                                                                        \
    "no cluster configured (not in a pod, no --kubeconfig, $KUBECONFIG unset; --no-cluster "  \
    "runs without one on purpose)"

/* The Lease's namespace: --leader-elect-namespace, else the pod's (its service account),
 * else the kubeconfig context's. */
static int lease_namespace(const cluster_opts *o, const kube_config *cfg, char *out, size_t cap,
                           diag_list *dl)
{
    int rc = lease_own_namespace(o->lease_namespace, KUBE_SA_DIR, cfg->namespace_, out, cap, dl);
    if (rc > 0)
        diag_add(dl, DIAG_ERROR, "lease.config", NULL,
                 "--leader-elect: no namespace for the Lease (not in a pod: give "
                 "--leader-elect-namespace)");
    return rc == 0 ? 0 : -1;
}

static int elector_start(cluster *c, const cluster_opts *o, const kube_config *cfg,
                         diag_list *dl)
{
    char ns[256], id[300];
    if (lease_namespace(o, cfg, ns, sizeof ns, dl) != 0)
        return -1;
    if (lease_identity_new(id, sizeof id) != 0) {
        diag_add(dl, DIAG_ERROR, "lease.config", NULL, "--leader-elect: no identity");
        return -1;
    }
    lease_api api = lease_api_client(c->client);
    lease_opts lo = {.namespace_ = ns, .name = o->lease_name ? o->lease_name : "streamguard",
                     .identity = id};
    c->elector = lease_elector_new(&api, &lo, dl);
    if (c->elector == NULL)
        return -1;
    if (lease_elector_start(c->elector) != 0) {
        diag_add(dl, DIAG_ERROR, "lease.config", NULL, "the leader election did not start");
        return -1;
    }
    return 0;
}

/* ---- the background audit ---- */

static bool may_write(void *arg)
{
    return cluster_may_write(arg);
}

/* Watches the union of the kinds the policies look up and the kinds the audit lists. */
static void watch_union(cluster *c)
{
    size_t n = c->n_lookup + c->n_audit, k = 0;
    kube_kind *all = calloc(n ? n : 1, sizeof *all);
    if (all == NULL) {
        log_error("cluster", LOG_S("msg", "out of memory; the watched kinds are unchanged"));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const kube_kind *x = i < c->n_lookup ? &c->lookup_kinds[i]
                                             : &c->audit_kinds[i - c->n_lookup];
        bool dup = false;
        for (size_t j = 0; j < k && !dup; j++)
            dup = strcmp(all[j].api_version, x->api_version) == 0 &&
                  strcmp(all[j].kind, x->kind) == 0 && strcmp(all[j].ns, x->ns) == 0 &&
                  strcmp(all[j].name, x->name) == 0;
        if (!dup)
            all[k++] = *x;
    }
    if (kube_cache_set_kinds(c->cache, all, k) != 0)
        log_error("cluster", LOG_S("msg", "a watch could not be started"));
    free(all);
}

/* Replaces '*dst' by a copy of 'src'; false when out of memory (then unchanged). */
static bool set_kinds(kube_kind **dst, size_t *n_dst, const kube_kind *src, size_t n)
{
    kube_kind *copy = calloc(n ? n : 1, sizeof *copy);
    if (copy == NULL)
        return false;
    if (n > 0)
        memcpy(copy, src, n * sizeof *copy);
    free(*dst);
    *dst = copy;
    *n_dst = n;
    return true;
}

static void audit_watch_kinds(void *arg, const kube_kind *kinds, size_t n)
{
    cluster *c = arg;
    pthread_mutex_lock(&c->kinds_mu);
    if (set_kinds(&c->audit_kinds, &c->n_audit, kinds, n))
        watch_union(c);
    pthread_mutex_unlock(&c->kinds_mu);
}

static void on_change(void *arg, const kube_kind *kind, const char *ns, const char *name)
{
    /* flinkConfig() keeps what it resolved from a ConfigMap: a changed or deleted one's goes
     * (a re-list, 'ns' NULL: all of them) */
    if (strcmp(kind->api_version, "v1") == 0 && strcmp(kind->kind, "ConfigMap") == 0)
        policy_flink_defaults_forget(ns, name);
    /* any change may change an audit's result: lookups read others */
    auditor_changed(((cluster *)arg)->aud); /* NULL without --audit: nothing to tell */
}

static int auditor_begin(cluster *c, const cluster_opts *o, diag_list *dl)
{
    auditor_env env = {.client = c->client, .cache = c->cache,
                       .lookup = kube_cache_lookup(c->cache), .may_write = may_write,
                       .watch_kinds = audit_watch_kinds, .arg = c};
    c->aud = auditor_start(&env, o->audit_interval_s);
    if (c->aud == NULL) {
        diag_add(dl, DIAG_ERROR, "audit.config", NULL, "the audit thread did not start");
        return -1;
    }
    log_info("audit", LOG_S("msg", "background audit on"),
             LOG_I("interval_s", o->audit_interval_s),
             LOG_B("leader_elect", o->leader_elect));
    return 0;
}

/* --leader-elect and --audit write to the cluster: they need one. */
static bool needs_cluster(const cluster_opts *o, diag_list *dl)
{
    if (!o->none || (!o->leader_elect && !o->audit))
        return false;
    const char *opt = o->leader_elect ? "--leader-elect" : "--audit";
    diag_add(dl, DIAG_ERROR, o->leader_elect ? "lease.config" : "audit.config", NULL,
             "%s needs a cluster, not --no-cluster", opt);
    return true;
}

cluster *cluster_start(const cluster_opts *o, diag_list *dl)
{
    if (needs_cluster(o, dl))
        return NULL;
    cluster *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    pthread_mutex_init(&c->kinds_mu, NULL);
    clock_gettime(CLOCK_MONOTONIC, &c->started);
    c->sync_timeout_s = o->sync_timeout_s;
    if (o->none) {
        c->mode = MODE_NONE;
        atomic_store(&c->ready, true);
        log_info("cluster", LOG_S("msg", "--no-cluster: lookup() finds nothing"));
        return c;
    }
    kube_config cfg;
    int rc = kube_config_resolve(o->kubeconfig, &cfg, dl);
    if (rc < 0) {
        free(c);
        return NULL;
    }
    if (rc > 0 && (o->leader_elect || o->audit)) {
        diag_add(dl, DIAG_ERROR, o->leader_elect ? "lease.config" : "audit.config", NULL,
                 "%s needs a cluster: " NO_CLUSTER_WHY,
                 o->leader_elect ? "--leader-elect" : "--audit");
        free(c);
        return NULL;
    }
    if (rc > 0) {
        c->mode = MODE_UNCONFIGURED;
        atomic_store(&c->ready, true);
        log_warn("cluster", LOG_S("msg", "lookup() is an evaluation error"),
                 LOG_S("why", NO_CLUSTER_WHY));
        return c;
    }
    c->client = kube_client_new(&cfg, dl);
    kube_cache_opts co = {.live_timeout_ms = o->lookup_timeout_ms,
                          .on_change = on_change, .on_change_arg = c};
    if (c->client == NULL || (c->cache = kube_cache_new(c->client, &co)) == NULL) {
        kube_config_free(&cfg);
        kube_client_free(c->client);
        free(c);
        return NULL;
    }
    log_info("cluster", LOG_S("msg", "cluster configured"), LOG_S("source", cfg.source),
             LOG_S("server", cfg.server));
    c->mode = MODE_LIVE;
    if ((o->leader_elect && elector_start(c, o, &cfg, dl) != 0) ||
        (o->audit && auditor_begin(c, o, dl) != 0)) {
        kube_config_free(&cfg);
        cluster_free(c);
        return NULL;
    }
    kube_config_free(&cfg);
    return c;
}

void cluster_set_policies(cluster *c, const policy_set *s)
{
    if (c == NULL || c->mode != MODE_LIVE)
        return;
    size_t n = policy_set_lookup_kinds(s, NULL, 0);
    policy_kind *refs = calloc(n ? n : 1, sizeof *refs);
    kube_kind *kinds = calloc(n ? n : 1, sizeof *kinds);
    if (refs == NULL || kinds == NULL) {
        log_error("cluster", LOG_S("msg", "out of memory; the watched kinds are unchanged"));
        free(refs);
        free(kinds);
        return;
    }
    policy_set_lookup_kinds(s, refs, n);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        /* The loader refuses literals longer than a kube_kind holds; the live GET would still
         * answer such a kind. */
        if (strlen(refs[i].api_version) >= sizeof kinds[k].api_version ||
            strlen(refs[i].kind) >= sizeof kinds[k].kind)
            continue;
        strcpy(kinds[k].api_version, refs[i].api_version);
        strcpy(kinds[k].kind, refs[i].kind);
        /* One object of the kind (policy_kind): the loader gives only names a kube_kind
         * holds (a namespace is a DNS label, a name at most 253 bytes). */
        if (refs[i].name != NULL && (strlen(refs[i].ns) >= sizeof kinds[k].ns ||
                                     strlen(refs[i].name) >= sizeof kinds[k].name))
            continue;
        if (refs[i].name != NULL) {
            strcpy(kinds[k].ns, refs[i].ns);
            strcpy(kinds[k].name, refs[i].name);
        }
        k++;
    }
    pthread_mutex_lock(&c->kinds_mu);
    if (set_kinds(&c->lookup_kinds, &c->n_lookup, kinds, k))
        watch_union(c);
    else
        log_error("cluster", LOG_S("msg", "out of memory; the watched kinds are unchanged"));
    pthread_mutex_unlock(&c->kinds_mu);
    free(refs);
    free(kinds);
    /* The set is immutable; the audit only takes a reference to it. */
    auditor_set_policies(c->aud, (policy_set *)s);
}

static double since_start(const cluster *c)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - c->started.tv_sec) + (now.tv_nsec - c->started.tv_nsec) / 1e9;
}

bool cluster_ready(cluster *c)
{
    if (c == NULL || atomic_load_explicit(&c->ready, memory_order_acquire))
        return true;
    if (kube_cache_synced(c->cache)) {
        if (!atomic_exchange(&c->ready, true))
            log_info("cluster", LOG_S("msg", "every watched kind has listed; ready"),
                     LOG_F("seconds", since_start(c)));
        return true;
    }
    if (since_start(c) >= c->sync_timeout_s) {
        if (!atomic_exchange(&c->timed_out, true))
            log_warn("cluster", LOG_S("msg", "cache sync timeout: ready without every kind "
                                             "listed; their lookups are live GETs"),
                     LOG_I("timeout_s", c->sync_timeout_s));
        atomic_store(&c->ready, true);
        return true;
    }
    return false;
}

bool cluster_is_leader(const cluster *c)
{
    return c != NULL && lease_elector_is_leader(c->elector);
}

bool cluster_may_write(const cluster *c)
{
    return c != NULL && c->mode == MODE_LIVE &&
           (c->elector == NULL || lease_elector_is_leader(c->elector));
}

void cluster_release_leadership(cluster *c)
{
    if (c != NULL)
        lease_elector_release(c->elector);
}

int cluster_metrics(cluster *c, buf *out)
{
    if (c == NULL || c->mode != MODE_LIVE)
        return 0;
    int rc = kube_cache_metrics(c->cache, out);
    if (rc == 0 && c->elector != NULL)
        rc = lease_elector_metrics(c->elector, out);
    if (rc == 0)
        rc = auditor_metrics(c->aud, out);
    return rc;
}

void cluster_free(cluster *c)
{
    if (c == NULL)
        return;
    auditor_stop(c->aud); /* before the Lease goes: it writes only while leading */
    lease_elector_free(c->elector); /* gives the Lease up while the client still works */
    kube_cache_free(c->cache);
    auditor_free(c->aud); /* once no watch can announce a change to it */
    policy_flink_defaults_forget(NULL, NULL); /* what flinkConfig() kept: nothing reads it now */
    kube_client_free(c->client);
    free(c->lookup_kinds);
    free(c->audit_kinds);
    pthread_mutex_destroy(&c->kinds_mu);
    free(c);
}

/* ---- lookup() and lookupList() ---- */

/* Without a configuration every lookup is "could not be asked" (--no-cluster: NULL functions,
 * which the engine takes for "not found"; a cluster: the caches, kube_cache_lookup). */
static enum policy_lookup_result unconfigured_find(void *data, const char *av, const char *kind,
                                                   const char *ns, const char *name, arena *a,
                                                   const cJSON **out, const char **why)
{
    (void)data, (void)av, (void)kind, (void)ns, (void)name, (void)a;
    *out = NULL;
    *why = NO_CLUSTER_WHY;
    return LOOKUP_UNAVAILABLE;
}

static enum policy_lookup_result unconfigured_list(void *data, const char *av, const char *kind,
                                                   const char *ns, arena *a, const cJSON ***out,
                                                   size_t *n, const char **why)
{
    (void)data, (void)av, (void)kind, (void)ns, (void)a;
    *out = NULL;
    *n = 0;
    *why = NO_CLUSTER_WHY;
    return LOOKUP_UNAVAILABLE;
}

policy_lookup cluster_lookup(cluster *c)
{
    if (c == NULL || c->mode == MODE_NONE)
        return (policy_lookup){0};
    if (c->mode == MODE_UNCONFIGURED)
        return (policy_lookup){.find = unconfigured_find, .list = unconfigured_list};
    return kube_cache_lookup(c->cache);
}
