/* webhook_certs.h - `serve --manage-webhook-certs` wired to the cluster and the server.
 *
 * Resolves what the certificate manager (certmgr.h) needs from the options and the pod: the
 * API client (the same configuration as cluster.h's), the Secret's namespace (the option,
 * else the pod's, else the kubeconfig context's), the serving certificate's hosts (the
 * Service's DNS names in that namespace, plus --webhook-hosts), and who may write (the leader
 * with --leader-elect, else this, the only replica). */
#ifndef SG_SERVER_WEBHOOK_CERTS_H
#define SG_SERVER_WEBHOOK_CERTS_H

#include <stdbool.h>

#include "../tls/certs.h"
#include "../util/diag.h"
#include "cluster.h"
#include "http.h"

typedef struct webhook_certs_opts {
    bool on;                     /* --manage-webhook-certs */
    const char *secret;          /* --webhook-secret; NULL: streamguard-tls */
    const char *namespace_;      /* --webhook-namespace; NULL: the pod's, else the context's */
    const char *service;         /* --webhook-service; NULL: streamguard */
    const char *hosts;           /* --webhook-hosts: more SANs, comma-separated; NULL: none */
    const char *validating;      /* --validating-webhook; NULL: streamguard; "": none */
    const char *mutating;        /* --mutating-webhook; NULL: streamguard; "": none */
    unsigned ca_days, cert_days; /* --webhook-ca-days, --webhook-cert-days; 0: 365, 90 */
} webhook_certs_opts;

typedef struct webhook_certs webhook_certs;

/* Starts managing: reads the Secret (creating it when this replica may write) until it holds
 * a serving pair, at most 'wait_s' seconds, and puts that pair into 'first' for the server to
 * start with. 'kubeconfig' as for cluster_opts; 'cl' answers cluster_is_leader() when
 * 'leader_elect'. NULL with the reason in 'dl'. */
webhook_certs *webhook_certs_start(const webhook_certs_opts *o, const char *kubeconfig, cluster *cl,
                                   bool leader_elect, unsigned wait_s, tls_pair *first,
                                   diag_list *dl);

/* From now on every new pair the Secret holds is served by 's' (server_set_certificate),
 * counted as a certificate reload. Returns 0 or -1 (the thread did not start). */
int webhook_certs_serve(webhook_certs *w, server *s);

/* Stops and frees. NULL is accepted. */
void webhook_certs_free(webhook_certs *w);

#endif
