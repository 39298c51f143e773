/* certmgr_webhooks.c - the certificate manager's caBundle sync (see certmgr_int.h): as the
 * writer, each entry of the Validating- and MutatingWebhookConfiguration whose caBundle differs
 * from the Secret's ca.crt gets a JSON patch, and the manager records since when every entry
 * has carried the newest CA (step 2 of the rollover in certmgr.h waits on it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/log.h"
#include "certmgr_int.h"

bool cm_trusted(const certmgr *m, const char *serial, long long now)
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
 * all carry it already or the configuration does not exist, 1 when they carry it after a
 * patch, else -1. */
static int sync_config(certmgr *m, int i, const char *want)
{
    kube_response r;
    if (m->api.get(m->api.arg, m->cfg_path[i], CM_TIMEOUT_MS, &r) != 0) {
        bool missing = kube_not_found(&r, m->names[i]);
        if (missing)
            cm_note_error(m, ERR_WEBHOOK_READ, "the webhook configuration does not exist (yet)",
                          m->names[i]);
        else
            cm_note_error(m, ERR_WEBHOOK_READ, "cannot read the webhook configuration", r.error);
        kube_response_free(&r);
        return missing ? 0 : -1;
    }
    cJSON *doc = cJSON_ParseWithLength(r.body, r.len);
    kube_response_free(&r);
    if (doc == NULL) { /* never "in line" for an answer that cannot be read */
        cm_note_error(m, ERR_WEBHOOK_READ, "cannot read the webhook configuration",
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
        rc = 1;
        atomic_fetch_add(&cm_stats.patches[i], 1);
        log_info("certs", LOG_S("msg", "caBundle brought in line"),
                 LOG_S("configuration", cm_cfg_label[i]), LOG_S("name", m->names[i]),
                 LOG_I("webhooks", n));
    } else {
        cm_note_error(m, ERR_WEBHOOK_PATCH, "cannot patch the webhook configuration's caBundle",
                      r.error);
    }
    kube_response_free(&r);
    return rc < 0 ? -1 : rc;
}

/* Every configuration in line with 'ca_crt'; records since when the newest CA is trusted. */
void cm_sync_webhooks(certmgr *m, const char *ca_crt, long long now)
{
    size_t n = strlen(ca_crt);
    char *want = malloc(base64_encoded_len(n) + 1);
    if (want == NULL)
        return;
    base64_encode(ca_crt, n, want);
    int bad = 0, patched = 0;
    for (int i = 0; i < CFG_COUNT; i++) {
        int rc = m->names[i] != NULL ? sync_config(m, i, want) : 0;
        bad += rc < 0;
        patched += rc > 0;
    }
    free(want);
    tls_bundle b;
    if (bad > 0 || tls_bundle_read(ca_crt, &b) != 0) {
        m->trusted_serial[0] = '\0';
        return;
    }
    /* An entry that had to be patched (a re-apply put another caBundle back) has carried the
     * newest CA only from now on: the settle time starts over. */
    if (patched > 0 || strcmp(m->trusted_serial, b.info[0].serial) != 0) {
        snprintf(m->trusted_serial, sizeof m->trusted_serial, "%s", b.info[0].serial);
        m->trusted_since = now;
    }
    tls_bundle_clear(&b);
}
