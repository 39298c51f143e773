/* creds.c - reference-counted GnuTLS credentials; see creds.h. */
#include "creds.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CHAIN 8

struct tls_creds {
    _Atomic unsigned refs;
    gnutls_pcert_st pcert[MAX_CHAIN];
    unsigned n_pcert;
    gnutls_privkey_t key;
};

/* Credentials alive in the process: what the tests read to see that a swap frees the old. */
static _Atomic long live_creds;

static void creds_free(tls_creds *c)
{
    for (unsigned i = 0; i < c->n_pcert; i++)
        gnutls_pcert_deinit(&c->pcert[i]);
    if (c->key != NULL)
        gnutls_privkey_deinit(c->key);
    free(c);
    atomic_fetch_sub(&live_creds, 1);
}

tls_creds *tls_creds_new(const char *cert_pem, const char *key_pem, diag_list *dl)
{
    srcpos at = {.file = "--tls-cert"};
    tls_creds *c = calloc(1, sizeof *c);
    if (c == NULL) {
        diag_add(dl, DIAG_ERROR, "tls.cert", &at, "out of memory");
        return NULL;
    }
    atomic_init(&c->refs, 1);
    atomic_fetch_add(&live_creds, 1);
    gnutls_datum_t cd = {(unsigned char *)cert_pem, (unsigned)strlen(cert_pem)};
    gnutls_datum_t kd = {(unsigned char *)key_pem, (unsigned)strlen(key_pem)};
    c->n_pcert = MAX_CHAIN;
    int rc = gnutls_pcert_list_import_x509_raw(c->pcert, &c->n_pcert, &cd, GNUTLS_X509_FMT_PEM, 0);
    if (rc < 0) {
        c->n_pcert = 0;
        diag_add(dl, DIAG_ERROR, "tls.cert", &at, "GnuTLS cannot use the certificate: %s",
                 gnutls_strerror(rc));
        creds_free(c);
        return NULL;
    }
    if ((rc = gnutls_privkey_init(&c->key)) < 0 ||
        (rc = gnutls_privkey_import_x509_raw(c->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
        at.file = "--tls-key";
        diag_add(dl, DIAG_ERROR, "tls.key", &at, "GnuTLS cannot use the key: %s",
                 gnutls_strerror(rc));
        creds_free(c);
        return NULL;
    }
    return c;
}

tls_creds *tls_creds_ref(tls_creds *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

void tls_creds_unref(tls_creds *c)
{
    /* acq_rel: the last owner sees every use by the others before it frees */
    if (c != NULL && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        creds_free(c);
}

void tls_creds_use(tls_creds *c, gnutls_pcert_st **pcert, unsigned *n_pcert, gnutls_privkey_t *key)
{
    *pcert = c->pcert;
    *n_pcert = c->n_pcert;
    *key = c->key;
}
