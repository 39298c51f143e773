/* certmgr.c - the webhook's self-managed certificates; see certmgr.h.
 *
 * A pass is: read the Secret, decide (cm_plan() in certmgr_plan.c: pure, from the Secret's
 * content, the time and whether the webhook configurations trust the newest CA), write when
 * this replica is the writer and something is due (a create, or a PUT of the object read,
 * whose resourceVersion makes it conditional: a 409 is left to the next pass), serve what the
 * Secret holds, and, as the writer, patch each webhook entry whose caBundle differs
 * (certmgr_webhooks.c). No OpenSSL here: tls/certs.h makes and checks the certificates. */
#include "certmgr.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "../util/log.h"
#include "certmgr_int.h"

#define SECRET_API "/api/v1/namespaces/"
#define VWC_API "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/"
#define MWC_API "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/"

const char *const cm_cfg_label[CFG_COUNT] = {"validating", "mutating"};
static const char *const err_label[ERR_COUNT] = {"secret_read", "secret_write", "webhook_read",
                                                 "webhook_patch", "serve"};

cm_counters cm_stats;

static long long cm_now(const certmgr *m)
{
    return m->o.now ? m->o.now(m->o.now_arg) : (long long)time(NULL);
}

bool cm_is_writer(const certmgr *m)
{
    return m->o.is_writer == NULL || m->o.is_writer(m->o.writer_arg);
}

/* Logs once until a different error comes, or note_ok() after a pass without error. */
void cm_note_error(certmgr *m, enum sync_err e, const char *what, const char *why)
{
    atomic_fetch_add(&cm_stats.errors[e], 1);
    m->errors++;
    char line[256];
    snprintf(line, sizeof line, "%s: %s", what, why);
    if (strcmp(line, m->last_error) == 0)
        return;
    snprintf(m->last_error, sizeof m->last_error, "%s", line);
    log_warn("certs", LOG_S("msg", what), LOG_S("op", err_label[e]), LOG_S("error", why));
}

static void note_ok(certmgr *m)
{
    m->last_error[0] = '\0';
}

/* ---- the Secret ------------------------------------------------------------------------- */

static cJSON *secret_new(const certmgr *m)
{
    cJSON *s = cJSON_CreateObject();
    cJSON *md = cJSON_AddObjectToObject(s, "metadata");
    cJSON *labels = md ? cJSON_AddObjectToObject(md, "labels") : NULL;
    if (labels == NULL || !cJSON_AddStringToObject(s, "apiVersion", "v1") ||
        !cJSON_AddStringToObject(s, "kind", "Secret") ||
        !cJSON_AddStringToObject(s, "type", "kubernetes.io/tls") ||
        !cJSON_AddStringToObject(md, "name", m->secret) ||
        !cJSON_AddStringToObject(md, "namespace", m->ns) ||
        !cJSON_AddStringToObject(labels, "app.kubernetes.io/name", "streamguard") ||
        !cJSON_AddStringToObject(labels, "app.kubernetes.io/managed-by", "streamguard")) {
        cJSON_Delete(s);
        return NULL;
    }
    return s;
}

static void set_cert_gauges(const secret_data *d)
{
    tls_bundle b;
    if (d->ca_crt != NULL && tls_bundle_read(d->ca_crt, &b) == 0) {
        atomic_store(&cm_stats.ca_not_after, b.info[0].not_after);
        atomic_store(&cm_stats.bundle_size, (long)b.n);
        tls_bundle_clear(&b);
    }
}

/* Writes what 'r' planned: a POST when 'obj' is NULL (the Secret is absent), else a PUT of
 * 'obj' (the object read, resourceVersion included). Returns 0 or -1. */
static int secret_write(certmgr *m, cJSON *obj, const plan_result *r)
{
    if (!cm_is_writer(m))
        return -1; /* the lease was lost since the pass began */
    cJSON *s = obj ? obj : secret_new(m);
    char path[700];
    snprintf(path, sizeof path, "%s", m->secret_path);
    if (obj == NULL)
        *strrchr(path, '/') = '\0'; /* the collection */
    char *body = s && cm_secret_encode(s, &r->out) == 0 ? cJSON_PrintUnformatted(s) : NULL;
    if (obj == NULL)
        cJSON_Delete(s);
    if (body == NULL)
        return -1;
    kube_response resp;
    int rc = m->api.write(m->api.arg, obj ? KUBE_PUT : KUBE_POST, path, body, strlen(body),
                          CM_TIMEOUT_MS, &resp);
    memset(body, 0, strlen(body));
    free(body);
    if (rc != 0) {
        cm_note_error(m, ERR_SECRET_WRITE,
                      resp.http == 409 ? "the Secret changed meanwhile; "
                                         "read again at the next pass"
                                       : "cannot write the Secret",
                      resp.error);
    } else {
        if (r->what & PLAN_CA)
            atomic_fetch_add(&cm_stats.issued_ca, 1);
        if (r->what & PLAN_CERT)
            atomic_fetch_add(&cm_stats.issued_cert, 1);
        log_info("certs", LOG_S("msg", obj ? "Secret updated" : "Secret created"),
                 LOG_S("secret", m->secret), LOG_S("namespace", m->ns),
                 LOG_B("new_ca", (r->what & PLAN_CA) != 0),
                 LOG_B("new_certificate", (r->what & PLAN_CERT) != 0),
                 LOG_B("pruned_ca", (r->what & PLAN_PRUNE) != 0),
                 LOG_S("why", r->why ? r->why : "an expired CA left the bundle"));
    }
    kube_response_free(&resp);
    return rc;
}

/* ---- serving ------------------------------------------------------------------------------ */

/* Takes the Secret's serving pair when it differs from what is serving and checks out. */
static void take_pair(certmgr *m, const secret_data *d, long long now)
{
    pthread_mutex_lock(&m->lock);
    bool same = m->serving.cert_pem && d->tls_crt && strcmp(m->serving.cert_pem, d->tls_crt) == 0;
    bool offer = same && !m->offered;
    pthread_mutex_unlock(&m->lock);
    if (d->tls_crt == NULL || d->tls_key == NULL || (same && !offer))
        return;
    tls_pair p = {0};
    diag_list dl;
    diag_list_init(&dl);
    char what[600];
    snprintf(what, sizeof what, "Secret %s/%s", m->ns, m->secret);
    if (!same && tls_pair_parse(d->tls_crt, d->tls_key, what, now, &p, &dl) != 0) {
        char line[512];
        cm_note_error(m, ERR_SERVE,
                      "the Secret's serving pair does not check out; still serving "
                      "the previous one",
                      dl.count ? diag_format(&dl.items[0], line, sizeof line) : "?");
        diag_list_clear(&dl);
        return;
    }
    diag_list_clear(&dl);
    pthread_mutex_lock(&m->lock);
    if (!same) {
        tls_pair_clear(&m->serving);
        m->serving = p;
        m->offered = false;
    }
    pthread_mutex_unlock(&m->lock);
    if (m->serve == NULL)
        return;
    tls_pair copy;
    if (certmgr_serving(m, &copy) != 0)
        return;
    if (m->serve(m->serve_arg, &copy) == 0) {
        pthread_mutex_lock(&m->lock);
        m->offered = true;
        pthread_mutex_unlock(&m->lock);
        atomic_store(&cm_stats.cert_not_after, copy.info.not_after);
        log_info("certs", LOG_S("msg", "serving the certificate from the Secret"),
                 LOG_S("cert_serial", copy.info.serial),
                 LOG_I("cert_not_after", copy.info.not_after));
    } else {
        cm_note_error(m, ERR_SERVE, "the server refused the Secret's serving pair", "");
    }
    tls_pair_clear(&copy);
}

int certmgr_serving(certmgr *m, tls_pair *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&m->lock);
    int rc = -1;
    if (m->serving.cert_pem != NULL) {
        out->cert_pem = strdup(m->serving.cert_pem);
        out->key_pem = strdup(m->serving.key_pem);
        out->info = m->serving.info;
        rc = out->cert_pem && out->key_pem ? 0 : -1;
    }
    pthread_mutex_unlock(&m->lock);
    if (rc != 0)
        tls_pair_clear(out);
    return rc;
}

/* ---- a pass ------------------------------------------------------------------------------- */

/* Reads the Secret: 0 with 'obj' (NULL when it does not exist) and 'd', or -1. */
static int secret_read(certmgr *m, cJSON **obj, secret_data *d)
{
    kube_response r;
    *obj = NULL;
    memset(d, 0, sizeof *d);
    if (m->api.get(m->api.arg, m->secret_path, CM_TIMEOUT_MS, &r) != 0) {
        bool missing = kube_not_found(&r, m->secret);
        if (!missing)
            cm_note_error(m, ERR_SECRET_READ, "cannot read the Secret", r.error);
        kube_response_free(&r);
        return missing ? 0 : -1;
    }
    *obj = cJSON_ParseWithLength(r.body, r.len);
    if (r.body != NULL)
        memset(r.body, 0, r.len);
    kube_response_free(&r);
    if (*obj == NULL) {
        cm_note_error(m, ERR_SECRET_READ, "cannot read the Secret", "the answer is not JSON");
        return -1;
    }
    cm_secret_decode(*obj, d);
    return 0;
}

int certmgr_step(certmgr *m)
{
    cJSON *obj;
    secret_data d;
    if (secret_read(m, &obj, &d) != 0)
        return -1;
    long long now = cm_now(m);
    int rc = 0;
    int errors_before = m->errors;
    if (cm_is_writer(m)) {
        plan_result pr;
        diag_list dl;
        diag_list_init(&dl);
        if (cm_plan(m, &d, now, cm_trusted, &pr, &dl) != 0) {
            char line[512];
            cm_note_error(m, ERR_SECRET_WRITE, "cannot make the certificates",
                          dl.count ? diag_format(&dl.items[0], line, sizeof line) : "?");
            rc = -1;
        } else if (pr.what & PLAN_WAIT && !(pr.what & ~(unsigned)PLAN_WAIT)) {
            log_debug("certs", LOG_S("msg", "serving certificate from the new CA waits until "
                                            "every webhook entry trusts it"));
        }
        if (rc == 0 && (pr.what & (PLAN_CA | PLAN_PRUNE | PLAN_CERT))) {
            if (secret_write(m, obj, &pr) == 0) {
                cm_secret_data_clear(&d);
                d = pr.out; /* what was written is what the Secret holds now */
                memset(&pr.out, 0, sizeof pr.out);
            } else {
                rc = -1;
            }
        }
        cm_secret_data_clear(&pr.out);
        diag_list_clear(&dl);
    }
    cJSON_Delete(obj);
    if (d.ca_crt != NULL)
        set_cert_gauges(&d);
    take_pair(m, &d, now);
    if (cm_is_writer(m) && d.ca_crt != NULL)
        cm_sync_webhooks(m, d.ca_crt, now);
    if (m->errors == errors_before)
        note_ok(m); /* the next failure is logged again, even the same one */
    cm_secret_data_clear(&d);
    return rc;
}

int certmgr_wait(certmgr *m, unsigned timeout_s, tls_pair *out, diag_list *dl)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long long logged = -1;
    for (;;) {
        certmgr_step(m);
        if (certmgr_serving(m, out) == 0) {
            pthread_mutex_lock(&m->lock);
            m->offered = true; /* the caller serves it */
            pthread_mutex_unlock(&m->lock);
            atomic_store(&cm_stats.cert_not_after, out->info.not_after);
            return 0;
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
        long long waited = (long long)(t.tv_sec - t0.tv_sec);
        if (waited >= (long long)timeout_s)
            break;
        if (waited / 10 != logged) {
            logged = waited / 10;
            log_info("certs",
                     LOG_S("msg", cm_is_writer(m) ? "making the webhook certificate"
                                                  : "waiting for the leader to create "
                                                    "the webhook certificate"),
                     LOG_S("secret", m->secret), LOG_S("namespace", m->ns),
                     LOG_I("waited_s", waited));
        }
        struct timespec nap = {0, 500 * 1000000L};
        nanosleep(&nap, NULL);
    }
    srcpos at = {.file = m->secret_path};
    diag_add(dl, DIAG_ERROR, "certs.timeout", &at,
             "--manage-webhook-certs: no serving certificate in Secret %s/%s after %u s (is a "
             "replica leading, and may it write the Secret?)",
             m->ns, m->secret, timeout_s);
    return -1;
}

static void *cm_run(void *arg)
{
    certmgr *m = arg;
    if (m->api.thread_stop != NULL)
        m->api.thread_stop(&m->stop);
    while (!atomic_load(&m->stop)) {
        certmgr_step(m);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += m->o.poll_ms / 1000;
        until.tv_nsec += (m->o.poll_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&m->wait_mu);
        while (!atomic_load(&m->stop) &&
               pthread_cond_timedwait(&m->wait_cv, &m->wait_mu, &until) != ETIMEDOUT)
            ;
        pthread_mutex_unlock(&m->wait_mu);
    }
    return NULL;
}

int certmgr_start(certmgr *m, int (*serve)(void *arg, const tls_pair *p), void *serve_arg)
{
    m->serve = serve;
    m->serve_arg = serve_arg;
    if (pthread_create(&m->thread, NULL, cm_run, m) != 0)
        return -1;
    m->started = true;
    return 0;
}

static bool cm_is_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 253)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
            return false;
    return true;
}

void certmgr_free(certmgr *m)
{
    if (m == NULL)
        return;
    if (m->started) {
        pthread_mutex_lock(&m->wait_mu);
        atomic_store(&m->stop, true);
        pthread_cond_broadcast(&m->wait_cv);
        pthread_mutex_unlock(&m->wait_mu);
        pthread_join(m->thread, NULL);
    }
    for (size_t i = 0; m->hosts != NULL && i < m->o.n_hosts; i++)
        free(m->hosts[i]);
    free(m->hosts);
    free(m->ns);
    free(m->secret);
    for (int i = 0; i < CFG_COUNT; i++)
        free(m->names[i]);
    tls_pair_clear(&m->serving);
    pthread_mutex_destroy(&m->lock);
    pthread_mutex_destroy(&m->wait_mu);
    pthread_cond_destroy(&m->wait_cv);
    free(m);
}

/* Checks the options; says what is wrong. */
static int cm_check_opts(const certmgr_opts *o, diag_list *dl)
{
    const char *why = NULL;
    if (!cm_is_name(o->namespace_) || strchr(o->namespace_, '.') != NULL ||
        strlen(o->namespace_) > 63)
        why = "the Secret's namespace is not a namespace name";
    else if (!cm_is_name(o->secret))
        why = "the Secret's name is not a Kubernetes name";
    else if ((o->validating != NULL && !cm_is_name(o->validating)) ||
             (o->mutating != NULL && !cm_is_name(o->mutating)))
        why = "a webhook configuration's name is not a Kubernetes name";
    else if (o->n_hosts == 0)
        why = "the serving certificate needs at least one host";
    else if (o->ca_days > 3650 || o->cert_days > 3650)
        why = "lifetimes are at most 3650 days";
    if (why != NULL)
        diag_add(dl, DIAG_ERROR, "certs.config", NULL, "--manage-webhook-certs: %s", why);
    return why ? -1 : 0;
}

certmgr *certmgr_new(const lease_api *api, const certmgr_opts *o, diag_list *dl)
{
    if (cm_check_opts(o, dl) != 0)
        return NULL;
    /* Each host is checked by issuing a throw-away certificate for it now, with the rules
     * of tls_leaf_issue: a bad one fails the start, not the first renewal. */
    tls_pair ca, leaf;
    if (tls_ca_create(0, 86400, &ca, dl) != 0)
        return NULL;
    int hosts_ok = tls_leaf_issue(&ca, o->hosts, o->n_hosts, 0, 86400, &leaf, dl);
    tls_pair_clear(&ca);
    tls_pair_clear(&leaf);
    if (hosts_ok != 0)
        return NULL;
    certmgr *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->api = *api;
    m->o = *o;
    m->o.ca_days = o->ca_days ? o->ca_days : 365;
    m->o.cert_days = o->cert_days ? o->cert_days : 90;
    m->o.poll_ms = o->poll_ms > 0 ? o->poll_ms : 2000;
    pthread_mutex_init(&m->lock, NULL);
    pthread_mutex_init(&m->wait_mu, NULL);
    pthread_cond_init(&m->wait_cv, NULL);
    m->ns = strdup(o->namespace_);
    m->secret = strdup(o->secret);
    m->names[CFG_VALIDATING] = o->validating ? strdup(o->validating) : NULL;
    m->names[CFG_MUTATING] = o->mutating ? strdup(o->mutating) : NULL;
    m->hosts = calloc(o->n_hosts, sizeof *m->hosts);
    bool oom = m->ns == NULL || m->secret == NULL || m->hosts == NULL;
    for (size_t i = 0; !oom && i < o->n_hosts; i++)
        oom = (m->hosts[i] = strdup(o->hosts[i])) == NULL;
    if (oom) {
        certmgr_free(m);
        return NULL;
    }
    m->o.hosts = NULL; /* borrowed by the caller: only 'hosts' is used */
    snprintf(m->secret_path, sizeof m->secret_path, SECRET_API "%s/secrets/%s", m->ns, m->secret);
    for (int i = 0; i < CFG_COUNT; i++)
        if (m->names[i] != NULL)
            snprintf(m->cfg_path[i], sizeof m->cfg_path[i], "%s%s",
                     i == CFG_VALIDATING ? VWC_API : MWC_API, m->names[i]);
    atomic_store(&cm_stats.on, true);
    return m;
}

int certmgr_metrics(buf *out)
{
    if (!atomic_load(&cm_stats.on))
        return 0;
    int rc = buf_printf(
        out,
        "# HELP streamguard_webhook_ca_not_after_seconds The newest webhook CA's notAfter "
        "(--manage-webhook-certs).\n"
        "# TYPE streamguard_webhook_ca_not_after_seconds gauge\n"
        "streamguard_webhook_ca_not_after_seconds %lld\n"
        "# HELP streamguard_webhook_ca_bundle_certificates CAs in the Secret's ca.crt (2 "
        "during a rollover).\n"
        "# TYPE streamguard_webhook_ca_bundle_certificates gauge\n"
        "streamguard_webhook_ca_bundle_certificates %ld\n"
        "# HELP streamguard_webhook_serving_cert_not_after_seconds The notAfter of the "
        "certificate this replica took from the Secret.\n"
        "# TYPE streamguard_webhook_serving_cert_not_after_seconds gauge\n"
        "streamguard_webhook_serving_cert_not_after_seconds %lld\n"
        "# HELP streamguard_webhook_certs_issued_total Certificates this replica made as the "
        "writer.\n"
        "# TYPE streamguard_webhook_certs_issued_total counter\n"
        "streamguard_webhook_certs_issued_total{kind=\"ca\"} %ld\n"
        "streamguard_webhook_certs_issued_total{kind=\"serving\"} %ld\n"
        "# HELP streamguard_webhook_cabundle_patches_total Patches that brought a webhook "
        "configuration's caBundle back in line.\n"
        "# TYPE streamguard_webhook_cabundle_patches_total counter\n",
        (long long)atomic_load(&cm_stats.ca_not_after), atomic_load(&cm_stats.bundle_size),
        (long long)atomic_load(&cm_stats.cert_not_after), atomic_load(&cm_stats.issued_ca),
        atomic_load(&cm_stats.issued_cert));
    for (int i = 0; rc == 0 && i < CFG_COUNT; i++)
        rc = buf_printf(out,
                        "streamguard_webhook_cabundle_patches_total{configuration=\"%s\"} %ld\n",
                        cm_cfg_label[i], atomic_load(&cm_stats.patches[i]));
    if (rc == 0)
        rc = buf_puts(out, "# HELP streamguard_webhook_certs_errors_total Failed steps of the "
                           "certificate manager, by operation.\n"
                           "# TYPE streamguard_webhook_certs_errors_total counter\n");
    for (int i = 0; rc == 0 && i < ERR_COUNT; i++)
        rc = buf_printf(out, "streamguard_webhook_certs_errors_total{op=\"%s\"} %ld\n",
                        err_label[i], atomic_load(&cm_stats.errors[i]));
    return rc;
}
