/* certmgr_plan.c - the certificate manager's pure half (see certmgr_int.h): the Secret's data
 * to and from its JSON, and what the Secret should hold now. No request, no lock, no counter:
 * the clock and whether the webhook configurations trust the newest CA are arguments, so the
 * tests drive it through every step of a rollover. */
#include <stdlib.h>
#include <string.h>

#include "certmgr_int.h"

#define SKEW_S 300 /* notBefore this far back: nodes whose clocks lag still accept it */
#define PEM_CAP ((size_t)256 << 10)

static const char *const data_key[4] = {"ca.crt", "ca.key", "tls.crt", "tls.key"};

static char **data_slot(secret_data *d, int i)
{
    char **slots[4] = {&d->ca_crt, &d->ca_key, &d->tls_crt, &d->tls_key};
    return slots[i];
}

void cm_secret_data_clear(secret_data *d)
{
    for (int i = 0; i < 4; i++) {
        char **p = data_slot(d, i);
        if (*p != NULL)
            memset(*p, 0, strlen(*p)); /* keys */
        free(*p);
        *p = NULL;
    }
}

/* ---- the plan: what the Secret should hold now ----------------------------------------- */

static long long renew_at(const tls_cert_info *i)
{
    return i->not_before + (i->not_after - i->not_before) * 2 / 3;
}

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

/* The CA half (plan_ca), then the serving certificate: kept, issued, or kept while the
 * configurations do not trust the newest CA yet (PLAN_WAIT). */
int cm_plan(const certmgr *m, const secret_data *in, long long now,
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
        cm_secret_data_clear(&r->out);
        diag_add(dl, DIAG_ERROR, "tls.generate", NULL, "out of memory");
    }
    tls_pair_clear(&leaf);
    tls_pair_clear(&ca);
    tls_bundle_clear(&bundle);
    return oom ? -1 : 0;
}

/* ---- the Secret's JSON ------------------------------------------------------------------ */

/* Decodes data[KEY] of 'secret' into 'd'. */
void cm_secret_decode(const cJSON *secret, secret_data *d)
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
int cm_secret_encode(cJSON *secret, const secret_data *d)
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
