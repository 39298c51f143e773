/* certmgr.c - the webhook's self-managed certificates; see certmgr.h.
 *
 * A pass is: read the Secret, decide (plan(): pure, from the Secret's content, the time and
 * whether the webhook configurations trust the newest CA), write when this replica is the
 * writer and something is due (a create, or a PUT of the object read, whose resourceVersion
 * makes it conditional: a 409 is left to the next pass), serve what the Secret holds, and,
 * as the writer, patch each webhook entry whose caBundle differs. No OpenSSL here: tls/certs.h
 * makes and checks the certificates. */
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

#define CM_TIMEOUT_MS 5000
#define SKEW_S 300 /* notBefore this far back: nodes whose clocks lag still accept it */
#define SECRET_API "/api/v1/namespaces/"
#define VWC_API "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/"
#define MWC_API "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/"
#define PEM_CAP ((size_t)256 << 10)

enum { CFG_VALIDATING, CFG_MUTATING, CFG_COUNT };
static const char *const cfg_label[CFG_COUNT] = {"validating", "mutating"};
enum sync_err {
    ERR_SECRET_READ,
    ERR_SECRET_WRITE,
    ERR_WEBHOOK_READ,
    ERR_WEBHOOK_PATCH,
    ERR_SERVE,
    ERR_COUNT
};
static const char *const err_label[ERR_COUNT] = {"secret_read", "secret_write", "webhook_read",
                                                 "webhook_patch", "serve"};

/* Process-wide, as metrics.c's: one manager per process. */
static struct {
    atomic_bool on;
    atomic_llong ca_not_after, cert_not_after;
    atomic_long bundle_size;
    atomic_long issued_ca, issued_cert;
    atomic_long patches[CFG_COUNT];
    atomic_long errors[ERR_COUNT];
} cm_stats;

struct certmgr {
    lease_api api;
    certmgr_opts o;
    char *ns, *secret, *names[CFG_COUNT]; /* copies */
    char **hosts;
    char secret_path[600], cfg_path[CFG_COUNT][400];
    pthread_mutex_t lock; /* 'serving' */
    tls_pair serving;     /* what the Secret holds, checked; empty until then */
    bool offered;         /* 'serving' has been taken by the server */
    /* The newest CA seen in every webhook entry, and since when (Unix seconds). */
    char trusted_serial[100];
    long long trusted_since;
    char last_error[256]; /* logged once until it changes or a pass goes well */
    int errors;           /* note_error() calls */
    int (*serve)(void *arg, const tls_pair *p);
    void *serve_arg;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    pthread_mutex_t wait_mu;
    pthread_cond_t wait_cv;
};

/* The Secret's four entries, decoded; NULL when absent or not base64. */
typedef struct secret_data {
    char *ca_crt, *ca_key, *tls_crt, *tls_key;
} secret_data;

static const char *const data_key[4] = {"ca.crt", "ca.key", "tls.crt", "tls.key"};

static char **data_slot(secret_data *d, int i)
{
    char **slots[4] = {&d->ca_crt, &d->ca_key, &d->tls_crt, &d->tls_key};
    return slots[i];
}

static void secret_data_clear(secret_data *d)
{
    for (int i = 0; i < 4; i++) {
        char **p = data_slot(d, i);
        if (*p != NULL)
            memset(*p, 0, strlen(*p)); /* keys */
        free(*p);
        *p = NULL;
    }
}

static long long cm_now(const certmgr *m)
{
    return m->o.now ? m->o.now(m->o.now_arg) : (long long)time(NULL);
}

static bool cm_is_writer(const certmgr *m)
{
    return m->o.is_writer == NULL || m->o.is_writer(m->o.writer_arg);
}

/* Logs an error once until a different one (or success: note_ok) comes; counts each. */
static void note_error(certmgr *m, enum sync_err e, const char *what, const char *why)
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

/* ---- the plan: what the Secret should hold now ----------------------------------------- */

static long long renew_at(const tls_cert_info *i)
{
    return i->not_before + (i->not_after - i->not_before) * 2 / 3;
}

enum { PLAN_CA = 1, PLAN_PRUNE = 2, PLAN_CERT = 4, PLAN_WAIT = 8 };

typedef struct plan_result {
    unsigned what;
    const char *why; /* of the CA or certificate change, for the log */
    secret_data out; /* set when 'what' has PLAN_CA, PLAN_PRUNE or PLAN_CERT */
} plan_result;

/* Joins the bundle's certificates into one PEM text (malloc-owned). */
static char *bundle_join(const tls_bundle *b)
{
    buf out;
    buf_init(&out, PEM_CAP);
    for (size_t i = 0; i < b->n; i++)
        if (buf_puts(&out, b->pem[i]) != 0)
            break;
    return buf_take(&out);
}

/* The CA half of the plan: 'ca' receives the newest CA pair (made or kept), 'bundle' what
 * ca.crt should hold. Returns PLAN_CA, PLAN_PRUNE, 0, or -1 (cannot make a CA). */
static int plan_ca(const certmgr *m, const secret_data *in, long long now, tls_pair *ca,
                   tls_bundle *bundle, const char **why, diag_list *dl)
{
    tls_bundle old = {0};
    bool have = in->ca_crt != NULL && tls_bundle_read(in->ca_crt, &old) == 0;
    diag_list ignore;
    diag_list_init(&ignore);
    bool ok = have && in->ca_key != NULL &&
              tls_pair_parse(old.pem[0], in->ca_key, "ca", now, ca, &ignore) == 0;
    diag_list_clear(&ignore);
    int what = 0;
    if (!ok || now >= renew_at(&old.info[0])) {
        *why = !have ? "no CA"
               : !ok ? "the CA and its key do not make a valid pair"
                     : "CA renewal due";
        tls_pair_clear(ca);
        long long na = now + (long long)m->o.ca_days * 86400;
        if (tls_ca_create(now - SKEW_S, na, ca, dl) != 0) {
            tls_bundle_clear(&old);
            return -1;
        }
        what = PLAN_CA;
    }
    /* The newest CA first, then every older one still valid (newest first as they were). */
    memset(bundle, 0, sizeof *bundle);
    tls_bundle fresh = {0};
    if (tls_bundle_read(ca->cert_pem, &fresh) == 0) {
        bundle->pem[0] = fresh.pem[0];
        bundle->info[0] = fresh.info[0];
        bundle->n = 1;
        fresh.pem[0] = NULL;
    }
    tls_bundle_clear(&fresh);
    for (size_t i = 0; i < old.n; i++) {
        bool dup = bundle->n > 0 && strcmp(old.pem[i], bundle->pem[0]) == 0;
        if (dup || old.info[i].not_after <= now || bundle->n == TLS_BUNDLE_MAX) {
            if (!dup && what == 0)
                what = PLAN_PRUNE;
            continue;
        }
        bundle->pem[bundle->n] = old.pem[i];
        bundle->info[bundle->n++] = old.info[i];
        old.pem[i] = NULL;
    }
    tls_bundle_clear(&old);
    return what;
}

/* Whether the serving pair in 'in' is fine as it is ('ca' the newest CA). Says why not. */
static bool cert_good(const certmgr *m, const secret_data *in, const tls_pair *ca, long long now,
                      bool *valid, const char **why)
{
    tls_pair leaf;
    diag_list ignore;
    diag_list_init(&ignore);
    *valid = in->tls_crt && in->tls_key &&
             tls_pair_parse(in->tls_crt, in->tls_key, "tls", now, &leaf, &ignore) == 0;
    diag_list_clear(&ignore);
    if (!*valid) {
        *why = "no valid serving certificate";
        return false;
    }
    bool good = false;
    if (!tls_cert_signed_by(leaf.cert_pem, ca->cert_pem))
        *why = "the serving certificate is not from the newest CA";
    else if (now >= renew_at(&leaf.info))
        *why = "serving certificate renewal due";
    else
        good = true;
    for (size_t i = 0; good && i < m->o.n_hosts; i++) {
        if (!tls_cert_covers_host(leaf.cert_pem, m->hosts[i])) {
            *why = "the serving certificate does not name every host";
            good = false;
        }
    }
    tls_pair_clear(&leaf);
    return good;
}

/* Decides what the Secret 'in' should hold at 'now'. 'trusted' tells that every webhook
 * entry has carried the newest CA for CERTMGR_TRUST_SETTLE_S. Returns 0 ('r' says what
 * changes; r->out set when anything does), or -1 with the reason in 'dl'. */
static int plan(const certmgr *m, const secret_data *in, long long now,
                bool (*trusted)(const certmgr *, const char *serial, long long now), plan_result *r,
                diag_list *dl)
{
    memset(r, 0, sizeof *r);
    tls_pair ca = {0};
    tls_bundle bundle = {0};
    int what = plan_ca(m, in, now, &ca, &bundle, &r->why, dl);
    if (what >= 0 && bundle.n == 0) { /* the CA just made or checked does not read back */
        diag_add(dl, DIAG_ERROR, "tls.generate", NULL, "the CA cannot be read back");
        what = -1;
    }
    if (what < 0) {
        tls_pair_clear(&ca);
        tls_bundle_clear(&bundle);
        return -1;
    }
    r->what = (unsigned)what;
    bool valid;
    const char *cert_why = NULL;
    tls_pair leaf = {0};
    if (!cert_good(m, in, &ca, now, &valid, &cert_why)) {
        /* A valid certificate from an older CA that the configurations may not trust yet:
         * keep serving it until they do (step 2 of the rollover). */
        bool wait = valid && !tls_cert_signed_by(in->tls_crt, ca.cert_pem) &&
                    !trusted(m, bundle.info[0].serial, now);
        if (wait) {
            r->what |= PLAN_WAIT;
        } else {
            long long nb = now - SKEW_S < ca.info.not_before ? ca.info.not_before : now - SKEW_S;
            long long na = now + (long long)m->o.cert_days * 86400;
            if (na > ca.info.not_after)
                na = ca.info.not_after; /* never outlives its CA: see step 3 in certmgr.h */
            if (tls_leaf_issue(&ca, (const char *const *)m->hosts, m->o.n_hosts, nb, na, &leaf,
                               dl) != 0) {
                tls_pair_clear(&ca);
                tls_bundle_clear(&bundle);
                return -1;
            }
            r->what |= PLAN_CERT;
            if (!(r->what & PLAN_CA))
                r->why = cert_why;
        }
    }
    if (r->what & (PLAN_CA | PLAN_PRUNE | PLAN_CERT)) {
        r->out.ca_crt = bundle_join(&bundle);
        r->out.ca_key = strdup(ca.key_pem);
        r->out.tls_crt = strdup(leaf.cert_pem ? leaf.cert_pem : in->tls_crt ? in->tls_crt : "");
        r->out.tls_key = strdup(leaf.key_pem ? leaf.key_pem : in->tls_key ? in->tls_key : "");
    }
    bool oom = (r->what & (PLAN_CA | PLAN_PRUNE | PLAN_CERT)) &&
               (!r->out.ca_crt || !r->out.ca_key || !r->out.tls_crt || !r->out.tls_key);
    if (oom) {
        secret_data_clear(&r->out);
        diag_add(dl, DIAG_ERROR, "tls.generate", NULL, "out of memory");
    }
    tls_pair_clear(&leaf);
    tls_pair_clear(&ca);
    tls_bundle_clear(&bundle);
    return oom ? -1 : 0;
}

/* ---- the Secret ------------------------------------------------------------------------- */

/* Decodes data[KEY] of 'secret' into 'd'. */
static void secret_decode(const cJSON *secret, secret_data *d)
{
    memset(d, 0, sizeof *d);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(secret, "data");
    for (int i = 0; i < 4; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(data, data_key[i]);
        if (!cJSON_IsString(v))
            continue;
        size_t n = strlen(v->valuestring);
        char *out = malloc(n / 4 * 3 + 4);
        long len = out ? base64_decode(v->valuestring, n, (unsigned char *)out) : -1;
        if (len < 0 || memchr(out, '\0', (size_t)len) != NULL) {
            free(out);
            continue;
        }
        out[len] = '\0';
        *data_slot(d, i) = out;
    }
}

/* Sets data[KEY] of 'secret' from 'd' (base64), keeping any other key. Returns 0 or -1. */
static int secret_encode(cJSON *secret, const secret_data *d)
{
    cJSON *data = cJSON_GetObjectItemCaseSensitive(secret, "data");
    if (!cJSON_IsObject(data)) {
        cJSON_DeleteItemFromObjectCaseSensitive(secret, "data");
        data = cJSON_AddObjectToObject(secret, "data");
    }
    for (int i = 0; data != NULL && i < 4; i++) {
        const char *v = *data_slot((secret_data *)d, i);
        size_t n = strlen(v);
        char *b64 = malloc(base64_encoded_len(n) + 1);
        if (b64 == NULL)
            return -1;
        base64_encode(v, n, b64);
        cJSON_DeleteItemFromObjectCaseSensitive(data, data_key[i]);
        cJSON *item = cJSON_AddStringToObject(data, data_key[i], b64);
        memset(b64, 0, strlen(b64));
        free(b64);
        if (item == NULL)
            return -1;
    }
    return data != NULL ? 0 : -1;
}

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
    char *body = s && secret_encode(s, &r->out) == 0 ? cJSON_PrintUnformatted(s) : NULL;
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
        note_error(m, ERR_SECRET_WRITE,
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

/* ---- the webhook configurations --------------------------------------------------------- */

static bool trusted_for(const certmgr *m, const char *serial, long long now)
{
    return strcmp(m->trusted_serial, serial) == 0 &&
           now - m->trusted_since >= CERTMGR_TRUST_SETTLE_S;
}

/* Appends to 'ops' the two operations that give entry 'idx' (named 'name') caBundle 'want':
 * a "test" of its name first, so that the patch changes the entries that were read or, when a
 * re-apply changed the list meanwhile, fails (422) and is made again from the next read. */
static void add_ops(cJSON *ops, int idx, const char *name, const char *want)
{
    char p[64];
    cJSON *t = cJSON_CreateObject(), *a = cJSON_CreateObject();
    snprintf(p, sizeof p, "/webhooks/%d/name", idx);
    cJSON_AddStringToObject(t, "op", "test");
    cJSON_AddStringToObject(t, "path", p);
    cJSON_AddStringToObject(t, "value", name);
    snprintf(p, sizeof p, "/webhooks/%d/clientConfig/caBundle", idx);
    cJSON_AddStringToObject(a, "op", "add"); /* replaces an existing member */
    cJSON_AddStringToObject(a, "path", p);
    cJSON_AddStringToObject(a, "value", want);
    cJSON_AddItemToArray(ops, t);
    cJSON_AddItemToArray(ops, a);
}

/* The JSON patch (text, malloc-owned) that gives every entry of configuration 'doc' the
 * caBundle 'want', or NULL when every entry has it; '*n' the entries it changes. */
static char *bundle_patch(const cJSON *doc, const char *want, int *n)
{
    cJSON *ops = cJSON_CreateArray();
    int idx = 0;
    const cJSON *w;
    *n = 0;
    cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(doc, "webhooks"))
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(w, "name");
        const cJSON *cc = cJSON_GetObjectItemCaseSensitive(w, "clientConfig");
        const cJSON *have = cJSON_GetObjectItemCaseSensitive(cc, "caBundle");
        if (cJSON_IsString(name) && cJSON_IsObject(cc) &&
            !(cJSON_IsString(have) && strcmp(have->valuestring, want) == 0)) {
            add_ops(ops, idx, name->valuestring, want);
            (*n)++;
        }
        idx++;
    }
    char *text = *n > 0 ? cJSON_PrintUnformatted(ops) : NULL;
    cJSON_Delete(ops);
    return text;
}

/* Brings every entry of configuration 'i' to caBundle 'want' (base64). Returns 0 when they
 * all carry it (already or after the patch) or the configuration does not exist, else -1. */
static int sync_config(certmgr *m, int i, const char *want)
{
    kube_response r;
    if (m->api.get(m->api.arg, m->cfg_path[i], CM_TIMEOUT_MS, &r) != 0) {
        bool missing = kube_not_found(&r, m->names[i]);
        if (missing)
            note_error(m, ERR_WEBHOOK_READ, "the webhook configuration does not exist (yet)",
                       m->names[i]);
        else
            note_error(m, ERR_WEBHOOK_READ, "cannot read the webhook configuration", r.error);
        kube_response_free(&r);
        return missing ? 0 : -1;
    }
    cJSON *doc = cJSON_ParseWithLength(r.body, r.len);
    kube_response_free(&r);
    if (doc == NULL) { /* never "in line" for an answer that cannot be read */
        note_error(m, ERR_WEBHOOK_READ, "cannot read the webhook configuration",
                   "the answer is not JSON");
        return -1;
    }
    int n;
    char *body = bundle_patch(doc, want, &n);
    cJSON_Delete(doc);
    if (n == 0)
        return 0;
    if (body == NULL || !cm_is_writer(m)) { /* out of memory, or the lease lost meanwhile */
        free(body);
        return -1;
    }
    int rc = m->api.write(m->api.arg, KUBE_PATCH_JSON, m->cfg_path[i], body, strlen(body),
                          CM_TIMEOUT_MS, &r);
    free(body);
    if (rc == 0) {
        atomic_fetch_add(&cm_stats.patches[i], 1);
        log_info("certs", LOG_S("msg", "caBundle brought in line"),
                 LOG_S("configuration", cfg_label[i]), LOG_S("name", m->names[i]),
                 LOG_I("webhooks", n));
    } else {
        note_error(m, ERR_WEBHOOK_PATCH, "cannot patch the webhook configuration's caBundle",
                   r.error);
    }
    kube_response_free(&r);
    return rc;
}

/* Every configuration in line with 'ca_crt'; records since when the newest CA is trusted. */
static void sync_webhooks(certmgr *m, const char *ca_crt, long long now)
{
    size_t n = strlen(ca_crt);
    char *want = malloc(base64_encoded_len(n) + 1);
    if (want == NULL)
        return;
    base64_encode(ca_crt, n, want);
    int bad = 0;
    for (int i = 0; i < CFG_COUNT; i++)
        if (m->names[i] != NULL && sync_config(m, i, want) != 0)
            bad++;
    free(want);
    tls_bundle b;
    if (bad > 0 || tls_bundle_read(ca_crt, &b) != 0) {
        m->trusted_serial[0] = '\0';
        return;
    }
    if (strcmp(m->trusted_serial, b.info[0].serial) != 0) {
        snprintf(m->trusted_serial, sizeof m->trusted_serial, "%s", b.info[0].serial);
        m->trusted_since = now;
    }
    tls_bundle_clear(&b);
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
        note_error(m, ERR_SERVE,
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
        note_error(m, ERR_SERVE, "the server refused the Secret's serving pair", "");
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
            note_error(m, ERR_SECRET_READ, "cannot read the Secret", r.error);
        kube_response_free(&r);
        return missing ? 0 : -1;
    }
    *obj = cJSON_ParseWithLength(r.body, r.len);
    if (r.body != NULL)
        memset(r.body, 0, r.len);
    kube_response_free(&r);
    if (*obj == NULL) {
        note_error(m, ERR_SECRET_READ, "cannot read the Secret", "the answer is not JSON");
        return -1;
    }
    secret_decode(*obj, d);
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
        if (plan(m, &d, now, trusted_for, &pr, &dl) != 0) {
            char line[512];
            note_error(m, ERR_SECRET_WRITE, "cannot make the certificates",
                       dl.count ? diag_format(&dl.items[0], line, sizeof line) : "?");
            rc = -1;
        } else if (pr.what & PLAN_WAIT && !(pr.what & ~(unsigned)PLAN_WAIT)) {
            log_debug("certs", LOG_S("msg", "serving certificate from the new CA waits until "
                                            "every webhook entry trusts it"));
        }
        if (rc == 0 && (pr.what & (PLAN_CA | PLAN_PRUNE | PLAN_CERT))) {
            if (secret_write(m, obj, &pr) == 0) {
                secret_data_clear(&d);
                d = pr.out; /* what was written is what the Secret holds now */
                memset(&pr.out, 0, sizeof pr.out);
            } else {
                rc = -1;
            }
        }
        secret_data_clear(&pr.out);
        diag_list_clear(&dl);
    }
    cJSON_Delete(obj);
    if (d.ca_crt != NULL)
        set_cert_gauges(&d);
    take_pair(m, &d, now);
    if (cm_is_writer(m) && d.ca_crt != NULL)
        sync_webhooks(m, d.ca_crt, now);
    if (m->errors == errors_before)
        note_ok(m); /* the next failure is logged again, even the same one */
    secret_data_clear(&d);
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
    if (!cm_is_name(o->namespace_) || strchr(o->namespace_, '.') != NULL || strlen(o->namespace_) > 63)
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
                        cfg_label[i], atomic_load(&cm_stats.patches[i]));
    if (rc == 0)
        rc = buf_puts(out, "# HELP streamguard_webhook_certs_errors_total Failed steps of the "
                           "certificate manager, by operation.\n"
                           "# TYPE streamguard_webhook_certs_errors_total counter\n");
    for (int i = 0; rc == 0 && i < ERR_COUNT; i++)
        rc = buf_printf(out, "streamguard_webhook_certs_errors_total{op=\"%s\"} %ld\n",
                        err_label[i], atomic_load(&cm_stats.errors[i]));
    return rc;
}
