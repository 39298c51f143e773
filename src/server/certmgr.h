/* certmgr.h - `serve --manage-webhook-certs`: the webhook's own CA and serving certificate.
 *
 * The certificate lives in one Secret (kubernetes.io/tls; keys tls.crt, tls.key, ca.crt, the
 * bundle of CAs to trust, newest first, and ca.key, the newest CA's key), read through the API
 * by every replica every poll period; each serves the pair the Secret holds (swapped in
 * without a restart). Only the writer (the elected leader, or the only replica when there is
 * no election) writes: it creates the Secret when it is absent, renews the serving certificate
 * at 2/3 of its lifetime and the CA at 2/3 of its own, and keeps the caBundle of every entry
 * of its Validating- and MutatingWebhookConfiguration equal to ca.crt (a JSON patch per
 * entry), so a re-apply that resets caBundle is healed at the next poll.
 *
 * CA rollover, in steps that are each safe whatever the replicas serve at the time:
 *  1. a new CA is made and put first in ca.crt; the old CA stays; the serving pair is
 *     unchanged (still issued by the old CA) and the webhook configurations get both CAs;
 *  2. once the writer has seen every webhook entry carry the new CA for CERTMGR_TRUST_SETTLE_S
 *     (kube-apiserver's webhook informers have it), it issues a serving certificate from the
 *     new CA; each replica serves it at its next read, and a replica still on the old one is
 *     trusted too;
 *  3. an old CA leaves ca.crt (and so the caBundle) only when it has expired: no certificate
 *     it signed can still be valid (a serving certificate never outlives its CA), so no
 *     replica can be serving one. docs/operations.md tells the whole protocol. */
#ifndef SG_SERVER_CERTMGR_H
#define SG_SERVER_CERTMGR_H

#include <stdbool.h>
#include <stddef.h>

#include "../kube/lease.h"
#include "../tls/certs.h"
#include "../util/buf.h"
#include "../util/diag.h"

#define CERTMGR_TRUST_SETTLE_S 5 /* new CA in every webhook entry this long before it signs */

typedef struct certmgr_opts {
    const char *namespace_, *secret; /* the Secret */
    const char *const *hosts;        /* the serving certificate's SANs, the first its CN */
    size_t n_hosts;
    const char *validating, *mutating; /* webhook configuration names; NULL: none */
    unsigned ca_days, cert_days;       /* lifetimes (0: 365 and 90) */
    long poll_ms;                      /* 0: 2000 */
    /* Whether this replica may write now (checked before each write); NULL: always. */
    bool (*is_writer)(void *arg);
    void *writer_arg;
    /* Unix seconds (tests give a fake clock); NULL: time(). */
    long long (*now)(void *arg);
    void *now_arg;
} certmgr_opts;

typedef struct certmgr certmgr;

/* Checks and copies 'o' (names of a Secret, a namespace and the configurations, at least one
 * host, each a DNS name or an IP address) and borrows 'api', which must outlive the manager.
 * NULL with the problem in 'dl'. No request is made yet. */
certmgr *certmgr_new(const lease_api *api, const certmgr_opts *o, diag_list *dl);

/* One pass: reads the Secret; as the writer, creates or renews what is due and then brings
 * the webhook configurations' caBundle in line; takes the serving pair the Secret holds
 * (handing it to the callback of certmgr_start when it changed). Returns 0, or -1 when a
 * request failed (logged once per distinct error, counted). */
int certmgr_step(certmgr *m);

/* A copy of the pair being served into 'out' (free with tls_pair_clear). Returns 0, or -1
 * while the Secret has given none that checks out. */
int certmgr_serving(certmgr *m, tls_pair *out);

/* Steps until the Secret holds a serving pair that checks out, at most 'timeout_s' seconds,
 * and copies it into 'out'. Returns 0, or -1 with a "certs.timeout" diag. */
int certmgr_wait(certmgr *m, unsigned timeout_s, tls_pair *out, diag_list *dl);

/* Starts the thread that steps every poll period; 'serve' is called (in that thread) with each
 * new pair and returns 0 when the server took it (else the pair is offered again). Returns 0
 * or -1. */
int certmgr_start(certmgr *m, int (*serve)(void *arg, const tls_pair *p), void *serve_arg);

/* Stops the thread (a request in flight ends within about a second) and frees 'm'. NULL is
 * accepted. */
void certmgr_free(certmgr *m);

/* Appends the streamguard_webhook_* metrics (nothing before a manager was made). Returns 0,
 * or -1 when 'out' is full. */
int certmgr_metrics(buf *out);

#endif
