/* test_k8s.c - Kubernetes quantities, Flink memory sizes and JVM heap sizes (k8s/quantity.c),
 * JSON Patch (k8s/jsonpatch.c), Flink's reading of paths and option values
 * (k8s/flinkpath.c), and of flinkConfiguration entries by each Flink version (k8s/flinkconf.c).
 * Expected values follow Kubernetes' resource.ParseQuantity, Flink's MemorySize.parseBytes,
 * the Flink operator's ResourceConfigUtils and the JVM's -Xmx, as DOMAIN-RULES §4 records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/flinkconf.h"
#include "k8s/flinkpath.h"
#include "k8s/jsonpatch.h"
#include "k8s/quantity.h"
#include "util/keyindex.h"

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
    /* the limit, 10^27 (10^36 nano-units), reached by each factor: binary suffixes, decimal
     * suffixes, exponents and digits (quantity.c checks a factor against what it leaves) */
    {"867361737Ei", "999999998860448295196557312"},        {"867361738Ei", BAD},
    {"1e27", "1000000000000000000000000000"},              {"0.1e28", "1000000000000000000000000000"},
    {"-1e27", "-1000000000000000000000000000"},            {"1e28", BAD},
    {"1000000000E", "1000000000000000000000000000"},       {"1000000000.1E", BAD},
    {"1000000000000000000000000001", BAD},                 {"0e1000", "0"},
    {"1e-38", "0.000000001"},                              {"5e-1000", "0.000000001"},
    {"999999999999999999999999999999m", "999999999999999999999999999.999"},
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
/* k8s_quantity_parse() decides the suffix by its bytes and checks each factor against what
 * the limit leaves; this reference applies the suffixes from a table and multiplies step by
 * step, checking each step, as the parser did before. They must agree on every value and on
 * every error, over signs x mantissas x suffixes (the limit's neighbourhood included). */
static int ref_quantity(const char *s, size_t len, __int128 *out, const char **err)
{
    static const struct { const char *sfx; int e10, e2; } table[] = {
        {"Ki", 0, 10}, {"Mi", 0, 20}, {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}, {"Ei", 0, 60},
        {"n", -9, 0},  {"u", -6, 0},  {"m", -3, 0},  {"", 0, 0},    {"k", 3, 0},   {"M", 6, 0},
        {"G", 9, 0},   {"T", 12, 0},  {"P", 15, 0},  {"E", 18, 0}};
    const char *bad_sfx =
        "unknown suffix (use Ki, Mi, Gi, Ti, Pi, Ei, n, u, m, k, M, G, T, P, E or an exponent)";
    size_t i = 0;
    bool neg = i < len && s[i] == '-', seen_dot = false, any = false;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        i++;
    __int128 v = 0;
    int digits = 0, frac = 0;
    for (; i < len && ((s[i] >= '0' && s[i] <= '9') || (s[i] == '.' && !seen_dot)); i++) {
        if (s[i] == '.') {
            seen_dot = true;
            continue;
        }
        any = true;
        if (v == 0 && s[i] == '0') {
            frac += seen_dot;
            continue;
        }
        if (++digits > 30)
            return *err = "too many digits", -1;
        v = v * 10 + (s[i] - '0');
        frac += seen_dot;
    }
    if (!any)
        return *err = "expected a number", -1;
    int e10 = 0, e2 = 0, t = 0, n = (int)(sizeof table / sizeof table[0]);
    for (; t < n && !(strlen(table[t].sfx) == len - i && memcmp(s + i, table[t].sfx, len - i) == 0);
         t++)
        ;
    if (t < n) {
        e10 = table[t].e10;
        e2 = table[t].e2;
    } else {
        size_t k = i + 1;
        bool eneg = false;
        if (len - i < 2 || (s[i] != 'e' && s[i] != 'E'))
            return *err = bad_sfx, -1;
        if (s[k] == '+' || s[k] == '-')
            eneg = s[k++] == '-';
        if (k >= len)
            return *err = bad_sfx, -1;
        for (; k < len; k++) {
            if (s[k] < '0' || s[k] > '9' || e10 > 1000)
                return *err = bad_sfx, -1;
            e10 = e10 * 10 + (s[k] - '0');
        }
        e10 = eneg ? -e10 : e10;
    }
    int scale = e10 - frac + 9;
    for (int k = 0; k < e2; k++)
        if ((v *= 2) > K8S_QUANTITY_MAX_NANO)
            return *err = "value too large", -1;
    if (scale >= 0) {
        if (scale > 36 && v != 0)
            return *err = "value too large", -1;
        for (int k = 0; k < scale && v != 0; k++)
            if ((v *= 10) > K8S_QUANTITY_MAX_NANO)
                return *err = "value too large", -1;
    } else {
        __int128 d = 1;
        for (int k = 0; -scale <= 38 && k < -scale; k++)
            d *= 10;
        __int128 q = -scale > 38 ? 0 : v / d;
        v = q + (-scale > 38 ? v != 0 : v % d != 0);
    }
    *out = neg ? -v : v;
    return 0;
}

static void test_quantity_reference(void **state)
{
    (void)state;
    static const char *const signs[] = {"", "-", "+", "--"};
    static const char *const nums[] = {
        "", "0", "1", "007", "1.5", ".5", "5.", "0.000", "0.0000000001", "3.14159", ".",
        "123456789012345678901234567890", "1234567890123456789012345678901", "867361737",
        "867361738", "1000000000", "1000000000.1", "999999999999999999999999999999",
        "000000000000000000000000000000000001", "18446744073709551616"};
    static const char *const sfx[] = {
        "", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
        "ki", "KI", "K", "i", "e", "e0", "e3", "e9", "e18", "e27", "e28", "e36", "e37", "e-1",
        "e-9", "e-10", "e-38", "e-39", "e-50", "E+3", "E-3", "e+", "e-", "Ex", "e1000",
        "e1001", "mm", "Gi ", " ", "Eib", "EE", "e+-1", "Zi"};
    char in[96];
    for (size_t a = 0; a < sizeof signs / sizeof *signs; a++)
        for (size_t b = 0; b < sizeof nums / sizeof *nums; b++)
            for (size_t c = 0; c < sizeof sfx / sizeof *sfx; c++) {
                int len = snprintf(in, sizeof in, "%s%s%s", signs[a], nums[b], sfx[c]);
                k8s_quantity q = {0};
                __int128 want = 0;
                const char *err = NULL, *want_err = NULL;
                int rc = k8s_quantity_parse(in, (size_t)len, &q, &err);
                int want_rc = ref_quantity(in, (size_t)len, &want, &want_err);
                if (rc != want_rc || (rc == 0 && q.nano != want) ||
                    (rc != 0 && strcmp(err, want_err) != 0))
                    fail_msg("quantity '%s': rc %d (%s), reference %d (%s)", in, rc,
                             rc ? err : "", want_rc, want_rc ? want_err : "");
            }
}

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


/* JSON Patch operations: document, op, path, value -> result, or "!" for an error. */
static const struct { const char *doc; enum jsonpatch_op op; const char *path, *value, *want; } patch_cases[] = {
    {"{}", JSONPATCH_ADD, "/a", "1", "{\"a\":1}"},
    {"{\"a\":1}", JSONPATCH_ADD, "/a", "2", "{\"a\":2}"},
    {"{}", JSONPATCH_ADD, "/spec/flinkConfiguration/restart-strategy.type", "\"fixed-delay\"",
     "{\"spec\":{\"flinkConfiguration\":{\"restart-strategy.type\":\"fixed-delay\"}}}"},
    {"{\"a\":[1,2]}", JSONPATCH_ADD, "/a/-", "3", "{\"a\":[1,2,3]}"},
    {"{\"a\":[1,2]}", JSONPATCH_ADD, "/a/0", "0", "{\"a\":[0,1,2]}"},
    {"{\"a\":[1,2]}", JSONPATCH_ADD, "/a/2", "3", "{\"a\":[1,2,3]}"},
    {"{\"a\":[1,2]}", JSONPATCH_ADD, "/a/3", "3", "!"},
    {"{\"a\":[1,2]}", JSONPATCH_ADD, "/a/01", "3", "!"},
    {"{\"a\":[1,2]}", JSONPATCH_REPLACE, "/a/1", "9", "{\"a\":[1,9]}"},
    {"{\"a\":[1,2]}", JSONPATCH_REMOVE, "/a/0", NULL, "{\"a\":[2]}"},
    {"{\"a\":[1,2]}", JSONPATCH_REMOVE, "/a/-", NULL, "!"},
    {"{\"a\":1}", JSONPATCH_REPLACE, "/b", "2", "!"},
    {"{\"a\":1}", JSONPATCH_REMOVE, "/b", NULL, "!"},
    {"{\"a\":1,\"b\":2}", JSONPATCH_REMOVE, "/a", NULL, "{\"b\":2}"},
    {"{\"a/b\":1,\"m~n\":2}", JSONPATCH_REPLACE, "/a~1b", "3", "{\"a/b\":3,\"m~n\":2}"},
    {"{\"a/b\":1,\"m~n\":2}", JSONPATCH_REMOVE, "/m~0n", NULL, "{\"a/b\":1}"},
    {"{\"a\":1}", JSONPATCH_ADD, "/a~2", "1", "!"},
    {"{\"a\":\"s\"}", JSONPATCH_ADD, "/a/b", "1", "!"},
    {"{\"metadata\":{\"labels\":{}}}", JSONPATCH_ADD, "/metadata/labels/app.kubernetes.io~1name", "\"flink\"",
     "{\"metadata\":{\"labels\":{\"app.kubernetes.io/name\":\"flink\"}}}"},
    {"{}", JSONPATCH_ADD, "a", "1", "!"},
};

static void test_jsonpatch_apply_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof patch_cases / sizeof patch_cases[0]; i++) {
        cJSON *doc = cJSON_Parse(patch_cases[i].doc);
        cJSON *val = patch_cases[i].value ? cJSON_Parse(patch_cases[i].value) : NULL;
        char err[256];
        int rc = jsonpatch_apply(doc, patch_cases[i].op, patch_cases[i].path, val, err, sizeof err);
        char *got = rc == 0 ? cJSON_PrintUnformatted(doc) : strdup("!");
        if (strcmp(got, patch_cases[i].want) != 0)
            fail_msg("case %zu: %s %s => %s (%s), want %s", i, patch_cases[i].doc, patch_cases[i].path,
                     got, rc ? err : "", patch_cases[i].want);
        free(got);
        cJSON_Delete(doc);
        cJSON_Delete(val);
    }
}

/* Applies a whole patch document; returns 0 or -1. */
static int apply_all(cJSON *doc, const char *patch)
{
    cJSON *ops = cJSON_Parse(patch);
    int rc = ops ? 0 : -1;
    for (const cJSON *o = ops ? ops->child : NULL; o && rc == 0; o = o->next) {
        const char *op = cJSON_GetObjectItem(o, "op")->valuestring;
        enum jsonpatch_op k = strcmp(op, "add") == 0 ? JSONPATCH_ADD
                              : strcmp(op, "replace") == 0 ? JSONPATCH_REPLACE : JSONPATCH_REMOVE;
        char err[256];
        rc = jsonpatch_apply(doc, k, cJSON_GetObjectItem(o, "path")->valuestring,
                             cJSON_GetObjectItem(o, "value"), err, sizeof err);
    }
    cJSON_Delete(ops);
    return rc;
}

/* diff(a, b) applied to a gives b, and is empty exactly when a equals b. */
static const struct { const char *from, *to, *want; } diff_cases[] = {
    {"{\"a\":1}", "{\"a\":1}", NULL},
    {"{\"a\":1}", "{\"a\":2}", "[{\"op\":\"replace\",\"path\":\"/a\",\"value\":2}]"},
    {"{\"a\":1,\"b\":2}", "{\"a\":1}", "[{\"op\":\"remove\",\"path\":\"/b\"}]"},
    {"{\"spec\":{}}", "{\"spec\":{\"x\":{\"y\":1}}}", "[{\"op\":\"add\",\"path\":\"/spec/x\",\"value\":{\"y\":1}}]"},
    {"{\"a\":[1,2]}", "{\"a\":[1,3]}", "[{\"op\":\"replace\",\"path\":\"/a/1\",\"value\":3}]"},
    {"{\"a\":[{\"s\":{}}]}", "{\"a\":[{\"s\":{\"h\":1}},2]}",
     "[{\"op\":\"add\",\"path\":\"/a/0/s/h\",\"value\":1},{\"op\":\"add\",\"path\":\"/a/-\",\"value\":2}]"},
    {"{\"a\":[1,2]}", "{\"a\":[2]}", "[{\"op\":\"replace\",\"path\":\"/a\",\"value\":[2]}]"},
    {"{\"a\":[]}", "{\"a\":{}}", "[{\"op\":\"replace\",\"path\":\"/a\",\"value\":{}}]"},
    {"{\"a/b\":{\"c\":1}}", "{\"a/b\":{\"c\":2}}", "[{\"op\":\"replace\",\"path\":\"/a~1b/c\",\"value\":2}]"},
    {"{\"a\":{\"b\":1}}", "{\"a\":\"x\"}", "[{\"op\":\"replace\",\"path\":\"/a\",\"value\":\"x\"}]"},
    {"{\"k\":1,\"m\":{\"n\":[1],\"o\":null}}", "{\"m\":{\"n\":[1],\"o\":true,\"p\":{}},\"q\":0}", ""},
};

static void test_jsonpatch_diff_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof diff_cases / sizeof diff_cases[0]; i++) {
        cJSON *from = cJSON_Parse(diff_cases[i].from), *to = cJSON_Parse(diff_cases[i].to);
        bool oom;
        char *patch = jsonpatch_diff(from, to, &oom);
        assert_false(oom);
        if (diff_cases[i].want == NULL) {
            assert_null(patch);
        } else {
            assert_non_null(patch);
            if (diff_cases[i].want[0] && strcmp(patch, diff_cases[i].want) != 0)
                fail_msg("case %zu: %s", i, patch);
            assert_int_equal(apply_all(from, patch), 0);
            if (!cJSON_Compare(from, to, true))
                fail_msg("case %zu: applying %s does not give the target", i, patch);
        }
        free(patch);
        cJSON_Delete(from);
        cJSON_Delete(to);
    }
}

/* Two objects of 10,000 members each, in opposite orders: equality and the diff cost O(1)
 * key comparisons a member (a lookup per member scanned ~5,000 before), whatever the key
 * spelling, and the diff is the same patch as for small objects: removals first (in the old
 * order), then replacements and additions (in the new order), escaped. Counted, not timed. */
static void test_jsonpatch_large_objects(void **state)
{
    (void)state;
    enum { N = 10000 };
    char key[300], prefix[201];
    memset(prefix, 'a', 200);
    prefix[200] = '\0';
    for (int p = 0; p < 2; p++) {
        cJSON *from = cJSON_CreateObject(), *to = cJSON_CreateObject(), *same = cJSON_CreateObject();
        for (int i = 0; i < N; i++) {
            snprintf(key, sizeof key, "%s%d", p ? prefix : "k", i);
            cJSON_AddNumberToObject(cJSON_AddObjectToObject(from, key), "x", i);
        }
        cJSON_AddNumberToObject(from, "a~/b", 1);
        cJSON_AddNumberToObject(to, "a~/b", 2);
        for (int i = N - 1; i >= 0; i--) {
            snprintf(key, sizeof key, "%s%d", p ? prefix : "k", i);
            cJSON_AddNumberToObject(cJSON_AddObjectToObject(same, key), "x", i);
            if (i != 5)
                cJSON_AddNumberToObject(cJSON_AddObjectToObject(to, key), "x", i == 7 ? -1 : i);
        }
        cJSON_AddNumberToObject(same, "a~/b", 1);
        cJSON_AddTrueToObject(to, "new");

        uint64_t before = lookup_steps;
        assert_true(jsonpatch_equal(from, same));
        assert_false(jsonpatch_equal(from, to));
        bool oom;
        char *patch = jsonpatch_diff(from, to, &oom);
        uint64_t work = lookup_steps - before;
        if (work > 40u * N)
            fail_msg("%d members: %llu key comparisons, want at most %d", N,
                     (unsigned long long)work, 40 * N);
        assert_null(jsonpatch_diff(from, same, &oom));
        assert_false(oom);
        char want[1200];
        snprintf(want, sizeof want,
                 "[{\"op\":\"remove\",\"path\":\"/%s5\"},"
                 "{\"op\":\"replace\",\"path\":\"/a~0~1b\",\"value\":2},"
                 "{\"op\":\"replace\",\"path\":\"/%s7/x\",\"value\":-1},"
                 "{\"op\":\"add\",\"path\":\"/new\",\"value\":true}]",
                 p ? prefix : "k", p ? prefix : "k");
        assert_non_null(patch);
        if (strcmp(patch, want) != 0)
            fail_msg("got %s", patch);
        assert_int_equal(apply_all(from, patch), 0);
        assert_true(jsonpatch_equal(from, to));
        free(patch);
        cJSON_Delete(from);
        cJSON_Delete(to);
        cJSON_Delete(same);
    }
}

/* A change at the bottom of a deep chain, next to large unchanged members: the patch names
 * only the change. */
static void test_jsonpatch_deep_change(void **state)
{
    (void)state;
    cJSON *from = cJSON_CreateObject(), *to = cJSON_CreateObject();
    cJSON *f = from, *t = to;
    for (int d = 0; d < 300; d++) {
        cJSON *fl = cJSON_AddArrayToObject(f, "list"), *tl = cJSON_AddArrayToObject(t, "list");
        for (int i = 0; i < 20; i++) {
            cJSON_AddItemToArray(fl, cJSON_CreateNumber(i));
            cJSON_AddItemToArray(tl, cJSON_CreateNumber(i));
        }
        f = cJSON_AddObjectToObject(f, "n");
        t = cJSON_AddObjectToObject(t, "n");
    }
    cJSON_AddStringToObject(f, "leaf", "old");
    cJSON_AddStringToObject(t, "leaf", "new");
    bool oom;
    char *patch = jsonpatch_diff(from, to, &oom);
    assert_non_null(patch);
    cJSON *ops = cJSON_Parse(patch);
    assert_int_equal(cJSON_GetArraySize(ops), 1);
    const char *path = cJSON_GetObjectItem(ops->child, "path")->valuestring;
    assert_int_equal(strlen(path), 300 * 2 + 5);
    assert_string_equal(path + 600, "/leaf");
    assert_int_equal(apply_all(from, patch), 0);
    assert_true(jsonpatch_equal(from, to));
    cJSON_Delete(ops);
    free(patch);
    cJSON_Delete(from);
    cJSON_Delete(to);
}

/* jsonpatch_diff_at() and jsonpatch_equal_at() against jsonpatch_diff() and jsonpatch_equal()
 * on random documents, each copied and patched at random places (existing members and
 * elements, new keys, array ends, keys with '/' and '~', places that do not exist, bad
 * escapes, the whole document; 1 to 4 places, and in one round in 8 14 to 21, around the 16
 * above which everything is compared): the same patch text and the same answer, byte for
 * byte. */
static uint64_t rnd_state = 88172645463325252u;
static unsigned rnd(unsigned n)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return (unsigned)(rnd_state % n);
}

static const char *const rnd_keys[] = {"a", "b", "spec", "x/y", "m~n", "~1", "metadata", "0"};

static cJSON *rnd_doc(int depth)
{
    unsigned k = depth > 3 ? rnd(3) : rnd(6);
    if (k == 0)
        return cJSON_CreateNumber(rnd(3));
    if (k == 1)
        return rnd(2) ? cJSON_CreateString(rnd(2) ? "s" : "t") : cJSON_CreateNull();
    if (k == 2)
        return cJSON_CreateBool(rnd(2));
    if (k == 3) {
        cJSON *l = cJSON_CreateArray();
        for (unsigned i = rnd(4); i > 0; i--)
            cJSON_AddItemToArray(l, rnd_doc(depth + 1));
        return l;
    }
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < sizeof rnd_keys / sizeof rnd_keys[0]; i++)
        if (rnd(2))
            cJSON_AddItemToObject(o, rnd_keys[i], rnd_doc(depth + 1));
    return o;
}

/* A JSON Pointer into 'doc': down existing members and elements for a while, then maybe one
 * step that need not exist ('-', a new key, an index past the end). */
static void rnd_path(const cJSON *doc, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    if (rnd(20) == 0)
        return; /* "": the whole document */
    const cJSON *at = doc;
    for (;;) {
        bool stop = rnd(3) == 0 || !(cJSON_IsObject(at) || cJSON_IsArray(at)) || at->child == NULL;
        char tok[64];
        if (stop) {
            if (cJSON_IsArray(at))
                snprintf(tok, sizeof tok, rnd(2) ? "-" : "%d",
                         cJSON_GetArraySize(at) + (int)rnd(2));
            else
                snprintf(tok, sizeof tok, "%s",
                         rnd_keys[rnd(sizeof rnd_keys / sizeof rnd_keys[0])]);
        } else {
            int i = (int)rnd((unsigned)cJSON_GetArraySize(at));
            const cJSON *c = at->child;
            for (int k = 0; k < i; k++)
                c = c->next;
            if (cJSON_IsArray(at))
                snprintf(tok, sizeof tok, "%d", i);
            else
                snprintf(tok, sizeof tok, "%s", c->string);
            at = c;
        }
        n += (size_t)snprintf(out + n, cap - n, "/");
        if (stop && rnd(15) == 0) { /* a bad escape: apply fails, maybe after making parents */
            snprintf(out + n, cap - n, rnd(2) ? "~2" : "x~");
            return;
        }
        for (const char *t = tok; *t && n + 3 < cap; t++) {
            const char *esc = *t == '~' ? "~0" : *t == '/' ? "~1" : NULL;
            n += (size_t)(esc ? snprintf(out + n, cap - n, "%s", esc)
                              : snprintf(out + n, cap - n, "%c", *t));
        }
        if (stop)
            return;
    }
}

static void test_jsonpatch_diff_at_random(void **state)
{
    (void)state;
    static const enum jsonpatch_op ops[] = {JSONPATCH_ADD, JSONPATCH_REPLACE, JSONPATCH_REMOVE};
    int changed = 0, skipped_work = 0;
    for (int round = 0; round < 3000; round++) {
        cJSON *from = rnd_doc(0);
        if (!cJSON_IsObject(from)) { /* a review's object is an object; the root kinds alike */
            cJSON *o = cJSON_CreateObject();
            cJSON_AddItemToObject(o, "v", from);
            from = o;
        }
        cJSON *to = cJSON_Duplicate(from, 1);
        char paths[24][256];
        const char *pp[24];
        /* 1-4 places; one round in 8 more than jsonpatch_diff_at() tests member by member */
        unsigned n = round % 8 == 7 ? 14 + rnd(8) : 1 + rnd(4);
        for (unsigned i = 0; i < n; i++) {
            rnd_path(to, paths[i], sizeof paths[i]);
            pp[i] = paths[i];
            cJSON *val = rnd_doc(2);
            char err[256];
            jsonpatch_apply(to, ops[rnd(3)], paths[i], val, err, sizeof err);
            cJSON_Delete(val);
        }
        bool oom1, oom2;
        uint64_t s0 = lookup_steps;
        char *whole = jsonpatch_diff(from, to, &oom1);
        uint64_t s1 = lookup_steps;
        char *at = jsonpatch_diff_at(from, to, pp, n, &oom2);
        skipped_work += lookup_steps - s1 < s1 - s0;
        assert_false(oom1 || oom2);
        if ((whole == NULL) != (at == NULL) || (whole && strcmp(whole, at) != 0)) {
            char *f = cJSON_PrintUnformatted(from), *t = cJSON_PrintUnformatted(to);
            fail_msg("round %d: from %s to %s at %s ...: diff %s, diff_at %s", round, f, t, pp[0],
                     whole ? whole : "(none)", at ? at : "(none)");
        }
        assert_int_equal(jsonpatch_equal(from, to), jsonpatch_equal_at(to, from, pp, n));
        changed += whole != NULL;
        free(whole);
        free(at);
        cJSON_Delete(from);
        cJSON_Delete(to);
    }
    if (changed < 1000 || skipped_work < 300) /* the cases are not all trivial */
        fail_msg("%d of 3000 changed, %d walked less", changed, skipped_work);
}

/* A patch under spec beside a metadata of 10,000 members (managedFields, annotations): the
 * diff that knows the patched places does not walk metadata; the patch is the same. With
 * more than 16 places it walks everything. */
static void test_jsonpatch_diff_at_skips(void **state)
{
    (void)state;
    cJSON *from = cJSON_CreateObject();
    cJSON *md = cJSON_AddObjectToObject(from, "metadata");
    char key[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        cJSON_AddStringToObject(md, key, "v");
    }
    cJSON_AddObjectToObject(cJSON_AddObjectToObject(from, "spec"), "flinkConfiguration");
    cJSON *to = cJSON_Duplicate(from, 1);
    const char *paths[] = {"/spec/flinkConfiguration/metrics.reporter.prom.port"};
    cJSON *v = cJSON_CreateString("9249");
    char err[256];
    assert_int_equal(jsonpatch_apply(to, JSONPATCH_ADD, paths[0], v, err, sizeof err), 0);
    bool oom;
    uint64_t s0 = lookup_steps;
    char *at = jsonpatch_diff_at(from, to, paths, 1, &oom);
    uint64_t s1 = lookup_steps;
    assert_false(jsonpatch_equal_at(from, to, paths, 1));
    uint64_t s2 = lookup_steps;
    char *whole = jsonpatch_diff(from, to, &oom);
    if (s1 - s0 > 10 || s2 - s1 > 10 || lookup_steps - s2 < 10000)
        fail_msg("key comparisons: diff_at %llu, equal_at %llu, diff %llu",
                 (unsigned long long)(s1 - s0), (unsigned long long)(s2 - s1),
                 (unsigned long long)(lookup_steps - s2));
    assert_string_equal(at, "[{\"op\":\"add\",\"path\":\"/spec/flinkConfiguration/"
                            "metrics.reporter.prom.port\",\"value\":\"9249\"}]");
    assert_string_equal(at, whole);
    /* More than 16 places: the whole documents are walked (linear), not each member of the
     * objects on the way tested against every place (quadratic in a forEach over thousands of
     * annotations). */
    const char *many[17];
    for (int i = 0; i < 17; i++)
        many[i] = paths[0];
    uint64_t s3 = lookup_steps;
    char *at17 = jsonpatch_diff_at(from, to, many, 17, &oom);
    if (lookup_steps - s3 < 10000)
        fail_msg("17 places: %llu key comparisons, want the whole walk",
                 (unsigned long long)(lookup_steps - s3));
    assert_string_equal(at17, whole);
    free(at17);
    /* a copy nobody patched, with no places: equal without a walk */
    cJSON *same = cJSON_Duplicate(from, 1);
    assert_true(jsonpatch_equal_at(from, same, paths, 0));
    free(at);
    free(whole);
    cJSON_Delete(v);
    cJSON_Delete(from);
    cJSON_Delete(to);
    cJSON_Delete(same);
}

/* Paths as Flink's Path(String) reads them. The first group is Flink's own PathTest
 * (testPathFromString, testIsAbsolute, testParsing: toUri().getPath(), getScheme(),
 * getAuthority(), isAbsolute()); the rest are the spellings an attacker tries. 'path' is the
 * path the file system opens (the URI path, with ".." at the root dropped and no trailing
 * '/'); 'err' is a prefix of the error, "" for none. */
static const struct {
    const char *in, *scheme, *authority, *path;
    bool absolute;
    const char *err;
} path_cases[] = {
    /* PathTest */
    {"/my/path", "", "", "/my/path", true, ""},
    {"/my/path/", "", "", "/my/path", true, ""},
    {"/my//path/", "", "", "/my/path", true, ""},
    {"/my//path//a///", "", "", "/my/path/a", true, ""},
    {"\\my\\path\\\\a\\\\\\", "", "", "/my/path/a", true, ""},
    {"hdfs:///my/path", "hdfs", "", "/my/path", true, ""},
    {"hdfs:///my/path/", "hdfs", "", "/my/path", true, ""},
    {"file:///my/path", "file", "", "/my/path", true, ""},
    {"C:/my/windows/path", "", "", "/C:/my/windows/path", true, ""},
    {"file:/C:/my/windows/path", "file", "", "/C:/my/windows/path", true, ""},
    {"", "", "", "", false, "is blank"},
    {" ", "", "", "", false, "is blank"},
    {"/my/abs/path", "", "", "/my/abs/path", true, ""},
    {"/", "", "", "/", true, ""},
    {"./my/rel/path", "", "", "my/rel/path", false, ""},
    {"my/rel/path", "", "", "my/rel/path", false, ""},
    {"y:/my/abs/windows/path", "", "", "/y:/my/abs/windows/path", true, ""},
    {"/y:/my/abs/windows/path", "", "", "/y:/my/abs/windows/path", true, ""},
    {"b:\\my\\abs\\windows\\path", "", "", "/b:/my/abs/windows/path", true, ""},
    {"/C:/", "", "", "/C:", true, ""},
    {"C:", "", "", "C:", false, ""},
    {"C:/", "", "", "/C:", true, ""},
    {"C:my\\relative\\path", "", "", "C:my/relative/path", false, ""},
    {"\\my\\dir", "", "", "/my/dir", true, ""},
    {"\\", "", "", "/", true, ""},
    {".\\my\\relative\\path", "", "", "my/relative/path", false, ""},
    {"\\\\myServer\\myDir", "", "", "/myServer/myDir", true, ""},
    {"hdfs://localhost:8000/test/test", "hdfs", "localhost:8000", "/test/test", true, ""},
    {"hdfs:/test/test", "hdfs", "", "/test/test", true, ""},
    {"hdfs://test/test", "hdfs", "test", "/test", true, ""},
    {"hdfs:////test/test", "hdfs", "", "/test/test", true, ""},
    /* backslashes and dot segments: URI.normalize() */
    {"file:///opt/flink/volume/a\\..\\..\\..\\tmp\\ha", "file", "", "/opt/tmp/ha", true, ""},
    {"file:///opt/flink/volume/../../../../../../tmp", "file", "", "/tmp", true, ""},
    {"/opt/./flink/./volume/.", "", "", "/opt/flink/volume", true, ""},
    {"/opt/flink/volume/x/..", "", "", "/opt/flink/volume", true, ""},
    {"/..", "", "", "/", true, ""},
    {"a/../../b", "", "", "../b", false, ""},
    {"..\\ha", "", "", "../ha", false, ""},
    {".", "", "", ".", false, ""},
    {"/opt/.../ha", "", "", "/opt/.../ha", true, ""},
    {"/opt/..ha/x", "", "", "/opt/..ha/x", true, ""},
    /* percent escapes are file names: Flink's URI constructor quotes every '%' */
    {"/opt/flink/volume/%2e%2e/%2e%2e/tmp", "", "", "/opt/flink/volume/%2e%2e/%2e%2e/tmp", true,
     ""},
    {"file:///opt%2Fflink", "file", "", "/opt%2Fflink", true, ""},
    /* file:, file://, file:///, scheme case, authority */
    {"file:/opt/ha", "file", "", "/opt/ha", true, ""},
    {"file://opt/ha", "file", "opt", "/ha", true, ""},
    {"file:////opt//ha", "file", "", "/opt/ha", true, ""},
    {"FILE:///opt/ha", "file", "", "/opt/ha", true, ""},
    {"File://Host/opt", "file", "Host", "/opt", true, ""},
    {"file://", "file", "", "/", true, ""},
    {"file:\\\\opt\\ha", "file", "", "/opt/ha", true, ""},
    /* no scheme, an authority: Flink's default file system takes the path alone */
    {"//opt/flink/volume/ha", "", "opt", "/flink/volume/ha", true, ""},
    {"s3://bucket", "s3", "bucket", "", false, ""},
    {"s3a://bucket/ha/../x", "s3a", "bucket", "/x", true, ""},
    /* rejected by java.net.URI */
    {"file:", "file", "", "", false, "has a scheme but"},
    {"file:opt/ha", "file", "", "opt/ha", false, "has a scheme but"},
    {"file:C:/x", "file", "", "C:/x", false, "has a scheme but"},
    {"fi le:///x", "fi le", "", "/x", true, "has an invalid URI scheme"},
    {"1file:///x", "1file", "", "/x", true, "has an invalid URI scheme"},
    {":/x", "", "", "/x", true, "has an invalid URI scheme"},
    {"\\tmp:x", "\\tmp", "", "x", false, "has an invalid URI scheme"},
    /* characters <= U+0020 at either end: Flink 1.x trims them, 2.x keeps them */
    {"\x01/tmp/ha", "", "", "/tmp/ha", true, "has leading or trailing"},
    {"\x01" "file:///tmp/ha", "file", "", "/tmp/ha", true, "has leading or trailing"},
    {"file:///tmp/ha\x1f", "file", "", "/tmp/ha", true, "has leading or trailing"},
    {"\t/opt/flink/volume/ha \n", "", "", "/opt/flink/volume/ha", true, "has leading or trailing"},
    {"file: /tmp/ha", "file", "", "/tmp/ha", true, "has leading or trailing"},
    {"file:// /tmp/ha", "file", " ", "/tmp/ha", true, ""},
    {"\x7f/tmp", "", "", "\x7f/tmp", false, ""},
    /* Flink 1.x's flink-conf.yaml parser ends a value at '#' and at a line break */
    {"file:///tmp/ha#/../../opt/flink/volume/ha", "file", "", "/opt/flink/volume/ha", true,
     "contains '#'"},
    {"/opt/flink/volume/ha\n/tmp", "", "", "/opt/flink/volume/ha\n/tmp", true,
     "contains a line break"},
    {"/opt/flink/volume/ha\r/tmp", "", "", "/opt/flink/volume/ha\r/tmp", true,
     "contains a line break"},
    {"#/tmp", "", "", "#/tmp", false, "contains '#'"},
    /* windows drives */
    {"/C:/../C:", "", "", "C:", false, ""},
    {"/C:/x/..", "", "", "/C:", true, ""},
    {"/../C:", "", "", "/C:", true, ""},
    {"file:///C:", "file", "", "C:", false, ""},
};

static void test_flink_path_table(void **state)
{
    (void)state;
    arena *a = arena_new(1 << 20);
    for (size_t i = 0; i < sizeof path_cases / sizeof path_cases[0]; i++) {
        k8s_flink_path p;
        const char *in = path_cases[i].in;
        assert_int_equal(k8s_flink_path_parse(a, in, strlen(in), &p), 0);
        const char *err = p.error ? p.error : "";
        if (strcmp(p.scheme, path_cases[i].scheme) != 0 ||
            strcmp(p.authority, path_cases[i].authority) != 0 ||
            strcmp(p.path, path_cases[i].path) != 0 || p.absolute != path_cases[i].absolute ||
            strncmp(err, path_cases[i].err, strlen(path_cases[i].err)) != 0 ||
            (path_cases[i].err[0] == '\0') != (err[0] == '\0'))
            fail_msg("case %zu '%s': scheme '%s' authority '%s' path '%s' absolute %d error '%s'",
                     i, in, p.scheme, p.authority, p.path, p.absolute, err);
    }
    /* Not NUL-terminated: the length is what counts. */
    k8s_flink_path p;
    assert_int_equal(k8s_flink_path_parse(a, "/a/b/../c", 7, &p), 0);
    assert_string_equal(p.path, "/a");
    arena_free(a);
}

/* Every string of up to five characters from those paths are made of: the path is normal
 * (no empty or "." segment, no '\\', no trailing '/', no ".." in an absolute path), and an
 * absolute one read again gives itself back. */
/* No '\\', no empty or "." segment, no trailing '/', ".." only leading a relative path. */
static bool is_normal(const char *q, bool absolute)
{
    if (strchr(q, '\\') != NULL || (absolute && q[0] != '/'))
        return false;
    if (strcmp(q, "/") == 0 || strcmp(q, ".") == 0 || q[0] == '\0')
        return true;
    bool leading = !absolute; /* still in the leading ".." of a relative path */
    for (const char *seg = q[0] == '/' ? q + 1 : q;;) {
        const char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        bool dotdot = n == 2 && seg[0] == '.' && seg[1] == '.';
        if (n == 0 || (n == 1 && seg[0] == '.') || (dotdot && !leading))
            return false;
        leading = leading && dotdot;
        if (end == NULL)
            return true;
        seg = end + 1;
    }
}

static void test_flink_path_exhaustive(void **state)
{
    (void)state;
    static const char alphabet[] = "/\\.:aC ";
    const size_t k = sizeof alphabet - 1;
    arena *a = arena_new(1 << 20);
    char in[8];
    for (size_t len = 1; len <= 5; len++) {
        size_t count = 1;
        for (size_t i = 0; i < len; i++)
            count *= k;
        for (size_t x = 0; x < count; x++) {
            size_t y = x;
            for (size_t i = 0; i < len; i++, y /= k)
                in[i] = alphabet[y % k];
            in[len] = '\0';
            arena_reset(a);
            k8s_flink_path p;
            assert_int_equal(k8s_flink_path_parse(a, in, len, &p), 0);
            const char *q = p.path;
            size_t ql = strlen(q);
            if (!is_normal(q, p.absolute))
                fail_msg("'%s': path '%s' absolute %d is not normal", in, q, p.absolute);
            /* An absolute result read again is itself, and stays absolute; but for a bare
             * drive root ("/C:/" to Flink, "/C:" to the kernel), which Flink reads as relative
             * without its '/'. */
            bool drive_root = ql == 3 && q[2] == ':';
            bool padded = ql > 0 && q[ql - 1] == ' '; /* "/ /" is "/ ", which reads as "/" */
            if (p.absolute && p.error == NULL && !drive_root && !padded) {
                k8s_flink_path again;
                assert_int_equal(k8s_flink_path_parse(a, q, ql, &again), 0);
                if (strcmp(again.path, q) != 0 || !again.absolute)
                    fail_msg("'%s': '%s' reads again as '%s'", in, q, again.path);
            }
        }
    }
    arena_free(a);
}

/* Java's toUpperCase(Locale.ROOT), for what can equal an ASCII enum name. */
static const struct { const char *in, *want; } upper_cases[] = {
    {"reactive", "REACTIVE"},
    {"react\xC4\xB1ve", "REACTIVE"},            /* dotless i */
    {"\xC5\xBFtandalone", "STANDALONE"},        /* long s */
    {"\xEF\xAC\x86" "andalone", "STANDALONE"},  /* st ligature */
    {"\xEF\xAC\x85" "andalone", "STANDALONE"},  /* long s t ligature */
    {"\xC3\x9F", "SS"},
    {"\xEF\xAC\x80\xEF\xAC\x81\xEF\xAC\x82\xEF\xAC\x83\xEF\xAC\x84", "FFFIFLFFIFFL"},
    {"\xC5\x89", "\xCA\xBCN"},
    {"\xC7\xB0", "J\xCC\x8C"},
    {"\xE1\xBA\x96\xE1\xBA\x97\xE1\xBA\x98\xE1\xBA\x99\xE1\xBA\x9A",
     "H\xCC\xB1T\xCC\x88W\xCC\x8AY\xCC\x8A" "A\xCA\xBE"},
    {"kubernetes", "KUBERNETES"},
    {"K8s-1_a.b", "K8S-1_A.B"},
    {"\xE2\x84\xAA", "\xE2\x84\xAA"},           /* Kelvin sign: upper case is itself */
    {"\xC4\xB0", "\xC4\xB0"},                   /* capital I with dot stays */
    {"\xC3\xA9t\xC3\xA9", "\xC3\xA9T\xC3\xA9"}, /* no ASCII in the upper case of e-acute */
    {"", ""},
    {"\xC4", "\xC4"},                           /* a truncated character is copied */
};

static void test_java_upper_table(void **state)
{
    (void)state;
    arena *a = arena_new(1 << 16);
    for (size_t i = 0; i < sizeof upper_cases / sizeof upper_cases[0]; i++) {
        size_t n;
        const char *in = upper_cases[i].in;
        char *got = k8s_java_upper(a, in, strlen(in), &n);
        assert_non_null(got);
        if (n != strlen(upper_cases[i].want) || strcmp(got, upper_cases[i].want) != 0)
            fail_msg("case %zu '%s': '%s', want '%s'", i, in, got, upper_cases[i].want);
    }
    size_t st;
    assert_int_equal(k8s_java_trim("\x01\t reactive\x1f \x00", 15, &st), 8);
    assert_int_equal(st, 3);
    assert_int_equal(k8s_java_trim("\xC2\xA0x", 3, &st), 3); /* U+00A0 is not trimmed */
    /* flink-conf.yaml: a comment or a line break ends the value, then String.trim() */
    static const struct { const char *in, *want; } conf_cases[] = {
        {" reactive # on", "reactive"}, {"\x01none\x02#x", "none"}, {"#kubernetes", ""},
        {"s3://b/ha\nhigh-availability.storageDir: file:///tmp", "s3://b/ha"},
        {"a\rb", "a"},                 {"plain", "plain"},            {"", ""},
    };
    for (size_t i = 0; i < sizeof conf_cases / sizeof conf_cases[0]; i++) {
        const char *in = conf_cases[i].in;
        size_t n = k8s_flink_conf_value(in, strlen(in), &st);
        if (n != strlen(conf_cases[i].want) || strncmp(in + st, conf_cases[i].want, n) != 0)
            fail_msg("conf case %zu '%s': '%.*s'", i, in, (int)n, in + st);
    }
    arena_free(a);
}

/* flinkConfiguration entries: NULL when every Flink version reads the entry as its own key,
 * else a part of the message. The attacker spellings of issue #18: line breaks (\n, \r, \r\n)
 * in a value or a key, keys padded with a space, a tab or \x01, one key twice, '#' and ": " in
 * a key, blank values (Flink 1.x skips the line), a trailing '.' (Flink 2.x drops it). */
static const struct { const char *key, *val, *want; } conf_entry_cases[] = {
    {"high-availability.storageDir", "s3://b/ha", NULL},
    {"env.java.opts", "-Xss1m\nhigh-availability.storageDir: file:///tmp/ha",
     "Flink 1.x (flink-conf.yaml) reads options \"env.java.opts\", \"high-availability.storageDir\", "
     "Flink 2.x (config.yaml) option \"env.java.opts\""},
    {"k", "a\rb: c", "options \"k\", \"b\""},
    {"k", "a\r\nb: c", "options \"k\", \"b\""},
    {"k", "a\n\r\n\rb: c", "options \"k\", \"b\""},
    {"k", "a\nk: b", "options \"k\", \"k\""},          /* the same key twice */
    {"x\nhigh-availability.type", "kubernetes",
     "entry \"x\\nhigh-availability.type\" is not read as one option by every Flink version: "
     "Flink 1.x (flink-conf.yaml) reads option \"high-availability.type\" from after a line break"},
    {" high-availability.storageDir", "file:///tmp/ha",
     "reads option \"high-availability.storageDir\", Flink 2.x (config.yaml) option "
     "\" high-availability.storageDir\""},
    {"k\t", "v", "entry \"k\\t\""},
    {"\x01k", "v", "entry \"\\x01k\" is not read as one option"},
    {"k\x7f", "v", NULL},                                  /* DEL is above U+0020 */
    {"high-availability.storageDir: file:///tmp/ha #", "x",
     "reads option \"high-availability.storageDir\", Flink 2.x"},
    {"a: b", "c", "reads option \"a\""},
    {"k#", "v", "reads nothing from it"},
    {"", "v", "reads nothing from it"},
    {"k", "", "reads nothing from it"},
    {"k", " \x01\t", "reads nothing from it"},
    {"k", "# set later", "reads nothing from it"},
    {"k", "\nk: y", "reads option \"k\" from after a line break"},
    {"k", "\n\n", "reads nothing from it"},
    {"high-availability.storageDir.", "x", "Flink 2.x (config.yaml) option \"high-availability.storageDir\""},
    {"..", "x", "Flink 2.x (config.yaml) no option"},
    {"x", "a\nb: c\nd: e\nf: g\nh: i", "options \"x\", \"b\", \"d\" and 2 more, Flink 2.x"},
    {"k", "a # b", NULL},                                  /* a value Flink 1.x cuts: flinkConfValue */
    {"k", "a\n", NULL},
    {"k", "a\nb", NULL},
    {"k", "a\n#b: c", NULL},
    {"k", "a\n: c", NULL},
    {"k", "a\nb:c", NULL},
    {"k", "a: b", NULL},
    {"k:", "v", NULL},
    {"a b", "v", NULL},
    {"a..b", "v", NULL},
    {".a", "v", NULL},
    {"a.\x01" "b", "v", NULL},
    {"k", "\"quoted\\\" value\"", NULL},
    {"\"q\\", "", "entry \"\\\"q\\\\\""},                    /* '"' and '\' escaped in the message */
};

static void test_flink_conf_entry_table(void **state)
{
    (void)state;
    arena *a = arena_new(1 << 20);
    for (size_t i = 0; i < sizeof conf_entry_cases / sizeof conf_entry_cases[0]; i++) {
        const char *k = conf_entry_cases[i].key, *v = conf_entry_cases[i].val;
        const char *want = conf_entry_cases[i].want, *why = "unset";
        assert_int_equal(k8s_flink_conf_entry_check(a, k, strlen(k), v, strlen(v), &why), 0);
        if (want == NULL && why != NULL)
            fail_msg("entry case %zu: %s", i, why);
        if (want != NULL && (why == NULL || strstr(why, want) == NULL))
            fail_msg("entry case %zu: '%s', want '%s'", i, why ? why : "(accepted)", want);
    }
    /* A long key is cut in the message, not inside a UTF-8 character. */
    char key[80];
    memset(key, 'a', 59);
    memcpy(key + 59, "\xC3\xA9 ", 4);
    const char *why;
    assert_int_equal(k8s_flink_conf_entry_check(a, key, strlen(key), "v", 1, &why), 0);
    assert_non_null(why);
    assert_non_null(strstr(why, "aaaa...\""));
    assert_null(strstr(why, "\xC3..."));
    arena_free(a);
}

/* Values the operator writes under its own key (spec.job.args, entryClass, savepoint path):
 * only an option read from after a line break counts. */
static void test_flink_conf_value_check(void **state)
{
    (void)state;
    static const struct { const char *val, *want; } cases[] = {
        {"com.example.Job", NULL},
        {"a: b", NULL}, /* one line: the operator's key, this value */
        {"x\n", NULL},
        {"SELECT 1\nFROM t", NULL},
        {"x\n#k: v", NULL},
        {"x\n: v", NULL},
        {"x\nk: v", "spec.job.args holds a line break after which Flink 1.x (flink-conf.yaml) reads "
                    "option \"k\", so"},
        {"\nk: v", "option \"k\""},
        {"x\r\nk: v\rj: w\n l : m", "options \"k\", \"j\", \"l\""},
        {"x\n\x01k\t: v", "option \"k\""},
    };
    arena *a = arena_new(1 << 16);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *why = "unset";
        const char *v = cases[i].val;
        assert_int_equal(k8s_flink_conf_value_check(a, "spec.job.args", v, strlen(v), &why), 0);
        if (cases[i].want == NULL && why != NULL)
            fail_msg("value case %zu: %s", i, why);
        if (cases[i].want != NULL && (why == NULL || strstr(why, cases[i].want) == NULL))
            fail_msg("value case %zu: '%s', want '%s'", i, why ? why : "(accepted)", cases[i].want);
    }
    arena_free(a);
}

/* A plainer reading of the line the operator writes, to compare with on every short string:
 * Java's readLine(), split("#", 2)[0].trim(), split(": ", 2), trim() as a reader would port
 * them one call at a time. True when Flink 1.x sets exactly option 'k' from the first line
 * and Flink 2.x reads the key as 'k' (no '.' at its end). */
static bool reference_one_option(const char *k, size_t kl, const char *v, size_t vl)
{
    char text[32], line[32];
    size_t tl = 0;
    memcpy(text, k, kl);
    tl = kl;
    memcpy(text + tl, ": ", 2);
    tl += 2;
    memcpy(text + tl, v, vl);
    tl += vl;
    int options = 0;
    bool first_is_k = false;
    size_t pos = 0;
    for (int no = 0; pos <= tl; no++) {
        size_t ll = 0;
        while (pos < tl && text[pos] != '\n' && text[pos] != '\r')
            line[ll++] = text[pos++];
        if (pos < tl && text[pos] == '\r' && pos + 1 < tl && text[pos + 1] == '\n')
            pos++;
        pos++;
        for (size_t i = 0; i < ll; i++)
            if (line[i] == '#')
                ll = i; /* the first '#' ends the loop: ll shrinks to it */
        size_t b = 0;
        while (b < ll && (unsigned char)line[b] <= ' ')
            b++;
        while (ll > b && (unsigned char)line[ll - 1] <= ' ')
            ll--;
        size_t sep = b;
        while (sep + 1 < ll && !(line[sep] == ':' && line[sep + 1] == ' '))
            sep++;
        if (sep + 1 >= ll)
            continue; /* no ": " */
        size_t ke = sep, vb = sep + 2;
        while (ke > b && (unsigned char)line[ke - 1] <= ' ')
            ke--;
        while (vb < ll && (unsigned char)line[vb] <= ' ')
            vb++;
        if (ke == b || vb == ll)
            continue; /* an empty key or value */
        if (options++ == 0)
            first_is_k = no == 0 && ke - b == kl && memcmp(line + b, k, kl) == 0;
    }
    return options == 1 && first_is_k && !(kl > 0 && k[kl - 1] == '.');
}

static void test_flink_conf_entry_exhaustive(void **state)
{
    (void)state;
    static const char alphabet[] = {'a', '.', ' ', '#', ':', '\n', '\r', '\x01'};
    enum { N = sizeof alphabet, MAXLEN = 3 };
    char strs[1 + N + N * N + N * N * N][MAXLEN + 1];
    size_t lens[sizeof strs / sizeof strs[0]], count = 0;
    for (size_t len = 0; len <= MAXLEN; len++) {
        size_t total = 1;
        for (size_t i = 0; i < len; i++)
            total *= N;
        for (size_t x = 0; x < total; x++, count++) {
            size_t y = x;
            for (size_t i = 0; i < len; i++, y /= N)
                strs[count][i] = alphabet[y % N];
            lens[count] = len;
        }
    }
    arena *a = arena_new(1 << 16);
    for (size_t i = 0; i < count; i++) {
        for (size_t j = 0; j < count; j++) {
            const char *why;
            arena_reset(a);
            assert_int_equal(k8s_flink_conf_entry_check(a, strs[i], lens[i], strs[j], lens[j], &why), 0);
            if ((why == NULL) != reference_one_option(strs[i], lens[i], strs[j], lens[j]))
                fail_msg("key '%.*s' value '%.*s': %s", (int)lens[i], strs[i], (int)lens[j],
                         strs[j], why ? why : "accepted, the reference refuses it");
        }
    }
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantity_table),
        cmocka_unit_test(test_quantity_reference),
        cmocka_unit_test(test_quantity_compare_and_arith),
        cmocka_unit_test(test_flink_memory_table),
        cmocka_unit_test(test_flink_resource_memory_table),
        cmocka_unit_test(test_jvm_memory_table),
        cmocka_unit_test(test_jsonpatch_apply_table),
        cmocka_unit_test(test_jsonpatch_diff_table),
        cmocka_unit_test(test_jsonpatch_large_objects),
        cmocka_unit_test(test_jsonpatch_deep_change),
        cmocka_unit_test(test_jsonpatch_diff_at_random),
        cmocka_unit_test(test_jsonpatch_diff_at_skips),
        cmocka_unit_test(test_flink_path_table),
        cmocka_unit_test(test_flink_path_exhaustive),
        cmocka_unit_test(test_java_upper_table),
        cmocka_unit_test(test_flink_conf_entry_table),
        cmocka_unit_test(test_flink_conf_entry_exhaustive),
        cmocka_unit_test(test_flink_conf_value_check),
    };
    return cmocka_run_group_tests_name("k8s", tests, NULL, NULL);
}
