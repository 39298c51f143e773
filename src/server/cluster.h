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
    bool leader_elect;          /* --leader-elect: take part in the election (src/kube/lease.h) */
    const char *lease_namespace; /* --leader-elect-namespace; NULL: the pod's, else the
                                    kubeconfig context's */
    const char *lease_name;     /* --leader-elect-name; NULL: "streamguard" */
    bool audit;                 /* --audit: the background audit (src/audit/auditor.h) */
    unsigned audit_interval_s;  /* --audit-interval */
} cluster_opts;

typedef struct cluster cluster;

/* Reads the configuration and makes the client; no request is made yet, except that with
 * 'leader_elect' the elector's thread starts, and with 'audit' the audit's. NULL with errors
 * in 'dl' when a configuration was named or found but cannot be used (a kubeconfig that does
 * not parse, an unreadable CA), or when --leader-elect or --audit has no cluster or
 * --leader-elect no namespace for its Lease. */
cluster *cluster_start(const cluster_opts *o, diag_list *dl);

/* Watches exactly the kinds 's' looks up with literal apiVersion and kind (and, with --audit,
 * the kinds its validations match), and gives 's' to the background audit. At start and
 * after each policy reload. */
void cluster_set_policies(cluster *c, const policy_set *s);

/* True once every watched kind has listed, or --cache-sync-timeout has passed since start.
 * Once true it stays true: a reload that adds a kind does not take the server out of
 * service (until its first list, that kind's lookups are live GETs). */
bool cluster_ready(cluster *c);

/* True while this replica leads the election (--leader-elect); false without one. An atomic
 * read: the writers of cluster state (the background audit) check it before each write. */
bool cluster_is_leader(const cluster *c);

/* True when this replica may write cluster state: it leads the election, or there is no
 * election (--leader-elect not given: the replica is the only writer by configuration). */
bool cluster_may_write(const cluster *c);

/* Stops leading and gives the Lease up at once (a draining server); idempotent. */
void cluster_release_leadership(cluster *c);

/* The cache's and the election's metrics (nothing without a cluster). Returns 0, or -1 when 'out' is full. */
int cluster_metrics(cluster *c, buf *out);

/* Stops the watches and frees 'c'. NULL is accepted. */
void cluster_free(cluster *c);

/* What the engine calls for lookup() and lookupList(). Each object handed out stays
 * referenced until the arena of the request that asked is freed (arena_defer); the engine
 * asks each question once per run. A NULL 'c' finds nothing. */
policy_lookup cluster_lookup(cluster *c);

#endif
