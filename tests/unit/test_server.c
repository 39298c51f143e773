/* test_server.c - the pure parts of server/: listen addresses, content types, routes,
 * framing, connection phases, metrics, the reload thread's stop; and, over TLS on 127.0.0.1,
 * what the route rows answer, the drain's count and corked replies (one TLS
 * record; large answers, slow and absent readers). The rest of the sockets is tested end to
 * end by tests/integration/server_test.sh and transport_test.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "tls/certs.h"

#include "server/certmgr.c" /* routes.c renders its metrics */
#include "server/certmgr_plan.c" /* and what certmgr.c calls */
#include "server/certmgr_webhooks.c"
#include "server/cluster.c"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/clock.h"

/* The socket queries of conns.c (ioctl, getsockopt) and the TCP options set in the process
 * (setsockopt of level IPPROTO_TCP, libmicrohttpd's included: a definition in the program
 * comes before libc's for the libraries it links too), counted to see what a reply costs in
 * system calls. */
static _Atomic unsigned long conn_sock_queries;
_Atomic unsigned long test_tcp_setsockopts, test_tcp_corks;

static int counted_ioctl(int fd, unsigned long req, void *arg)
{
    atomic_fetch_add(&conn_sock_queries, 1);
    return ioctl(fd, req, arg);
}

static int counted_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    atomic_fetch_add(&conn_sock_queries, 1);
    return getsockopt(fd, level, name, val, len);
}

int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    if (level == IPPROTO_TCP) {
        atomic_fetch_add(&test_tcp_setsockopts, 1);
        if (name == TCP_CORK)
            atomic_fetch_add(&test_tcp_corks, 1);
    }
    return (int)syscall(SYS_setsockopt, fd, level, name, val, len);
}

/* The clock reads of conns.c and http.c on a request's path: the precise ones (the hardware
 * counter, 65 ns each on the bench's VM) apart from the coarse ones. */
static _Atomic unsigned long precise_clock_reads;

static int64_t counted_mono_ms(void)
{
    atomic_fetch_add(&precise_clock_reads, 1);
    return clock_mono_ms();
}

static int http_clock_gettime(clockid_t id, struct timespec *t)
{
    if (id != CLOCK_MONOTONIC_COARSE)
        atomic_fetch_add(&precise_clock_reads, 1);
    return clock_gettime(id, t);
}

#define ioctl         counted_ioctl
#define getsockopt    counted_getsockopt
#define clock_mono_ms counted_mono_ms
#include "server/conns.c"
#undef ioctl
#undef getsockopt
#define clock_gettime http_clock_gettime
#include "server/http.c"
#undef clock_gettime
#undef clock_mono_ms
#include "server/metrics.c"
/* The clock reads of policy_stats.c, counted. */
static unsigned long stats_clock_reads;
static int counted_clock_gettime(clockid_t id, struct timespec *t)
{
    stats_clock_reads++;
    return clock_gettime(id, t);
}
#define clock_gettime counted_clock_gettime
#include "server/policy_stats.c"
#undef clock_gettime
#include "server/routes.c"
#include "tls/creds.c" /* live_creds: the credentials alive in the process */

/* reload.c with its pthread_cancel() and pthread_join() calls recorded, to see that a thread
 * it cancels is joined before the reloader is freed. */
static pthread_t shim_cancelled;
static bool shim_did_cancel, shim_joined_cancelled;

static int shim_pthread_cancel(pthread_t t)
{
    shim_cancelled = t;
    shim_did_cancel = true;
    return pthread_cancel(t);
}

static int shim_pthread_join(pthread_t t, void **ret)
{
    if (shim_did_cancel && pthread_equal(t, shim_cancelled))
        shim_joined_cancelled = true;
    return pthread_join(t, ret);
}

#define pthread_cancel shim_pthread_cancel
#define pthread_join   shim_pthread_join
#include "server/reload.c"
#undef pthread_cancel
#undef pthread_join

static const struct {
    const char *listen;
    int rc;
    const char *host;
    unsigned port;
    bool ipv6;
} listen_cases[] = {
    {"0.0.0.0:8443", 0, "0.0.0.0", 8443, false},
    {"127.0.0.1:0", 0, "127.0.0.1", 0, false},
    {":9443", 0, "0.0.0.0", 9443, false},
    {"[::1]:8443", 0, "::1", 8443, true},
    {"[::]:443", 0, "::", 443, true},
    {"localhost:8443", -1, NULL, 0, false}, /* names are not resolved: say an address */
    {"127.0.0.1", -1, NULL, 0, false},
    {"127.0.0.1:", -1, NULL, 0, false},
    {"127.0.0.1:65536", -1, NULL, 0, false},
    {"127.0.0.1:-1", -1, NULL, 0, false},
    {"127.0.0.1:80x", -1, NULL, 0, false},
    {"::1:8443", -1, NULL, 0, false}, /* IPv6 needs brackets */
    {"", -1, NULL, 0, false},
};

static void test_parse_listen_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof listen_cases / sizeof listen_cases[0]; i++) {
        char host[64] = "";
        unsigned port = 99;
        bool v6 = false;
        diag_list dl;
        diag_list_init(&dl);
        int rc = server_parse_listen(listen_cases[i].listen, host, sizeof host, &port, &v6, &dl);
        if (rc != listen_cases[i].rc)
            fail_msg("case %zu (%s): rc %d", i, listen_cases[i].listen, rc);
        if (rc == 0 && (strcmp(host, listen_cases[i].host) != 0 || port != listen_cases[i].port ||
                        v6 != listen_cases[i].ipv6))
            fail_msg("case %zu (%s): %s %u %d", i, listen_cases[i].listen, host, port, v6);
        if (rc != 0 && (dl.count != 1 || strcmp(dl.items[0].code, "usage.listen") != 0))
            fail_msg("case %zu: no usage.listen diag", i);
        diag_list_clear(&dl);
    }
}

static void test_content_types(void **state)
{
    (void)state;
    assert_true(is_json_type("application/json"));
    assert_true(is_json_type("application/json; charset=utf-8"));
    assert_true(is_json_type("Application/JSON"));
    assert_false(is_json_type(NULL));
    assert_false(is_json_type(""));
    assert_false(is_json_type("text/plain"));
    assert_false(is_json_type("application/jsonx"));
    assert_false(is_json_type("application/json-patch+json"));
    assert_false(is_json_type("application/yaml"));
}

static void test_routes(void **state)
{
    (void)state;
    assert_int_equal(server_route_find("/validate"), EP_VALIDATE);
    assert_int_equal(server_route_find("/mutate"), EP_MUTATE);
    assert_int_equal(server_route_find("/healthz"), EP_HEALTHZ);
    assert_int_equal(server_route_find("/readyz"), EP_READYZ);
    assert_int_equal(server_route_find("/metrics"), EP_METRICS);
    assert_int_equal(server_route_find("/validate/"), EP_OTHER);
    assert_int_equal(server_route_find("/VALIDATE"), EP_OTHER);
    assert_int_equal(server_route_find("/"), EP_OTHER);
    assert_int_equal(server_route_find(""), EP_OTHER);
}

/* Counts and the histogram come out in the exposition format, cumulative by bucket. */
static void test_metrics_render(void **state)
{
    (void)state;
    metrics_request_done(EP_VALIDATE, 200, ADMISSION_ALLOWED, 0.0003);
    metrics_request_done(EP_VALIDATE, 200, ADMISSION_ALLOWED, 0.002);
    metrics_request_done(EP_VALIDATE, 400, ADMISSION_INVALID, 0.00005);
    metrics_request_done(EP_MUTATE, 200, ADMISSION_DENIED, 5.0);
    metrics_request_done(EP_HEALTHZ, 200, -1, 0.0);
    metrics_request_done(EP_OTHER, 418, -1, 0.0);
    metrics_in_flight_add(3);
    metrics_in_flight_add(-1);
    metrics_set_cert_not_after(1826778236);
    metrics_set_ready(true);
    buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(metrics_render(&b), 0);
    static const char *const want[] = {
        "streamguard_http_requests_total{endpoint=\"validate\",code=\"200\",decision=\"allowed\"} 2\n",
        "streamguard_http_requests_total{endpoint=\"validate\",code=\"400\",decision=\"invalid\"} 1\n",
        "streamguard_http_requests_total{endpoint=\"mutate\",code=\"200\",decision=\"denied\"} 1\n",
        "streamguard_http_requests_total{endpoint=\"healthz\",code=\"200\",decision=\"none\"} 1\n",
        "streamguard_http_requests_total{endpoint=\"other\",code=\"other\",decision=\"none\"} 1\n",
        "streamguard_review_duration_seconds_bucket{endpoint=\"validate\",le=\"0.0001\"} 1\n",
        "streamguard_review_duration_seconds_bucket{endpoint=\"validate\",le=\"0.0005\"} 2\n",
        "streamguard_review_duration_seconds_bucket{endpoint=\"validate\",le=\"0.0025\"} 3\n",
        "streamguard_review_duration_seconds_bucket{endpoint=\"validate\",le=\"+Inf\"} 3\n",
        "streamguard_review_duration_seconds_count{endpoint=\"validate\"} 3\n",
        "streamguard_review_duration_seconds_bucket{endpoint=\"mutate\",le=\"2.5\"} 0\n",
        "streamguard_review_duration_seconds_bucket{endpoint=\"mutate\",le=\"+Inf\"} 1\n",
        "streamguard_review_duration_seconds_sum{endpoint=\"mutate\"} 5.000000000\n",
        "streamguard_http_requests_in_flight 2\n",
        "streamguard_ready 1\n",
        "streamguard_tls_certificate_not_after_seconds 1826778236\n",
        "# TYPE streamguard_review_duration_seconds histogram\n",
        "streamguard_build_info{version=\"" STREAMGUARD_VERSION "\",commit=\"",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (strstr(b.data, want[i]) == NULL)
            fail_msg("missing: %s\n--- got:\n%s", want[i], b.data);
    }
    /* Probes do not feed the review histogram. */
    assert_null(strstr(b.data, "endpoint=\"healthz\",le="));
    buf_clear(&b);
    /* A full buffer is reported, not overrun. */
    buf_init(&b, 100);
    assert_int_equal(metrics_render(&b), -1);
    assert_true(b.data == NULL || b.len <= 100);
    buf_clear(&b);
}

/* Every admission decision has its own series, named as admission_decision_name() names it;
 * anything outside the enum (-1: no review) is "none". The size comes from the enum's COUNT
 * member, so a decision added to admission/decide.h gets its series without touching this. */
static void test_metrics_decisions(void **state)
{
    (void)state;
    for (int d = 0; d < ADMISSION_DECISION_COUNT; d++)
        metrics_request_done(EP_READYZ, 500, d, 0.0);
    metrics_request_done(EP_READYZ, 500, ADMISSION_DECISION_COUNT, 0.0);
    metrics_request_done(EP_READYZ, 500, -1, 0.0);
    buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(metrics_render(&b), 0);
    char want[200];
    for (int d = 0; d < ADMISSION_DECISION_COUNT; d++) {
        snprintf(want, sizeof want,
                 "streamguard_http_requests_total{endpoint=\"readyz\",code=\"500\","
                 "decision=\"%s\"} 1\n", admission_decision_name(d));
        if (strstr(b.data, want) == NULL)
            fail_msg("decision %d: missing %s", d, want);
    }
    assert_non_null(strstr(b.data, "{endpoint=\"readyz\",code=\"500\",decision=\"error\"} 1\n"));
    assert_non_null(strstr(b.data, "{endpoint=\"readyz\",code=\"500\",decision=\"none\"} 2\n"));
    buf_clear(&b);
}

/* Reviews are counted by what their answer did and the server's enforcement, each effect
 * under the name admission_effect_name() gives it. */
static void test_metrics_reviews(void **state)
{
    (void)state;
    metrics_review_done(EP_VALIDATE, ADMISSION_EFFECT_DENIED, false);
    metrics_review_done(EP_VALIDATE, ADMISSION_EFFECT_WOULD_DENY, true);
    metrics_review_done(EP_VALIDATE, ADMISSION_EFFECT_WOULD_DENY, true);
    metrics_review_done(EP_MUTATE, ADMISSION_EFFECT_AUDITED, false);
    for (int e = 0; e < ADMISSION_EFFECT_COUNT; e++)
        metrics_review_done(EP_READYZ, (enum admission_effect)e, false);
    buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(metrics_render(&b), 0);
    static const char *const want[] = {
        "# TYPE streamguard_reviews_total counter\n",
#define REVIEWS "streamguard_reviews_total"
        REVIEWS "{endpoint=\"validate\",decision=\"denied\",enforcement=\"deny\"} 1\n",
        REVIEWS "{endpoint=\"validate\",decision=\"would_deny\",enforcement=\"warn\"} 2\n",
        REVIEWS "{endpoint=\"mutate\",decision=\"audited\",enforcement=\"deny\"} 1\n",
        REVIEWS "{endpoint=\"readyz\",decision=\"warned\",enforcement=\"deny\"} 1\n",
        REVIEWS "{endpoint=\"readyz\",decision=\"allowed\",enforcement=\"deny\"} 1\n",
#undef REVIEWS
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (strstr(b.data, want[i]) == NULL)
            fail_msg("missing: %s\n--- got:\n%s", want[i], b.data);
    assert_null(
        strstr(b.data, "{endpoint=\"validate\",decision=\"would_deny\",enforcement=\"deny\"}"));
    buf_clear(&b);
}

/* The policies of the per-policy metrics test: a deny with a rule of its own that only warns,
 * one that cannot be evaluated, one that passes, a mutation with a name that needs escaping,
 * and one that never matches. */
static const char stats_set1[] =
    "apiVersion: streamguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: st-deny}\nspec:\n"
    "  match: {resources: [{apiGroups: [example.com], kinds: [Thing]}]}\n"
    "  validations:\n"
    "    - {expression: 'object.spec.replicas < 3', message: too many}\n"
    "    - {expression: 'false', message: only a warning, action: Warn}\n"
    "---\napiVersion: streamguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: st-error}\n"
    "spec:\n  action: Warn\n  failurePolicy: Ignore\n"
    "  match: {resources: [{apiGroups: [example.com], kinds: [Thing]}]}\n"
    "  validations: [{expression: 'object.spec.missing.deeper == 1'}]\n"
    "---\napiVersion: streamguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: st-pass}\n"
    "spec:\n  action: Audit\n"
    "  match: {resources: [{apiGroups: [example.com], kinds: [Thing]}]}\n"
    "  validations: [{expression: 'true'}]\n"
    "---\napiVersion: streamguard.dev/v1alpha1\nkind: Policy\n"
    "metadata: {name: 'st \"odd\" \\ name'}\nspec:\n"
    "  match: {resources: [{apiGroups: [example.com], kinds: [Thing]}]}\n"
    "  mutations: [{patch: [{op: add, path: /spec/x, value: 1}]}]\n"
    "---\napiVersion: streamguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: st-never}\n"
    "spec:\n  match: {resources: [{apiGroups: [example.com], kinds: [Other]}]}\n"
    "  validations: [{expression: 'false'}]\n";
/* After a reload: st-deny stays, the others go, st-new comes. */
static const char stats_set2[] =
    "apiVersion: streamguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: st-new}\nspec:\n"
    "  match: {resources: [{apiGroups: [example.com], kinds: [Thing]}]}\n"
    "  validations: [{expression: 'true'}]\n"
    "---\napiVersion: streamguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: st-deny}\n"
    "spec:\n  match: {resources: [{apiGroups: [example.com], kinds: [Thing]}]}\n"
    "  validations: [{expression: 'object.spec.replicas < 3'}]\n";

static policy_set *stats_load(const char *text)
{
    char dir[] = "/tmp/sg-stats-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/set.yaml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    diag_list dl;
    diag_list_init(&dl);
    policy_set *set = policy_set_load_dir(dir, &dl);
    if (set == NULL)
        fail_msg("the test policies do not load: %s", dl.count ? dl.items[0].msg : "?");
    diag_list_clear(&dl);
    unlink(path);
    rmdir(dir);
    return set;
}

/* One engine run of 'set' in 'mode' on a Thing with 5 replicas, counted into 'st'. */
static void stats_run(policy_stats *st, const policy_set *set, enum engine_mode mode,
                      bool warn_only)
{
    cJSON *obj = cJSON_Parse("{\"spec\":{\"replicas\":5}}");
    policy_stats_probe pr;
    policy_observer ob;
    policy_stats_observer(st, set, &pr, &ob);
    policy_request r = {.group = "example.com", .version = "v1", .kind = "Thing",
                        .sub_resource = "", .namespace_ = "ns", .name = "t", .username = "u",
                        .object = obj, .observer = &ob};
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    policy_outcome o;
    assert_int_equal(policy_engine_run(set, mode, &r, warn_only, a, &o), 0);
    arena_free(a);
    cJSON_Delete(obj);
}

static void want_lines(const char *got, const char *const *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strstr(got, want[i]) == NULL)
            fail_msg("missing: %s\n--- got:\n%s", want[i], got);
}

/* Three policies that run one after the other in the set, then one that does not match,
 * then one more that runs. */
static const char stats_chain[] =
    "apiVersion: streamguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: c1}\nspec:\n"
    "  match: {resources: [{apiGroups: [example.com], kinds: [Thing]}]}\n"
    "  validations: [{expression: 'object.spec.replicas < 3'}]\n"
    "---\napiVersion: streamguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: c2}\nspec:\n"
    "  match: {resources: [{apiGroups: [example.com], kinds: [Thing]}]}\n"
    "  validations: [{expression: 'object.spec.replicas > 3'}]\n"
    "---\napiVersion: streamguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: c3}\nspec:\n"
    "  match: {resources: [{apiGroups: [example.com], kinds: [Thing]}]}\n"
    "  validations: [{expression: 'object.spec.replicas == 5'}]\n"
    "---\napiVersion: streamguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: c4}\nspec:\n"
    "  match: {resources: [{apiGroups: [example.com], kinds: [Other]}]}\n"
    "  validations: [{expression: 'false'}]\n"
    "---\napiVersion: streamguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: c5}\nspec:\n"
    "  match: {resources: [{apiGroups: [example.com], kinds: [Thing]}]}\n"
    "  validations: [{expression: 'true'}]\n";

/* Timing each policy reads the clock once at each boundary between two policies that run one
 * after the other (the end of one is the start of the next), twice for one that runs after a
 * policy that did not: c1 2, c2 1, c3 1, c5 2 (it was two for each). Every policy that runs
 * is still counted and timed. */
static void test_policy_stats_clock_reads(void **state)
{
    (void)state;
    policy_set *set = stats_load(stats_chain);
    size_t n = 0;
    const policy *ps = policy_set_items(set, &n);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) {
        char want[4] = {'c', (char)('1' + i), '\0'};
        assert_string_equal(ps[i].name, want); /* the order the reads depend on */
    }
    policy_stats *st = policy_stats_new(set, NULL);
    unsigned long before = stats_clock_reads;
    stats_run(st, set, ENGINE_VALIDATE, false);
    assert_int_equal(stats_clock_reads - before, 6);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(atomic_load(&st->e[i]->evals), i == 3 ? 0 : 1);
        assert_true(i == 3 || atomic_load(&st->e[i]->eval_ns) > 0);
    }
    policy_stats_unref(st);
    policy_set_unref(set);
}

/* Each policy that runs is counted once per run under its action and result, through the
 * engine's observer, and timed; a policy's series are there at 0 from the load on; a reload
 * carries a kept policy's counts over and drops the series of the policies it removed. */
static void test_policy_stats(void **state)
{
    (void)state;
    policy_set *set1 = stats_load(stats_set1);
    policy_stats *st1 = policy_stats_new(set1, NULL);
    assert_non_null(st1);
    stats_run(st1, set1, ENGINE_VALIDATE, false);
    stats_run(st1, set1, ENGINE_VALIDATE, true); /* warn mode: a deny stays action="deny" */
    stats_run(st1, set1, ENGINE_MUTATE, false);
    buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(policy_stats_render(st1, &b), 0);
    static const char *const want1[] = {
        "# TYPE streamguard_policy_results_total counter\n",
        "streamguard_policy_results_total{policy=\"st-deny\",action=\"deny\",result=\"fail\"} 2\n",
        "streamguard_policy_results_total{policy=\"st-deny\",action=\"deny\",result=\"pass\"} 0\n",
        "streamguard_policy_results_total{policy=\"st-deny\",action=\"deny\",result=\"error\"} 0\n",
        "streamguard_policy_results_total{policy=\"st-deny\",action=\"warn\",result=\"fail\"} 0\n",
        "streamguard_policy_results_total{policy=\"st-error\",action=\"warn\","
        "result=\"error\"} 2\n",
        "streamguard_policy_results_total{policy=\"st-pass\",action=\"audit\",result=\"pass\"} 2\n",
        "streamguard_policy_results_total{policy=\"st \\\"odd\\\" \\\\ name\",action=\"mutate\","
        "result=\"pass\"} 1\n",
        "streamguard_policy_results_total{policy=\"st \\\"odd\\\" \\\\ name\",action=\"mutate\","
        "result=\"error\"} 0\n",
        "streamguard_policy_results_total{policy=\"st-never\",action=\"deny\",result=\"fail\"} 0\n",
        "# TYPE streamguard_policy_evaluation_seconds summary\n",
        "streamguard_policy_evaluation_seconds_count{policy=\"st-deny\"} 2\n",
        "streamguard_policy_evaluation_seconds_count{policy=\"st \\\"odd\\\" \\\\ name\"} 1\n",
        "streamguard_policy_evaluation_seconds_count{policy=\"st-never\"} 0\n",
    };
    want_lines(b.data, want1, sizeof want1 / sizeof want1[0]);
    /* only what can happen: no pass under an action a rule sets apart, no failing mutation */
    assert_null(strstr(b.data, "{policy=\"st-deny\",action=\"warn\",result=\"pass\"}"));
    assert_null(strstr(b.data, "action=\"mutate\",result=\"fail\""));
    assert_null(strstr(b.data, "streamguard_policy_evaluation_seconds_sum{policy=\"st-deny\"} "
                               "0.000000000\n")); /* it took some time */
    /* the families are contiguous: every results line comes before the summary's TYPE */
    assert_true(strstr(b.data, "streamguard_policy_results_total{policy=\"st-never\"") <
                strstr(b.data, "# TYPE streamguard_policy_evaluation_seconds"));
    buf_clear(&b);

    policy_set *set2 = stats_load(stats_set2);
    policy_stats *st2 = policy_stats_new(set2, st1);
    stats_run(st1, set1, ENGINE_VALIDATE, false); /* a request still on the old set */
    policy_stats_unref(st1);
    policy_set_unref(set1);
    stats_run(st2, set2, ENGINE_VALIDATE, false);
    buf_init(&b, 1 << 20);
    assert_int_equal(policy_stats_render(st2, &b), 0);
    static const char *const want2[] = {
        "streamguard_policy_results_total{policy=\"st-deny\",action=\"deny\",result=\"fail\"} 4\n",
        "streamguard_policy_results_total{policy=\"st-new\",action=\"deny\",result=\"pass\"} 1\n",
        "streamguard_policy_evaluation_seconds_count{policy=\"st-deny\"} 4\n",
    };
    want_lines(b.data, want2, sizeof want2 / sizeof want2[0]);
    assert_null(strstr(b.data, "st-error"));
    assert_null(strstr(b.data, "odd"));
    assert_null(strstr(b.data, "action=\"warn\"")); /* st-deny's Warn rule went with set 1 */
    buf_clear(&b);
    /* a table made for another set records nothing out of its bounds */
    policy_stats *empty = policy_stats_new(NULL, NULL);
    stats_run(empty, set2, ENGINE_VALIDATE, false);
    buf_init(&b, 1 << 20);
    assert_int_equal(policy_stats_render(empty, &b), 0);
    assert_null(strstr(b.data, "policy="));
    buf_clear(&b);
    policy_stats_unref(empty);
    policy_stats_unref(st2);
    policy_set_unref(set2);
}

static void test_framing_lengths(void **state)
{
    (void)state;
    assert_true(is_digits("0") && is_digits("123"));
    assert_false(is_digits("") || is_digits("12a") || is_digits("-1") || is_digits(" 1"));
    assert_true(same_length("5", "5") && same_length("5", "0005") && same_length("0", "000"));
    assert_false(same_length("5", "6") || same_length("50", "5") || same_length("0", "10"));
    /* longer than any integer type: compared as digits, no overflow */
    assert_true(same_length("123456789012345678901234567890", "0123456789012345678901234567890"));
    assert_false(same_length("123456789012345678901234567890", "123456789012345678901234567891"));
}

/* The phases of a connection, without libmicrohttpd: one end of a socket pair is the
 * server's. A connection in its head or in a request is never closed by the drain; an idle
 * one is, with SHUT_RD (the server's own reads end; the peer is not written to). */
static void test_conn_phases(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    conns *t = conns_new(60);
    assert_non_null(t);
    conn *c = conns_open(t, sv[0], NULL);
    assert_non_null(c);
    assert_int_equal(conns_close_idle(t, 0), 1); /* head: kept */
    assert_int_equal(atomic_load(&c->phase), PHASE_HEAD);
    conn_request_begin(c);
    assert_int_equal(conns_close_idle(t, 0), 1); /* request: kept */
    assert_int_equal(atomic_load(&c->phase), PHASE_REQUEST);
    conn_request_end(c);
    assert_int_equal(atomic_load(&c->phase), PHASE_IDLE);
    assert_int_equal(conns_close_idle(t, 60000), 1); /* idle, but not for a minute: kept */
    assert_int_equal(atomic_load(&c->phase), PHASE_IDLE);
    /* a byte read while idle starts the next head */
    assert_int_equal(write(sv[1], "G", 1), 1);
    char ch;
    assert_int_equal(conn_pull(c, &ch, 1), 1);
    assert_int_equal(atomic_load(&c->phase), PHASE_HEAD);
    conn_request_begin(c);
    conn_request_end(c);
    assert_int_equal(conns_close_idle(t, 0), 1); /* closed, and open until announced gone */
    assert_int_equal(atomic_load(&c->phase), PHASE_CLOSING);
    assert_int_equal(recv(sv[0], &ch, 1, MSG_DONTWAIT), 0); /* the server's side reads the end */
    conn_request_begin(c); /* a closing connection stays closing */
    assert_int_equal(atomic_load(&c->phase), PHASE_CLOSING);
    /* descriptors handed to libmicrohttpd count until it announces them */
    conns_expect(t, 1000);
    conns_expect(t, 1001);
    assert_int_equal(conns_close_idle(t, 0), 3);
    conns_unexpect(t, 1000);
    conn *d = conns_open(t, 1001, NULL);
    assert_int_equal(conns_close_idle(t, 0), 2);
    conns_close(t, d);
    conns_close(t, c);
    assert_int_equal(conns_close_idle(t, 0), 0);
    conns_free(t);
    close(sv[0]);
    close(sv[1]);
}

/* reloader_stop() ends the thread before it frees what the thread reads: told through the
 * pipe, or, when the pipe cannot be written, cancelled in its wait and then joined. The
 * sanitizer build (make check) would also see a thread still reading the freed reloader. */
static void test_reloader_stop_joins(void **state)
{
    (void)state;
    char dir[] = "/tmp/sg-reload-XXXXXX", cert[64], key[64];
    assert_non_null(mkdtemp(dir));
    snprintf(cert, sizeof cert, "%s/tls.crt", dir);
    snprintf(key, sizeof key, "%s/tls.key", dir);
    /* the files need not exist: nothing changes in the directory, so nothing reloads */
    reload_config cfg = {.cert_file = cert, .key_file = key, .policy_dir = dir};
    reloader *r = reloader_start(&cfg, NULL);
    assert_non_null(r);
    reloader_stop(r); /* told through the pipe */
    assert_false(shim_did_cancel);

    r = reloader_start(&cfg, NULL);
    assert_non_null(r);
    close(r->wake[1]);
    r->wake[1] = -1; /* the pipe cannot be written: the thread is cancelled */
    reloader_stop(r);
    assert_true(shim_did_cancel);
    assert_true(shim_joined_cancelled);
    assert_int_equal(rmdir(dir), 0);
}

/* ---- a real server on 127.0.0.1, port 0, with generated certificates ---- */

static char cert_dir[32];

/* Generates pair 'name' (its own CA) under cert_dir and loads it into 'out'. */
static void make_pair(const char *name, tls_pair *out)
{
    char dir[128], crt[160], key[160];
    snprintf(dir, sizeof dir, "%s/%s", cert_dir, name);
    assert_int_equal(mkdir(dir, 0700), 0);
    static const char *const hosts[] = {"localhost", "127.0.0.1"};
    tls_gen_opts o = {.out_dir = dir, .hosts = hosts, .n_hosts = 2, .days = 2,
                      .not_before_offset = -60};
    diag_list dl;
    diag_list_init(&dl);
    assert_int_equal(tls_certs_generate(&o, NULL, &dl), 0);
    snprintf(crt, sizeof crt, "%s/tls.crt", dir);
    snprintf(key, sizeof key, "%s/tls.key", dir);
    assert_int_equal(tls_pair_load(crt, key, out, &dl), 0);
    diag_list_clear(&dl);
}

static server *start_test_server(const tls_pair *p)
{
    server_config cfg = {.listen = "127.0.0.1:0", .cert_pem = p->cert_pem, .key_pem = p->key_pem,
                         .threads = 1, .max_connections = 16, .idle_timeout_s = 30,
                         .header_timeout_s = 10, .request_timeout_s = 10,
                         .max_body = SERVER_MAX_BODY};
    diag_list dl;
    diag_list_init(&dl);
    server *s = server_start(&cfg, &dl);
    if (s == NULL)
        fail_msg("server_start: %s", dl.count ? dl.items[0].msg : "?");
    diag_list_clear(&dl);
    server_set_ready(s, true);
    return s;
}

static int setup_certs(void **state)
{
    (void)state;
    snprintf(cert_dir, sizeof cert_dir, "/tmp/sg-server-XXXXXX");
    return mkdtemp(cert_dir) != NULL ? 0 : -1;
}

static int teardown_certs(void **state)
{
    (void)state;
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cert_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The drain waits for this server's requests, not for the process-wide gauge of the metrics
 * (another server in the process, or a count the metrics got wrong, must not hold it). */
static void test_drain_counts_own_requests(void **state)
{
    (void)state;
    tls_pair p;
    make_pair("drain", &p);
    server *s = start_test_server(&p);
    metrics_in_flight_add(1); /* a request somewhere else in the process */
    server_begin_drain(s);
    server_stop_accepting(s);
    assert_int_equal(server_in_flight(s), 0);
    assert_true(server_drain(s, 300));
    metrics_in_flight_add(-1);
    server_free(s);
    tls_pair_clear(&p);
}

/* ---- a TLS client, GnuTLS, blocking with a 5 s timeout ---- */

typedef struct tclient {
    int fd;
    gnutls_session_t tls;
    gnutls_certificate_credentials_t cred;
} tclient;

/* Connects to 127.0.0.1:'port' with a receive buffer of 'rcvbuf' bytes (0: the system's) and
 * completes the handshake (no verification: the tests compare the certificate served with the
 * one they expect). */
static void tclient_open_rcvbuf(tclient *t, unsigned port, int rcvbuf)
{
    t->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(t->fd >= 0);
    if (rcvbuf > 0) /* before connect(), so that the window offered is small from the start */
        setsockopt(t->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct timeval tv = {5, 0};
    setsockopt(t->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(t->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(gnutls_certificate_allocate_credentials(&t->cred), 0);
    assert_int_equal(gnutls_init(&t->tls, GNUTLS_CLIENT), 0);
    assert_int_equal(gnutls_set_default_priority(t->tls), 0);
    assert_int_equal(gnutls_credentials_set(t->tls, GNUTLS_CRD_CERTIFICATE, t->cred), 0);
    gnutls_transport_set_int(t->tls, t->fd);
    int rc;
    do {
        rc = gnutls_handshake(t->tls);
    } while (rc < 0 && gnutls_error_is_fatal(rc) == 0);
    if (rc < 0)
        fail_msg("handshake: %s", gnutls_strerror(rc));
}

static void tclient_open(tclient *t, unsigned port)
{
    tclient_open_rcvbuf(t, port, 0);
}

static void tclient_close(tclient *t)
{
    gnutls_bye(t->tls, GNUTLS_SHUT_WR);
    gnutls_deinit(t->tls);
    gnutls_certificate_free_credentials(t->cred);
    close(t->fd);
}

/* Sends all of 'req' (a record holds at most 16 KiB). */
static void tclient_send(tclient *t, const char *req)
{
    size_t n = strlen(req);
    for (size_t at = 0; at < n;) {
        ssize_t sent = gnutls_record_send(t->tls, req + at, n - at);
        assert_true(sent > 0);
        at += (size_t)sent;
    }
}

/* Sends 'req' and reads one whole answer (headers, and a body of its Content-Length unless
 * 'head') into 'out'. Returns its status code. */
static int tclient_ask(tclient *t, const char *req, bool head, char *out, size_t cap)
{
    tclient_send(t, req);
    size_t len = 0;
    for (;;) {
        out[len] = '\0';
        const char *end = strstr(out, "\r\n\r\n");
        if (end != NULL) {
            const char *cl = strcasestr(out, "\r\ncontent-length:");
            size_t body = cl != NULL && !head ? strtoul(cl + 17, NULL, 10) : 0;
            if (len >= (size_t)(end + 4 - out) + body)
                break;
        }
        assert_true(len + 1 < cap);
        ssize_t got = gnutls_record_recv(t->tls, out + len, cap - 1 - len);
        if (got <= 0)
            fail_msg("no whole answer to %.40s (%zd): %s", req, got, out);
        len += (size_t)got;
    }
    int status = 0;
    assert_int_equal(sscanf(out, "HTTP/1.1 %d", &status), 1);
    return status;
}

/* Whether the certificate the server presented on 't' is the first one of 'cert_pem'. */
static bool tclient_peer_is(tclient *t, const char *cert_pem)
{
    unsigned n = 0;
    const gnutls_datum_t *peer = gnutls_certificate_get_peers(t->tls, &n);
    assert_true(peer != NULL && n > 0);
    gnutls_x509_crt_t crt;
    gnutls_datum_t pem = {(unsigned char *)cert_pem, (unsigned)strlen(cert_pem)}, der;
    assert_int_equal(gnutls_x509_crt_init(&crt), 0);
    assert_int_equal(gnutls_x509_crt_import(crt, &pem, GNUTLS_X509_FMT_PEM), 0);
    assert_int_equal(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der), 0);
    bool same = der.size == peer[0].size && memcmp(der.data, peer[0].data, der.size) == 0;
    gnutls_free(der.data);
    gnutls_x509_crt_deinit(crt);
    return same;
}

/* One request on a connection of its own. */
static int ask_once(unsigned port, const char *req, bool head, char *out, size_t cap)
{
    tclient t;
    tclient_open(&t, port);
    int status = tclient_ask(&t, req, head, out, cap);
    tclient_close(&t);
    return status;
}

/* Each row answers what it allows and 405s the rest with its methods in Allow; a path no row
 * has is 404 and the message lists the rows' paths. Over the wire, as a client sees it. */
static void test_routes_answer(void **state)
{
    (void)state;
    tls_pair p;
    make_pair("routes", &p);
    server *s = start_test_server(&p);
    unsigned port = server_port(s);
    char out[16384];
    assert_int_equal(ask_once(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", false, out,
                              sizeof out), 200);
    assert_non_null(strstr(out, "\r\n\r\nok\n"));
    assert_int_equal(ask_once(port, "HEAD /readyz HTTP/1.1\r\nHost: x\r\n\r\n", true, out,
                              sizeof out), 200);
    assert_int_equal(ask_once(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", false, out,
                              sizeof out), 200);
    assert_non_null(strstr(out, "streamguard_http_requests_total{endpoint=\"healthz\""));
    assert_int_equal(ask_once(port, "GET /validate/ HTTP/1.1\r\nHost: x\r\n\r\n", false, out,
                              sizeof out), 404);
    assert_non_null(strstr(out, "no such endpoint: /validate/ (use /validate, /mutate, /healthz, "
                                "/readyz or /metrics)"));
    assert_int_equal(ask_once(port, "DELETE /mutate HTTP/1.1\r\nHost: x\r\n\r\n", false, out,
                              sizeof out), 405);
    assert_non_null(strcasestr(out, "\r\nAllow: POST\r\n"));
    assert_non_null(strstr(out, "method DELETE is not allowed; use POST"));
    assert_int_equal(ask_once(port, "POST /healthz HTTP/1.1\r\nHost: x\r\n"
                              "Content-Length: 0\r\n\r\n", false, out, sizeof out), 405);
    assert_non_null(strcasestr(out, "\r\nAllow: GET, HEAD\r\n"));
    assert_non_null(strstr(out, "method POST is not allowed; use GET"));
    assert_int_equal(ask_once(port, "POST /validate HTTP/1.1\r\nHost: x\r\n"
                              "Content-Type: text/plain\r\nContent-Length: 0\r\n\r\n",
                              false, out, sizeof out), 415);
    server_free(s);
    tls_pair_clear(&p);
}

/* A thread's requests share one arena: given back, it is reset and kept, and the next one
 * gets it with the cap of its own body; one that held more than SPARE_ARENA_MAX, or a second
 * while one is kept, is freed. */
static void *arena_in_thread(void *arg)
{
    (void)arg;
    server_request_arena_done(server_request_arena(10)); /* kept, freed when the thread ends */
    return NULL;
}

static void test_request_arena_reuse(void **state)
{
    (void)state;
    arena *a = server_request_arena(100);
    assert_non_null(a);
    assert_non_null(arena_alloc(a, 20000));
    server_request_arena_done(a);
    arena *b = server_request_arena(5000);
    assert_ptr_equal(a, b);
    assert_int_equal(arena_used(b), 0);
    assert_null(arena_alloc(b, admission_arena_cap(5000) + 1));
    assert_non_null(arena_alloc(b, 20000)); /* in the block it kept */
    arena *c = server_request_arena(100); /* none kept now: a new one */
    assert_non_null(c);
    assert_ptr_not_equal(b, c);
    server_request_arena_done(b);
    server_request_arena_done(c); /* one is kept already: freed */
    assert_ptr_equal(pthread_getspecific(spare_key), b);
    b = server_request_arena(100);
    assert_non_null(arena_alloc(b, SPARE_ARENA_MAX + 1));
    server_request_arena_done(b); /* too large to keep */
    assert_null(pthread_getspecific(spare_key));
    server_request_arena_done(NULL);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, arena_in_thread, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    spare_drop();
}

/* The row functions on their own: methods are exact tokens of the list. */
static void test_route_rows(void **state)
{
    (void)state;
    assert_true(server_route_allows(&server_routes[EP_VALIDATE], "POST"));
    assert_false(server_route_allows(&server_routes[EP_VALIDATE], "post"));
    assert_false(server_route_allows(&server_routes[EP_VALIDATE], "GET"));
    assert_false(server_route_allows(&server_routes[EP_VALIDATE], "POS"));
    assert_false(server_route_allows(&server_routes[EP_VALIDATE], ""));
    assert_true(server_route_allows(&server_routes[EP_HEALTHZ], "GET"));
    assert_true(server_route_allows(&server_routes[EP_HEALTHZ], "HEAD"));
    assert_false(server_route_allows(&server_routes[EP_HEALTHZ], "GET, HEAD"));
    assert_false(server_route_allows(&server_routes[EP_HEALTHZ], "HEA"));
    assert_false(server_route_allows(&server_routes[EP_OTHER], "GET"));
    char paths[256];
    server_route_paths(paths, sizeof paths);
    assert_string_equal(paths, "/validate, /mutate, /healthz, /readyz or /metrics");
    server_route_paths(paths, 12); /* truncated, still a string */
    assert_true(strlen(paths) < 12);
    for (size_t i = 0; i < EP_COUNT; i++) {
        assert_non_null(server_routes[i].label);
        assert_true((server_routes[i].path == NULL) == (i == EP_OTHER));
        assert_true((server_routes[i].handler == NULL) == (i == EP_OTHER));
        assert_true(i == EP_OTHER || server_route_find(server_routes[i].path) == i);
    }
}

/* Waits up to 5 s until the server has 'n' connections open (it sees a close in its own
 * time) and returns whether it got there. */
static bool wait_connections(server *s, unsigned n)
{
    for (int i = 0; i < 500; i++) {
        const union MHD_DaemonInfo *di =
            MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        if (di != NULL && di->num_connections == n)
            return true;
        struct timespec nap = {0, 10 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }
    return false;
}

/* A certificate reload while connections are open: they go on with the certificate of their
 * handshake, new ones get the new certificate, and the old credentials are freed when the
 * last connection that uses them closes (not after a grace period, and not before). Under
 * make check, AddressSanitizer sees a use after free if they go too early; LeakSanitizer and
 * the count see them kept too long. */
static void test_cert_swap_keeps_connections(void **state)
{
    (void)state;
    static const char get[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    char out[4096];
    tls_pair a, b;
    make_pair("a", &a);
    make_pair("b", &b);
    long base = atomic_load(&live_creds);
    server *s = start_test_server(&a);
    unsigned port = server_port(s);
    assert_int_equal(atomic_load(&live_creds), base + 1);
    tclient old1, old2;
    tclient_open(&old1, port);
    tclient_open(&old2, port);
    assert_true(tclient_peer_is(&old1, a.cert_pem));
    assert_int_equal(tclient_ask(&old1, get, false, out, sizeof out), 200);

    diag_list dl;
    diag_list_init(&dl);
    assert_int_equal(server_set_certificate(s, b.cert_pem, b.key_pem, &dl), 0);
    assert_int_equal(atomic_load(&live_creds), base + 2); /* a stays: two connections use it */
    assert_int_equal(tclient_ask(&old1, get, false, out, sizeof out), 200);
    assert_int_equal(tclient_ask(&old2, get, false, out, sizeof out), 200);
    tclient fresh;
    tclient_open(&fresh, port);
    assert_true(tclient_peer_is(&fresh, b.cert_pem));
    assert_int_equal(tclient_ask(&fresh, get, false, out, sizeof out), 200);
    tclient_close(&fresh);
    assert_true(wait_connections(s, 2));
    assert_int_equal(atomic_load(&live_creds), base + 2); /* b is the server's too */

    tclient_close(&old1);
    assert_true(wait_connections(s, 1));
    assert_int_equal(atomic_load(&live_creds), base + 2); /* old2 still uses a */
    assert_int_equal(tclient_ask(&old2, get, false, out, sizeof out), 200);
    tclient_close(&old2);
    assert_true(wait_connections(s, 0));
    assert_int_equal(atomic_load(&live_creds), base + 1); /* a is gone, b serves */

    /* a bad pair is refused and the current one stays */
    assert_int_equal(server_set_certificate(s, "not a certificate", b.key_pem, &dl), -1);
    assert_int_equal(dl.count, 1);
    assert_string_equal(dl.items[0].code, "tls.cert");
    assert_int_equal(atomic_load(&live_creds), base + 1);
    tclient_open(&fresh, port);
    assert_true(tclient_peer_is(&fresh, b.cert_pem));
    tclient_close(&fresh);
    diag_list_clear(&dl);
    server_free(s);
    assert_int_equal(atomic_load(&live_creds), base);
    tls_pair_clear(&a);
    tls_pair_clear(&b);
}

/* ---- corked replies (conns.h): one TLS record per reply, whole answers ---- */

/* A review (a DELETE of a ConfigMap) whose answer echoes a uid of 'uid_len' bytes: an answer
 * of any size. Returns a malloc'd HTTP request. */
static char *big_review(size_t uid_len)
{
    static const char head[] = "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":"
                               "\"AdmissionReview\",\"request\":{\"uid\":\"";
    static const char tail[] = "\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":"
                               "\"ConfigMap\"},\"resource\":{\"group\":\"\",\"version\":\"v1\","
                               "\"resource\":\"configmaps\"},\"operation\":\"DELETE\","
                               "\"namespace\":\"x\",\"name\":\"y\"}}";
    size_t body = sizeof head - 1 + uid_len + sizeof tail - 1;
    char *req = malloc(body + 256);
    assert_non_null(req);
    int n = snprintf(req, 256, "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: "
                     "application/json\r\nContent-Length: %zu\r\n\r\n%s", body, head);
    memset(req + n, 'u', uid_len);
    strcpy(req + n + uid_len, tail);
    return req;
}

/* Gives each connection the server has open a send buffer of 4 KiB (fixed: the kernel stops
 * growing it), so that an answer of tens of KiB cannot all go into the socket at once: over
 * loopback the buffers grow to megabytes otherwise. */
static void shrink_server_sndbuf(server *s)
{
    int small = 4096;
    pthread_mutex_lock(&s->conns->lock);
    for (conn *c = s->conns->head; c != NULL; c = c->next)
        setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    pthread_mutex_unlock(&s->conns->lock);
}

/* Whether 'out' is a whole 200 answer to big_review('uid_len'). */
static bool is_big_answer(const char *out, size_t uid_len)
{
    const char *body = strstr(out, "\r\n\r\n");
    const char *uid = body ? strstr(body, "\"uid\":\"") : NULL;
    if (strncmp(out, "HTTP/1.1 200", 12) != 0 || uid == NULL)
        return false;
    uid += 7;
    size_t n = strspn(uid, "u");
    return n == uid_len && strcmp(uid + n, "\",\"allowed\":true}}") == 0;
}

/* The raw TLS records that reach the client while it waits 'ms' after sending 'req': it counts
 * application-data records (type 23) and returns how many; 'bytes' gets their total length.
 * The session cannot be used afterwards. */
static int raw_records_after(tclient *t, const char *req, int ms, size_t *bytes)
{
    tclient_send(t, req);
    unsigned char raw[65536];
    size_t len = 0;
    struct pollfd p = {.fd = t->fd, .events = POLLIN};
    while (len < sizeof raw && poll(&p, 1, ms) == 1) {
        ssize_t got = recv(t->fd, raw + len, sizeof raw - len, MSG_DONTWAIT);
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    int records = 0;
    *bytes = len;
    for (size_t at = 0; at + 5 <= len; at += 5 + ((size_t)raw[at + 3] << 8 | raw[at + 4]))
        records += raw[at] == 23;
    return records;
}

/* A reply leaves as one TLS record (libmicrohttpd alone sends its headers and its body as two):
 * a small one and one of 12 KiB, on a kept-alive connection. */
static void test_reply_one_record(void **state)
{
    (void)state;
    tls_pair p;
    make_pair("cork", &p);
    server *s = start_test_server(&p);
    char out[4096];
    const size_t sizes[] = {0, 12 * 1024};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        tclient t;
        tclient_open(&t, server_port(s));
        /* a first request takes the TLS 1.3 session tickets off the wire */
        assert_int_equal(tclient_ask(&t, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", false, out,
                                     sizeof out), 200);
        char *req = sizes[i] ? big_review(sizes[i])
                              : strdup("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        size_t bytes;
        int records = raw_records_after(&t, req, 300, &bytes);
        if (records != 1)
            fail_msg("a reply of %zu bytes came as %d records (%zu bytes)", sizes[i], records,
                     bytes);
        free(req);
        tclient_close(&t);
    }
    /* and at once: a socket left corked (TCP_CORK, as libmicrohttpd does for answers from a
     * buffer under 1400 bytes) would hold each record for the kernel's 200 ms timer */
    tclient t;
    tclient_open(&t, server_port(s));
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* a HEAD first: libmicrohttpd sends it without a body */
    assert_int_equal(tclient_ask(&t, "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n", true, out,
                                 sizeof out), 200);
    for (int i = 0; i < 10; i++)
        assert_int_equal(tclient_ask(&t, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", false,
                                     out, sizeof out), 200);
    double secs = seconds_since(&t0, CLOCK_MONOTONIC);
    if (secs > 1.0)
        fail_msg("a HEAD and 10 small answers on one connection took %.3f s", secs);
    tclient_close(&t);
    server_free(s);
    tls_pair_clear(&p);
}

/* What a reply costs in system calls besides its sendmsg(), on a kept-alive connection: one
 * socket query for the cork check, and no TCP option set. libmicrohttpd sets TCP_NODELAY once
 * per connection; it never corks the socket (TCP_CORK): a cork it left on would hold our one
 * sendmsg() for the kernel's 200 ms timer, and pushing each reply through it again cost a
 * setsockopt(TCP_NODELAY) per reply under 1,400 bytes. Small answers (the probes) and answers
 * over 1,400 bytes (a review echoing a long uid) alike. */
static void test_reply_syscalls(void **state)
{
    (void)state;
    tls_pair p;
    make_pair("calls", &p);
    server *s = start_test_server(&p);
    char out[8192];
    char *big = big_review(2000);
    tclient t;
    tclient_open(&t, server_port(s));
    assert_int_equal(tclient_ask(&t, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", false, out,
                                 sizeof out), 200);
    unsigned long queries = atomic_load(&conn_sock_queries);
    unsigned long opts = atomic_load(&test_tcp_setsockopts);
    unsigned long corks = atomic_load(&test_tcp_corks);
    for (int i = 0; i < 10; i++) {
        const char *req = i % 2 ? big : "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_int_equal(tclient_ask(&t, req, false, out, sizeof out), 200);
        assert_true(i % 2 == 0 || is_big_answer(out, 2000));
    }
    unsigned long q = atomic_load(&conn_sock_queries) - queries;
    unsigned long o = atomic_load(&test_tcp_setsockopts) - opts;
    if (q != 10 || o != 0)
        fail_msg("10 replies cost %lu socket queries (want 10) and %lu TCP options set (want 0)",
                 q, o);
    tclient_close(&t);
    assert_int_equal(atomic_load(&test_tcp_corks), corks);
    free(big);
    server_free(s);
    tls_pair_clear(&p);
}

/* Waits (at most 2 s) until no request is in the server: on_completed() of the last one has
 * returned. */
static void settle_requests(server *s)
{
    struct timespec nap = {0, 1000 * 1000};
    for (int i = 0; i < 2000 && atomic_load(&s->in_flight) != 0; i++)
        nanosleep(&nap, NULL);
    assert_int_equal(atomic_load(&s->in_flight), 0);
}

/* A kept-alive request reads the precise clock twice on its path through http.c and conns.c:
 * when its headers are in and when its reply is out (the log's 'ms', the metrics). The
 * deadlines (the head's, the idle one's, the body's) read the coarse clock. */
static void test_request_clock_reads(void **state)
{
    (void)state;
    tls_pair p;
    make_pair("clock", &p);
    server *s = start_test_server(&p);
    char out[8192];
    char *review = big_review(40);
    tclient t;
    tclient_open(&t, server_port(s));
    assert_int_equal(tclient_ask(&t, review, false, out, sizeof out), 200);
    settle_requests(s); /* the answer leaves before on_completed() is done */
    unsigned long before = atomic_load(&precise_clock_reads);
    for (int i = 0; i < 10; i++)
        assert_int_equal(tclient_ask(&t, review, false, out, sizeof out), 200);
    settle_requests(s);
    unsigned long reads = atomic_load(&precise_clock_reads) - before;
    if (reads != 20)
        fail_msg("10 requests read the precise clock %lu times (want 20)", reads);
    tclient_close(&t);
    free(review);
    server_free(s);
    tls_pair_clear(&p);
}

/* Replies larger than CONN_CORK_MAX (16 KiB) are not corked: they come whole, on a kept-alive
 * connection, also to a client that reads slowly (a 2 KiB receive buffer, a pause before
 * reading and then small reads), through libmicrohttpd's own non-blocking send: the worker
 * never waits in poll() for such a client (it serves other connections meanwhile). */
static void test_reply_large_and_slow_reader(void **state)
{
    (void)state;
    tls_pair p;
    make_pair("slow", &p);
    server *s = start_test_server(&p);
    static char out[128 * 1024];
    const size_t uid = 60000; /* an answer well over CONN_CORK_MAX */
    char *req = big_review(uid);
    tclient t;
    tclient_open(&t, server_port(s));
    for (int i = 0; i < 2; i++) {
        assert_int_equal(tclient_ask(&t, req, false, out, sizeof out), 200);
        assert_true(is_big_answer(out, uid));
    }
    tclient_close(&t);

    /* the slow reader */
    unsigned long waits = atomic_load(&reply_flush_waits);
    tclient_open_rcvbuf(&t, server_port(s), 2048);
    shrink_server_sndbuf(s);
    for (int round = 0; round < 2; round++) {
        size_t len = 0;
        tclient_send(&t, req);
        struct timespec pause = {0, 300 * 1000 * 1000}, nap = {0, 2 * 1000 * 1000};
        nanosleep(&pause, NULL);
        while (len < uid + 64 || strstr(out, "}}") == NULL) {
            ssize_t got = gnutls_record_recv(t.tls, out + len, 1024);
            if (got <= 0)
                fail_msg("round %d: the answer stopped after %zu bytes (%zd)", round, len, got);
            len += (size_t)got;
            out[len] = '\0';
            nanosleep(&nap, NULL);
        }
        assert_true(is_big_answer(out, uid));
    }
    /* the worker never waited for the slow reader's window */
    assert_true(atomic_load(&reply_flush_waits) == waits);
    tclient_close(&t);
    free(req);
    server_free(s);
    tls_pair_clear(&p);
}

/* A client that never reads an answer its window cannot take does not keep the worker: with
 * one worker thread, another connection is answered at once while that answer waits (the
 * worker does not block in a send or a poll() for it), and the unread connection is freed
 * when its client goes. */
static void test_reply_unread_closes(void **state)
{
    (void)state;
    tls_pair p;
    make_pair("unread", &p);
    server *s = start_test_server(&p);
    tclient t;
    tclient_open_rcvbuf(&t, server_port(s), 2048);
    shrink_server_sndbuf(s);
    char *req = big_review(60000);
    tclient_send(&t, req);
    struct timespec settle = {0, 300 * 1000 * 1000};
    nanosleep(&settle, NULL); /* the answer is made and meets the full window */
    char ok[4096];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(ask_once(server_port(s), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", false,
                              ok, sizeof ok), 200);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (secs > 1.0)
        fail_msg("the one worker answered another connection after %.3f s", secs);
    tclient_close(&t);
    assert_true(wait_connections(s, 0));
    free(req);
    server_free(s);
    tls_pair_clear(&p);
}

/* Each way server_start() can fail gives its diag and frees what it had made (make check:
 * LeakSanitizer): a certificate GnuTLS cannot use, an address already bound. */
static void test_start_failures(void **state)
{
    (void)state;
    tls_pair p;
    make_pair("fail", &p);
    long base = atomic_load(&live_creds);
    server_config cfg = {.listen = "127.0.0.1:0", .cert_pem = "junk", .key_pem = p.key_pem,
                         .threads = 1, .max_connections = 4, .idle_timeout_s = 5,
                         .header_timeout_s = 5, .request_timeout_s = 5, .max_body = 1024};
    diag_list dl;
    diag_list_init(&dl);
    assert_null(server_start(&cfg, &dl));
    assert_true(dl.count == 1 && strcmp(dl.items[0].code, "tls.cert") == 0);
    server *s = start_test_server(&p);
    char listen[32];
    snprintf(listen, sizeof listen, "127.0.0.1:%u", server_port(s));
    cfg.listen = listen;
    cfg.cert_pem = p.cert_pem;
    diag_list_clear(&dl);
    diag_list_init(&dl);
    assert_null(server_start(&cfg, &dl));
    assert_true(dl.count == 1 && strcmp(dl.items[0].code, "server.start") == 0);
    assert_int_equal(atomic_load(&live_creds), base + 1); /* the running server's */
    server_free(s);
    assert_int_equal(atomic_load(&live_creds), base);
    diag_list_clear(&dl);
    tls_pair_clear(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_listen_table),
        cmocka_unit_test(test_content_types),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_metrics_render),
        cmocka_unit_test(test_metrics_decisions),
        cmocka_unit_test(test_metrics_reviews),
        cmocka_unit_test(test_policy_stats),
        cmocka_unit_test(test_policy_stats_clock_reads),
        cmocka_unit_test(test_framing_lengths),
        cmocka_unit_test(test_conn_phases),
        cmocka_unit_test(test_reloader_stop_joins),
        cmocka_unit_test_setup_teardown(test_drain_counts_own_requests, setup_certs,
                                        teardown_certs),
        cmocka_unit_test(test_route_rows),
        cmocka_unit_test(test_request_arena_reuse),
        cmocka_unit_test_setup_teardown(test_routes_answer, setup_certs, teardown_certs),
        cmocka_unit_test_setup_teardown(test_cert_swap_keeps_connections, setup_certs,
                                        teardown_certs),
        cmocka_unit_test_setup_teardown(test_start_failures, setup_certs, teardown_certs),
        cmocka_unit_test_setup_teardown(test_reply_one_record, setup_certs, teardown_certs),
        cmocka_unit_test_setup_teardown(test_reply_syscalls, setup_certs, teardown_certs),
        cmocka_unit_test_setup_teardown(test_request_clock_reads, setup_certs, teardown_certs),
        cmocka_unit_test_setup_teardown(test_reply_large_and_slow_reader, setup_certs,
                                        teardown_certs),
        cmocka_unit_test_setup_teardown(test_reply_unread_closes, setup_certs, teardown_certs),
    };
    return cmocka_run_group_tests_name("server", tests, NULL, NULL);
}
