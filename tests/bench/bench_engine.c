/* bench_engine.c - microseconds per admission review with the shipped policies.
 *
 * Reviews: a FlinkDeployment and a K8ssandraCluster captured from kube-apiserver (the
 * FlinkDeployment is the upstream HA example on a hostPath, so it is denied and every message
 * is built), and flinkdeployment-typical-v1.json, the captured review carrying
 * examples/flink/ha-rwx-good.yaml (passes every policy).
 *
 * The policies are loaded (compiled) once. Each review is then decided N times
 * (default 10^5), each timed on its own, with the request arena reset in between as the server
 * does: "engine" is admission_decide() on the decoded request (the policy engine and the
 * response it builds), "round trip" is admission_process() on the raw body (JSON decode,
 * decide, encode), which is all the server adds to TLS and HTTP. Prints a Markdown table of
 * medians and 99th percentiles. The engine is also timed with the server's per-policy
 * accounting (the observer of server/policy_stats.c, set up per review as routes.c does),
 * interleaved in blocks with the engine alone (A B A B), and the budget line: the accounting
 * adds at most 0.3 µs to the median of the typical review on either endpoint (exit status 1
 * when exceeded).
 *
 * Then the per-policy table: the typical review on /validate (as a CREATE, and as an UPDATE
 * of the same object, where the policies that judge updates run) and /mutate, each policy's
 * median inside the whole set (timed by an observer around each policy, as the server's
 * accounting does), and the budget line: the engine's median on both /validate rows, all
 * shipped policies, <= 20 µs (exit status 1 when exceeded).
 *
 * Then the growth table (DESIGN.md: engine cost grows at most linearly with the object):
 * the typical review grown in C to 10, 100, 1,000 and 10,000 flinkConfiguration keys (also
 * 1,000 and 10,000 keys sharing a 200-byte prefix) and to 1, 10, 100 and 1,000 containers in
 * the pod template, each timed on both endpoints (at most N times or about half a second),
 * with the ratio to the smallest row of its kind, and the budget line: 1,000 keys at most 30
 * times the 10-key row, both endpoints together, as a review goes through both webhooks
 * (exit status 1 when exceeded).
 *
 * Then the typical review with lookup() answered by the server's watch cache (kube_cache_get
 * on a cache holding the claims of tests/fixtures/kube/pvc-list-page1.json, recorded from
 * kube-apiserver, the ReadWriteMany one renamed statemachine-ha, the review's claim) beside
 * the same review with no cluster (lookup() null: the not-found warning), interleaved in
 * blocks (A B A B), and the budget line: 20 us median with the cache (exit status 1 when
 * exceeded). After it, where that review's time goes: each policy's median (an observer timing
 * it from matched() to evaluated()), their sum and the whole decision's median, to profile
 * against (docs/server.md, "Performance").
 *
 * Usage: bench_engine [N] [POLICY_DIR] [REVIEW.json...] (the three reviews above when none is
 * given; the growth table and the cache rows only then). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admission/decide.h"
#include "kube/cache_int.h"
#include "server/policy_stats.c" /* the server's per-policy accounting (not in libcore.a) */
#include "util/buf.h"
#include "util/file.h"
#include "bench_util.h"

/* Median and 99th percentile of 'n' samples (sorted in place). */
/* Times 'n' decisions of the review in 'body' (engine only), or as many as fit in about
 * 'max_s' seconds (at least 5) when 'max_s' > 0; with 'st', counted into it as the server
 * does (the observer set up per review, inside the timing). Returns the median in µs, or -1. */
static double time_engine_counted(enum admission_mode mode, const char *body, size_t len,
                                  const admission_policy *pol, policy_stats *st, long n,
                                  double max_s, double *samples, const char **verdict)
{
    diag_list dl;
    diag_list_init(&dl);
    arena *ra = arena_new(ARENA_REQUEST_BUDGET), *a = arena_new(ARENA_REQUEST_BUDGET);
    admission_request *req = ra ? admission_request_decode(ra, body, len, &dl) : NULL;
    double med = -1, start = now_us();
    long i = 0;
    for (; req != NULL && a != NULL && i < n; i++) {
        if (max_s > 0 && i >= 5 && now_us() - start > max_s * 1e6)
            break;
        arena_reset(a);
        admission_response resp;
        policy_outcome out;
        double t0 = now_us();
        admission_policy counted = *pol;
        policy_stats_probe probe;
        policy_observer ob;
        if (st != NULL) {
            policy_stats_observer(st, pol->set, &probe, &ob);
            counted.observer = &ob;
        }
        int rc = admission_decide(mode, req, &counted, a, &resp, &out, &dl);
        samples[i] = now_us() - t0;
        if (rc != 0)
            break;
        if (i == 0 && verdict != NULL)
            *verdict = out.denied ? "denied" : out.n_findings ? "allowed, warnings" : "allowed";
    }
    if (req != NULL && i > 0) {
        double p99;
        med = bench_median(samples, i, &p99);
    }
    admission_request_free(req);
    arena_free(ra);
    arena_free(a);
    diag_list_clear(&dl);
    return med;
}

static double time_engine(enum admission_mode mode, const char *body, size_t len,
                          const admission_policy *pol, long n, double max_s, double *samples,
                          const char **verdict)
{
    return time_engine_counted(mode, body, len, pol, NULL, n, max_s, samples, verdict);
}

/* The engine alone and with the per-policy accounting into 'st', in 10 interleaved blocks of
 * n / 10 (A B A B), so that both see the same machine. Medians and p99s into 'out' (alone,
 * then counted: median, p99 each). Returns 0, or -1. */
static int time_accounting(enum admission_mode mode, const char *body, size_t len,
                           const admission_policy *pol, policy_stats *st, long n,
                           double *samples, const char **verdict, double out[4])
{
    enum { BLOCKS = 10 };
    long per = n / BLOCKS > 5 ? n / BLOCKS : 5;
    double *v[2] = {malloc((size_t)per * BLOCKS * sizeof(double)),
                    malloc((size_t)per * BLOCKS * sizeof(double))};
    int rc = v[0] && v[1] ? 0 : -1;
    for (int blk = 0; blk < BLOCKS && rc == 0; blk++) {
        for (int k = 0; k < 2 && rc == 0; k++) {
            if (time_engine_counted(mode, body, len, pol, k ? st : NULL, per, 0, samples,
                                    verdict) < 0)
                rc = -1;
            else
                memcpy(v[k] + blk * per, samples, (size_t)per * sizeof(double));
        }
    }
    for (int k = 0; k < 2 && rc == 0; k++)
        out[2 * k] = bench_median(v[k], per * BLOCKS, &out[2 * k + 1]);
    free(v[0]);
    free(v[1]);
    return rc;
}

/* The typical review's object, where the growth rows add their keys and containers. */
static cJSON *typical_spec(cJSON *review)
{
    cJSON *req = cJSON_GetObjectItemCaseSensitive(review, "request");
    cJSON *obj = cJSON_GetObjectItemCaseSensitive(req, "object");
    return cJSON_GetObjectItemCaseSensitive(obj, "spec");
}

/* The typical review grown to 'keys' flinkConfiguration keys (its own 10 included; 'prefix'
 * puts 200 bytes of 'a' before each generated key) and 'containers' containers (its own
 * flink-main-container first, sidecars with an env list and a mount after it). Returns a
 * malloc'd JSON text. */
static char *grown_review(const char *typical, int keys, bool prefix, int containers)
{
    cJSON *review = cJSON_Parse(typical);
    cJSON *spec = typical_spec(review);
    cJSON *conf = cJSON_GetObjectItemCaseSensitive(spec, "flinkConfiguration");
    cJSON *pod = cJSON_GetObjectItemCaseSensitive(spec, "podTemplate");
    cJSON *list = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(pod, "spec"),
                                                   "containers");
    if (conf == NULL || list == NULL) {
        cJSON_Delete(review);
        return NULL;
    }
    char key[300], name[64];
    for (int i = cJSON_GetArraySize(conf); i < keys; i++) {
        memset(key, 'a', 200);
        snprintf(prefix ? key + 200 : key, 100, prefix ? "%06d" : "bench.option.%06d", i);
        cJSON_AddStringToObject(conf, key, "value");
    }
    for (int i = cJSON_GetArraySize(list); i < containers; i++) {
        cJSON *c = cJSON_CreateObject(), *env = cJSON_AddArrayToObject(c, "env");
        snprintf(name, sizeof name, "sidecar-%d", i);
        cJSON_AddStringToObject(c, "name", name);
        cJSON_AddStringToObject(c, "image", "busybox:1.36");
        for (int k = 0; k < 2; k++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "name", k ? "LOG_LEVEL" : "REGION");
            cJSON_AddStringToObject(e, "value", k ? "info" : "eu-west-1");
            cJSON_AddItemToArray(env, e);
        }
        cJSON *mounts = cJSON_AddArrayToObject(c, "volumeMounts"), *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "name", "flink-volume");
        cJSON_AddStringToObject(m, "mountPath", "/data");
        cJSON_AddItemToArray(mounts, m);
        cJSON_AddItemToArray(list, c);
    }
    char *text = cJSON_PrintUnformatted(review);
    cJSON_Delete(review);
    return text;
}

/* The growth table; returns 0, or 1 when the budget line is exceeded (or a row failed). */
static int growth(const admission_policy *pol, long n, double *samples)
{
    static const struct { const char *what; int keys; bool prefix; int containers; } rows[] = {
        {"keys", 10, false, 1},     {"keys", 100, false, 1},
        {"keys", 1000, false, 1},   {"keys", 10000, false, 1},
        {"prefixed keys", 1000, true, 1}, {"prefixed keys", 10000, true, 1},
        {"containers", 10, false, 1},   {"containers", 10, false, 10},
        {"containers", 10, false, 100}, {"containers", 10, false, 1000},
    };
    buf typical;
    diag_list dl;
    diag_list_init(&dl);
    buf_init(&typical, (size_t)4 << 20);
    if (file_read("tests/bench/flinkdeployment-typical-v1.json", typical.cap, &typical, &dl) != 0)
        return 1;
    printf("\ngrowth: the typical review with more flinkConfiguration keys or containers, "
           "engine median µs (ratio to the first row of its kind)\n\n");
    printf("| rows | keys | containers | body KiB | /validate µs | ratio | /mutate µs | ratio |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    double base[2] = {0, 0}, keys10[2] = {0, 0}, keys1000[2] = {0, 0};
    int rc = 0;
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        char *body = grown_review(typical.data, rows[r].keys, rows[r].prefix, rows[r].containers);
        if (body == NULL)
            return 1;
        double med[2];
        for (int m = 0; m < 2; m++) {
            med[m] = time_engine(m == 0 ? ADMISSION_VALIDATE : ADMISSION_MUTATE, body,
                                 strlen(body), pol, n, 0.5, samples, NULL);
            if (med[m] < 0)
                rc = 1;
            if (r == 0 || strcmp(rows[r].what, rows[r - 1].what) != 0)
                base[m] = med[m];
        }
        if (rows[r].keys == 10 && !rows[r].prefix && rows[r].containers == 1)
            memcpy(keys10, med, sizeof med);
        if (rows[r].keys == 1000 && !rows[r].prefix)
            memcpy(keys1000, med, sizeof med);
        printf("| %s | %d | %d | %.1f | %.2f | %.1f | %.2f | %.1f |\n", rows[r].what,
               rows[r].keys, rows[r].containers, strlen(body) / 1024.0, med[0], med[0] / base[0],
               med[1], med[1] / base[1]);
        free(body);
    }
    /* A review goes through both webhooks: the budget is on their sum. Alone, /mutate's
     * 10-key row is a microsecond (no patch, no copy), so its own ratio says little. */
    double k10 = keys10[0] + keys10[1], k1000 = keys1000[0] + keys1000[1];
    bool ok = k1000 <= 30 * k10;
    printf("\nbudget: 1,000 keys %.2f µs <= 30 x 10 keys (%.2f µs), both endpoints: %s (%.1fx; "
           "/validate %.1fx, /mutate %.1fx)\n", k1000, 30 * k10, ok ? "ok" : "EXCEEDED",
           k1000 / k10, keys1000[0] / keys10[0], keys1000[1] / keys10[1]);
    buf_clear(&typical);
    diag_list_clear(&dl);
    return rc != 0 || !ok;
}

/* ---- the typical review with lookup() answered from the watch cache ---- */

/* The API a cache of claims sees: the recorded LIST page, then a watch with no event. */
static cJSON *recorded_page;

static int api_discover(void *arg, const char *api_version, const char *kind, long timeout_ms,
                        kube_resource *out, char error[512])
{
    (void)arg, (void)timeout_ms, (void)error;
    *out = (kube_resource){.base = "/api/v1", .plural = "persistentvolumeclaims",
                           .namespaced = true};
    snprintf(out->api_version, sizeof out->api_version, "%s", api_version);
    snprintf(out->kind, sizeof out->kind, "%s", kind);
    return 0;
}

/* Anything not in the cache is not in the cluster: kube-apiserver's 404 NotFound Status, which
 * the cache keeps for live_ttl_ms (the Flink operator's ConfigMap, when a cluster has none). */
static int api_get(void *arg, const char *path, long timeout_ms, kube_response *r)
{
    (void)arg, (void)timeout_ms;
    const char *slash = strrchr(path, '/');
    *r = (kube_response){.http = 404};
    r->body = malloc(256);
    if (r->body != NULL)
        r->len = (size_t)snprintf(r->body, 256,
                                  "{\"kind\":\"Status\",\"reason\":\"NotFound\","
                                  "\"details\":{\"name\":\"%.100s\"}}",
                                  slash != NULL ? slash + 1 : path);
    return -1;
}

static int api_list(void *arg, const char *path, long limit, long timeout_ms,
                    int (*on_item)(void *a, cJSON *item), void *item_arg, char *rv,
                    size_t rv_cap, kube_response *r)
{
    (void)arg, (void)path, (void)limit, (void)timeout_ms;
    *r = (kube_response){.http = 200};
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(recorded_page, "items"))
        if (on_item(item_arg, cJSON_Duplicate(it, true)) != 0)
            return -1;
    snprintf(rv, rv_cap, "%s", cJSON_GetObjectItemCaseSensitive(
                                   cJSON_GetObjectItemCaseSensitive(recorded_page, "metadata"),
                                   "resourceVersion")->valuestring);
    return 0;
}

static int api_stream(void *arg, const char *path, long idle_timeout_ms,
                      int (*on_line)(void *a, const char *line, size_t len), void *line_arg,
                      const atomic_bool *stop, kube_response *r)
{
    (void)arg, (void)path, (void)idle_timeout_ms, (void)on_line, (void)line_arg;
    *r = (kube_response){.http = 200};
    while (!atomic_load(stop))
        usleep(10000);
    return 0;
}

/* The Flink operator's ConfigMap as the Helm chart renders it (the chart's flink-conf.yaml and
 * its values' overrides), found by lookup(); every other lookup goes to the cache. */
typedef struct with_cm {
    const policy_lookup *inner;
    const cJSON *cm;
} with_cm;

static enum policy_lookup_result with_operator_find(void *data, const char *api_version,
                                                    const char *kind, const char *ns,
                                                    const char *name, arena *a,
                                                    const cJSON **out, const char **why)
{
    const with_cm *w = data;
    if (strcmp(kind, "ConfigMap") == 0) {
        *out = w->cm;
        return LOOKUP_FOUND;
    }
    return w->inner->find(w->inner->data, api_version, kind, ns, name, a, out, why);
}

/* lookupList() goes to the wrapped lookup with its own data (node-sizing-limits lists Nodes):
 * the cache's list function reads 'data' as the cache, not as this with_cm. */
static enum policy_lookup_result with_operator_list(void *data, const char *api_version,
                                                    const char *kind, const char *ns, arena *a,
                                                    const cJSON ***out, size_t *n,
                                                    const char **why)
{
    const with_cm *w = data;
    return w->inner->list(w->inner->data, api_version, kind, ns, a, out, n, why);
}

static const char operator_cm_json[] =
    "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
    "\"flink-operator-config\",\"namespace\":\"default\",\"uid\":"
    "\"5a1b7c2e-0d3f-4e8a-9b6c-1f2e3d4c5b6a\",\"resourceVersion\":\"4711\"},"
    "\"data\":{\"flink-conf.yaml\":"
    "\"taskmanager.numberOfTaskSlots: 1\\nparallelism.default: 1\\n"
    "kubernetes.operator.default-configuration.flink-version.v1_18.env.java.opts.all: "
    "--add-exports=java.base/sun.net.util=ALL-UNNAMED\\n"
    "kubernetes.operator.default-configuration.flink-version.v1_19+.env.java.default-opts.all: "
    "--add-exports=java.base/sun.net.util=ALL-UNNAMED\\n# Flink Config Overrides\\n"
    "kubernetes.operator.metrics.reporter.slf4j.factory.class: "
    "org.apache.flink.metrics.slf4j.Slf4jReporterFactory\\n"
    "kubernetes.operator.metrics.reporter.slf4j.interval: 5 MINUTE\\n"
    "kubernetes.operator.reconcile.interval: 15 s\\n"
    "kubernetes.operator.observer.progress-check.interval: 5 s\\n\"}}";

/* Returns 0, or 1 when the median with the cache exceeds the budget. */
static int with_cache(const admission_policy *pol, long n, double *samples)
{
    diag_list dl;
    diag_list_init(&dl);
    buf page, body;
    buf_init(&page, (size_t)1 << 20);
    buf_init(&body, (size_t)4 << 20);
    if (file_read("tests/fixtures/kube/pvc-list-page1.json", page.cap, &page, &dl) != 0 ||
        file_read("tests/bench/flinkdeployment-typical-v1.json", body.cap, &body, &dl) != 0 ||
        (recorded_page = cJSON_ParseWithLength(page.data, page.len)) == NULL) {
        fprintf(stderr, "bench_engine: cannot read the recorded claims or the typical review\n");
        return 1;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(recorded_page, "items")) {
        cJSON *m = cJSON_GetObjectItemCaseSensitive(it, "metadata");
        if (strcmp(cJSON_GetObjectItemCaseSensitive(m, "name")->valuestring, "ha-rwx") == 0)
            cJSON_ReplaceItemInObjectCaseSensitive(m, "name",
                                                   cJSON_CreateString("statemachine-ha"));
    }
    kube_api api = {.discover = api_discover, .path = kube_path, .get = api_get,
                    .list = api_list, .stream = api_stream};
    kube_cache *c = kube_cache_new_api(&api, NULL);
    kube_kind k = {.api_version = "v1", .kind = "PersistentVolumeClaim"};
    if (c == NULL || kube_cache_set_kinds(c, &k, 1) != 0)
        return 1;
    for (int i = 0; i < 500 && !kube_cache_synced(c); i++)
        usleep(10000);
    policy_lookup lk = kube_cache_lookup(c); /* as the server asks its caches */
    admission_policy none = *pol, cached = *pol, withcm = *pol;
    none.lookup = NULL;
    cached.lookup = &lk;
    cJSON *cm = cJSON_Parse(operator_cm_json);
    /* The same without metadata.uid and resourceVersion: flinkConfig() cannot know it is the
     * same object and reads it on every review (as before the resolved defaults were kept). */
    cJSON *cm_plain = cJSON_Parse(operator_cm_json);
    if (cm == NULL || cm_plain == NULL)
        return 1;
    cJSON *md = cJSON_GetObjectItemCaseSensitive(cm_plain, "metadata");
    cJSON_DeleteItemFromObjectCaseSensitive(md, "uid");
    cJSON_DeleteItemFromObjectCaseSensitive(md, "resourceVersion");
    with_cm wk = {&lk, cm}, wp = {&lk, cm_plain};
    policy_lookup lk_cm = {.find = with_operator_find, .list = with_operator_list, .data = &wk};
    policy_lookup lk_plain = {.find = with_operator_find, .list = with_operator_list, .data = &wp};
    admission_policy withplain = *pol;
    withcm.lookup = &lk_cm;
    withplain.lookup = &lk_plain;
    double *d = malloc((size_t)(n / 10 > 5 ? n / 10 : 5) * 10 * sizeof *d);
    double *e = malloc((size_t)(n / 10 > 5 ? n / 10 : 5) * 10 * sizeof *e);
    const char *vd = "?", *ve = "?";
    /* Interleaved: blocks of each, A B A B, so that both see the same machine. */
    enum { BLOCKS = 10 };
    long per = n / BLOCKS > 5 ? n / BLOCKS : 5;
    double *a = malloc((size_t)per * BLOCKS * sizeof *a);
    double *b = malloc((size_t)per * BLOCKS * sizeof *b);
    const char *va = "?", *vb = "?";
    if (a == NULL || b == NULL)
        return 1;
    for (int blk = 0; blk < BLOCKS; blk++) {
        if (time_engine(ADMISSION_VALIDATE, body.data, body.len, &none, per, 0, samples, &va) < 0)
            return 1;
        memcpy(a + blk * per, samples, (size_t)per * sizeof *a);
        if (time_engine(ADMISSION_VALIDATE, body.data, body.len, &cached, per, 0, samples, &vb) < 0)
            return 1;
        memcpy(b + blk * per, samples, (size_t)per * sizeof *b);
        if (d == NULL ||
            time_engine(ADMISSION_VALIDATE, body.data, body.len, &withcm, per, 0, samples, &vd) < 0)
            return 1;
        memcpy(d + blk * per, samples, (size_t)per * sizeof *d);
        if (e == NULL || time_engine(ADMISSION_VALIDATE, body.data, body.len, &withplain, per, 0,
                                     samples, &ve) < 0)
            return 1;
        memcpy(e + blk * per, samples, (size_t)per * sizeof *e);
    }
    double am, a99, bm, b99;
    am = bench_median(a, per * BLOCKS, &a99);
    bm = bench_median(b, per * BLOCKS, &b99);
    double dm, d99, em, e99;
    dm = bench_median(d, per * BLOCKS, &d99);
    em = bench_median(e, per * BLOCKS, &e99);
    printf("\n| typical FlinkDeployment, /validate | verdict | engine median µs | engine p99 µs |\n"
           "|---|---|---:|---:|\n"
           "| lookup() from the watch cache (claim found, ReadWriteMany) | %s | %.2f | %.2f |\n"
           "| no cluster (lookup() null: the not-found warning) | %s | %.2f | %.2f |\n"
           "| and the Flink operator's ConfigMap found (flinkConfig() merges its defaults, "
           "kept across reviews by uid and resourceVersion) | %s | %.2f | %.2f |\n"
           "| the same ConfigMap without uid and resourceVersion (its defaults read on every "
           "review) | %s | %.2f | %.2f |\n",
           vb, bm, b99, va, am, a99, vd, dm, d99, ve, em, e99);
    int rc = bm <= 20.0 && dm <= 20.0 ? 0 : 1;
    printf("\nbudget: typical review with lookups from the cache, median %.2f µs <= 20 µs, and "
           "with the operator's ConfigMap, median %.2f µs <= 20 µs: %s\n",
           bm, dm, rc == 0 ? "ok" : "EXCEEDED");
    free(a);
    free(b);
    free(d);
    free(e);
    cJSON_Delete(cm);
    cJSON_Delete(cm_plain);
    policy_flink_defaults_forget(NULL, NULL);
    kube_cache_free(c);
    cJSON_Delete(recorded_page);
    buf_clear(&page);
    buf_clear(&body);
    diag_list_clear(&dl);
    return rc;
}

/* ---- per policy: what each policy costs inside the whole set on the typical review ---- */

/* The observer's state: when the running policy began, and each policy's samples. */
typedef struct per_policy {
    const policy *items;
    size_t n;
    double began;
    double *samples; /* n rows of 'cap' samples */
    long *count, cap;
} per_policy;

static void per_policy_matched(void *ctx, const policy *p)
{
    (void)p;
    ((per_policy *)ctx)->began = now_us();
}

static void per_policy_evaluated(void *ctx, const policy *p, enum engine_mode mode,
                                 enum rule_result result, enum policy_action action)
{
    (void)mode, (void)result, (void)action;
    per_policy *pp = ctx;
    size_t i = (size_t)(p - pp->items);
    if (i < pp->n && pp->count[i] < pp->cap)
        pp->samples[i * (size_t)pp->cap + (size_t)pp->count[i]++] = now_us() - pp->began;
}

/* The typical review as an UPDATE of the same object (oldObject a copy of object), where the
 * policies that judge updates run. Returns a malloc'd JSON text, or NULL. */
static char *typical_update(const char *typical)
{
    cJSON *review = cJSON_Parse(typical);
    cJSON *req = cJSON_GetObjectItemCaseSensitive(review, "request");
    cJSON *obj = cJSON_GetObjectItemCaseSensitive(req, "object");
    if (obj == NULL) {
        cJSON_Delete(review);
        return NULL;
    }
    cJSON_ReplaceItemInObjectCaseSensitive(req, "operation", cJSON_CreateString("UPDATE"));
    cJSON_ReplaceItemInObjectCaseSensitive(req, "oldObject", cJSON_Duplicate(obj, true));
    cJSON_ReplaceItemInObjectCaseSensitive(req, "options", cJSON_Parse(
        "{\"kind\":\"UpdateOptions\",\"apiVersion\":\"meta.k8s.io/v1\"}"));
    char *text = cJSON_PrintUnformatted(review);
    cJSON_Delete(review);
    return text;
}

/* Times 'n' decisions of 'body' in 'mode' with the per-policy observer: each policy's median
 * into 'med' (-1 when it did not run), and the engine's median without the observer into
 * '*whole'. Returns 0, or -1. */
static int per_policy_run(enum admission_mode mode, const char *body, const admission_policy *pol,
                          per_policy *pp, long n, double *samples, double *med, double *whole)
{
    *whole = time_engine(mode, body, strlen(body), pol, n, 0, samples, NULL);
    diag_list dl;
    diag_list_init(&dl);
    arena *ra = arena_new(ARENA_REQUEST_BUDGET), *a = arena_new(ARENA_REQUEST_BUDGET);
    admission_request *req = ra ? admission_request_decode(ra, body, strlen(body), &dl) : NULL;
    policy_observer ob = {.matched = per_policy_matched, .evaluated = per_policy_evaluated,
                          .ctx = pp};
    admission_policy observed = *pol;
    observed.observer = &ob;
    memset(pp->count, 0, pp->n * sizeof *pp->count);
    int rc = req != NULL && a != NULL && *whole >= 0 ? 0 : -1;
    for (long i = 0; rc == 0 && i < n; i++) {
        arena_reset(a);
        admission_response resp;
        policy_outcome out;
        rc = admission_decide(mode, req, &observed, a, &resp, &out, &dl);
    }
    for (size_t k = 0; k < pp->n; k++)
        med[k] = pp->count[k] > 0
                     ? bench_median(pp->samples + k * (size_t)pp->cap, pp->count[k], NULL)
                     : -1;
    admission_request_free(req);
    arena_free(ra);
    arena_free(a);
    diag_list_clear(&dl);
    return rc;
}

/* The per-policy table: every policy's median inside the whole set on the typical review, on
 * /validate as a CREATE and as an UPDATE of the same object, and on /mutate; the sum of the
 * medians beside the engine's median for the review (without the observer, whose two clock
 * reads per policy are in each row). Budget line: the engine's median on both /validate rows
 * <= 20 µs. Returns 0, or 1 when exceeded (or a run failed). */
static int per_policy_table(const admission_policy *pol, long n, double *samples)
{
    size_t np = 0;
    const policy *items = policy_set_items(pol->set, &np);
    buf typical;
    diag_list dl;
    diag_list_init(&dl);
    buf_init(&typical, (size_t)4 << 20);
    if (file_read("tests/bench/flinkdeployment-typical-v1.json", typical.cap, &typical, &dl) != 0)
        return 1;
    char *update = typical_update(typical.data);
    per_policy pp = {.items = items, .n = np, .cap = n};
    pp.samples = malloc(np * (size_t)n * sizeof *pp.samples);
    pp.count = calloc(np, sizeof *pp.count);
    double *med = malloc(3 * np * sizeof *med), whole[3], sum[3] = {0, 0, 0};
    if (update == NULL || pp.samples == NULL || pp.count == NULL || med == NULL)
        return 1;
    const char *bodies[3] = {typical.data, update, typical.data};
    enum admission_mode modes[3] = {ADMISSION_VALIDATE, ADMISSION_VALIDATE, ADMISSION_MUTATE};
    int rc = 0;
    for (int m = 0; m < 3 && rc == 0; m++)
        if (per_policy_run(modes[m], bodies[m], pol, &pp, n, samples, med + m * np, &whole[m]))
            rc = 1;
    printf("\nper policy: the typical review, each policy's median µs inside the whole set "
           "(- : not run: its match leaves the request out, or it has nothing for the "
           "endpoint)\n\n| policy | /validate CREATE | /validate UPDATE | /mutate |\n"
           "|---|---:|---:|---:|\n");
    for (size_t k = 0; k < np && rc == 0; k++) {
        printf("| %s", items[k].name);
        for (int m = 0; m < 3; m++) {
            double v = med[m * np + k];
            printf(v < 0 ? " | -" : " | %.2f", v);
            sum[m] += v > 0 ? v : 0;
        }
        printf(" |\n");
    }
    printf("| sum of the medians | %.2f | %.2f | %.2f |\n| engine median, whole review | %.2f | "
           "%.2f | %.2f |\n", sum[0], sum[1], sum[2], whole[0], whole[1], whole[2]);
    bool ok = rc == 0 && whole[0] <= 20.0 && whole[1] <= 20.0;
    printf("\nbudget: every shipped policy on the typical review, /validate median %.2f µs "
           "(CREATE) and %.2f µs (UPDATE) <= 20 µs: %s\n", whole[0], whole[1],
           ok ? "ok" : "EXCEEDED");
    free(med);
    free(pp.samples);
    free(pp.count);
    free(update);
    buf_clear(&typical);
    diag_list_clear(&dl);
    return !ok;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    const char *dir = argc > 2 ? argv[2] : "policies";
    static const char *const shipped[] = {
        "tests/fixtures/admission/flinkdeployment-create-v1.request.json",
        "tests/bench/flinkdeployment-typical-v1.json",
        "tests/fixtures/admission/k8ssandracluster-create-v1.request.json",
    };
    const char *const *reviews = argc > 3 ? (const char *const *)argv + 3 : shipped;
    size_t n_reviews = argc > 3 ? (size_t)argc - 3 : sizeof shipped / sizeof shipped[0];
    diag_list dl;
    diag_list_init(&dl);
    policy_set *set = policy_set_load_dir(dir, &dl);
    size_t n_policies = 0;
    if (set == NULL || n < 1) {
        fprintf(stderr, "bench_engine: cannot load the policies in %s\n", dir);
        return 1;
    }
    policy_set_items(set, &n_policies);
    admission_policy pol = {.set = set};
    /* time_accounting() times blocks of at least 5 reviews, also when n is smaller */
    double *samples = malloc((size_t)(n > 5 ? n : 5) * sizeof *samples);
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    policy_stats *st = policy_stats_new(set, NULL);
    if (samples == NULL || a == NULL || st == NULL)
        return 1;
    double worst = 0; /* the accounting's cost on the typical review, the larger endpoint */
    printf("%zu policies from %s, %ld reviews each, compiled once\n\n", n_policies, dir, n);
    printf("| review | endpoint | verdict | engine median µs | engine p99 µs | with per-policy "
           "metrics median µs | p99 µs | round trip median µs | round trip p99 µs |\n");
    printf("|---|---|---|---:|---:|---:|---:|---:|---:|\n");
    for (size_t r = 0; r < n_reviews; r++) {
        buf body;
        buf_init(&body, (size_t)4 << 20);
        if (file_read(reviews[r], body.cap, &body, &dl) != 0) {
            fprintf(stderr, "bench_engine: cannot read %s\n", reviews[r]);
            return 1;
        }
        for (int m = 0; m < 2; m++) {
            enum admission_mode mode = m == 0 ? ADMISSION_VALIDATE : ADMISSION_MUTATE;
            const char *verdict = "?";
            double e[4];
            if (time_accounting(mode, body.data, body.len, &pol, st, n, samples, &verdict, e) !=
                0) {
                fprintf(stderr, "bench_engine: no decision on %s\n", reviews[r]);
                return 1;
            }
            if (strstr(reviews[r], "typical") != NULL && e[2] - e[0] > worst)
                worst = e[2] - e[0];
            double rm, r99;
            for (long i = 0; i < n; i++) {
                arena_reset(a);
                admission_result res;
                double t0 = now_us();
                admission_process(mode, body.data, body.len, &pol, a, &res);
                samples[i] = now_us() - t0;
                free(res.body);
            }
            rm = bench_median(samples, n, &r99);
            const char *name = strrchr(reviews[r], '/') ? strrchr(reviews[r], '/') + 1 : reviews[r];
            printf("| %s | %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", name,
                   m == 0 ? "/validate" : "/mutate", verdict, e[0], e[1], e[2], e[3], rm, r99);
        }
        buf_clear(&body);
    }
    int rc = worst <= 0.3 ? 0 : 1;
    printf("\nbudget: the per-policy metrics add %.2f µs to the typical review's median, the "
           "larger endpoint, <= 0.3 µs: %s\n", worst, rc == 0 ? "ok" : "EXCEEDED");
    rc |= argc > 3 ? 0 : per_policy_table(&pol, n, samples);
    rc |= argc > 3 ? 0 : growth(&pol, n, samples);
    if (argc <= 3)
        rc |= with_cache(&pol, n, samples);
    free(samples);
    arena_free(a);
    policy_stats_unref(st);
    policy_set_unref(set);
    diag_list_clear(&dl);
    return rc;
}
