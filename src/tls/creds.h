/* creds.h - the serving certificate in GnuTLS's form, shared by reference count.
 *
 * The server's TLS is GnuTLS (inside libmicrohttpd), which asks for a chain and a key at
 * each handshake and uses them, without a copy, for as long as the session lives. A tls_creds
 * is one chain and its key. The server holds a reference to the current one; each connection
 * takes its own in its handshake and drops it when it closes; a certificate reload makes a new
 * one and drops the server's reference to the old, which is freed when the last connection
 * that uses it has ended. (certs.c checks the PEM with GnuTLS first.) */
#ifndef SG_TLS_CREDS_H
#define SG_TLS_CREDS_H

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include "../util/diag.h"

typedef struct tls_creds tls_creds;

/* Imports a PEM chain (leaf first, at most 8 certificates) and its unencrypted PEM key.
 * Borrows both strings. Returns credentials with one reference, or NULL with a "tls.cert" or
 * "tls.key" diag carrying GnuTLS's reason. */
tls_creds *tls_creds_new(const char *cert_pem, const char *key_pem, diag_list *dl);

/* Takes a reference to 'c' and returns it. Thread-safe. */
tls_creds *tls_creds_ref(tls_creds *c);

/* Drops a reference; the last one frees 'c'. Thread-safe. NULL is accepted. */
void tls_creds_unref(tls_creds *c);

/* Fills what GnuTLS's certificate callback returns ('pcert', its length, 'key'). The pointers
 * stay valid while the caller holds its reference to 'c'. */
void tls_creds_use(tls_creds *c, gnutls_pcert_st **pcert, unsigned *n_pcert, gnutls_privkey_t *key);

#endif
