/* test_audit.c - the audit core: one result per (policy, rule), the kinds to audit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "audit/audit.h"
#include "audit/report.h"
#include "audit/sync.h"

static policy_set *set;

static int setup(void **state)
{
    (void)state;
    static const char *const paths[] = {"tests/fixtures/audit"};
    diag_list dl;
    diag_list_init(&dl);
    set = policy_set_load_paths(paths, 1, &dl);
    diag_list_clear(&dl);
    return set == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    policy_set_unref(set);
    return 0;
}

/* The results of auditing 'json' as "policy/rule=result" joined by spaces, from 'a'. */
static const char *audit_str(const char *json, arena *a, audit_outcome *o)
{
    cJSON *obj = cJSON_Parse(json);
    assert_non_null(obj);
    diag_list dl;
    diag_list_init(&dl);
    int rc = audit_object(set, obj, NULL, a, o, &dl);
    diag_list_clear(&dl);
    assert_int_equal(rc, 0);
    static char out[1024];
    out[0] = '\0';
    for (size_t i = 0; i < o->n; i++) {
        char rule[32];
        size_t len = strlen(out);
        snprintf(out + len, sizeof out - len, "%s%s/%s=%s", i ? " " : "",
                 o->results[i].policy->name, audit_rule_name(o->results[i].rule, rule),
                 audit_result_names[o->results[i].result]);
    }
    cJSON_Delete(obj);
    return out;
}

static void test_audit_results_per_rule(void **state)
{
    (void)state;
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    audit_outcome o;
    const char *got = audit_str("{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\","
                                "\"metadata\":{\"name\":\"w\",\"namespace\":\"ns\"},"
                                "\"spec\":{\"color\":\"green\",\"size\":4,\"parts\":2}}",
                                a, &o);
    assert_string_equal(got, "audit-two-rules/validations[0]=pass "
                             "audit-two-rules/validations[1]=fail "
                             "audit-warn/validations[0]=warn "
                             "audit-shared-error/validations[0]=pass "
                             "audit-shared-error/validations[1]=pass");
    /* The report names the policy in its own field: the message is bare. */
    assert_string_equal(o.results[1].message, "green widgets are not allowed");
    assert_string_equal(o.results[1].severity, "high");
    assert_non_null(o.results[1].finding);
    assert_null(o.results[0].finding);
    assert_string_equal(o.results[2].severity, "medium");
    assert_string_equal(o.results[2].message, "a team label is expected");
    assert_true(o.matched);
    assert_false(o.allowed); /* a CREATE of it would be denied now */
    assert_int_equal(o.n_denials, 1);
    assert_int_equal(o.n_warnings, 1);
    arena_free(a);
}

/* One variable both rules read errors: the engine says it once; neither rule passed. */
static void test_audit_shared_error_is_not_a_pass(void **state)
{
    (void)state;
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    audit_outcome o;
    const char *got = audit_str("{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\","
                                "\"metadata\":{\"name\":\"w\",\"labels\":{\"team\":\"a\"}},"
                                "\"spec\":{\"size\":4,\"parts\":0}}",
                                a, &o);
    assert_string_equal(got, "audit-two-rules/validations[0]=pass "
                             "audit-two-rules/validations[1]=pass "
                             "audit-warn/validations[0]=pass "
                             "audit-shared-error/validations[0]=error "
                             "audit-shared-error/validations[1]=error");
    assert_non_null(strstr(o.results[4].message, "could not be evaluated"));
    arena_free(a);
}

/* Kinds no validation matches, and mutations, give nothing; the object is not changed. */
static void test_audit_no_mutations(void **state)
{
    (void)state;
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    audit_outcome o;
    const char *obj = "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Sprocket\","
                      "\"metadata\":{\"name\":\"s\"}}";
    assert_string_equal(audit_str(obj, a, &o), "");
    assert_false(o.matched);
    assert_true(o.allowed);
    assert_int_equal(o.n_findings, 0);
    arena_free(a);
}

static void test_audit_kinds(void **state)
{
    (void)state;
    audit_kind k[8];
    size_t wild;
    size_t n = audit_kinds(set, k, 8, &wild);
    assert_int_equal(n, 2); /* Widget, Gadget; not Sprocket (mutations), not Gizmo (UPDATE) */
    assert_string_equal(k[0].group, "example.com");
    assert_string_equal(k[0].kind, "Widget");
    assert_string_equal(k[1].kind, "Gadget");
    assert_int_equal(wild, 1);
    /* A short array: the count is still all of them. */
    assert_int_equal(audit_kinds(set, k, 1, &wild), 2);
}

/* ---- reports and their sync, against an API server kept in memory ---- */

#define FAKE_OBJS 16

typedef struct fake_api {
    struct { char path[256]; cJSON *obj; int rv; } o[FAKE_OBJS];
    int next_rv;
    int writes, conflicts_left; /* conflicts_left: the next PUTs answer 409 */
    int allow_writes;           /* may_write says yes this many more times (-1: always) */
} fake_api;

static int fake_find(fake_api *f, const char *path)
{
    for (int i = 0; i < FAKE_OBJS; i++)
        if (f->o[i].obj != NULL && strcmp(f->o[i].path, path) == 0)
            return i;
    return -1;
}

static void fake_answer(kube_response *r, long http, const cJSON *obj)
{
    memset(r, 0, sizeof *r);
    r->http = http;
    if (obj != NULL) {
        r->body = cJSON_PrintUnformatted(obj);
        r->len = strlen(r->body);
    } else if (http == 404) {
        r->body = strdup("{\"kind\":\"Status\",\"reason\":\"NotFound\","
                         "\"details\":{\"name\":\"streamguard\"}}");
        r->len = strlen(r->body);
    }
    if (http >= 300)
        snprintf(r->error, sizeof r->error, "HTTP %ld", http);
}

static int fake_get(void *arg, const char *path, long t, kube_response *r)
{
    (void)t;
    fake_api *f = arg;
    int i = fake_find(f, path);
    fake_answer(r, i < 0 ? 404 : 200, i < 0 ? NULL : f->o[i].obj);
    return i < 0 ? -1 : 0;
}

static void fake_set_rv(fake_api *f, int i)
{
    char rv[16];
    snprintf(rv, sizeof rv, "%d", f->o[i].rv = ++f->next_rv);
    cJSON *md = cJSON_GetObjectItemCaseSensitive(f->o[i].obj, "metadata");
    cJSON_DeleteItemFromObjectCaseSensitive(md, "resourceVersion");
    cJSON_AddStringToObject(md, "resourceVersion", rv);
}

static int fake_write(void *arg, enum kube_method m, const char *path, const char *body,
                      size_t len, long t, kube_response *r)
{
    (void)t;
    fake_api *f = arg;
    f->writes++;
    cJSON *obj = body ? cJSON_ParseWithLength(body, len) : NULL;
    if (m == KUBE_POST) {
        char full[256];
        snprintf(full, sizeof full, "%s/streamguard", path);
        int i = fake_find(f, full);
        if (i >= 0) {
            cJSON_Delete(obj);
            fake_answer(r, 409, NULL);
            return -1;
        }
        for (i = 0; f->o[i].obj != NULL; i++)
            ;
        snprintf(f->o[i].path, sizeof f->o[i].path, "%s", full);
        f->o[i].obj = obj;
        fake_set_rv(f, i);
        fake_answer(r, 201, obj);
        return 0;
    }
    int i = fake_find(f, path);
    if (i < 0) {
        cJSON_Delete(obj);
        fake_answer(r, 404, NULL);
        return -1;
    }
    if (m == KUBE_DELETE) {
        cJSON_Delete(f->o[i].obj);
        f->o[i].obj = NULL;
        fake_answer(r, 200, NULL);
        return 0;
    }
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "resourceVersion");
    if (f->conflicts_left > 0 || !cJSON_IsString(rv) || atoi(rv->valuestring) != f->o[i].rv) {
        if (f->conflicts_left > 0) {
            f->conflicts_left--;
            fake_set_rv(f, i); /* another writer got there first */
        }
        cJSON_Delete(obj);
        fake_answer(r, 409, NULL);
        return -1;
    }
    cJSON_Delete(f->o[i].obj);
    f->o[i].obj = obj;
    fake_set_rv(f, i);
    fake_answer(r, 200, obj);
    return 0;
}

static int fake_list(void *arg, const char *path, long limit, long t,
                     int (*on_item)(void *a, cJSON *item), void *item_arg, char *rv,
                     size_t rv_cap, kube_response *r)
{
    (void)limit, (void)t;
    fake_api *f = arg;
    assert_string_equal(path, "/apis/wgpolicyk8s.io/v1alpha2/policyreports");
    memset(r, 0, sizeof *r);
    for (int i = 0; i < FAKE_OBJS; i++)
        if (f->o[i].obj != NULL && strstr(f->o[i].path, "/policyreports/") != NULL)
            on_item(item_arg, cJSON_Duplicate(f->o[i].obj, true));
    snprintf(rv, rv_cap, "%d", f->next_rv);
    return 0;
}

static bool fake_may_write(void *arg)
{
    fake_api *f = arg;
    if (f->allow_writes == 0)
        return false;
    if (f->allow_writes > 0)
        f->allow_writes--;
    return true;
}

static void fake_clear(fake_api *f)
{
    for (int i = 0; i < FAKE_OBJS; i++)
        cJSON_Delete(f->o[i].obj);
}

#define REPORTS "/apis/wgpolicyk8s.io/v1alpha2"
static const char *const NS_A = REPORTS "/namespaces/a/policyreports/streamguard";
static const char *const NS_B = REPORTS "/namespaces/b/policyreports/streamguard";
static const char *const CLUSTER = REPORTS "/clusterpolicyreports/streamguard";

/* One audit round over 'objs' (JSON texts) into reports, synced to 'f'. */
static int round_of(fake_api *f, const char *const *objs, size_t n, long long now,
                    report_sync_stats *st)
{
    report_set *rs = report_set_new();
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    for (size_t i = 0; i < n; i++) {
        cJSON *obj = cJSON_Parse(objs[i]);
        audit_outcome o;
        diag_list dl;
        diag_list_init(&dl);
        assert_int_equal(audit_object(set, obj, NULL, a, &o, &dl), 0);
        assert_int_equal(report_set_add(rs, obj, &o, now), 0);
        diag_list_clear(&dl);
        cJSON_Delete(obj);
    }
    report_api api = {.arg = f, .get = fake_get, .write = fake_write, .list = fake_list};
    int rc = report_sync(&api, rs, fake_may_write, f, 1000, st);
    report_set_free(rs);
    arena_free(a);
    return rc;
}

#define WIDGET(ns, name, color)                                                               \
    "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\",\"metadata\":{\"name\":\"" name     \
    "\",\"namespace\":\"" ns "\",\"uid\":\"u-" name "\",\"labels\":{\"team\":\"t\"}},"          \
    "\"spec\":{\"size\":1,\"parts\":1,\"color\":\"" color "\"}}"

static const cJSON *result_at(const fake_api *f, int i, int k)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(f->o[i].obj, "results"), k);
}

static void test_report_schema_and_lifecycle(void **state)
{
    (void)state;
    fake_api f = {.allow_writes = -1};
    report_sync_stats st;
    const char *round1[] = {WIDGET("a", "w1", "green"), WIDGET("a", "w2", "red"),
                            WIDGET("b", "w3", "red")};
    assert_int_equal(round_of(&f, round1, 3, 1000, &st), 0);
    assert_int_equal(st.created, 2);
    int a = fake_find(&f, NS_A), b = fake_find(&f, NS_B);
    assert_true(a >= 0 && b >= 0);
    assert_true(fake_find(&f, CLUSTER) < 0);
    /* The published schema: kind, name, summary, results with their fields. */
    const cJSON *rep = f.o[a].obj;
    assert_string_equal(cJSON_GetObjectItem(rep, "apiVersion")->valuestring,
                        "wgpolicyk8s.io/v1alpha2");
    assert_string_equal(cJSON_GetObjectItem(rep, "kind")->valuestring, "PolicyReport");
    const cJSON *sum = cJSON_GetObjectItem(rep, "summary");
    /* w1: two-rules pass+fail, warn pass, shared-error pass+pass; w2: all five pass. */
    assert_int_equal(cJSON_GetObjectItem(sum, "pass")->valueint, 9);
    assert_int_equal(cJSON_GetObjectItem(sum, "fail")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(sum, "warn")->valueint, 0);
    assert_int_equal(cJSON_GetObjectItem(sum, "error")->valueint, 0);
    assert_int_equal(cJSON_GetObjectItem(sum, "skip")->valueint, 0);
    const cJSON *fail = result_at(&f, a, 1);
    assert_string_equal(cJSON_GetObjectItem(fail, "policy")->valuestring, "audit-two-rules");
    assert_string_equal(cJSON_GetObjectItem(fail, "rule")->valuestring, "validations[1]");
    assert_string_equal(cJSON_GetObjectItem(fail, "result")->valuestring, "fail");
    assert_string_equal(cJSON_GetObjectItem(fail, "severity")->valuestring, "high");
    assert_string_equal(cJSON_GetObjectItem(fail, "source")->valuestring, "streamguard");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(fail, "scored")));
    const cJSON *ref = cJSON_GetArrayItem(cJSON_GetObjectItem(fail, "resources"), 0);
    assert_string_equal(cJSON_GetObjectItem(ref, "name")->valuestring, "w1");
    assert_string_equal(cJSON_GetObjectItem(ref, "uid")->valuestring, "u-w1");
    const cJSON *ts = cJSON_GetObjectItem(fail, "timestamp");
    assert_int_equal(cJSON_GetObjectItem(ts, "seconds")->valueint, 1000);
    assert_int_equal(cJSON_GetObjectItem(ts, "nanos")->valueint, 0);

    /* The same findings later: nothing is written, timestamps stay those of the finding. */
    int writes = f.writes;
    assert_int_equal(round_of(&f, round1, 3, 2000, &st), 0);
    assert_int_equal(f.writes, writes);
    assert_int_equal(st.unchanged, 2);

    /* w1 fixed, w3 deleted: a's report is updated, b's deleted (no stale results). */
    const char *round2[] = {WIDGET("a", "w1", "red"), WIDGET("a", "w2", "red")};
    f.conflicts_left = 1; /* and another writer got there between our GET and PUT */
    assert_int_equal(round_of(&f, round2, 2, 3000, &st), 0);
    assert_int_equal(st.updated, 1);
    assert_int_equal(st.deleted, 1);
    assert_int_equal(st.failed, 0);
    assert_true(fake_find(&f, NS_B) < 0);
    sum = cJSON_GetObjectItem(f.o[a].obj, "summary");
    assert_int_equal(cJSON_GetObjectItem(sum, "fail")->valueint, 0);
    assert_int_equal(cJSON_GetObjectItem(sum, "pass")->valueint, 10);
    /* The result that changed has the new time; one that did not keeps the old one. */
    ts = cJSON_GetObjectItem(result_at(&f, a, 1), "timestamp");
    assert_int_equal(cJSON_GetObjectItem(ts, "seconds")->valueint, 3000);
    ts = cJSON_GetObjectItem(result_at(&f, a, 0), "timestamp");
    assert_int_equal(cJSON_GetObjectItem(ts, "seconds")->valueint, 1000);

    /* A cluster-scoped object goes to the ClusterPolicyReport; no objects: every report goes. */
    const char *round3[] = {"{\"apiVersion\":\"example.com/v1\",\"kind\":\"Gadget\","
                            "\"metadata\":{\"name\":\"g\"}}"};
    assert_int_equal(round_of(&f, round3, 1, 4000, &st), 0);
    int c = fake_find(&f, CLUSTER);
    assert_true(c >= 0);
    assert_string_equal(cJSON_GetObjectItem(f.o[c].obj, "kind")->valuestring,
                        "ClusterPolicyReport");
    assert_string_equal(cJSON_GetObjectItem(result_at(&f, c, 0), "result")->valuestring, "warn");
    assert_true(fake_find(&f, NS_A) < 0);
    assert_int_equal(round_of(&f, NULL, 0, 5000, &st), 0);
    assert_true(fake_find(&f, CLUSTER) < 0);
    fake_clear(&f);
}

/* A report whose managed-by label someone took away (kubectl label, a tool that prunes labels)
 * gets it back at the next round: without it the LIST of streamguard's reports misses it, and
 * once its namespace has no results any more it would stay, stale, for ever. */
static void test_report_label_restored(void **state)
{
    (void)state;
    fake_api f = {.allow_writes = -1};
    report_sync_stats st;
    const char *round1[] = {WIDGET("a", "w1", "green"), WIDGET("b", "w3", "red")};
    assert_int_equal(round_of(&f, round1, 2, 1000, &st), 0);
    int b = fake_find(&f, NS_B);
    assert_true(b >= 0);
    cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItem(f.o[b].obj, "metadata"),
                                            "labels");
    assert_int_equal(round_of(&f, round1, 2, 2000, &st), 0);
    assert_int_equal(st.updated, 1);
    const char *round2[] = {WIDGET("a", "w1", "green")}; /* w3 deleted */
    assert_int_equal(round_of(&f, round2, 1, 3000, &st), 0);
    assert_true(fake_find(&f, NS_B) < 0);
    fake_clear(&f);
}

/* A replica that loses its Lease mid-sync writes nothing more. */
static void test_report_sync_stops_when_not_leader(void **state)
{
    (void)state;
    fake_api f = {.allow_writes = 1};
    report_sync_stats st;
    const char *objs[] = {WIDGET("a", "w1", "green"), WIDGET("b", "w3", "red")};
    assert_int_equal(round_of(&f, objs, 2, 1000, &st), -1);
    assert_true(st.stopped);
    assert_int_equal(f.writes, 1);
    assert_true(fake_find(&f, NS_A) >= 0);
    assert_true(fake_find(&f, NS_B) < 0);
    fake_clear(&f);
}

/* The gauges: results per policy and result over every report. */
static void test_report_counts(void **state)
{
    (void)state;
    report_set *rs = report_set_new();
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    const char *objs[] = {WIDGET("a", "w1", "green"), WIDGET("b", "w3", "green")};
    for (size_t i = 0; i < 2; i++) {
        cJSON *obj = cJSON_Parse(objs[i]);
        audit_outcome o;
        diag_list dl;
        diag_list_init(&dl);
        assert_int_equal(audit_object(set, obj, NULL, a, &o, &dl), 0);
        assert_int_equal(report_set_add(rs, obj, &o, 1), 0);
        cJSON_Delete(obj);
    }
    assert_int_equal(report_set_count(rs, "audit-two-rules", AUDIT_FAIL), 2);
    assert_int_equal(report_set_count(rs, "audit-two-rules", AUDIT_PASS), 2);
    assert_int_equal(report_set_count(rs, "audit-warn", AUDIT_PASS), 2);
    assert_int_equal(report_set_count(rs, "nope", AUDIT_PASS), 0);
    report_set_free(rs);
    arena_free(a);
}

/* A namespace with more results than a report may hold (etcd's object limit): the passes go
 * first, then failures from the end, and the summary still counts them all. */
static void test_report_too_large(void **state)
{
    (void)state;
    report_set *rs = report_set_new();
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    const int n = 3500;
    for (int i = 0; i < n; i++) {
        char json[512];
        snprintf(json, sizeof json, WIDGET("big", "w%d", "green"), i, i);
        cJSON *obj = cJSON_Parse(json);
        audit_outcome o;
        diag_list dl;
        diag_list_init(&dl);
        assert_int_equal(audit_object(set, obj, NULL, a, &o, &dl), 0);
        assert_int_equal(report_set_add(rs, obj, &o, 1), 0);
        cJSON_Delete(obj);
        arena_reset(a);
    }
    cJSON *rep = report_build(rs, "big", NULL);
    assert_non_null(rep);
    char *text = cJSON_PrintUnformatted(rep);
    assert_true(strlen(text) <= REPORT_MAX_BYTES);
    free(text);
    const cJSON *results = cJSON_GetObjectItem(rep, "results");
    int kept = cJSON_GetArraySize(results);
    assert_true(kept > 1000 && kept < n);
    for (const cJSON *r = results->child; r; r = r->next)
        assert_string_equal(cJSON_GetObjectItem(r, "result")->valuestring, "fail");
    const cJSON *sum = cJSON_GetObjectItem(rep, "summary");
    assert_int_equal(cJSON_GetObjectItem(sum, "fail")->valueint, n);
    assert_int_equal(cJSON_GetObjectItem(sum, "pass")->valueint, 4 * n);
    cJSON_Delete(rep);
    report_set_free(rs);
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_audit_results_per_rule),
        cmocka_unit_test(test_audit_shared_error_is_not_a_pass),
        cmocka_unit_test(test_audit_no_mutations),
        cmocka_unit_test(test_audit_kinds),
        cmocka_unit_test(test_report_schema_and_lifecycle),
        cmocka_unit_test(test_report_sync_stops_when_not_leader),
        cmocka_unit_test(test_report_label_restored),
        cmocka_unit_test(test_report_counts),
        cmocka_unit_test(test_report_too_large),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
