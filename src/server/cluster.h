/* cluster.h - the server's view of the cluster: where lookup() and lookupList() are answered.
 *
 * Three modes. With a configuration (--kubeconfig, $KUBECONFIG, or the pod's service account)
 * the kinds the policies look up are watched (src/kube/cache.h) and lookups are answered from
 * those caches, a miss with one live GET. With --no-cluster, lookup() finds nothing (null,
 * lookupList []), for running outside any cluster on purpose. With neither, every lookup is
 * "could not be asked" (an evaluation error that the policy's failurePolicy decides): a
 * server that cannot see the cluster must not pretend that a claim does not exist. */
#ifndef SG_SERVER_CLUSTER_H
#define SG_SERVER_CLUSTER_H

#include <stdbool.h>

#include "../policy/engine.h"
#include "../util/buf.h"
#include "../util/diag.h"

typedef struct cluster_opts {
    const char *kubeconfig;  /* --kubeconfig, or NULL ($KUBECONFIG, then in-cluster) */
    bool none;               /* --no-cluster */
    unsigned sync_timeout_s; /* --cache-sync-timeout: ready past it even when not synced */
    unsigned lookup_timeout_ms; /* --lookup-timeout: the live GET on a miss */
} cluster_opts;

typedef struct cluster cluster;

/* Reads the configuration and makes the client; no request is made yet. NULL with errors in
 * 'dl' when a configuration was named or found but cannot be used (a kubeconfig that does not
 * parse, an unreadable CA). */
cluster *cluster_start(const cluster_opts *o, diag_list *dl);

/* Watches exactly the kinds 's' looks up with literal apiVersion and kind. At start and after
 * each policy reload. */
void cluster_set_policies(cluster *c, const policy_set *s);

/* True once every watched kind has listed, or --cache-sync-timeout has passed since start.
 * Once true it stays true: a reload that adds a kind does not take the server out of
 * service (until its first list, that kind's lookups are live GETs). */
bool cluster_ready(cluster *c);

/* The cache's metrics (nothing without a cluster). Returns 0, or -1 when 'out' is full. */
int cluster_metrics(cluster *c, buf *out);

/* Stops the watches and frees 'c'. NULL is accepted. */
void cluster_free(cluster *c);

/* What the engine calls for lookup() and lookupList(). Each object handed out stays
 * referenced until the arena of the request that asked is freed (arena_defer); the engine
 * asks each question once per run. A NULL 'c' finds nothing. */
policy_lookup cluster_lookup(cluster *c);

#endif
