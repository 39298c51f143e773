/* test_decide.c - admission_decide() and admission_decide_chain() with a real policy set: the
 * shipped policies (policies/) and one Audit policy (tests/fixtures/decide/), on requests that
 * are the captured FlinkDeployment CREATE from kube-apiserver with an example of examples/ as
 * the object. Deny code mapping, warnings, audit annotations, the patch, --enforcement warn,
 * the chain check uses (mutate, then validate the mutated object), its observer, arena
 * exhaustion, and the kind -> resource table the CLI builds its requests with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admission/decide.h"
#include "admission/resource.h"
#include "k8s/jsonpatch.h"
#include "policy/policy.h"
#include "policy/yamldoc.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/utf8.h"

#define CAPTURED "tests/fixtures/admission/flinkdeployment-create-v1.request.json"

static policy_set *set;

static char *read_text(const char *path, size_t *len)
{
    buf b;
    diag_list dl;
    diag_list_init(&dl);
    buf_init(&b, 4u << 20);
    if (file_read(path, b.cap, &b, &dl) != 0)
        fail_msg("cannot read %s", path);
    diag_list_clear(&dl);
    *len = b.len;
    return b.data;
}

/* The first document of 'path' as JSON (malloc-owned). */
static cJSON *example(const char *path)
{
    size_t len, partial;
    char *text = read_text(path, &len);
    arena *a = arena_new(1u << 24);
    diag_list dl;
    diag_list_init(&dl);
    ydoc *docs;
    if (yaml_load(a, path, text, len, &docs, &partial, &dl) < 1)
        fail_msg("cannot load %s", path);
    cJSON *j = yaml_to_json(docs[0].root, path, &dl);
    assert_non_null(j);
    diag_list_clear(&dl);
    arena_free(a);
    free(text);
    return j;
}

/* The captured CREATE with 'object' (taken) as its object and name, decoded into 'a'. When
 * 'conf_key' is given, it is added to spec.flinkConfiguration with 'conf_value'. */
static admission_request *request_with(cJSON *object, const char *conf_key,
                                       const char *conf_value, arena *a)
{
    size_t len;
    char *text = read_text(CAPTURED, &len);
    cJSON *review = cJSON_Parse(text);
    free(text);
    assert_non_null(review);
    cJSON *req = cJSON_GetObjectItemCaseSensitive(review, "request");
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(object, "metadata");
    cJSON_ReplaceItemInObjectCaseSensitive(
        req, "name", cJSON_CreateString(cJSON_GetObjectItemCaseSensitive(md, "name")->valuestring));
    if (conf_key != NULL)
        cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(
                                    cJSON_GetObjectItemCaseSensitive(object, "spec"),
                                    "flinkConfiguration"),
                                conf_key, conf_value);
    cJSON_ReplaceItemInObjectCaseSensitive(req, "object", object);
    diag_list dl;
    diag_list_init(&dl);
    admission_request *r = admission_request_take(a, review, &dl);
    if (r == NULL)
        fail_msg("the request does not decode: %s", dl.count ? dl.items[0].msg : "?");
    diag_list_clear(&dl);
    return r;
}

static admission_request *request_of(const char *path, arena *a)
{
    return request_with(example(path), NULL, NULL, a);
}

static bool has_text(const char *const *v, size_t n, const char *part)
{
    for (size_t i = 0; i < n; i++)
        if (strstr(v[i], part) != NULL)
            return true;
    return false;
}

/* The status code over every denial: 422 with causes when every denying rule asks for
 * Invalid, 403 when one asks for Forbidden or the reasons differ. */
static void test_deny_codes(void **state)
{
    (void)state;
    static const struct {
        const char *example, *conf_key;
        int code;
        const char *reason, *message;
        size_t causes, denials;
    } cases[] = {
        {"examples/flink/ha-no-storagedir-bad.yaml", NULL, 422, "Invalid",
         "[flink-ha-storagedir-required] spec.flinkConfiguration: high availability is on", 1, 1},
        {"examples/flink/credentials-bad.yaml", NULL, 403, "Forbidden",
         "[no-inline-credentials] spec: credentials written inline", 0, 1},
        /* Invalid and Forbidden together: Forbidden, both messages, no causes */
        {"examples/flink/ha-no-storagedir-bad.yaml", "s3.secret-key", 403, "Forbidden",
         "high availability is on (org.apache.flink.kubernetes.highavailability."
         "KubernetesHaServicesFactory) but high-availability.storageDir is not set; the "
         "JobManager cannot start without it; [no-inline-credentials]",
         0, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        arena *a = arena_new(ARENA_REQUEST_BUDGET);
        admission_request *req = request_with(example(cases[i].example), cases[i].conf_key,
                                              "hunter2", a);
        admission_policy pol = {.set = set};
        admission_response resp;
        diag_list dl;
        diag_list_init(&dl);
        assert_int_equal(admission_decide(ADMISSION_VALIDATE, req, &pol, a, &resp, NULL, &dl), 0);
        assert_false(resp.allowed);
        if (resp.status_code != cases[i].code || strcmp(resp.status_reason, cases[i].reason) != 0 ||
            strstr(resp.status_message, cases[i].message) == NULL)
            fail_msg("case %zu: %d %s %s", i, resp.status_code, resp.status_reason,
                     resp.status_message);
        assert_int_equal(resp.n_causes, cases[i].causes);
        assert_int_equal(resp.n_denials, cases[i].denials);
        if (cases[i].causes > 0) {
            assert_string_equal(resp.causes[0].field, "spec.flinkConfiguration");
            assert_string_equal(resp.details_name, "ha-without-storage");
        }
        diag_list_clear(&dl);
        admission_request_free(req);
        arena_free(a);
    }
}

/* A Warn policy becomes a warning and an Audit policy an audit annotation, both allowed; with
 * --enforcement warn a deny is a warning too. */
static void test_warnings_and_audit(void **state)
{
    (void)state;
    for (int warn_only = 0; warn_only <= 1; warn_only++) {
        const char *path = warn_only ? "examples/flink/ha-no-storagedir-bad.yaml"
                                     : "examples/flink/last-state-no-ha-bad.yaml";
        arena *a = arena_new(ARENA_REQUEST_BUDGET);
        admission_request *req =
            request_with(example(path), warn_only ? "s3.secret-key" : NULL, "hunter2", a);
        admission_policy pol = {.set = set, .warn_only = warn_only};
        admission_response resp;
        policy_outcome o;
        diag_list dl;
        diag_list_init(&dl);
        assert_int_equal(admission_decide(ADMISSION_VALIDATE, req, &pol, a, &resp, &o, &dl), 0);
        assert_true(resp.allowed);
        assert_false(o.denied);
        assert_int_equal(resp.status_code, 0);
        assert_int_equal(resp.n_denials, 0);
        assert_true(has_text(resp.warnings, resp.n_warnings,
                             warn_only ? "[no-inline-credentials] spec: credentials"
                                       : "[flink-last-state-requires-ha] spec.job.upgradeMode"));
        assert_true(!warn_only ||
                    has_text(resp.warnings, resp.n_warnings, "[flink-ha-storagedir-required]"));
        assert_int_equal(resp.n_audit, 1);
        assert_string_equal(resp.audit[0].key, "streamguard.dev/decide-audit-parallelism");
        assert_string_equal(resp.audit[0].value,
                            "[decide-audit-parallelism] parallelism 2, restart strategy none, "
                            "request.object none");
        diag_list_clear(&dl);
        admission_request_free(req);
        arena_free(a);
    }
}

/* Two Audit findings of one policy share its one auditAnnotations key, joined by "; ": a JSON
 * object with the key twice would reach kube-apiserver as one finding. The value is bounded
 * (10240 bytes), cut at a character boundary, and the encoded answer has each key once. */
static void test_audit_joined_per_policy(void **state)
{
    (void)state;
    static const struct {
        size_t repeat; /* times "é" (2 bytes) in the messages' text */
        bool cut;
    } cases[] = {{0, false}, {1, false}, {3000, true}, {6000, true}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = malloc(2 * cases[i].repeat + 2);
        strcpy(text, "v");
        for (size_t k = 0; k < cases[i].repeat; k++)
            strcat(text + 2 * k, "\xc3\xa9");
        arena *a = arena_new(ARENA_REQUEST_BUDGET);
        admission_request *req =
            request_with(example("examples/flink/object-store-good.yaml"), "test.audit-twice",
                         text, a);
        admission_policy pol = {.set = set};
        admission_response resp;
        diag_list dl;
        diag_list_init(&dl);
        assert_int_equal(admission_decide(ADMISSION_VALIDATE, req, &pol, a, &resp, NULL, &dl), 0);
        assert_int_equal(resp.n_audit, 2); /* decide-audit-parallelism and decide-audit-twice */
        assert_string_not_equal(resp.audit[0].key, resp.audit[1].key);
        const char *v = NULL;
        for (size_t k = 0; k < resp.n_audit; k++)
            if (strcmp(resp.audit[k].key, "streamguard.dev/decide-audit-twice") == 0)
                v = resp.audit[k].value;
        assert_non_null(v);
        const char *want = arena_cat(a, "[decide-audit-twice] first ", text,
                                     "; [decide-audit-twice] second ", text);
        if (!cases[i].cut) {
            assert_string_equal(v, want);
        } else {
            assert_true(strlen(v) <= 10240 && strlen(v) > 10000);
            assert_true(utf8_is_valid(v, strlen(v), NULL));
            assert_string_equal(v + strlen(v) - 4, " ...");
            assert_memory_equal(v, want, strlen(v) - 4);
        }
        size_t len;
        char *out = admission_response_encode(req, &resp, &len);
        assert_non_null(out);
        /* cJSON keeps a repeated key twice, so count the key in the text itself */
        const char *at = strstr(out, "\"streamguard.dev/decide-audit-twice\"");
        assert_non_null(at);
        assert_null(strstr(at + 1, "\"streamguard.dev/decide-audit-twice\""));
        free(out);
        diag_list_clear(&dl);
        admission_request_free(req);
        arena_free(a);
        free(text);
    }
}

/* The body of the captured CREATE with 'object' (taken) as its object, and 'conf_key' added
 * to its flinkConfiguration when given: what admission_process() reads. malloc-owned. */
static char *body_with(cJSON *object, const char *conf_key, size_t *len)
{
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    admission_request *req = request_with(object, conf_key, "hunter2", a);
    cJSON *review = cJSON_CreateObject();
    cJSON_AddStringToObject(review, "apiVersion", "admission.k8s.io/v1");
    cJSON_AddStringToObject(review, "kind", "AdmissionReview");
    cJSON_AddItemReferenceToObject(review, "request", (cJSON *)req->request);
    char *body = cJSON_PrintUnformatted(review);
    cJSON_Delete(review);
    admission_request_free(req);
    arena_free(a);
    *len = strlen(body);
    return body;
}

/* What a review's answer did, and the policies the log line names for each effect: denied,
 * or with --enforcement warn would have denied (the denial's messages as the reason), warned,
 * audited; a policy with several rules that fired is named once. */
static void test_effects_and_names(void **state)
{
    (void)state;
    static const struct {
        const char *example, *conf_key;
        bool warn_only;
        enum admission_effect effect;
        const char *names[ADMISSION_EFFECT_ALLOWED]; /* by effect; NULL: none */
        const char *reason;                          /* part of res.denied_by, or NULL */
    } cases[] = {
        {"examples/flink/ha-no-storagedir-bad.yaml", "s3.secret-key", false,
         ADMISSION_EFFECT_DENIED,
         {"flink-ha-storagedir-required,no-inline-credentials", NULL, NULL,
          "decide-audit-parallelism"},
         "[no-inline-credentials] spec"},
        {"examples/flink/ha-no-storagedir-bad.yaml", "s3.secret-key", true,
         ADMISSION_EFFECT_WOULD_DENY,
         {NULL, "flink-ha-storagedir-required,no-inline-credentials", NULL,
          "decide-audit-parallelism"},
         "[flink-ha-storagedir-required] spec.flinkConfiguration: high availability is on"},
        /* two rules of node-sizing-limits fail and two warn: one policy, named once for each */
        {"examples/flink/sizing-bad.yaml", NULL, true, ADMISSION_EFFECT_WOULD_DENY,
         {NULL, "node-sizing-limits", "node-sizing-limits", "decide-audit-parallelism"}, NULL},
        /* last-state without HA: flink-ha-required warns about it too (issue 13) */
        {"examples/flink/last-state-no-ha-bad.yaml", NULL, false, ADMISSION_EFFECT_WARNED,
         {NULL, NULL, "flink-ha-required,flink-last-state-requires-ha",
          "decide-audit-parallelism"},
         NULL},
        {"examples/flink/last-state-no-ha-bad.yaml", NULL, true, ADMISSION_EFFECT_WARNED,
         {NULL, NULL, "flink-ha-required,flink-last-state-requires-ha",
          "decide-audit-parallelism"},
         NULL},
        {"examples/flink/object-store-good.yaml", NULL, true, ADMISSION_EFFECT_AUDITED,
         {NULL, NULL, NULL, "decide-audit-parallelism"}, NULL},
        {"examples/flink/credentials-good.yaml", NULL, false, ADMISSION_EFFECT_ALLOWED,
         {NULL, NULL, NULL, NULL}, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        char *body = body_with(example(cases[i].example), cases[i].conf_key, &len);
        arena *a = arena_new(ARENA_REQUEST_BUDGET);
        admission_policy pol = {.set = set, .warn_only = cases[i].warn_only};
        admission_result res;
        admission_process(ADMISSION_VALIDATE, body, len, &pol, a, &res);
        assert_int_equal(res.http_status, 200);
        if (res.effect != cases[i].effect)
            fail_msg("case %zu: effect %s, want %s", i, admission_effect_name(res.effect),
                     admission_effect_name(cases[i].effect));
        for (int e = 0; e < ADMISSION_EFFECT_ALLOWED; e++) {
            const char *got = admission_result_policies(&res, (enum admission_effect)e, a);
            const char *want = cases[i].names[e];
            if ((got == NULL) != (want == NULL) || (got && strcmp(got, want) != 0))
                fail_msg("case %zu, %s: got %s, want %s", i,
                         admission_effect_name((enum admission_effect)e), got ? got : "none",
                         want ? want : "none");
        }
        if (cases[i].reason != NULL &&
            (res.denied_by == NULL || strstr(res.denied_by, cases[i].reason) == NULL))
            fail_msg("case %zu: reason %s", i, res.denied_by ? res.denied_by : "none");
        if (cases[i].effect > ADMISSION_EFFECT_WOULD_DENY)
            assert_null(res.denied_by);
        size_t sizing = 0;
        for (size_t k = 0; k < res.n_findings; k++)
            sizing += strcmp(res.findings[k].policy->name, "node-sizing-limits") == 0;
        assert_true(i != 2 || sizing == 4); /* the case of the policy named once */
        free(res.body);
        arena_free(a);
        free(body);
    }
}

/* Applies the JSON Patch text 'patch' to a copy of 'doc'; returns the result. */
static cJSON *patched(const cJSON *doc, const char *patch)
{
    static const char *const ops[] = {"add", "replace", "remove"};
    cJSON *out = cJSON_Duplicate(doc, 1), *p = cJSON_Parse(patch), *op;
    assert_true(cJSON_IsArray(p));
    cJSON_ArrayForEach(op, p)
    {
        const char *name = cJSON_GetObjectItemCaseSensitive(op, "op")->valuestring;
        int k = 0;
        while (k < 3 && strcmp(ops[k], name) != 0)
            k++;
        assert_true(k < 3);
        char why[256];
        if (jsonpatch_apply(out, (enum jsonpatch_op)k,
                            cJSON_GetObjectItemCaseSensitive(op, "path")->valuestring,
                            cJSON_GetObjectItemCaseSensitive(op, "value"), why, sizeof why) != 0)
            fail_msg("%s does not apply: %s", patch, why);
    }
    cJSON_Delete(p);
    return out;
}

/* /mutate answers one patch that turns the object into the mutated one. */
static void test_patch(void **state)
{
    (void)state;
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    admission_request *req = request_of("examples/flink/ha-no-storagedir-bad.yaml", a);
    admission_policy pol = {.set = set};
    admission_response resp;
    policy_outcome o;
    diag_list dl;
    diag_list_init(&dl);
    assert_int_equal(admission_decide(ADMISSION_MUTATE, req, &pol, a, &resp, &o, &dl), 0);
    assert_true(resp.allowed); /* mutations alone: the validations are /validate's */
    assert_non_null(resp.patch);
    assert_int_equal(resp.patch_len, strlen(resp.patch));
    assert_non_null(strstr(resp.patch, "\"path\":\"/spec/flinkConfiguration/restart-strategy.type\""));
    assert_non_null(strstr(resp.patch, "metrics.reporter.prom.port"));
    assert_non_null(o.mutated);
    cJSON *got = patched(req->object, resp.patch);
    assert_true(jsonpatch_equal(got, o.mutated));
    assert_false(jsonpatch_equal(got, req->object));
    cJSON_Delete(got);
    /* o.mutated is the arena's: nothing to free here (ASan would report a leak) */
    diag_list_clear(&dl);
    admission_request_free(req);
    arena_free(a);
}

/* What check's observer saw: the policies that matched and each policy's patch. */
typedef struct seen {
    int matched;
    cJSON *object; /* the object after the patches so far */
    char names[256];
    bool fail;
} seen;

static void seen_matched(void *ctx, const policy *p)
{
    (void)p;
    ((seen *)ctx)->matched++;
}

static int seen_mutated(void *ctx, const policy *p, const cJSON *before, const cJSON *after)
{
    seen *s = ctx;
    if (s->fail)
        return -1;
    assert_true(jsonpatch_equal(before, s->object)); /* each policy starts where the last ended */
    bool oom;
    char *patch = jsonpatch_diff(before, after, &oom);
    assert_non_null(patch);
    cJSON *next = patched(s->object, patch);
    assert_true(jsonpatch_equal(next, after));
    cJSON_Delete(s->object);
    s->object = next;
    free(patch);
    snprintf(s->names + strlen(s->names), sizeof s->names - strlen(s->names), "%s;", p->name);
    return 0;
}

/* The chain check decides with: mutations, then validations on the mutated object (in
 * 'object' and in request.object), one answer; the observer sees each mutating policy's
 * patch in order, and the verdict is the same with it as without. */
static void test_chain(void **state)
{
    (void)state;
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    admission_request *req = request_of("examples/flink/ha-no-storagedir-bad.yaml", a);
    seen s = {.object = cJSON_Duplicate(req->object, 1)};
    policy_observer obs = {.matched = seen_matched, .mutated = seen_mutated, .ctx = &s};
    admission_policy pol = {.set = set, .observer = &obs};
    admission_response resp;
    policy_outcome o;
    diag_list dl;
    diag_list_init(&dl);
    assert_int_equal(admission_decide_chain(req, &pol, a, &resp, &o, &dl), 0);
    assert_false(resp.allowed);
    assert_int_equal(resp.status_code, 422);
    assert_non_null(resp.patch);
    assert_string_equal(s.names, "flink-prometheus-reporter;flink-restart-strategy-default;");
    assert_true(jsonpatch_equal(s.object, o.mutated));
    assert_int_equal((size_t)s.matched, o.n_matched);
    assert_int_equal(resp.n_audit, 1);
    assert_string_equal(resp.audit[0].value,
                        "[decide-audit-parallelism] parallelism 2, restart strategy fixed-delay, "
                        "request.object fixed-delay");
    /* the same verdict and findings without an observer */
    admission_policy plain = {.set = set};
    admission_response r2;
    policy_outcome o2;
    assert_int_equal(admission_decide_chain(req, &plain, a, &r2, &o2, &dl), 0);
    assert_int_equal(o2.n_findings, o.n_findings);
    assert_string_equal(r2.status_message, resp.status_message);
    assert_string_equal(r2.patch, resp.patch);
    /* an observer that runs out of memory fails the decision; it never allows */
    s.fail = true;
    assert_int_equal(admission_decide_chain(req, &pol, a, &r2, &o2, &dl), -1);
    assert_true(dl.count > 0);
    cJSON_Delete(s.object);
    diag_list_clear(&dl);
    admission_request_free(req);
    arena_free(a);
}

/* Every arena size either decides as with room to spare or fails (-1); nothing in between,
 * no double free of the working copies handed to the arena (ASan, make check). */
static void test_chain_arena_exhausted(void **state)
{
    (void)state;
    arena *ra = arena_new(ARENA_REQUEST_BUDGET);
    admission_request *req = request_of("examples/flink/ha-no-storagedir-bad.yaml", ra);
    admission_policy pol = {.set = set};
    bool decided = false;
    for (size_t cap = 64; !decided && cap < ((size_t)1 << 22); cap += 48) {
        arena *a = arena_new(cap);
        admission_response resp;
        diag_list dl;
        diag_list_init(&dl);
        int rc = admission_decide_chain(req, &pol, a, &resp, NULL, &dl);
        if (rc == 0) {
            decided = true;
            assert_false(resp.allowed);
            assert_int_equal(resp.status_code, 422);
            assert_non_null(resp.patch);
        } else {
            assert_int_equal(rc, -1);
            assert_true(dl.count > 0);
        }
        diag_list_clear(&dl);
        arena_free(a);
    }
    assert_true(decided);
    admission_request_free(req);
    arena_free(ra);
}

/* The resource of each captured review is the table's, and every kind a shipped policy
 * matches is in the table (not guessed). */
static void test_kind_resources(void **state)
{
    (void)state;
    static const char *const captured[] = {
        "tests/fixtures/admission/flinkdeployment-create-v1.request.json",
        "tests/fixtures/admission/cassandradatacenter-create-v1.request.json",
        "tests/fixtures/admission/k8ssandracluster-create-v1.request.json",
        "tests/fixtures/admission/flinksessionjob-create-v1.request.json",
    };
    arena *a = arena_new(1u << 20);
    for (size_t i = 0; i < sizeof captured / sizeof captured[0]; i++) {
        size_t len;
        char *text = read_text(captured[i], &len);
        diag_list dl;
        diag_list_init(&dl);
        admission_request *r = admission_request_decode(a, text, len, &dl);
        assert_non_null(r);
        bool guessed;
        const char *res = admission_kind_resource(r->kind.group, r->kind.kind, a, &guessed);
        if (strcmp(res, r->resource.resource) != 0 || guessed)
            fail_msg("%s: %s, kube-apiserver sent %s", captured[i], res, r->resource.resource);
        admission_request_free(r);
        diag_list_clear(&dl);
        free(text);
    }
    size_t n;
    const policy *ps = policy_set_items(set, &n);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < ps[i].match.n_rules; k++) {
            const policy_resource_rule *rule = &ps[i].match.rules[k];
            for (size_t g = 0; g < rule->api_groups.n; g++)
                for (size_t j = 0; j < rule->kinds.n; j++) {
                    if (strcmp(rule->kinds.v[j], "*") == 0 || strcmp(rule->api_groups.v[g], "*") == 0)
                        continue;
                    bool guessed;
                    admission_kind_resource(rule->api_groups.v[g], rule->kinds.v[j], a, &guessed);
                    if (guessed)
                        fail_msg("%s matches %s/%s, which the table lacks", ps[i].name,
                                 rule->api_groups.v[g], rule->kinds.v[j]);
                }
        }
    /* kube-apiserver's own guess, "gatewaies" included (meta.UnsafeGuessKindToResource) */
    static const struct {
        const char *kind, *want;
    } guesses[] = {{"Widget", "widgets"}, {"Gateway", "gatewaies"}, {"Policy", "policies"},
                   {"Class", "classes"},  {"Endpoints", "endpoints"}};
    for (size_t i = 0; i < sizeof guesses / sizeof guesses[0]; i++) {
        const char *group = strcmp(guesses[i].kind, "Endpoints") == 0 ? "" : "example.com";
        assert_string_equal(admission_kind_resource(group, guesses[i].kind, a, NULL),
                            guesses[i].want);
    }
    arena_free(a);
}

static int setup(void **state)
{
    (void)state;
    static const char *const paths[] = {"policies", "tests/fixtures/decide"};
    diag_list dl;
    diag_list_init(&dl);
    set = policy_set_load_paths(paths, 2, &dl);
    diag_list_clear(&dl);
    return set == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    policy_set_unref(set);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deny_codes),  cmocka_unit_test(test_warnings_and_audit),
        cmocka_unit_test(test_effects_and_names), cmocka_unit_test(test_audit_joined_per_policy),
        cmocka_unit_test(test_patch),       cmocka_unit_test(test_chain),
        cmocka_unit_test(test_chain_arena_exhausted), cmocka_unit_test(test_kind_resources),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
