/* webhook_certs.c - the certificate manager wired to the cluster and the server; see
 * webhook_certs.h. */
#include "webhook_certs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kube/client.h"
#include "../kube/config.h"
#include "../kube/lease.h"
#include "../util/log.h"
#include "certmgr.h"
#include "metrics.h"

#define MAX_HOSTS 16

struct webhook_certs {
    kube_client *client;
    lease_api api;
    certmgr *mgr;
    cluster *cl;
    bool leader_elect;
    server *srv;
};

static bool writer(void *arg)
{
    const webhook_certs *w = arg;
    return !w->leader_elect || cluster_is_leader(w->cl);
}

static int serve_pair(void *arg, const tls_pair *p)
{
    webhook_certs *w = arg;
    diag_list dl;
    diag_list_init(&dl);
    int rc = server_set_certificate(w->srv, p->cert_pem, p->key_pem, &dl);
    metrics_reload_done(METRICS_RELOAD_CERT, rc == 0);
    if (rc == 0)
        metrics_set_cert_not_after(p->info.not_after);
    diag_list_clear(&dl);
    return rc;
}

/* The Secret's namespace: the option, else the pod's, else the kubeconfig context's. */
static int secret_namespace(const webhook_certs_opts *o, const kube_config *cfg, char *out,
                            size_t cap, diag_list *dl)
{
    int rc = lease_own_namespace(o->namespace_, KUBE_SA_DIR, cfg->namespace_, out, cap, dl);
    if (rc > 0)
        diag_add(dl, DIAG_ERROR, "certs.config", NULL,
                 "--manage-webhook-certs: no namespace for the Secret (not in a pod: give "
                 "--webhook-namespace)");
    return rc == 0 ? 0 : -1;
}

static int build_hosts(const webhook_certs_opts *o, const char *ns, char *store, size_t cap,
                       const char **hosts, diag_list *dl)
{
    const char *svc = o->service ? o->service : "streamguard";
    int w = snprintf(store, cap, "%s.%s.svc,%s.%s.svc.cluster.local,%s.%s,%s%s%s", svc, ns, svc, ns,
                     svc, ns, svc, o->hosts && *o->hosts ? "," : "", o->hosts ? o->hosts : "");
    if (w < 0 || (size_t)w >= cap) {
        diag_add(dl, DIAG_ERROR, "certs.config", NULL, "--webhook-hosts: too long");
        return -1;
    }
    int n = 0;
    for (char *save = NULL, *h = strtok_r(store, ",", &save); h != NULL;
         h = strtok_r(NULL, ",", &save)) {
        if (n == MAX_HOSTS) {
            diag_add(dl, DIAG_ERROR, "certs.config", NULL, "--webhook-hosts: at most %d hosts",
                     MAX_HOSTS - 4);
            return -1;
        }
        hosts[n++] = h;
    }
    return n;
}

/* The manager for 'cfg' (the client made). NULL with the reason in 'dl'. */
static certmgr *make_manager(webhook_certs *w, const webhook_certs_opts *o, const kube_config *cfg,
                             diag_list *dl)
{
    char ns[256], store[4096];
    const char *hosts[MAX_HOSTS];
    int n;
    if (secret_namespace(o, cfg, ns, sizeof ns, dl) != 0 ||
        (n = build_hosts(o, ns, store, sizeof store, hosts, dl)) < 0)
        return NULL;
    w->api = lease_api_client(w->client);
    const char *vwc = o->validating ? o->validating : "streamguard";
    const char *mwc = o->mutating ? o->mutating : "streamguard";
    certmgr_opts co = {.namespace_ = ns,
                       .secret = o->secret ? o->secret : "streamguard-tls",
                       .hosts = hosts,
                       .n_hosts = (size_t)n,
                       .validating = *vwc ? vwc : NULL,
                       .mutating = *mwc ? mwc : NULL,
                       .ca_days = o->ca_days,
                       .cert_days = o->cert_days,
                       .is_writer = writer,
                       .writer_arg = w};
    certmgr *m = certmgr_new(&w->api, &co, dl);
    if (m != NULL)
        log_info("certs", LOG_S("msg", "managing the webhook certificate"),
                 LOG_S("secret", co.secret), LOG_S("namespace", ns), LOG_S("host", hosts[0]),
                 LOG_I("hosts", n), LOG_S("validating", vwc), LOG_S("mutating", mwc),
                 LOG_B("leader_elect", w->leader_elect));
    return m;
}

webhook_certs *webhook_certs_start(const webhook_certs_opts *o, const char *kubeconfig, cluster *cl,
                                   bool leader_elect, unsigned wait_s, tls_pair *first,
                                   diag_list *dl)
{
    kube_config cfg;
    int rc = kube_config_resolve(kubeconfig, &cfg, dl);
    if (rc != 0) {
        if (rc > 0)
            diag_add(dl, DIAG_ERROR, "certs.config", NULL,
                     "--manage-webhook-certs needs a cluster (in a pod, --kubeconfig or "
                     "$KUBECONFIG)");
        return NULL;
    }
    webhook_certs *w = calloc(1, sizeof *w);
    if (w != NULL) {
        w->cl = cl;
        w->leader_elect = leader_elect;
        w->client = kube_client_new(&cfg, dl);
    }
    if (w != NULL && w->client != NULL)
        w->mgr = make_manager(w, o, &cfg, dl);
    kube_config_free(&cfg);
    if (w == NULL || w->mgr == NULL || certmgr_wait(w->mgr, wait_s, first, dl) != 0) {
        webhook_certs_free(w);
        return NULL;
    }
    return w;
}

int webhook_certs_serve(webhook_certs *w, server *s)
{
    w->srv = s;
    return certmgr_start(w->mgr, serve_pair, w);
}

void webhook_certs_free(webhook_certs *w)
{
    if (w == NULL)
        return;
    certmgr_free(w->mgr); /* its thread uses the client */
    kube_client_free(w->client);
    free(w);
}
