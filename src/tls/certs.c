/* certs.c - certificate checks and generation with OpenSSL, the serving pair's check with
 * GnuTLS (check_pair_at); see certs.h.
 *
 * OpenSSL reports through a thread-local error queue; every failure here drains it into the
 * diag message so the user sees OpenSSL's reason ("key values mismatch"), not just ours; the
 * GnuTLS check adds gnutls_strerror()'s. */
#include "certs.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "../util/buf.h"
#include "../util/file.h"

#define PEM_MAX ((size_t)1 << 20)

/* Appends a diag with 'what' and the drained OpenSSL error queue. */
static void ssl_diag(diag_list *dl, const char *code, const char *file, const char *what)
{
    char reasons[512] = "";
    size_t n = 0;
    unsigned long e;
    while ((e = ERR_get_error()) != 0) {
        char one[256];
        ERR_error_string_n(e, one, sizeof one);
        const char *r = ERR_reason_error_string(e);
        int w = snprintf(reasons + n, sizeof reasons - n, "%s%s", n ? "; " : "", r ? r : one);
        if (w > 0 && (size_t)w < sizeof reasons - n)
            n += (size_t)w;
    }
    srcpos at = {.file = file};
    if (n > 0)
        diag_add(dl, DIAG_ERROR, code, &at, "%s: %s", what, reasons);
    else
        diag_add(dl, DIAG_ERROR, code, &at, "%s", what);
}

static long long asn1_to_unix(const ASN1_TIME *t)
{
    struct tm tm;
    if (ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (long long)timegm(&tm);
}

static void fill_info(X509 *x, tls_cert_info *info)
{
    info->not_before = asn1_to_unix(X509_get0_notBefore(x));
    info->not_after = asn1_to_unix(X509_get0_notAfter(x));
    info->serial[0] = '\0';
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    if (hex != NULL)
        snprintf(info->serial, sizeof info->serial, "%s", hex);
    OPENSSL_free(hex);
    BN_free(bn);
    info->subject[0] = '\0';
    BIO *mem = BIO_new(BIO_s_mem());
    if (mem != NULL && X509_NAME_print_ex(mem, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0) {
        int n = BIO_read(mem, info->subject, (int)sizeof info->subject - 1);
        info->subject[n > 0 ? n : 0] = '\0';
    }
    BIO_free(mem);
}

/* The serving pair is checked with GnuTLS, which serves it (creds.c), not with OpenSSL: the
 * first X509 parse in a process initialises OpenSSL's providers and decoders, which mapped
 * 2.3 MiB of libcrypto's pages into a server that, without a cluster, uses OpenSSL for
 * nothing else (docs/server.md, "Memory"). Generation and the certificate manager's checks
 * (a cluster, whose client is libcurl over OpenSSL, is there anyway) keep OpenSSL. */

/* Appends a diag with 'what' and GnuTLS's reason for 'rc'. */
static void gnutls_diag(diag_list *dl, const char *code, const char *file, const char *what,
                        int rc)
{
    srcpos at = {.file = file};
    diag_add(dl, DIAG_ERROR, code, &at, "%s: %s", what, gnutls_strerror(rc));
}

/* 'info' of 'crt' as fill_info() gives it from OpenSSL: the serial as BN_bn2hex() prints a
 * non-negative one (upper-case hex, whole bytes, no leading zero byte), the subject in the
 * RFC 4514 form (RFC 2253's). */
static void fill_info_gnutls(gnutls_x509_crt_t crt, tls_cert_info *info)
{
    info->not_before = (long long)gnutls_x509_crt_get_activation_time(crt);
    info->not_after = (long long)gnutls_x509_crt_get_expiration_time(crt);
    unsigned char serial[64];
    size_t n = sizeof serial;
    info->serial[0] = '\0';
    if (gnutls_x509_crt_get_serial(crt, serial, &n) == 0) {
        size_t i = 0;
        while (i + 1 < n && serial[i] == 0)
            i++; /* DER's sign byte */
        size_t o = 0;
        for (; i < n && o + 3 <= sizeof info->serial; i++, o += 2)
            snprintf(info->serial + o, 3, "%02X", serial[i]);
        if (n == 0 || (n == 1 && serial[0] == 0))
            snprintf(info->serial, sizeof info->serial, "0");
    }
    info->subject[0] = '\0';
    gnutls_datum_t dn = {NULL, 0};
    if (gnutls_x509_crt_get_dn3(crt, &dn, 0) == 0)
        snprintf(info->subject, sizeof info->subject, "%.*s", (int)dn.size, (const char *)dn.data);
    gnutls_free(dn.data);
}

/* Checks the pair in 'out' (PEM already read) at time 'now'. Returns 0 or -1. */
static int check_pair_at(const char *cert_file, const char *key_file, long long now_s,
                         tls_pair *out, diag_list *dl)
{
    int rc = -1, e;
    gnutls_x509_crt_t crt = NULL;
    gnutls_x509_privkey_t key = NULL;
    gnutls_datum_t cd = {(unsigned char *)out->cert_pem, (unsigned)strlen(out->cert_pem)};
    gnutls_datum_t kd = {(unsigned char *)out->key_pem, (unsigned)strlen(out->key_pem)};
    if ((e = gnutls_x509_crt_init(&crt)) < 0 ||
        (e = gnutls_x509_crt_import(crt, &cd, GNUTLS_X509_FMT_PEM)) < 0) {
        gnutls_diag(dl, "tls.cert", cert_file, "no PEM certificate could be read", e);
        goto done;
    }
    if ((e = gnutls_x509_privkey_init(&key)) < 0 ||
        (e = gnutls_x509_privkey_import2(key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
        gnutls_diag(dl, "tls.key", key_file, "no unencrypted PEM private key could be read", e);
        goto done;
    }
    /* the same public key: the same identifier of its SubjectPublicKeyInfo */
    unsigned char cid[64], kid[64];
    size_t cn = sizeof cid, kn = sizeof kid;
    if ((e = gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, cid, &cn)) < 0 ||
        (e = gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, kid, &kn)) < 0) {
        gnutls_diag(dl, "tls.mismatch", key_file,
                    "the private key does not match the certificate", e);
        goto done;
    }
    if (cn != kn || memcmp(cid, kid, cn) != 0) {
        srcpos at = {.file = key_file};
        diag_add(dl, DIAG_ERROR, "tls.mismatch", &at,
                 "the private key does not match the certificate");
        goto done;
    }
    fill_info_gnutls(crt, &out->info);
    if (out->info.not_before > now_s) {
        srcpos at = {.file = cert_file};
        diag_add(dl, DIAG_ERROR, "tls.not_yet_valid", &at,
                 "the certificate is not valid before %lld (Unix time)", out->info.not_before);
        goto done;
    }
    if (out->info.not_after <= now_s) {
        srcpos at = {.file = cert_file};
        diag_add(dl, DIAG_ERROR, "tls.expired", &at,
                 "the certificate expired at %lld (Unix time); issue a new one", out->info.not_after);
        goto done;
    }
    rc = 0;
done:
    gnutls_x509_privkey_deinit(key);
    gnutls_x509_crt_deinit(crt);
    return rc;
}

int tls_pair_load(const char *cert_file, const char *key_file, tls_pair *out, diag_list *dl)
{
    buf cb, kb;
    memset(out, 0, sizeof *out);
    buf_init(&cb, PEM_MAX);
    buf_init(&kb, PEM_MAX);
    if (file_read(cert_file, PEM_MAX, &cb, dl) != 0 || file_read(key_file, PEM_MAX, &kb, dl) != 0) {
        buf_clear(&cb);
        if (kb.data != NULL)
            OPENSSL_cleanse(kb.data, kb.len);
        buf_clear(&kb);
        return -1;
    }
    out->cert_pem = buf_take(&cb);
    out->key_pem = buf_take(&kb);
    if (check_pair_at(cert_file, key_file, (long long)time(NULL), out, dl) != 0) {
        tls_pair_clear(out);
        return -1;
    }
    return 0;
}

void tls_pair_clear(tls_pair *p)
{
    if (p->key_pem != NULL)
        OPENSSL_cleanse(p->key_pem, strlen(p->key_pem));
    free(p->key_pem);
    free(p->cert_pem);
    memset(p, 0, sizeof *p);
}

/* ---- generation ---- */

static bool is_ip(const char *h)
{
    unsigned char tmp[16];
    return inet_pton(AF_INET, h, tmp) == 1 || inet_pton(AF_INET6, h, tmp) == 1;
}

/* A DNS name for a SAN: labels of [A-Za-z0-9-], an optional leading "*." wildcard. */
static bool is_dns_name(const char *h)
{
    size_t len = strlen(h);
    if (len == 0 || len > 253)
        return false;
    if (h[0] == '*' && h[1] == '.')
        h += 2;
    size_t label = 0;
    for (const char *p = h; *p; p++) {
        char c = *p;
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-';
        if (!ok || ++label > 63)
            return false;
    }
    return label > 0;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL)
        return -1;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1 ? 0 : -1;
}

/* Creates an unsigned certificate for 'key' with a random 127-bit serial, valid from
 * 'not_before' to 'not_after' (Unix seconds). */
static X509 *new_cert(EVP_PKEY *key, const char *cn, long long not_before, long long not_after)
{
    X509 *x = X509_new();
    BIGNUM *bn = BN_new();
    if (x == NULL || bn == NULL || X509_set_version(x, 2) != 1 ||
        BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
        BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
        ASN1_TIME_set(X509_getm_notBefore(x), (time_t)not_before) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(x), (time_t)not_after) == NULL ||
        X509_set_pubkey(x, key) != 1)
        goto err;
    X509_NAME *name = X509_get_subject_name(x);
    if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"streamguard",
                                   -1, -1, 0) != 1 ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                   0) != 1)
        goto err;
    BN_free(bn);
    return x;
err:
    BN_free(bn);
    X509_free(x);
    return NULL;
}

static X509 *make_ca(EVP_PKEY *key, long long not_before, long long not_after)
{
    X509 *x = new_cert(key, "streamguard-ca", not_before, not_after);
    if (x == NULL || X509_set_issuer_name(x, X509_get_subject_name(x)) != 1 ||
        add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") != 0 ||
        add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature") != 0 ||
        add_ext(x, x, NID_subject_key_identifier, "hash") != 0 ||
        X509_sign(x, key, EVP_sha256()) == 0) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static X509 *make_leaf(EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key, const char *cn,
                       const char *san, long long not_before, long long not_after)
{
    X509 *x = new_cert(key, cn, not_before, not_after);
    if (x == NULL || X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1 ||
        add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
        add_ext(x, ca, NID_key_usage, "critical,digitalSignature") != 0 ||
        add_ext(x, ca, NID_ext_key_usage, "serverAuth") != 0 ||
        add_ext(x, ca, NID_subject_key_identifier, "hash") != 0 ||
        add_ext(x, ca, NID_authority_key_identifier, "keyid:always") != 0 ||
        add_ext(x, ca, NID_subject_alt_name, san) != 0 || X509_sign(x, ca_key, EVP_sha256()) == 0) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* Builds "DNS:a,IP:1.2.3.4" from the hosts, refusing anything that is neither. */
static int build_san(const char *const *hosts, size_t n_hosts, const char *where, buf *san,
                     diag_list *dl)
{
    srcpos at = {.file = where};
    if (n_hosts == 0) {
        diag_add(dl, DIAG_ERROR, "tls.generate", &at, "at least one host is needed");
        return -1;
    }
    for (size_t i = 0; i < n_hosts; i++) {
        const char *h = hosts[i];
        const char *kind = is_ip(h) ? "IP" : is_dns_name(h) ? "DNS" : NULL;
        if (kind == NULL) {
            diag_add(dl, DIAG_ERROR, "tls.generate", &at,
                     "'%.100s' is neither a DNS name nor an IP address", h);
            return -1;
        }
        if (buf_printf(san, "%s%s:%s", i ? "," : "", kind, h) != 0) {
            diag_add(dl, DIAG_ERROR, "tls.generate", &at, "too many hosts");
            return -1;
        }
    }
    return 0;
}

/* The PEM of a certificate (key == NULL) or of a key, malloc-owned; NULL when OpenSSL fails. */
static char *to_pem(X509 *x, EVP_PKEY *key)
{
    char *data = NULL, *out = NULL;
    BIO *mem = BIO_new(BIO_s_mem());
    int ok = mem != NULL && (key ? PEM_write_bio_PrivateKey(mem, key, NULL, NULL, 0, NULL, NULL)
                                 : PEM_write_bio_X509(mem, x));
    long len = ok ? BIO_get_mem_data(mem, &data) : 0;
    if (len > 0 && (out = malloc((size_t)len + 1)) != NULL) {
        memcpy(out, data, (size_t)len);
        out[len] = '\0';
    }
    if (key != NULL && len > 0)
        OPENSSL_cleanse(data, (size_t)len);
    BIO_free(mem);
    return out;
}

/* Fills 'out' (empty on entry) with the PEM of 'x' and 'key'. Returns 0 or -1. */
static int pair_from(X509 *x, EVP_PKEY *key, tls_pair *out)
{
    out->cert_pem = to_pem(x, NULL);
    out->key_pem = to_pem(NULL, key);
    if (out->cert_pem == NULL || out->key_pem == NULL) {
        tls_pair_clear(out);
        return -1;
    }
    fill_info(x, &out->info);
    return 0;
}

static bool bad_times(long long not_before, long long not_after, const char *what, diag_list *dl)
{
    if (not_after > not_before && not_before >= 0 && not_after <= 253402300799LL) /* 9999 */
        return false;
    srcpos at = {.file = what};
    diag_add(dl, DIAG_ERROR, "tls.generate", &at, "invalid validity %lld..%lld", not_before,
             not_after);
    return true;
}

int tls_ca_create(long long not_before, long long not_after, tls_pair *out, diag_list *dl)
{
    memset(out, 0, sizeof *out);
    if (bad_times(not_before, not_after, "<ca>", dl))
        return -1;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *ca = key ? make_ca(key, not_before, not_after) : NULL;
    int rc = ca != NULL ? pair_from(ca, key, out) : -1;
    if (rc != 0)
        ssl_diag(dl, "tls.generate", "<ca>", "cannot create the CA");
    ERR_clear_error();
    X509_free(ca);
    EVP_PKEY_free(key);
    return rc;
}

/* Reads the first certificate of 'pem'; NULL when there is none. */
static X509 *read_cert(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return x;
}

static EVP_PKEY *read_key(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return k;
}

int tls_leaf_issue(const tls_pair *ca, const char *const *hosts, size_t n_hosts,
                   long long not_before, long long not_after, tls_pair *out, diag_list *dl)
{
    memset(out, 0, sizeof *out);
    buf san;
    buf_init(&san, 16384);
    int rc = -1;
    X509 *cax = NULL, *leaf = NULL;
    EVP_PKEY *ca_key = NULL, *key = NULL;
    if (bad_times(not_before, not_after, "<certificate>", dl) ||
        build_san(hosts, n_hosts, "<certificate>", &san, dl) != 0)
        goto done;
    cax = read_cert(ca->cert_pem);
    ca_key = read_key(ca->key_pem);
    if (cax == NULL || ca_key == NULL || X509_check_private_key(cax, ca_key) != 1) {
        ssl_diag(dl, "tls.generate", "<ca>", "the CA certificate and key do not make a pair");
        goto done;
    }
    key = EVP_EC_gen("P-256");
    leaf = key ? make_leaf(key, cax, ca_key, hosts[0], san.data, not_before, not_after) : NULL;
    if (leaf == NULL || pair_from(leaf, key, out) != 0) {
        ssl_diag(dl, "tls.generate", "<certificate>", "cannot create the certificate");
        goto done;
    }
    rc = 0;
done:
    ERR_clear_error();
    X509_free(leaf);
    X509_free(cax);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    buf_clear(&san);
    return rc;
}

int tls_pair_parse(const char *cert_pem, const char *key_pem, const char *what, long long now,
                   tls_pair *out, diag_list *dl)
{
    memset(out, 0, sizeof *out);
    out->cert_pem = strdup(cert_pem);
    out->key_pem = strdup(key_pem);
    if (out->cert_pem == NULL || out->key_pem == NULL ||
        check_pair_at(what, what, now, out, dl) != 0) {
        tls_pair_clear(out);
        return -1;
    }
    return 0;
}

bool tls_cert_signed_by(const char *cert_pem, const char *ca_pem)
{
    X509 *x = read_cert(cert_pem), *ca = read_cert(ca_pem);
    EVP_PKEY *pub = ca ? X509_get0_pubkey(ca) : NULL;
    bool ok = x != NULL && pub != NULL && X509_check_issued(ca, x) == X509_V_OK &&
              X509_verify(x, pub) == 1;
    X509_free(x);
    X509_free(ca);
    ERR_clear_error();
    return ok;
}

int tls_bundle_read(const char *pem, tls_bundle *out)
{
    memset(out, 0, sizeof *out);
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x;
    while (b != NULL && out->n < TLS_BUNDLE_MAX && (x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
        char *one = to_pem(x, NULL);
        if (one != NULL) {
            out->pem[out->n] = one;
            fill_info(x, &out->info[out->n]);
            out->n++;
        }
        X509_free(x);
    }
    BIO_free(b);
    ERR_clear_error(); /* the end of the text reads as "no start line" */
    return out->n > 0 ? 0 : -1;
}

void tls_bundle_clear(tls_bundle *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->pem[i]);
    memset(b, 0, sizeof *b);
}

/* Writes 'pem' to DIR/NAME. */
static int write_pem(const char *dir, const char *name, const char *pem, bool secret,
                     diag_list *dl)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return file_write_atomic(path, pem, strlen(pem), secret ? 0600 : 0644, dl);
}

int tls_certs_generate(const tls_gen_opts *o, char **ca_pem, diag_list *dl)
{
    int rc = -1;
    tls_pair ca = {0}, leaf = {0};
    if (ca_pem != NULL)
        *ca_pem = NULL;
    srcpos at = {.file = o->out_dir};
    if (o->days <= 0 || o->days > 3650) {
        diag_add(dl, DIAG_ERROR, "tls.generate", &at, "days must be between 1 and 3650");
        return -1;
    }
    long long nb = (long long)time(NULL) + o->not_before_offset;
    long long na = nb + (long long)o->days * 86400;
    buf san;
    buf_init(&san, 16384);
    int hosts_ok = build_san(o->hosts, o->n_hosts, o->out_dir, &san, dl);
    buf_clear(&san);
    if (hosts_ok != 0 || tls_ca_create(nb, na, &ca, dl) != 0 ||
        tls_leaf_issue(&ca, o->hosts, o->n_hosts, nb, na, &leaf, dl) != 0)
        goto done;
    if (write_pem(o->out_dir, "ca.crt", ca.cert_pem, false, dl) != 0 ||
        write_pem(o->out_dir, "tls.key", leaf.key_pem, true, dl) != 0 ||
        write_pem(o->out_dir, "tls.crt", leaf.cert_pem, false, dl) != 0)
        goto done;
    if (ca_pem != NULL)
        *ca_pem = strdup(ca.cert_pem);
    rc = 0;
done:
    tls_pair_clear(&leaf);
    tls_pair_clear(&ca); /* the CA key is not kept */
    return rc;
}

bool tls_cert_covers_host(const char *cert_pem, const char *host)
{
    BIO *b = BIO_new_mem_buf(cert_pem, -1);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    bool ok = x != NULL && (is_ip(host) ? X509_check_ip_asc(x, host, 0) == 1
                                        : X509_check_host(x, host, 0, 0, NULL) == 1);
    X509_free(x);
    BIO_free(b);
    ERR_clear_error();
    return ok;
}
