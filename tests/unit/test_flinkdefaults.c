/* test_flinkdefaults.c - the Flink operator's default configuration kept across reviews
 * (src/policy/flinkdefaults.c, included to reach its cache): the same answer as a fresh parse,
 * a replaced ConfigMap (new resourceVersion) never answered from the old one, forgetting,
 * bounds, and concurrent readers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "policy/flinkdefaults.c"

/* A ConfigMap of the operator: flink-conf.yaml whose parallelism.default is 'par', with a
 * version-specific and a namespace-specific default. 'uid' NULL: none (a manifest). */
static cJSON *cm_new(const char *uid, const char *rv, const char *name, int par)
{
    char text[512];
    snprintf(text, sizeof text,
             "parallelism.default: %d\n"
             "kubernetes.operator.default-configuration.flink-version.v1_19+.a: v119\n"
             "kubernetes.operator.default-configuration.namespace.team.b: team\n",
             par);
    cJSON *cm = cJSON_CreateObject(), *md = cJSON_AddObjectToObject(cm, "metadata");
    cJSON_AddStringToObject(md, "name", name);
    cJSON_AddStringToObject(md, "namespace", "ops");
    if (uid != NULL) {
        cJSON_AddStringToObject(md, "uid", uid);
        cJSON_AddStringToObject(md, "resourceVersion", rv);
    }
    cJSON_AddStringToObject(cJSON_AddObjectToObject(cm, "data"), "flink-conf.yaml", text);
    return cm;
}

/* The answer as "k=v;k=v", from 'a'. */
static const char *answer(arena *a, const cJSON *cm, const char *version, const char *ns)
{
    policy_conf_opt *o;
    size_t n;
    const char *why;
    if (policy_flink_operator_defaults(a, cm, "", 0, version, strlen(version), ns, strlen(ns), &o,
                                       &n, &why) != 0)
        return why;
    const char *s = "";
    for (size_t i = 0; i < n; i++)
        s = arena_sprintf(a, "%s%s=%s;", s, o[i].key, o[i].val);
    return s;
}

static size_t kept_count(void)
{
    size_t n = 0;
    for (size_t i = 0; i < KEPT_MAX; i++)
        n += kept_v[i].key != NULL;
    return n;
}

static void test_kept_same_answer(void **state)
{
    (void)state;
    arena *a = arena_new(1 << 20);
    cJSON *plain = cm_new(NULL, NULL, "flink-operator-config", 2);
    cJSON *cm = cm_new("u-1", "10", "flink-operator-config", 2);
    const char *want = answer(a, plain, "v1_20", "team");
    assert_string_equal(want, "a=v119;b=team;kubernetes.operator.default-configuration.flink-"
                              "version.v1_19+.a=v119;kubernetes.operator.default-configuration."
                              "namespace.team.b=team;parallelism.default=2;");
    assert_int_equal(kept_count(), 0); /* no uid, no resourceVersion: not kept */
    assert_string_equal(answer(a, cm, "v1_20", "team"), want);
    assert_int_equal(kept_count(), 1);
    assert_string_equal(answer(a, cm, "v1_20", "team"), want); /* from the kept copy */
    assert_int_equal(kept_count(), 1);
    /* another version or namespace is another answer */
    assert_string_equal(answer(a, cm, "v1_18", "other"), answer(a, plain, "v1_18", "other"));
    assert_int_equal(kept_count(), 2);
    /* the copy is the request's: freeing the arena leaves the kept one intact */
    arena_free(a);
    a = arena_new(1 << 20);
    assert_string_equal(answer(a, cm, "v1_20", "team"), answer(a, plain, "v1_20", "team"));
    policy_flink_defaults_forget(NULL, NULL);
    assert_int_equal(kept_count(), 0);
    assert_int_equal(kept_bytes, 0);
    cJSON_Delete(plain);
    cJSON_Delete(cm);
    arena_free(a);
}

/* A replaced ConfigMap has a new resourceVersion: its answer is new, and the old one's goes. */
static void test_kept_replaced_and_forgotten(void **state)
{
    (void)state;
    arena *a = arena_new(1 << 20);
    cJSON *v1 = cm_new("u-1", "10", "flink-operator-config", 2);
    cJSON *v2 = cm_new("u-1", "11", "flink-operator-config", 8);
    cJSON *other = cm_new("u-2", "5", "other-config", 3);
    assert_non_null(strstr(answer(a, v1, "v1_20", ""), "parallelism.default=2;"));
    assert_non_null(strstr(answer(a, other, "v1_20", ""), "parallelism.default=3;"));
    assert_non_null(strstr(answer(a, v2, "v1_20", ""), "parallelism.default=8;"));
    assert_int_equal(kept_count(), 2); /* v1's answer went when v2's came */
    /* the watch says flink-operator-config changed or went: its answers go, not the other's */
    policy_flink_defaults_forget("ops", "flink-operator-config");
    assert_int_equal(kept_count(), 1);
    assert_non_null(strstr(answer(a, other, "v1_20", ""), "parallelism.default=3;"));
    policy_flink_defaults_forget(NULL, NULL);
    assert_int_equal(kept_bytes, 0);
    cJSON_Delete(v1);
    cJSON_Delete(v2);
    cJSON_Delete(other);
    arena_free(a);
}

/* At most KEPT_MAX answers, the least recently used evicted. */
static void test_kept_bounded(void **state)
{
    (void)state;
    arena *a = arena_new(1 << 22);
    cJSON *first = cm_new("u-first", "1", "c", 1);
    answer(a, first, "v1_20", "");
    for (int i = 0; i < 3 * KEPT_MAX; i++) {
        char uid[32];
        snprintf(uid, sizeof uid, "u-%d", i);
        cJSON *cm = cm_new(uid, "1", "c", i);
        char want[64];
        snprintf(want, sizeof want, "parallelism.default=%d;", i);
        assert_non_null(strstr(answer(a, cm, "v1_20", ""), want));
        answer(a, first, "v1_20", ""); /* used: never the one evicted */
        cJSON_Delete(cm);
        assert_true(kept_count() <= KEPT_MAX);
        assert_true(kept_bytes <= KEPT_BYTES);
    }
    bool has_first = false;
    for (size_t i = 0; i < KEPT_MAX; i++)
        has_first |= kept_v[i].key != NULL && strcmp(kept_v[i].key, "u-first") == 0;
    assert_true(has_first);
    policy_flink_defaults_forget(NULL, NULL);
    cJSON_Delete(first);
    arena_free(a);
}

/* Request threads read and fill the cache at once while the watch forgets: every answer is the
 * one of the ConfigMap asked (ASan and UBSan in make check; valgrind in make valgrind). */
static cJSON *shared_cm[4];
static atomic_int wrong;

static void *reader(void *arg)
{
    int t = (int)(intptr_t)arg;
    arena *a = arena_new(1 << 16);
    for (int i = 0; i < 3000; i++) {
        int k = (i + t) % 4;
        char want[64];
        snprintf(want, sizeof want, "parallelism.default=%d;", 10 + k);
        if (strstr(answer(a, shared_cm[k], "v1_20", "team"), want) == NULL)
            atomic_fetch_add(&wrong, 1);
        if (t == 0 && i % 100 == 0)
            policy_flink_defaults_forget(NULL, NULL);
        arena_reset(a);
    }
    arena_free(a);
    return NULL;
}

static void test_kept_threads(void **state)
{
    (void)state;
    for (int k = 0; k < 4; k++) {
        char rv[16];
        snprintf(rv, sizeof rv, "%d", 100 + k);
        shared_cm[k] = cm_new("u-shared", rv, "flink-operator-config", 10 + k);
    }
    pthread_t th[4];
    for (int t = 0; t < 4; t++)
        assert_int_equal(pthread_create(&th[t], NULL, reader, (void *)(intptr_t)t), 0);
    for (int t = 0; t < 4; t++)
        pthread_join(th[t], NULL);
    assert_int_equal(atomic_load(&wrong), 0);
    policy_flink_defaults_forget(NULL, NULL);
    assert_int_equal(kept_bytes, 0);
    for (int k = 0; k < 4; k++)
        cJSON_Delete(shared_cm[k]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kept_same_answer),
        cmocka_unit_test(test_kept_replaced_and_forgotten),
        cmocka_unit_test(test_kept_bounded),
        cmocka_unit_test(test_kept_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
