/* test_auditor.c - the background audit's scheduling: when a round is due, and the pace. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auditor_due),
        cmocka_unit_test(test_auditor_pace),
        cmocka_unit_test(test_auditor_retry_backs_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
