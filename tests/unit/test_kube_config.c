/* test_kube_config.c - kubeconfig variants and refusals, the in-cluster configuration, and
 * the choice between them ($KUBECONFIG with several files). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kube/config.h"

#include "tmpdir.h"

static char tmp[64];

static int setup(void **state)
{
    (void)state;
    return tmpdir_make(tmp, sizeof tmp, "kcfg");
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove(tmp);
}

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Writes 'text' as tmp/NAME and loads it with 'context'. */
static int load_text(const char *name, const char *text, const char *context, kube_config *c,
                     diag_list *dl)
{
    write_file(name, text);
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    return kube_config_load(path, context, c, dl);
}

/* The first diagnostic as text ("" when none). */
static const char *first_diag(const diag_list *dl)
{
    static char out[1024];
    out[0] = '\0';
    if (dl->count > 0)
        diag_format(&dl->items[0], out, sizeof out);
    return out;
}

#define HEAD                                                                                       \
    "apiVersion: v1\n"                                                                             \
    "kind: Config\n"

/* "aGVsbG8=" is base64 for "hello". */
static const char full[] = HEAD
    "current-context: dev\n"
    "clusters:\n"
    "- name: other\n"
    "  cluster: {server: 'https://other:1'}\n"
    "- name: dev-cluster\n"
    "  cluster:\n"
    "    server: https://api.example.com:6443/\n"
    "    certificate-authority: certs/ca.crt\n"
    "    insecure-skip-tls-verify: false\n"
    "contexts:\n"
    "- name: dev\n"
    "  context: {cluster: dev-cluster, user: dev-user, namespace: team}\n"
    "- name: prod\n"
    "  context: {cluster: other, user: prod-user}\n"
    "users:\n"
    "- name: dev-user\n"
    "  user:\n"
    "    tokenFile: secrets/token\n"
    "    client-certificate: /abs/client.crt\n"
    "    client-key: client.key\n"
    "- name: prod-user\n"
    "  user:\n"
    "    token: abc.def\n"
    "    client-certificate-data: aGVs\n"
    "      bG8=\n"
    "    client-key-data: aGVsbG8=\n";

static void test_current_context_and_relative_paths(void **state)
{
    (void)state;
    kube_config c;
    diag_list dl;
    diag_list_init(&dl);
    assert_int_equal(load_text("full.yaml", full, NULL, &c, &dl), 0);
    assert_string_equal(c.server, "https://api.example.com:6443");
    char want[256];
    snprintf(want, sizeof want, "%s/certs/ca.crt", tmp);
    assert_string_equal(c.ca_file, want);
    snprintf(want, sizeof want, "%s/secrets/token", tmp);
    assert_string_equal(c.token_file, want);
    assert_null(c.token);
    assert_string_equal(c.cert_file, "/abs/client.crt");
    snprintf(want, sizeof want, "%s/client.key", tmp);
    assert_string_equal(c.key_file, want);
    assert_null(c.ca_data);
    snprintf(want, sizeof want, "kubeconfig %s/full.yaml, context dev", tmp);
    assert_string_equal(c.source, want);
    assert_string_equal(c.namespace_, "team"); /* where a manifest without one is applied */
    kube_config_free(&c);
    assert_null(c.server);
    diag_list_clear(&dl);
}

static void test_named_context_and_data(void **state)
{
    (void)state;
    kube_config c;
    diag_list dl;
    diag_list_init(&dl);
    assert_int_equal(load_text("full.yaml", full, "prod", &c, &dl), 0);
    assert_string_equal(c.server, "https://other:1");
    assert_string_equal(c.token, "abc.def");
    assert_null(c.token_file);
    assert_int_equal(c.cert_len, 5);
    assert_memory_equal(c.cert_data, "hello", 5); /* base64 split over two lines */
    assert_int_equal(c.key_len, 5);
    assert_null(c.cert_file);
    assert_null(c.ca_file);
    assert_string_equal(c.namespace_, "default"); /* the context names none: kubectl's */
    kube_config_free(&c);
    diag_list_clear(&dl);
}

static void test_ca_data_and_anonymous_user(void **state)
{
    (void)state;
    static const char text[] = HEAD
        "current-context: x\n"
        "clusters: [{name: c, cluster: {server: 'HTTPS://[::1]:6443', "
        "certificate-authority-data: aGVsbG8=}}]\n"
        "contexts: [{name: x, context: {cluster: c}}]\n";
    kube_config c;
    diag_list dl;
    diag_list_init(&dl);
    assert_int_equal(load_text("anon.yaml", text, NULL, &c, &dl), 0);
    assert_string_equal(c.server, "https://[::1]:6443");
    assert_int_equal(c.ca_len, 5);
    assert_memory_equal(c.ca_data, "hello", 5);
    assert_null(c.token);
    assert_null(c.token_file);
    assert_null(c.cert_data);
    kube_config_free(&c);
    diag_list_clear(&dl);
}

/* Each refusal, with the text and the position of its diagnostic. */
static const struct {
    const char *name, *text, *context, *want;
} refusals[] = {
    {"insecure", HEAD "current-context: x\n"
                      "clusters: [{name: c, cluster: {server: 'https://h',\n"
                      "  insecure-skip-tls-verify: true}}]\n"
                      "contexts: [{name: x, context: {cluster: c}}]\n",
     NULL, ":5:29: error[kube.config]: insecure-skip-tls-verify: true is refused"},
    {"insecure-yes", HEAD "current-context: x\n"
                          "clusters: [{name: c, cluster: {server: 'https://h', "
                          "insecure-skip-tls-verify: yes}}]\n"
                          "contexts: [{name: x, context: {cluster: c}}]\n",
     NULL, "insecure-skip-tls-verify: true is refused"},
    {"http", HEAD "current-context: x\n"
                  "clusters: [{name: c, cluster: {server: 'http://h:8080'}}]\n"
                  "contexts: [{name: x, context: {cluster: c}}]\n",
     NULL, "refusing the http:// server \"http://h:8080\""},
    {"no-scheme", HEAD "current-context: x\n"
                       "clusters: [{name: c, cluster: {server: 'h:6443'}}]\n"
                       "contexts: [{name: x, context: {cluster: c}}]\n",
     NULL, "is not an https:// URL"},
    {"userinfo", HEAD "current-context: x\n"
                      "clusters: [{name: c, cluster: {server: 'https://u:p@h'}}]\n"
                      "contexts: [{name: x, context: {cluster: c}}]\n",
     NULL, "is not an https:// URL"},
    {"no-server", HEAD "current-context: x\n"
                       "clusters: [{name: c, cluster: {certificate-authority: ca}}]\n"
                       "contexts: [{name: x, context: {cluster: c}}]\n",
     NULL, "the cluster has no server"},
    {"exec", HEAD "current-context: x\n"
                  "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                  "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                  "users:\n"
                  "- name: u\n"
                  "  user:\n"
                  "    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1}\n",
     NULL, ":9:11: error[kube.config]: streamguard cannot run credential plugins (exec); "
           "give the user a token, tokenFile or client certificate (at users[0].user.exec)"},
    {"auth-provider", HEAD "current-context: x\n"
                           "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                           "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                           "users: [{name: u, user: {auth-provider: {name: gcp}}}]\n",
     NULL, "cannot run credential plugins (auth-provider)"},
    {"basic", HEAD "current-context: x\n"
                   "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                   "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                   "users: [{name: u, user: {username: a, password: b}}]\n",
     NULL, "basic authentication"},
    {"impersonate", HEAD "current-context: x\n"
                         "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                         "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                         "users: [{name: u, user: {token: t, as: admin}}]\n",
     NULL, "impersonation (as)"},
    {"missing-context", HEAD "current-context: nope\n"
                             "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                             "contexts: [{name: x, context: {cluster: c}}]\n",
     NULL, ":3:18: error[kube.config]: no entry named \"nope\" in contexts"},
    {"named-missing", HEAD "current-context: x\n"
                           "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                           "contexts: [{name: x, context: {cluster: c}}]\n",
     "other", "no entry named \"other\" in contexts"},
    {"no-current", HEAD "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                        "contexts: [{name: x, context: {cluster: c}}]\n",
     NULL, "no current-context"},
    {"missing-cluster", HEAD "current-context: x\n"
                             "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                             "contexts: [{name: x, context: {cluster: d}}]\n",
     NULL, "no entry named \"d\" in clusters (at contexts[0].context.cluster)"},
    {"missing-user", HEAD "current-context: x\n"
                          "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                          "contexts: [{name: x, context: {cluster: c, user: v}}]\n"
                          "users: [{name: u, user: {token: t}}]\n",
     NULL, "no entry named \"v\" in users (at contexts[0].context.user)"},
    {"duplicate-cluster", HEAD "current-context: x\n"
                               "clusters: [{name: c, cluster: {server: 'https://h'}},\n"
                               "  {name: c, cluster: {server: 'https://evil'}}]\n"
                               "contexts: [{name: x, context: {cluster: c}}]\n",
     NULL, "clusters has two entries named \"c\""},
    {"both-ca", HEAD "current-context: x\n"
                     "clusters: [{name: c, cluster: {server: 'https://h', "
                     "certificate-authority: ca, certificate-authority-data: aGVsbG8=}}]\n"
                     "contexts: [{name: x, context: {cluster: c}}]\n",
     NULL, "certificate-authority and certificate-authority-data are both given"},
    {"bad-base64", HEAD "current-context: x\n"
                        "clusters: [{name: c, cluster: {server: 'https://h', "
                        "certificate-authority-data: 'not base64!'}}]\n"
                        "contexts: [{name: x, context: {cluster: c}}]\n",
     NULL, "certificate-authority-data is not valid base64"},
    {"cert-no-key", HEAD "current-context: x\n"
                         "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                         "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                         "users: [{name: u, user: {client-certificate: c.crt}}]\n",
     NULL, "a client certificate needs its key"},
    {"token-newline", HEAD "current-context: x\n"
                           "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                           "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                           "users: [{name: u, user: {token: \"a\\r\\nX-Evil: 1\"}}]\n",
     NULL, "the token is empty or holds a control character"},
    {"server-not-string", HEAD "current-context: x\n"
                               "clusters: [{name: c, cluster: {server: [a]}}]\n"
                               "contexts: [{name: x, context: {cluster: c}}]\n",
     NULL, "server must be a string"},
    {"duplicate-key", HEAD "current-context: x\ncurrent-context: y\n", NULL, "twice"},
    {"bad-namespace", HEAD "current-context: x\n"
                           "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                           "contexts: [{name: x, context: {cluster: c, namespace: ../kube-system}}]\n",
     NULL, "is not a namespace name"},
    {"not-a-map", "- a\n- b\n", NULL, "a kubeconfig is one YAML document holding a mapping"},
    {"tls-server-name", HEAD "current-context: x\n"
                             "clusters: [{name: c, cluster: {server: 'https://h', "
                             "tls-server-name: k}}]\n"
                             "contexts: [{name: x, context: {cluster: c}}]\n",
     NULL, "tls-server-name is not supported"},
};

static void test_refusals(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        kube_config c;
        diag_list dl;
        diag_list_init(&dl);
        int rc = load_text(refusals[i].name, refusals[i].text, refusals[i].context, &c, &dl);
        const char *got = first_diag(&dl);
        if (rc != -1 || strstr(got, refusals[i].want) == NULL)
            fail_msg("case %s: rc %d, %s; want %s", refusals[i].name, rc, got, refusals[i].want);
        assert_null(c.server); /* nothing half-filled is left */
        diag_list_clear(&dl);
    }
}

static void test_missing_file(void **state)
{
    (void)state;
    kube_config c;
    diag_list dl;
    diag_list_init(&dl);
    assert_int_equal(kube_config_load("/nonexistent/kubeconfig", NULL, &c, &dl), -1);
    assert_non_null(strstr(first_diag(&dl), "cannot open"));
    diag_list_clear(&dl);
}

/* A service-account directory under tmp, with the environment of a pod. */
static void sa_dir(char *out, size_t cap, bool token, bool ca)
{
    snprintf(out, cap, "%s/sa", tmp);
    mkdir(out, 0755);
    char path[256];
    snprintf(path, sizeof path, "%s/token", out);
    unlink(path);
    if (token)
        write_file("sa/token", "tok\n");
    snprintf(path, sizeof path, "%s/ca.crt", out);
    unlink(path);
    if (ca)
        write_file("sa/ca.crt", "-----BEGIN CERTIFICATE-----\n");
}

static void test_in_cluster(void **state)
{
    (void)state;
    char dir[128], want[256];
    kube_config c;
    diag_list dl;
    diag_list_init(&dl);
    sa_dir(dir, sizeof dir, true, true);
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    assert_int_equal(kube_config_in_cluster(dir, &c, &dl), 0);
    assert_string_equal(c.server, "https://10.96.0.1:443");
    snprintf(want, sizeof want, "%s/token", dir);
    assert_string_equal(c.token_file, want);
    snprintf(want, sizeof want, "%s/ca.crt", dir);
    assert_string_equal(c.ca_file, want);
    assert_string_equal(c.source, "in-cluster");
    kube_config_free(&c);

    /* An IPv6 service address goes into brackets. */
    setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
    assert_int_equal(kube_config_in_cluster(dir, &c, &dl), 0);
    assert_string_equal(c.server, "https://[fd00:10:96::1]:443");
    kube_config_free(&c);

    /* No ca.crt: the system's trust store, as client-go does. */
    sa_dir(dir, sizeof dir, true, false);
    assert_int_equal(kube_config_in_cluster(dir, &c, &dl), 0);
    assert_null(c.ca_file);
    kube_config_free(&c);
    assert_int_equal(dl.count, 0);

    /* Hostile or broken environment: refused, never put into the URL. */
    static const char *const bad_hosts[] = {"evil.com/x?", "a b", "h@x", ""};
    for (size_t i = 0; i < 3; i++) {
        setenv("KUBERNETES_SERVICE_HOST", bad_hosts[i], 1);
        assert_int_equal(kube_config_in_cluster(dir, &c, &dl), -1);
        assert_null(c.server);
    }
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "99999", 1);
    assert_int_equal(kube_config_in_cluster(dir, &c, &dl), -1);
    assert_non_null(strstr(first_diag(&dl), "is not a host name"));
    assert_int_equal(dl.count, 4);
    diag_list_clear(&dl);

    /* Not in a pod: no host, or no token file. */
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    sa_dir(dir, sizeof dir, false, true);
    assert_int_equal(kube_config_in_cluster(dir, &c, &dl), 1);
    sa_dir(dir, sizeof dir, true, true);
    unsetenv("KUBERNETES_SERVICE_HOST");
    assert_int_equal(kube_config_in_cluster(dir, &c, &dl), 1);
    assert_int_equal(dl.count, 0);
    unsetenv("KUBERNETES_SERVICE_PORT");
    diag_list_clear(&dl);
}

static void test_resolve(void **state)
{
    (void)state;
    static const char one[] = HEAD "current-context: x\n"
                                   "clusters: [{name: c, cluster: {server: 'https://one'}}]\n"
                                   "contexts: [{name: x, context: {cluster: c}}]\n";
    static const char two[] = HEAD "current-context: x\n"
                                   "clusters: [{name: c, cluster: {server: 'https://two'}}]\n"
                                   "contexts: [{name: x, context: {cluster: c}}]\n";
    write_file("one.yaml", one);
    write_file("two.yaml", two);
    char p1[256], p2[256], env[600];
    snprintf(p1, sizeof p1, "%s/one.yaml", tmp);
    snprintf(p2, sizeof p2, "%s/two.yaml", tmp);
    kube_config c;
    diag_list dl;
    diag_list_init(&dl);

    /* --kubeconfig wins over $KUBECONFIG. */
    setenv("KUBECONFIG", p1, 1);
    assert_int_equal(kube_config_resolve(p2, &c, &dl), 0);
    assert_string_equal(c.server, "https://two");
    kube_config_free(&c);

    /* Several files: the first that exists, not merged. */
    snprintf(env, sizeof env, "%s/missing.yaml:%s:%s", tmp, p2, p1);
    setenv("KUBECONFIG", env, 1);
    assert_int_equal(kube_config_resolve(NULL, &c, &dl), 0);
    assert_string_equal(c.server, "https://two");
    kube_config_free(&c);

    /* None exists: an error, not a silent fall-back to in-cluster. */
    snprintf(env, sizeof env, "%s/missing.yaml:%s/gone.yaml", tmp, tmp);
    setenv("KUBECONFIG", env, 1);
    assert_int_equal(kube_config_resolve(NULL, &c, &dl), -1);
    assert_non_null(strstr(first_diag(&dl), "none of the files named in $KUBECONFIG"));
    diag_list_clear(&dl);

    /* Nothing at all: 1. */
    unsetenv("KUBECONFIG");
    unsetenv("KUBERNETES_SERVICE_HOST");
    assert_int_equal(kube_config_resolve(NULL, &c, &dl), 1);
    assert_int_equal(dl.count, 0);
    diag_list_clear(&dl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_current_context_and_relative_paths),
        cmocka_unit_test(test_named_context_and_data),
        cmocka_unit_test(test_ca_data_and_anonymous_user),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_in_cluster),
        cmocka_unit_test(test_resolve),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
