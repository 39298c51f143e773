/* test_audit.c - the audit core: one result per (policy, rule), the kinds to audit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "audit/audit.h"

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
        snprintf(out + len, sizeof out - len, "%s%s/%s=%s", i ? " " : "", o->results[i].policy->name,
                 audit_rule_name(o->results[i].rule, rule),
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_audit_results_per_rule),
        cmocka_unit_test(test_audit_shared_error_is_not_a_pass),
        cmocka_unit_test(test_audit_no_mutations),
        cmocka_unit_test(test_audit_kinds),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
