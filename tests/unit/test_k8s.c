/* test_k8s.c - Kubernetes quantities, Flink memory sizes and JVM heap sizes (k8s/quantity.c).
 * Expected values follow Kubernetes' resource.ParseQuantity, Flink's MemorySize.parseBytes,
 * the Flink operator's ResourceConfigUtils and the JVM's -Xmx, as DOMAIN-RULES §4 records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "k8s/quantity.h"

#define BAD "!" /* expected: a parse error */

/* Quantities: the value in decimal, as k8s_quantity_format writes it. */
static const struct { const char *in, *want; } quantity_cases[] = {
    {"0", "0"},             {"1", "1"},                   {"-1", "-1"},
    {"+1", "1"},            {"1000", "1000"},             {"500m", "0.5"},
    {"1500m", "1.5"},       {"0.5", "0.5"},               {".5", "0.5"},
    {"5.", "5"},            {"300m", "0.3"},              {"0.3", "0.3"},
    {"1k", "1000"},         {"1M", "1000000"},            {"1G", "1000000000"},
    {"1T", "1000000000000"}, {"1P", "1000000000000000"}, {"1E", "1000000000000000000"},
    {"1Ki", "1024"},        {"1Mi", "1048576"},           {"1Gi", "1073741824"},
    {"1Ti", "1099511627776"}, {"1Pi", "1125899906842624"}, {"1Ei", "1152921504606846976"},
    {"1024Mi", "1073741824"}, {"1024M", "1024000000"},    {"512M", "512000000"},
    {"512Mi", "536870912"}, {"1.5Gi", "1610612736"},      {"1.5G", "1500000000"},
    {"1e3", "1000"},        {"1E3", "1000"},              {"1e-3", "0.001"},
    {"1.5e3", "1500"},      {"2e+2", "200"},              {"1n", "0.000000001"},
    {"1u", "0.000001"},     {"100u", "0.0001"},           {"1e-10", "0.000000001"}, /* rounded up */
    {"0.0000000001", "0.000000001"},                      {"-0.5", "-0.5"},
    {"007", "7"},           {"512m", "0.512"},
    {"", BAD},              {"Gi", BAD},                  {"1g", BAD},   {"1gb", BAD},
    {"1GB", BAD},           {"1 Gi", BAD},                {" 1", BAD},   {"1Gi ", BAD},
    {"1.2.3", BAD},         {"--1", BAD},                 {"+", BAD},    {".", BAD},
    {"1e", BAD},            {"1e+", BAD},                 {"1K", BAD},   {"1mi", BAD},
    {"1Ki1", BAD},          {"abc", BAD},                 {"1000000000000000000000000000000000E", BAD},
    {"1e9999", BAD},
};

static void test_quantity_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof quantity_cases / sizeof quantity_cases[0]; i++) {
        k8s_quantity q;
        const char *err = NULL;
        char got[80];
        int rc = k8s_quantity_parse(quantity_cases[i].in, strlen(quantity_cases[i].in), &q, &err);
        if (rc == 0)
            k8s_quantity_format(&q, got, sizeof got);
        else
            snprintf(got, sizeof got, BAD);
        if (strcmp(got, quantity_cases[i].want) != 0)
            fail_msg("case %zu: quantity '%s' => %s, want %s", i, quantity_cases[i].in, got,
                     quantity_cases[i].want);
        if (rc != 0)
            assert_non_null(err);
    }
}

/* 1G, 1000M, 1Gi, 1024Mi, 1024M: the comparisons the Stargate heap policy relies on. */
static void test_quantity_compare_and_arith(void **state)
{
    (void)state;
    k8s_quantity g, gi, m1000, mi1024, m1024, half, sum;
    const char *err;
    assert_int_equal(k8s_quantity_parse("1G", 2, &g, &err), 0);
    assert_int_equal(k8s_quantity_parse("1Gi", 3, &gi, &err), 0);
    assert_int_equal(k8s_quantity_parse("1000M", 5, &m1000, &err), 0);
    assert_int_equal(k8s_quantity_parse("1024Mi", 6, &mi1024, &err), 0);
    assert_int_equal(k8s_quantity_parse("1024M", 5, &m1024, &err), 0);
    assert_int_equal(k8s_quantity_cmp(&g, &m1000), 0);
    assert_int_equal(k8s_quantity_cmp(&gi, &mi1024), 0);
    assert_int_equal(k8s_quantity_cmp(&g, &gi), -1);
    assert_int_equal(k8s_quantity_cmp(&m1024, &gi), -1);
    assert_int_equal(k8s_quantity_cmp(&m1024, &g), 1);
    assert_int_equal(k8s_quantity_parse("500m", 4, &half, &err), 0);
    assert_false(k8s_quantity_is_integer(&half));
    int64_t n;
    assert_int_equal(k8s_quantity_to_int(&half, &n), -1);
    assert_int_equal(k8s_quantity_to_int(&gi, &n), 0);
    assert_int_equal(n, 1073741824);
    assert_true(k8s_quantity_to_double(&half) == 0.5);
    assert_int_equal(k8s_quantity_add(&half, &half, false, &sum), 0);
    k8s_quantity one = k8s_quantity_from_int(1);
    assert_int_equal(k8s_quantity_cmp(&sum, &one), 0);
    assert_int_equal(k8s_quantity_add(&one, &gi, true, &sum), 0);
    assert_true(sum.nano < 0);
    k8s_quantity big = {K8S_QUANTITY_MAX_NANO};
    assert_int_equal(k8s_quantity_add(&big, &big, false, &sum), -1);
}

/* Flink MemorySize: bytes, or -1 for a parse error. */
static const struct { const char *in; int64_t want; } flink_cases[] = {
    {"2048m", 2147483648LL}, {"2g", 2147483648LL},    {"2 gb", 2147483648LL},
    {"2048 mb", 2147483648LL}, {"1G", 1073741824LL},   {"1g", 1073741824LL},
    {"1024m", 1073741824LL}, {"1024M", 1073741824LL},  {"1024 MB", 1073741824LL},
    {"512k", 524288},        {"512K", 524288},         {"512kb", 524288},
    {"1kibibytes", 1024},    {"1mebibytes", 1048576},  {"1gibibytes", 1073741824LL},
    {"1tebibytes", 1099511627776LL}, {"1t", 1099511627776LL}, {"1TB", 1099511627776LL},
    {"100", 100},            {"100b", 100},            {"100 bytes", 100},
    {"1000000b", 1000000},   {"1000000 b", 1000000},   {"0", 0},
    {"  64m  ", 67108864},   {"64m\n", 67108864},      {"500M", 524288000},
    {"9223372036854775807", INT64_MAX},
    {"", -1},                {"   ", -1},               {"m", -1},
    {"1.5g", -1},            {"2Gi", -1},               {"2gi", -1},
    {"-1m", -1},             {"1 g b", -1},             {"1x", -1},
    {"invalid", -1},         {"9223372036854775808", -1}, {"8388608t", -1},
    {"1e3", -1},             {"0x10", -1},
};

static void test_flink_memory_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof flink_cases / sizeof flink_cases[0]; i++) {
        int64_t got = -1;
        const char *err = NULL;
        int rc = k8s_flink_memory_parse(flink_cases[i].in, strlen(flink_cases[i].in), &got, &err);
        if (rc != 0)
            got = -1;
        if (got != flink_cases[i].want)
            fail_msg("case %zu: flinkMemory '%s' => %lld, want %lld", i, flink_cases[i].in,
                     (long long)got, (long long)flink_cases[i].want);
    }
}

/* The operator's fallback for resource memory: MemorySize, else a normalised quantity. */
static const struct { const char *in, *want; } flink_resource_cases[] = {
    {"2048m", "2147483648"}, {"2g", "2147483648"},   {"2gi", "2147483648"},
    {"2Gi", "2147483648"},   {"2048Mi", "2147483648"}, {"1024mi", "1073741824"},
    {"1Gi", "1073741824"},   {"1G", "1073741824"},   {"1000000b", "1000000"},
    {"1000000 b", "1000000"}, {"100", "100"},        {"1.5g", "1500000000"},
    {"1.5Gi", "1610612736"}, {"2 Gi", "2147483648"}, {"1GB", "1073741824"},
    {"invalid", BAD},        {"", BAD},              {"1.5x", BAD},
};

static void test_flink_resource_memory_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof flink_resource_cases / sizeof flink_resource_cases[0]; i++) {
        k8s_quantity q;
        const char *err;
        char got[80];
        const char *in = flink_resource_cases[i].in;
        if (k8s_flink_resource_memory_parse(in, strlen(in), &q, &err) == 0)
            k8s_quantity_format(&q, got, sizeof got);
        else
            snprintf(got, sizeof got, BAD);
        if (strcmp(got, flink_resource_cases[i].want) != 0)
            fail_msg("case %zu: flinkResourceMemory '%s' => %s, want %s", i, in, got,
                     flink_resource_cases[i].want);
    }
}

/* JVM -Xmx sizes: bytes, or -1. */
static const struct { const char *in; int64_t want; } jvm_cases[] = {
    {"4G", 4294967296LL},    {"4g", 4294967296LL},   {"1G", 1073741824LL},
    {"1024m", 1073741824LL}, {"1024M", 1073741824LL}, {"512m", 536870912},
    {"512M", 536870912},     {"1024k", 1048576},     {"1024K", 1048576},
    {"1t", 1099511627776LL}, {"1T", 1099511627776LL}, {"1073741824", 1073741824LL},
    {"0", 0},                {"8m", 8388608},        {"2048k", 2097152},
    {"16g", 17179869184LL},  {"3g", 3221225472LL},   {"100", 100},
    {"9223372036854775807", INT64_MAX},             {"8388607t", 8388607LL << 40},
    {"", -1},                {"G", -1},              {"1.5g", -1},
    {"1gb", -1},             {"1Gi", -1},            {"1 g", -1},
    {" 1g", -1},             {"1g ", -1},            {"-1g", -1},
    {"+1g", -1},             {"1x", -1},             {"1e3", -1},
    {"8388608t", -1},        {"9223372036854775808", -1}, {"1kb", -1},
    {"1mb", -1},             {"0x400", -1},          {"1,024m", -1},
    {"1_024m", -1},          {"m512", -1},
};

static void test_jvm_memory_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof jvm_cases / sizeof jvm_cases[0]; i++) {
        int64_t got = -1;
        const char *err;
        if (k8s_jvm_memory_parse(jvm_cases[i].in, strlen(jvm_cases[i].in), &got, &err) != 0)
            got = -1;
        if (got != jvm_cases[i].want)
            fail_msg("case %zu: jvmMemory '%s' => %lld, want %lld", i, jvm_cases[i].in,
                     (long long)got, (long long)jvm_cases[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantity_table),
        cmocka_unit_test(test_quantity_compare_and_arith),
        cmocka_unit_test(test_flink_memory_table),
        cmocka_unit_test(test_flink_resource_memory_table),
        cmocka_unit_test(test_jvm_memory_table),
    };
    return cmocka_run_group_tests_name("k8s", tests, NULL, NULL);
}
