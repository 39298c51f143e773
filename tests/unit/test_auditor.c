/* test_auditor.c - the background audit's scheduling: when a round is due, and the pace. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "audit/auditor.c"

/* Does a round start now, or in how many ms? One row per situation of docs/audit.md's table. */
static void test_auditor_due(void **state)
{
    (void)state;
    policy_set *dummy = (policy_set *)&test_auditor_due; /* only compared with NULL */
    const long long now = 1000000;
    static const struct {
        const char *what;
        bool has_set, writer, was_writer, changed, dirty;
        long long first_ago, last_ago, full_in, retry_in; /* retry_in 0: none */
        long long want;
    } rows[] = {
        {"no policies yet", false, true, true, false, false, 0, 0, 5000, 0, 1000},
        {"not the writer: look again in a second", true, false, false, true, true, 0, 0, 0, 0,
         1000},
        {"just became the writer", true, true, false, false, false, 0, 0, 99999, 0, 0},
        {"the policies changed", true, true, true, true, false, 0, 0, 99999, 0, 0},
        {"nothing happened: the next full round", true, true, true, false, false, 0, 0, 7000, 0,
         7000},
        {"a change 500 ms ago: wait for 2 s of quiet", true, true, true, false, true, 500, 500,
         99999, 0, AUDITOR_QUIET_MS - 500},
        {"quiet for 2 s after a change", true, true, true, false, true, 2500, 2000, 99999, 0, 0},
        {"steady churn: at most 30 s after the first change", true, true, true, false, true,
         AUDITOR_MAX_DELAY_MS, 100, 99999, 0, 0},
        {"a failed round is retried", true, true, true, false, false, 0, 0, 99999, -1, 0},
        {"a retry due before the full round", true, true, true, false, false, 0, 0, 99999, 3000,
         3000},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        auditor a = {0};
        a.set = rows[i].has_set ? dummy : NULL;
        a.was_writer = rows[i].was_writer;
        a.policies_changed = rows[i].changed;
        a.dirty = rows[i].dirty;
        a.first_change = now - rows[i].first_ago;
        a.last_change = now - rows[i].last_ago;
        a.next_full = now + rows[i].full_in;
        a.retry_at = rows[i].retry_in ? now + rows[i].retry_in : 0;
        long long got = due_in(&a, now, rows[i].writer);
        if (got != rows[i].want)
            fail_msg("%s: due in %lld ms, want %lld", rows[i].what, got, rows[i].want);
    }
}

/* Object i of a round waits for its slot: AUDITOR_RATE a second, and a stop cuts the wait. */
static void test_auditor_pace(void **state)
{
    (void)state;
    auditor a = {0};
    atomic_init(&a.stop, false);
    long long t0 = mono_ms();
    pace(&a, t0, 0);
    assert_true(mono_ms() - t0 < 20);
    pace(&a, t0, AUDITOR_RATE / 5); /* 200 ms in */
    long long took = mono_ms() - t0;
    assert_true(took >= 190 && took < 400);
    atomic_store(&a.stop, true);
    t0 = mono_ms();
    pace(&a, t0, AUDITOR_RATE * 60); /* a minute away, but stopped */
    assert_true(mono_ms() - t0 < 20);
}

/* A round that keeps failing (no CRD, no RBAC to write, a discovery that keeps failing) is
 * retried less and less often, up to AUDITOR_RETRY_MAX_MS, not every 5 s for ever: each
 * retry audits every object again. A round that finishes starts over at AUDITOR_RETRY_MS. */
static void test_auditor_retry_backs_off(void **state)
{
    (void)state;
    assert_int_equal(retry_delay_ms(1), AUDITOR_RETRY_MS);
    assert_int_equal(retry_delay_ms(2), 2 * AUDITOR_RETRY_MS);
    assert_int_equal(retry_delay_ms(3), 4 * AUDITOR_RETRY_MS);
    long long prev = 0;
    for (int n = 1; n < 200; n++) {
        long long d = retry_delay_ms(n);
        assert_true(d >= prev);
        assert_true(d <= AUDITOR_RETRY_MAX_MS);
        prev = d;
    }
    assert_int_equal(prev, AUDITOR_RETRY_MAX_MS);
}

#define WIDGET_HEAD(name)                                                                      \
    "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\",\"metadata\":{\"name\":\"" name     \
    "\",\"namespace\":\"a\",\"uid\":\"u-" name "\"},\"spec\":{\"items\":["
#define WIDGET(name, items) WIDGET_HEAD(name) items "]}}"

/* Object 'name' of report 'rep': its results as "policy/rule=result" joined by spaces. */
static const char *results_of(const cJSON *rep, const char *name)
{
    static char out[512];
    out[0] = '\0';
    const cJSON *res;
    cJSON_ArrayForEach(res, cJSON_GetObjectItemCaseSensitive(rep, "results")) {
        const cJSON *ref = cJSON_GetArrayItem(cJSON_GetObjectItem(res, "resources"), 0);
        if (strcmp(cJSON_GetObjectItem(ref, "name")->valuestring, name) != 0)
            continue;
        size_t len = strlen(out);
        snprintf(out + len, sizeof out - len, "%s%s/%s=%s", len ? " " : "",
                 cJSON_GetObjectItem(res, "policy")->valuestring,
                 cJSON_GetObjectItem(res, "rule")->valuestring,
                 cJSON_GetObjectItem(res, "result")->valuestring);
    }
    return out;
}

/* An object that cannot be audited must not fail the round, which would leave every report
 * stale for as long as it exists: it gets one error result naming why, and the objects
 * beside it get theirs. Two such objects: one whose evaluation exhausts the (deliberately
 * small) eval arena, one the decoder refuses (a key twice). */
static void test_auditor_object_error_not_round(void **state)
{
    (void)state;
    static const char *const paths[] = {"tests/fixtures/audit-arena"};
    diag_list dl;
    diag_list_init(&dl);
    policy_set *set = policy_set_load_paths(paths, 1, &dl);
    diag_list_clear(&dl);
    assert_non_null(set);
    /* 40000 items: the rule's lists take the arena's 1 MiB; a few items take a few KiB. */
    enum { BUDGET = 1 << 20, ITEMS = 40000 };
    size_t cap = (size_t)ITEMS * 8 + 512, len = 0;
    char *huge = malloc(cap);
    assert_non_null(huge);
    len += (size_t)snprintf(huge, cap, "%s", WIDGET_HEAD("huge") "1");
    for (int i = 2; i <= ITEMS; i++)
        len += (size_t)snprintf(huge + len, cap - len, ",%d", i);
    snprintf(huge + len, cap - len, "]}}");
    const char *const texts[] = {
        WIDGET("w1", "1,0"), huge, WIDGET("w2", "1,2"),
        "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\",\"metadata\":{\"name\":\"twice\","
        "\"namespace\":\"a\"},\"spec\":{\"items\":[],\"items\":[0]}}",
        WIDGET("w3", "3"),
    };
    arena *eval = arena_new(BUDGET);
    report_set *rs = report_set_new();
    assert_non_null(eval);
    assert_non_null(rs);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        cJSON *obj = cJSON_Parse(texts[i]);
        assert_non_null(obj);
        if (texts[i] == huge) { /* the premise: this object's audit does fail here */
            audit_outcome o;
            diag_list_init(&dl);
            assert_int_equal(audit_object(set, obj, NULL, eval, &o, &dl), -1);
            diag_list_clear(&dl);
            arena_reset(eval);
        }
        assert_int_equal(audit_one(set, NULL, obj, "Widget", eval, rs, 1700000000), 0);
        cJSON_Delete(obj);
    }
    cJSON *rep = report_build(rs, "a", NULL);
    assert_non_null(rep);
    assert_string_equal(results_of(rep, "w1"), "audit-items/validations[0]=fail");
    assert_string_equal(results_of(rep, "w2"), "audit-items/validations[0]=pass");
    assert_string_equal(results_of(rep, "w3"), "audit-items/validations[0]=pass");
    assert_string_equal(results_of(rep, "huge"), "streamguard/audit=error");
    assert_string_equal(results_of(rep, "twice"), "streamguard/audit=error");
    const cJSON *res;
    cJSON_ArrayForEach(res, cJSON_GetObjectItemCaseSensitive(rep, "results")) {
        const char *msg = cJSON_GetObjectItem(res, "message")->valuestring;
        if (strcmp(cJSON_GetObjectItem(res, "result")->valuestring, "error") == 0)
            assert_non_null(strstr(msg, "could not be audited: "));
    }
    char *text = cJSON_PrintUnformatted(rep);
    assert_non_null(text);
    assert_non_null(strstr(text, "duplicate key")); /* the reason is said */
    free(text);
    const cJSON *summary = cJSON_GetObjectItemCaseSensitive(rep, "summary");
    assert_int_equal(cJSON_GetObjectItem(summary, "error")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItem(summary, "fail")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(summary, "pass")->valueint, 2);

    /* The gauges count them under the same name. */
    auditor a = {0};
    pthread_mutex_init(&a.metrics_mu, NULL);
    set_gauges(&a, set, rs);
    long seen = -1;
    for (size_t i = 0; i < a.n_gauges; i++)
        if (strcmp(a.gauges[i].policy, REPORT_ERROR_POLICY) == 0)
            seen = a.gauges[i].n[AUDIT_ERROR];
    assert_int_equal(seen, 2);
    for (size_t i = 0; i < a.n_gauges; i++)
        free(a.gauges[i].policy);
    free(a.gauges);
    pthread_mutex_destroy(&a.metrics_mu);
    cJSON_Delete(rep);
    report_set_free(rs);
    arena_free(eval);
    free(huge);
    policy_set_unref(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auditor_due),
        cmocka_unit_test(test_auditor_pace),
        cmocka_unit_test(test_auditor_retry_backs_off),
        cmocka_unit_test(test_auditor_object_error_not_round),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
