/* certs.h - TLS certificates: load and check a serving pair, generate development ones.
 *
 * The only module that includes OpenSSL. The server's TLS itself is GnuTLS (inside
 * libmicrohttpd); this module checks what it will be given, in PEM, before it starts, with
 * GnuTLS too (tls_pair_load, tls_pair_parse), so that a server without a cluster never runs
 * OpenSSL (2.3 MiB of libcrypto's pages it would map). Generation, caBundles and the
 * issuer and host checks use OpenSSL. */
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
 * carry GnuTLS's own reasons; 'out' is then empty. 'info' as OpenSSL would give it (the
 * serial in BN_bn2hex's form, the subject in RFC 2253's). */
int tls_pair_load(const char *cert_file, const char *key_file, tls_pair *out, diag_list *dl);

/* Whether the first certificate of 'cert_pem' names 'host' (a DNS SAN, wildcards as RFC 6125
 * allows; an IP address SAN when 'host' is an address). */
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

/* ---- in memory, for the certificate manager (server/certmgr*.c) ---- */

/* Checks PEM text as tls_pair_load checks files, at time 'now' (Unix seconds); 'what' names
 * the source in the diags ("Secret ns/name"). Copies both strings into 'out'. Returns 0, or
 * -1 with the same diags as tls_pair_load; 'out' is then empty. */
int tls_pair_parse(const char *cert_pem, const char *key_pem, const char *what, long long now,
                   tls_pair *out, diag_list *dl);

/* Makes a CA (ECDSA P-256, CN streamguard-ca, basicConstraints CA:TRUE pathlen 0) valid from
 * 'not_before' to 'not_after' (Unix seconds) into 'out' (its key included). Returns 0, or -1
 * with a "tls.generate" diag ('out' empty). */
int tls_ca_create(long long not_before, long long not_after, tls_pair *out, diag_list *dl);

/* Issues a serving certificate for 'hosts' (DNS names or IP addresses; the first is the CN)
 * signed by the CA pair 'ca', valid from 'not_before' to 'not_after', with a new key. Returns
 * 0, or -1 with a "tls.generate" diag (a host that is neither, a CA whose key does not match
 * it); 'out' is then empty. */
int tls_leaf_issue(const tls_pair *ca, const char *const *hosts, size_t n_hosts,
                   long long not_before, long long not_after, tls_pair *out, diag_list *dl);

/* Whether the first certificate of 'cert_pem' was issued by the first certificate of 'ca_pem'
 * (the issuer name and key identifier agree and the signature verifies with its key). */
bool tls_cert_signed_by(const char *cert_pem, const char *ca_pem);

#define TLS_BUNDLE_MAX 8

/* The certificates of a PEM bundle (a caBundle), each re-encoded in one canonical PEM form so
 * that two bundles compare certificate by certificate. */
typedef struct tls_bundle {
    size_t n;
    char *pem[TLS_BUNDLE_MAX]; /* malloc-owned */
    tls_cert_info info[TLS_BUNDLE_MAX];
} tls_bundle;

/* Reads up to TLS_BUNDLE_MAX certificates from 'pem' (anything else in the text is skipped).
 * Returns 0, or -1 when none could be read ('out' empty). Free with tls_bundle_clear(). */
int tls_bundle_read(const char *pem, tls_bundle *out);

void tls_bundle_clear(tls_bundle *b);

#endif
