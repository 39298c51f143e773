/* test_tls.c - certificate generation, the start-up checks of a serving pair, and the
 * reference-counted GnuTLS credentials. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tls/certs.h"
#include "tls/creds.c" /* live_creds */

#include "tmpdir.h"

static char tmp[64];

static int setup(void **state)
{
    (void)state;
    return tmpdir_make(tmp, sizeof tmp, "tls");
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove(tmp);
}

static void sub(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmp, name);
}

/* Generates into tmp/DIR; returns the rc of tls_certs_generate. */
static int gen(const char *dir, const char *const *hosts, size_t n, int days, long long offset,
               diag_list *dl)
{
    char path[128];
    sub(path, sizeof path, dir);
    mkdir(path, 0755);
    tls_gen_opts o = {.out_dir = path, .hosts = hosts, .n_hosts = n, .days = days,
                      .not_before_offset = offset};
    char *ca = NULL;
    int rc = tls_certs_generate(&o, &ca, dl);
    if (rc == 0) {
        assert_non_null(ca);
        assert_non_null(strstr(ca, "-----BEGIN CERTIFICATE-----"));
    } else {
        assert_null(ca);
    }
    free(ca);
    return rc;
}

static int load(const char *cert_dir, const char *key_dir, tls_pair *p, diag_list *dl)
{
    char cert[128], key[128];
    snprintf(cert, sizeof cert, "%s/%s/tls.crt", tmp, cert_dir);
    snprintf(key, sizeof key, "%s/%s/tls.key", tmp, key_dir);
    return tls_pair_load(cert, key, p, dl);
}

static void test_generate_and_load(void **state)
{
    (void)state;
    static const char *const hosts[] = {"streamguard.streamguard-system.svc", "localhost",
                                        "127.0.0.1", "::1", "*.example.com"};
    diag_list dl;
    diag_list_init(&dl);
    assert_int_equal(gen("a", hosts, 5, 30, 0, &dl), 0);
    char path[128];
    struct stat st;
    sub(path, sizeof path, "a/tls.key");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    sub(path, sizeof path, "a/ca.key");
    assert_int_not_equal(stat(path, &st), 0); /* the CA key is not kept */
    tls_pair p;
    assert_int_equal(load("a", "a", &p, &dl), 0);
    assert_int_equal(dl.count, 0);
    assert_true(strlen(p.info.serial) >= 30);
    assert_non_null(strstr(p.info.subject, "CN=streamguard.streamguard-system.svc"));
    long long now = (long long)time(NULL);
    assert_true(p.info.not_before <= now && p.info.not_before > now - 60);
    assert_true(llabs(p.info.not_after - (now + 30LL * 86400)) < 60);
    tls_pair_clear(&p);
    assert_null(p.key_pem);
    /* The chain verifies, and the SANs are those asked for. */
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "openssl verify -CAfile %s/a/ca.crt %s/a/tls.crt >/dev/null && "
             "openssl x509 -in %s/a/tls.crt -noout -ext subjectAltName | tr -d ' \\n' | "
             "grep -q 'DNS:streamguard.streamguard-system.svc,DNS:localhost,IPAddress:127.0.0.1,"
             "IPAddress:0:0:0:0:0:0:0:1,DNS:\\*.example.com'",
             tmp, tmp, tmp);
    assert_int_equal(system(cmd), 0);
    diag_list_clear(&dl);
}

static void test_two_generations_differ(void **state)
{
    (void)state;
    static const char *const hosts[] = {"localhost"};
    diag_list dl;
    diag_list_init(&dl);
    assert_int_equal(gen("s1", hosts, 1, 1, 0, &dl), 0);
    assert_int_equal(gen("s2", hosts, 1, 1, 0, &dl), 0);
    tls_pair p1, p2;
    assert_int_equal(load("s1", "s1", &p1, &dl), 0);
    assert_int_equal(load("s2", "s2", &p2, &dl), 0);
    assert_string_not_equal(p1.info.serial, p2.info.serial);
    tls_pair_clear(&p1);
    tls_pair_clear(&p2);
    diag_list_clear(&dl);
}

static void test_mismatch_expired_not_yet_valid(void **state)
{
    (void)state;
    static const char *const hosts[] = {"localhost"};
    diag_list dl;
    diag_list_init(&dl);
    assert_int_equal(gen("m1", hosts, 1, 10, 0, &dl), 0);
    assert_int_equal(gen("m2", hosts, 1, 10, 0, &dl), 0);
    assert_int_equal(gen("old", hosts, 1, 1, -3 * 86400LL, &dl), 0);
    assert_int_equal(gen("future", hosts, 1, 10, 86400, &dl), 0);
    tls_pair p;
    static const struct {
        const char *cert, *key, *code, *msg;
    } cases[] = {
        {"m1", "m2", "tls.mismatch", "the private key does not match the certificate"},
        {"old", "old", "tls.expired", "the certificate expired"},
        {"future", "future", "tls.not_yet_valid", "not valid before"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        diag_list_clear(&dl);
        assert_int_equal(load(cases[i].cert, cases[i].key, &p, &dl), -1);
        assert_null(p.cert_pem);
        assert_null(p.key_pem);
        if (dl.count != 1 || strcmp(dl.items[0].code, cases[i].code) != 0 ||
            strstr(dl.items[0].msg, cases[i].msg) == NULL)
            fail_msg("case %zu: [%s] %s", i, dl.count ? dl.items[0].code : "-",
                     dl.count ? dl.items[0].msg : "-");
    }
    diag_list_clear(&dl);
}

/* Files that are not what they should be: garbage, empty, missing, swapped. */
static void test_bad_files(void **state)
{
    (void)state;
    static const char *const hosts[] = {"localhost"};
    diag_list dl;
    diag_list_init(&dl);
    assert_int_equal(gen("g", hosts, 1, 10, 0, &dl), 0);
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "cd %s/g && echo garbage > junk && : > empty && cp tls.key key-as-cert && "
             "cp tls.crt cert-as-key", tmp);
    assert_int_equal(system(cmd), 0);
    static const struct {
        const char *cert, *key, *code;
        bool blames_cert; /* whether the diag names the certificate file or the key file */
    } cases[] = {
        {"junk", "tls.key", "tls.cert", true},         {"empty", "tls.key", "tls.cert", true},
        {"tls.crt", "junk", "tls.key", false},         {"tls.crt", "empty", "tls.key", false},
        {"key-as-cert", "tls.key", "tls.cert", true},  {"tls.crt", "cert-as-key", "tls.key", false},
        {"missing", "tls.key", "io.read", true},       {"tls.crt", "missing", "io.read", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cert[128], key[128];
        tls_pair p;
        snprintf(cert, sizeof cert, "%s/g/%s", tmp, cases[i].cert);
        snprintf(key, sizeof key, "%s/g/%s", tmp, cases[i].key);
        diag_list_clear(&dl);
        assert_int_equal(tls_pair_load(cert, key, &p, &dl), -1);
        if (dl.count < 1 || strcmp(dl.items[0].code, cases[i].code) != 0)
            fail_msg("case %zu: got [%s], want [%s]", i, dl.count ? dl.items[0].code : "-",
                     cases[i].code);
        assert_string_equal(dl.items[0].at.file, cases[i].blames_cert ? cert : key);
    }
    diag_list_clear(&dl);
}

/* cert-manager issues RSA keys by default: a pair made by the openssl tool loads too. */
static void test_rsa_pair_from_openssl(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/rsa && cd %s/rsa && openssl req -x509 -newkey rsa:2048 -nodes "
             "-keyout tls.key -out tls.crt -days 2 -subj /CN=rsa.test "
             "-addext subjectAltName=DNS:rsa.test 2>/dev/null",
             tmp, tmp);
    assert_int_equal(system(cmd), 0);
    diag_list dl;
    diag_list_init(&dl);
    tls_pair p;
    assert_int_equal(load("rsa", "rsa", &p, &dl), 0);
    assert_non_null(strstr(p.info.subject, "CN=rsa.test"));
    tls_pair_clear(&p);
    diag_list_clear(&dl);
}

static void test_generate_refuses_bad_input(void **state)
{
    (void)state;
    static const struct {
        const char *host;
        int days;
        const char *msg;
    } cases[] = {
        {"a,DNS:evil.com", 10, "neither a DNS name nor an IP address"},
        {"with space", 10, "neither a DNS name nor an IP address"},
        {"", 10, "neither a DNS name nor an IP address"},
        {"a..b", 10, "neither a DNS name nor an IP address"},
        {"trailing.", 10, "neither a DNS name nor an IP address"},
        {"localhost", 0, "days must be between 1 and 3650"},
        {"localhost", 3651, "days must be between 1 and 3650"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        diag_list dl;
        diag_list_init(&dl);
        const char *hosts[] = {cases[i].host};
        assert_int_equal(gen("bad", hosts, 1, cases[i].days, 0, &dl), -1);
        if (strstr(dl.items[0].msg, cases[i].msg) == NULL)
            fail_msg("case %zu: %s", i, dl.items[0].msg);
        diag_list_clear(&dl);
    }
    diag_list dl;
    diag_list_init(&dl);
    assert_int_equal(gen("bad", NULL, 0, 10, 0, &dl), -1);
    assert_non_null(strstr(dl.items[0].msg, "at least one host"));
    diag_list_clear(&dl);
    /* An output directory that does not exist is an io.write error, not a crash. */
    static const char *const hosts[] = {"localhost"};
    tls_gen_opts o = {.out_dir = "/nonexistent/dir", .hosts = hosts, .n_hosts = 1, .days = 1};
    diag_list_init(&dl);
    assert_int_equal(tls_certs_generate(&o, NULL, &dl), -1);
    assert_string_equal(dl.items[0].code, "io.write");
    diag_list_clear(&dl);
}

/* GnuTLS credentials: imported from a checked pair, shared by reference, freed with the last
 * one; what GnuTLS cannot use is a diag, never a crash. */
static void test_creds_refcount(void **state)
{
    (void)state;
    static const char *const hosts[] = {"localhost"};
    diag_list dl;
    diag_list_init(&dl);
    assert_int_equal(gen("c", hosts, 1, 2, 0, &dl), 0);
    tls_pair p;
    assert_int_equal(load("c", "c", &p, &dl), 0);
    long base = atomic_load(&live_creds);
    tls_creds *c = tls_creds_new(p.cert_pem, p.key_pem, &dl);
    assert_non_null(c);
    gnutls_pcert_st *pcert;
    unsigned n;
    gnutls_privkey_t key;
    tls_creds_use(c, &pcert, &n, &key);
    assert_int_equal(n, 1);
    assert_non_null(key);
    assert_ptr_equal(tls_creds_ref(c), c);
    tls_creds_unref(c);
    assert_int_equal(atomic_load(&live_creds), base + 1); /* one reference left */
    tls_creds_unref(c);
    assert_int_equal(atomic_load(&live_creds), base);
    tls_creds_unref(NULL);
    static const struct { const char *cert, *key, *code; } bad[] = {
        {"", NULL, "tls.cert"},
        {"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", NULL, "tls.cert"},
        {NULL, "", "tls.key"},
        {NULL, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "tls.key"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        diag_list_clear(&dl);
        diag_list_init(&dl);
        const char *cert = bad[i].cert ? bad[i].cert : p.cert_pem;
        const char *k = bad[i].key ? bad[i].key : p.key_pem;
        if (tls_creds_new(cert, k, &dl) != NULL)
            fail_msg("case %zu: accepted", i);
        if (dl.count != 1 || strcmp(dl.items[0].code, bad[i].code) != 0)
            fail_msg("case %zu: want %s", i, bad[i].code);
        assert_int_equal(atomic_load(&live_creds), base);
    }
    tls_pair_clear(&p);
    diag_list_clear(&dl);
}

/* In memory, for the certificate manager: a CA, a serving certificate from it (its validity
 * and SANs as asked, IP addresses included), checked at a given time, its issuer told apart
 * from another CA, bundles read certificate by certificate. */
static void test_issue_in_memory(void **state)
{
    (void)state;
    diag_list dl;
    diag_list_init(&dl);
    long long now = (long long)time(NULL);
    tls_pair ca, other, leaf, parsed;
    assert_int_equal(tls_ca_create(now - 60, now + 30 * 86400LL, &ca, &dl), 0);
    assert_int_equal(tls_ca_create(now - 60, now + 30 * 86400LL, &other, &dl), 0);
    const char *hosts[] = {"svc.ns.svc", "10.0.0.7", "::1"};
    assert_int_equal(tls_leaf_issue(&ca, hosts, 3, now - 60, now + 86400, &leaf, &dl), 0);
    assert_int_equal(leaf.info.not_after, now + 86400);
    assert_true(tls_cert_covers_host(leaf.cert_pem, "svc.ns.svc"));
    assert_true(tls_cert_covers_host(leaf.cert_pem, "10.0.0.7")); /* an IP SAN, not a DNS one */
    assert_true(tls_cert_covers_host(leaf.cert_pem, "::1"));
    assert_false(tls_cert_covers_host(leaf.cert_pem, "10.0.0.8"));
    assert_true(tls_cert_signed_by(leaf.cert_pem, ca.cert_pem));
    assert_false(tls_cert_signed_by(leaf.cert_pem, other.cert_pem));
    assert_false(tls_cert_signed_by(leaf.cert_pem, leaf.cert_pem));
    assert_false(tls_cert_signed_by("not pem", ca.cert_pem));
    /* checked at a time: valid now, expired after, not yet valid before; keys must match */
    assert_int_equal(tls_pair_parse(leaf.cert_pem, leaf.key_pem, "s", now, &parsed, &dl), 0);
    tls_pair_clear(&parsed);
    assert_int_equal(tls_pair_parse(leaf.cert_pem, leaf.key_pem, "s", now + 2 * 86400, &parsed,
                                    &dl),
                     -1);
    assert_string_equal(dl.items[dl.count - 1].code, "tls.expired");
    assert_int_equal(tls_pair_parse(leaf.cert_pem, leaf.key_pem, "s", now - 3600, &parsed, &dl),
                     -1);
    assert_string_equal(dl.items[dl.count - 1].code, "tls.not_yet_valid");
    assert_int_equal(tls_pair_parse(leaf.cert_pem, ca.key_pem, "s", now, &parsed, &dl), -1);
    assert_string_equal(dl.items[dl.count - 1].code, "tls.mismatch");
    assert_null(parsed.cert_pem);
    /* a CA key that is not the CA's: refused */
    tls_pair wrong = {.cert_pem = ca.cert_pem, .key_pem = other.key_pem};
    size_t before = dl.count;
    assert_int_equal(tls_leaf_issue(&wrong, hosts, 1, now, now + 60, &parsed, &dl), -1);
    assert_true(dl.count > before);
    /* bad validity and bad hosts */
    assert_int_equal(tls_ca_create(now, now, &parsed, &dl), -1);
    const char *bad[] = {"a b"};
    assert_int_equal(tls_leaf_issue(&ca, bad, 1, now, now + 60, &parsed, &dl), -1);
    /* a bundle: two CAs and text around them */
    char text[16384];
    snprintf(text, sizeof text, "# ours\n%s\nnoise\n%s", other.cert_pem, ca.cert_pem);
    tls_bundle b;
    assert_int_equal(tls_bundle_read(text, &b), 0);
    assert_int_equal(b.n, 2);
    assert_string_equal(b.pem[0], other.cert_pem);
    assert_string_equal(b.pem[1], ca.cert_pem);
    assert_string_equal(b.info[1].serial, ca.info.serial);
    tls_bundle_clear(&b);
    assert_int_equal(tls_bundle_read("nothing", &b), -1);
    assert_int_equal(b.n, 0);
    tls_pair_clear(&leaf);
    tls_pair_clear(&ca);
    tls_pair_clear(&other);
    diag_list_clear(&dl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_and_load),
        cmocka_unit_test(test_two_generations_differ),
        cmocka_unit_test(test_mismatch_expired_not_yet_valid),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_rsa_pair_from_openssl),
        cmocka_unit_test(test_generate_refuses_bad_input),
        cmocka_unit_test(test_creds_refcount),
        cmocka_unit_test(test_issue_in_memory),
    };
    return cmocka_run_group_tests_name("tls", tests, setup, teardown);
}
