/* certs.h - TLS certificates: load and check a serving pair, generate development ones.
 *
 * The only module that includes OpenSSL. The server's TLS itself is GnuTLS (inside
 * libmicrohttpd); this module checks what it will be given, in PEM, before it starts. */
#ifndef SG_TLS_CERTS_H
#define SG_TLS_CERTS_H

#include <stdbool.h>
#include <stddef.h>

#include "../util/diag.h"

typedef struct tls_cert_info {
    long long not_before, not_after; /* Unix seconds */
    char serial[100];                /* upper-case hex */
    char subject[256];               /* one-line RFC 2253 form */
} tls_cert_info;

/* A certificate chain and its key, as PEM text, checked. */
typedef struct tls_pair {
    char *cert_pem; /* malloc-owned; the whole file, leaf first */
    char *key_pem;  /* malloc-owned; wiped and freed by tls_pair_clear() */
    tls_cert_info info;
} tls_pair;

/* Reads 'cert_file' and 'key_file' into 'out' and checks that the first certificate parses,
 * the key parses and matches it, and the certificate is valid now. Returns 0, or -1 with
 * diags ("tls.cert", "tls.key", "tls.mismatch", "tls.expired", "tls.not_yet_valid") that
 * carry OpenSSL's own reasons; 'out' is then empty. */
int tls_pair_load(const char *cert_file, const char *key_file, tls_pair *out, diag_list *dl);

/* Whether the first certificate of 'cert_pem' names 'host' (a DNS SAN, wildcards as RFC 6125
 * allows). */
bool tls_cert_covers_host(const char *cert_pem, const char *host);

/* Frees what 'p' owns, wiping the key first. */
void tls_pair_clear(tls_pair *p);

typedef struct tls_gen_opts {
    const char *out_dir;
    const char *const *hosts; /* DNS names or IP addresses for the SANs; the first is the CN */
    size_t n_hosts;
    int days;                     /* validity of both certificates */
    long long not_before_offset;  /* seconds added to "now" for notBefore (tests: negative) */
} tls_gen_opts;

/* Creates a CA and a serving certificate signed by it (ECDSA P-256, SHA-256) and writes
 * OUT/ca.crt, OUT/tls.crt and OUT/tls.key (mode 0600); the CA key is not kept. OUT must
 * exist. Host names may hold letters, digits, '-', '.' and a leading "*."; anything else is
 * refused. On success returns 0 and, if 'ca_pem' is not NULL, a malloc-owned copy of the CA
 * certificate in PEM; on failure -1 with a "tls.generate" or "io.write" diag. */
int tls_certs_generate(const tls_gen_opts *o, char **ca_pem, diag_list *dl);

#endif
