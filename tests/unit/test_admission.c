/* test_admission.c - AdmissionReview codec (review.c) and the review round trip (decide.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admission/decide.h"
#include "admission/review.h"
#include "admission/synth.h"
#include "policy/policy.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/utf8.h"

/* its string scan, the SSE2 one against the portable one */
#include "util/jsonprint.c"
#include "scan_paths.h"

#define FIXTURES "tests/fixtures/admission/"

/* Every request captured from kube-apiserver decodes to what it says. */
static const struct {
    const char *file;
    enum admission_version version;
    const char *uid, *kind, *ns, *name;
    enum admission_op op;
    bool dry_run, has_object, has_old;
} fixtures[] = {
    {"flinkdeployment-create-v1.request.json", ADMISSION_V1, "655bcd5f-dbba-4ff3-93fa-2ddf2d7f9833",
     "FlinkDeployment", "default", "basic-checkpoint-ha-example", ADMISSION_CREATE, false, true, false},
    {"flinkdeployment-create-v1beta1.request.json", ADMISSION_V1BETA1, "1432a94b-101c-43e3-a916-f2fa8808a48c",
     "FlinkDeployment", "default", "basic-checkpoint-ha-example", ADMISSION_CREATE, false, true, false},
    {"flinkdeployment-create-dryrun-v1.request.json", ADMISSION_V1, NULL, "FlinkDeployment", "default",
     "basic-reactive-example", ADMISSION_CREATE, true, true, false},
    {"flinkdeployment-create-dryrun-v1beta1.request.json", ADMISSION_V1BETA1,
     "5252be7f-1b38-4a0a-a04f-aa6a25c51e6a", "FlinkDeployment", "default", "basic-reactive-example",
     ADMISSION_CREATE, true, true, false},
    {"flinkdeployment-create-v1-2.request.json", ADMISSION_V1, NULL, "FlinkDeployment", "default", NULL,
     ADMISSION_CREATE, false, true, false},
    {"flinkdeployment-create-v1beta1-2.request.json", ADMISSION_V1BETA1, NULL, "FlinkDeployment", "default",
     NULL, ADMISSION_CREATE, false, true, false},
    {"flinkdeployment-update-v1.request.json", ADMISSION_V1, NULL, "FlinkDeployment", "default", NULL,
     ADMISSION_UPDATE, false, true, true},
    {"flinkdeployment-delete-v1.request.json", ADMISSION_V1, "6de7f968-4826-4f04-9c2c-8208f5964082",
     "FlinkDeployment", "default", "basic-checkpoint-ha-example", ADMISSION_DELETE, false, false, true},
    {"flinksessionjob-create-v1.request.json", ADMISSION_V1, NULL, "FlinkSessionJob", "default", NULL,
     ADMISSION_CREATE, false, true, false},
    {"flinksessionjob-create-v1-2.request.json", ADMISSION_V1, NULL, "FlinkSessionJob", "default", NULL,
     ADMISSION_CREATE, false, true, false},
    {"k8ssandracluster-create-v1.request.json", ADMISSION_V1, NULL, "K8ssandraCluster", NULL, NULL,
     ADMISSION_CREATE, false, true, false},
    {"cassandradatacenter-create-v1.request.json", ADMISSION_V1, NULL, "CassandraDatacenter", NULL, NULL,
     ADMISSION_CREATE, false, true, false},
};

static void read_fixture(const char *name, buf *b)
{
    char path[256];
    diag_list dl;
    diag_list_init(&dl);
    snprintf(path, sizeof path, FIXTURES "%s", name);
    buf_init(b, 8u << 20);
    if (file_read(path, 8u << 20, b, &dl) != 0)
        fail_msg("cannot read %s (run the tests from the repository root)", path);
    diag_list_clear(&dl);
}

static void test_decode_fixtures(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        buf b;
        read_fixture(fixtures[i].file, &b);
        arena *a = arena_new(ARENA_REQUEST_BUDGET);
        diag_list dl;
        diag_list_init(&dl);
        admission_request *r = admission_request_decode(a, b.data, b.len, &dl);
        if (r == NULL)
            fail_msg("%s: %s", fixtures[i].file, dl.count ? dl.items[0].msg : "?");
        assert_int_equal(r->version, fixtures[i].version);
        if (fixtures[i].uid)
            assert_string_equal(r->uid, fixtures[i].uid);
        assert_true(r->uid[0] != '\0');
        assert_string_equal(r->kind.kind, fixtures[i].kind);
        assert_string_equal(r->request_kind.kind, fixtures[i].kind);
        if (fixtures[i].ns)
            assert_string_equal(r->namespace_, fixtures[i].ns);
        if (fixtures[i].name)
            assert_string_equal(r->name, fixtures[i].name);
        assert_int_equal(r->operation, fixtures[i].op);
        assert_int_equal(r->dry_run, fixtures[i].dry_run);
        assert_int_equal(r->object != NULL, fixtures[i].has_object);
        assert_int_equal(r->old_object != NULL, fixtures[i].has_old);
        assert_string_equal(r->username, "admin");
        assert_non_null(r->options);
        assert_int_equal(dl.count, 0);
        admission_request_free(r);
        arena_free(a);
        buf_clear(&b);
    }
}

#define ENV  "\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\""
#define KIND "\"kind\":{\"group\":\"flink.apache.org\",\"version\":\"v1beta1\",\"kind\":\"FlinkDeployment\"}"
#define TYPE "\"apiVersion\":\"flink.apache.org/v1beta1\",\"kind\":\"FlinkDeployment\""
#define OBJ  "\"object\":{" TYPE ",\"metadata\":{\"name\":\"x\"}}"
#define REQ(extra) "{" ENV ",\"request\":{\"uid\":\"u1\"," KIND ",\"operation\":\"CREATE\"," OBJ extra "}}"

/* Each malformed body is refused with a reason that names the problem. */
static const struct {
    const char *body, *code, *msg;
} malformed[] = {
    {"", "input.json", "the body is empty"},
    {"{", "input.json", "invalid JSON near byte"},
    {"{\"a\":1,}", "input.json", "invalid JSON near byte"},
    {"{} x", "input.json", "invalid JSON"},
    {"\xff\xfe{}", "input.json", "invalid UTF-8 at byte 0"},
    {"[]", "review.schema", "the body must be a JSON object"},
    {"null", "review.schema", "the body must be a JSON object"},
    {"\"AdmissionReview\"", "review.schema", "the body must be a JSON object"},
    {"{\"kind\":\"AdmissionReview\"}", "review.schema", "apiVersion is missing"},
    {"{\"apiVersion\":1,\"kind\":\"AdmissionReview\"}", "review.schema", "apiVersion must be a string"},
    {"{\"apiVersion\":\"admission.k8s.io/v2\",\"kind\":\"AdmissionReview\",\"request\":{}}",
     "review.schema", "apiVersion must be admission.k8s.io/v1 or admission.k8s.io/v1beta1"},
    {"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"Pod\"}", "review.schema",
     "kind must be AdmissionReview, not 'Pod'"},
    {"{" ENV "}", "review.schema", "request is missing"},
    {"{" ENV ",\"request\":null}", "review.schema", "request is missing"},
    {"{" ENV ",\"request\":\"x\"}", "review.schema", "request must be an object or null"},
    {"{" ENV ",\"request\":{}}", "review.schema", "request.uid is missing"},
    {"{" ENV ",\"request\":{\"uid\":5}}", "review.schema", "request.uid must be a string"},
    {"{" ENV ",\"request\":{\"uid\":\"\"}}", "review.schema", "request.uid must not be empty"},
    {"{" ENV ",\"request\":{\"uid\":\"u\"}}", "review.schema", "request.kind is missing"},
    {"{" ENV ",\"request\":{\"uid\":\"u\",\"kind\":[]}}", "review.schema",
     "request.kind must be an object"},
    {"{" ENV ",\"request\":{\"uid\":\"u\",\"kind\":{\"version\":\"v1\"}}}", "review.schema",
     "request.kind.kind is missing"},
    {"{" ENV ",\"request\":{\"uid\":\"u\"," KIND "}}", "review.schema", "request.operation is missing"},
    {"{" ENV ",\"request\":{\"uid\":\"u\"," KIND ",\"operation\":\"PATCH\"}}", "review.schema",
     "request.operation must be CREATE, UPDATE, DELETE or CONNECT, not 'PATCH'"},
    {"{" ENV ",\"request\":{\"uid\":\"u\"," KIND ",\"operation\":\"CREATE\"}}", "review.schema",
     "request.object is required for CREATE"},
    {"{" ENV ",\"request\":{\"uid\":\"u\"," KIND ",\"operation\":\"UPDATE\",\"object\":null}}",
     "review.schema", "request.object is required for UPDATE"},
    {REQ(",\"object\":\"s\""), "input.json", "duplicate key 'object' in one object"},
    {"{" ENV ",\"kind\":\"AdmissionReview\",\"request\":{}}", "input.json", "duplicate key 'kind'"},
    {"{" ENV ",\"request\":{\"uid\":\"u\"," KIND ",\"operation\":\"CREATE\",\"object\":{\"spec\":"
     "{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,\"i\":9,\"j\":10,\"k\":11,"
     "\"l\":12,\"m\":13,\"n\":14,\"o\":15,\"p\":16,\"q\":17,\"a\":18}}}}",
     "input.json", "duplicate key 'a'"},
    {"{" ENV ",\"request\":{\"uid\":\"u\"," KIND ",\"operation\":\"CREATE\",\"object\":{\"spec\":"
     "{\"ab\":1,\"ac\":2,\"ab\":3}}}}", "input.json", "duplicate key 'ab'"},
    {"{" ENV ",\"request\":{\"uid\":\"u\"," KIND ",\"operation\":\"CREATE\",\"object\":[1]}}",
     "review.schema", "request.object must be an object or null"},
    {REQ(",\"oldObject\":7"), "review.schema", "request.oldObject must be an object or null"},
    {REQ(",\"dryRun\":\"yes\""), "review.schema", "request.dryRun must be a boolean"},
    {REQ(",\"name\":5"), "review.schema", "request.name must be a string"},
    {REQ(",\"namespace\":{}"), "review.schema", "request.namespace must be a string"},
    {REQ(",\"userInfo\":{\"username\":false}"), "review.schema",
     "request.userInfo.username must be a string"},
    {REQ(",\"resource\":{\"resource\":1}"), "review.schema", "request.resource.resource must be a string"},
    /* Not UTF-8, by class: Go would read each of these as U+FFFD, cJSON keeps the bytes. */
    {REQ(",\"name\":\"a\xc0\xaf" "b\""), "input.json", "invalid UTF-8 at byte"}, /* overlong */
    {REQ(",\"name\":\"\xe0\x80\xaf\""), "input.json", "invalid UTF-8 at byte"},
    {REQ(",\"name\":\"\xed\xa0\x80\""), "input.json", "invalid UTF-8 at byte"}, /* U+D800 */
    {REQ(",\"name\":\"\xf4\x90\x80\x80\""), "input.json", "invalid UTF-8 at byte"}, /* > U+10FFFF */
    {REQ(",\"name\":\"\x80\""), "input.json", "invalid UTF-8 at byte"},
    {REQ(",\"n\xff\":\"x\""), "input.json", "invalid UTF-8 at byte"}, /* in a key */
    {REQ("") "\xe2\x82", "input.json", "invalid UTF-8 at byte"}, /* cut short at the end */
    /* Escapes of lone surrogates: cJSON refuses them (Go would read U+FFFD). */
    {REQ(",\"name\":\"\\ud800\""), "input.json", "invalid JSON"},
    {REQ(",\"name\":\"\\udc00x\""), "input.json", "invalid JSON"},
    {REQ(",\"name\":\"\\ud800\\u0041\""), "input.json", "invalid JSON"},
    /* \u0000 would cut the string or key at the NUL: "\u0000/tmp/cp" would be read as "". */
    {REQ(",\"name\":\"\\u0000/tmp/cp\""), "input.json",
     "a NUL character (a \\u0000 escape or a NUL byte) at byte"},
    {REQ(",\"name\":\"file:///data/x\\u0000/../../tmp/ha\""), "input.json", "a NUL character"},
    {REQ(",\"k\\u0000ey\":1"), "input.json", "a NUL character"},
    {REQ(",\"name\":\"\\\\\\u0000\""), "input.json", "a NUL character"}, /* \\ then \u0000 */
    /* a number beyond a double: infinity to cJSON, refused by Go's decoder */
    {REQ(",\"x\":1e999"), "input.json", "beyond the range of a double"},
    {REQ(",\"x\":[-1e+316]"), "input.json", "beyond the range of a double"},
    /* object and oldObject must be of request.kind (group/version and kind) */
    {"{" ENV ",\"request\":{\"uid\":\"u\"," KIND ",\"operation\":\"CREATE\",\"object\":"
     "{\"apiVersion\":\"flink.apache.org/v1beta1\",\"kind\":\"FlinkSessionJob\"}}}",
     "review.schema", "request.object is flink.apache.org/v1beta1 FlinkSessionJob, but request.kind "
     "is flink.apache.org/v1beta1 FlinkDeployment"},
    {"{" ENV ",\"request\":{\"uid\":\"u\"," KIND ",\"operation\":\"CREATE\",\"object\":"
     "{\"apiVersion\":\"flink.apache.org/v1\",\"kind\":\"FlinkDeployment\"}}}",
     "review.schema", "request.object is flink.apache.org/v1 FlinkDeployment"},
    {"{" ENV ",\"request\":{\"uid\":\"u\"," KIND ",\"operation\":\"CREATE\",\"object\":"
     "{\"apiVersion\":\"v1beta1\",\"kind\":\"FlinkDeployment\"}}}",
     "review.schema", "request.object is v1beta1 FlinkDeployment"},
    {"{" ENV ",\"request\":{\"uid\":\"u\"," KIND ",\"operation\":\"CREATE\",\"object\":"
     "{\"apiVersion\":\"flink.apache.orgv1beta1\",\"kind\":\"FlinkDeployment\"}}}",
     "review.schema", "request.object is flink.apache.orgv1beta1"},
    {"{" ENV ",\"request\":{\"uid\":\"u\"," KIND ",\"operation\":\"CREATE\",\"object\":"
     "{\"metadata\":{}}}}", "review.schema", "request.object.apiVersion is missing"},
    {"{" ENV ",\"request\":{\"uid\":\"u\"," KIND ",\"operation\":\"CREATE\",\"object\":"
     "{\"apiVersion\":\"flink.apache.org/v1beta1\"}}}", "review.schema",
     "request.object.kind is missing"},
    {REQ(",\"oldObject\":{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\"}"), "review.schema",
     "request.oldObject is v1 ConfigMap, but request.kind is flink.apache.org/v1beta1"},
    {"{" ENV ",\"request\":{\"uid\":\"u\"," KIND ",\"operation\":\"DELETE\",\"object\":null,"
     "\"oldObject\":{\"apiVersion\":\"flink.apache.org/v1beta1\",\"kind\":\"FlinkSessionJob\"}}}",
     "review.schema", "request.oldObject is flink.apache.org/v1beta1 FlinkSessionJob"},
    {"{" ENV ",\"request\":{\"uid\":\"u\",\"kind\":{\"group\":\"\",\"version\":\"v1\","
     "\"kind\":\"Pod\"},\"operation\":\"CREATE\",\"object\":{\"apiVersion\":\"/v1\","
     "\"kind\":\"Pod\"}}}", "review.schema", "request.object is /v1 Pod, but request.kind is v1 Pod"},
    /* an echo of the input cut at 64 bytes in the middle of a character */
    {"{" ENV ",\"request\":{\"uid\":\"u\"," KIND ",\"operation\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\xc3\xa9\"}}", "review.schema",
     "request.operation must be CREATE, UPDATE, DELETE or CONNECT"},
};

/* Reviews at the edges of the checks above that are fine. */
static const char *const wellformed[] = {
    REQ(",\"name\":\"a\\\\u0000\""), /* an escaped backslash, then the text u0000 */
    REQ(",\"name\":\"\\u0001 \\ud83d\\ude00 caf\xc3\xa9 \xf4\x8f\xbf\xbf\""),
    "{" ENV ",\"request\":{\"uid\":\"u\"," KIND ",\"operation\":\"DELETE\",\"object\":null,"
    "\"oldObject\":{" TYPE "}}}",
    "{" ENV ",\"request\":{\"uid\":\"u\"," KIND ",\"operation\":\"DELETE\",\"object\":null}}",
    "{" ENV ",\"request\":{\"uid\":\"u\",\"kind\":{\"group\":\"\",\"version\":\"v1\","
    "\"kind\":\"Pod\"},\"operation\":\"UPDATE\",\"object\":{\"apiVersion\":\"v1\","
    "\"kind\":\"Pod\"},\"oldObject\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\"}}}",
    /* CONNECT carries the connect options as its object, not the resource */
    "{" ENV ",\"request\":{\"uid\":\"u\",\"kind\":{\"group\":\"\",\"version\":\"v1\","
    "\"kind\":\"Pod\"},\"operation\":\"CONNECT\",\"object\":{\"apiVersion\":\"v1\","
    "\"kind\":\"PodExecOptions\"}}}",
};

static void test_decode_wellformed(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof wellformed / sizeof wellformed[0]; i++) {
        arena *a = arena_new(ARENA_REQUEST_BUDGET);
        diag_list dl;
        diag_list_init(&dl);
        admission_request *r = admission_request_decode(a, wellformed[i], strlen(wellformed[i]), &dl);
        if (r == NULL)
            fail_msg("case %zu: %s refused: %s", i, wellformed[i], dl.count ? dl.items[0].msg : "-");
        admission_request_free(r);
        diag_list_clear(&dl);
        arena_free(a);
    }
}

/* The parsed tree of a review is the request arena's (util/jsonparse.h): admission_request_free()
 * leaves it to the arena, which is reset and reused for the next review, then freed. Under
 * make check (AddressSanitizer) and make valgrind a free of arena memory, or a tree freed
 * twice, is an error. A review whose tree needs more than the arena's cap is refused as too
 * large, not as malformed JSON. */
static void test_decode_tree_in_arena(void **state)
{
    (void)state;
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    for (int round = 0; round < 3; round++) {
        diag_list dl;
        diag_list_init(&dl);
        admission_request *r = admission_request_decode(a, wellformed[0], strlen(wellformed[0]),
                                                        &dl);
        assert_non_null(r);
        assert_true(r->doc_in_arena);
        assert_true(arena_owns(a, r->doc) && arena_owns(a, r->object));
        admission_request_free(r);
        diag_list_clear(&dl);
        arena_reset(a);
    }
    arena_free(a);
    arena *small = arena_new(1024);
    diag_list dl;
    diag_list_init(&dl);
    assert_null(admission_request_decode(small, wellformed[0], strlen(wellformed[0]), &dl));
    assert_string_equal(dl.items[0].code, "input.limit");
    assert_non_null(strstr(dl.items[0].msg, "memory"));
    assert_non_null(strstr(dl.items[0].msg, "times the body")); /* the cap the server gives */
    diag_list_clear(&dl);
    arena_free(small);
}

/* A body as large as the server takes (3 MiB) of dense small values: its tree is ~32 times
 * the text, more than the evaluation's budget alone; the arena sized for the body holds it. */
static void test_decode_dense_body(void **state)
{
    (void)state;
    static const char head[] = "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
                               "\"request\":{\"uid\":\"u\",\"operation\":\"CREATE\","
                               "\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"ConfigMap\"},"
                               "\"resource\":{\"group\":\"\",\"version\":\"v1\",\"resource\":"
                               "\"configmaps\"},\"object\":{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
                               "\"metadata\":{\"name\":\"x\"},\"a\":[0";
    size_t len = (size_t)3 << 20, n = strlen(head);
    char *body = malloc(len + 1);
    assert_non_null(body);
    memcpy(body, head, n);
    while (n + 8 < len) {
        memcpy(body + n, ",0", 2);
        n += 2;
    }
    memcpy(body + n, "]}}}", 5);
    n += 4;
    diag_list dl;
    diag_list_init(&dl);
    arena *a = arena_new(admission_arena_cap(n));
    admission_request *r = admission_request_decode(a, body, n, &dl);
    if (r == NULL)
        fail_msg("%s: %s", dl.count ? dl.items[0].code : "?", dl.count ? dl.items[0].msg : "?");
    admission_request_free(r);
    arena_free(a);
    /* the evaluation's budget alone would not have held it */
    a = arena_new(ARENA_REQUEST_BUDGET);
    assert_null(admission_request_decode(a, body, n, &dl));
    arena_free(a);
    diag_list_clear(&dl);
    free(body);
}

static void test_decode_malformed(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        arena *a = arena_new(ARENA_REQUEST_BUDGET);
        diag_list dl;
        diag_list_init(&dl);
        admission_request *r =
            admission_request_decode(a, malformed[i].body, strlen(malformed[i].body), &dl);
        if (r != NULL)
            fail_msg("case %zu: %s decoded", i, malformed[i].body);
        if (dl.count != 1 || strcmp(dl.items[0].code, malformed[i].code) != 0 ||
            strstr(dl.items[0].msg, malformed[i].msg) == NULL)
            fail_msg("case %zu: %s => [%s] %s, want [%s] %s", i, malformed[i].body,
                     dl.count ? dl.items[0].code : "-", dl.count ? dl.items[0].msg : "-",
                     malformed[i].code, malformed[i].msg);
        diag_list_clear(&dl);
        arena_free(a);
    }
}

/* Bytes that are not text: a NUL byte must not make a shorter document acceptable, and one
 * inside a string or key (which cJSON takes and then cuts at) must not make a shorter string. */
static void test_decode_embedded_nul(void **state)
{
    (void)state;
    static const char after[] = REQ("") "\0trailing";
    static const char in_string[] = REQ(",\"name\":\"\0/tmp/cp\"");
    static const char in_key[] = REQ(",\"na\0me\":\"x\"");
    static const struct {
        const char *body;
        size_t len;
    } cases[] = {{after, sizeof after - 1}, {in_string, sizeof in_string - 1},
                 {in_key, sizeof in_key - 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        arena *a = arena_new(4096);
        diag_list dl;
        diag_list_init(&dl);
        if (admission_request_decode(a, cases[i].body, cases[i].len, &dl) != NULL)
            fail_msg("case %zu: a body with a NUL byte was decoded", i);
        assert_string_equal(dl.items[0].code, "input.json");
        assert_non_null(strstr(dl.items[0].msg, "NUL"));
        diag_list_clear(&dl);
        arena_free(a);
    }
}

/* Deep nesting is refused by the parser, not by the stack. */
static void test_decode_deep_nesting(void **state)
{
    (void)state;
    size_t depth = 100000;
    buf b;
    buf_init(&b, 4 * depth + 1024);
    buf_puts(&b, "{" ENV ",\"request\":{\"uid\":\"u\"," KIND ",\"operation\":\"CREATE\",\"object\":{\"a\":");
    for (size_t i = 0; i < depth; i++)
        buf_puts(&b, "[");
    for (size_t i = 0; i < depth; i++)
        buf_puts(&b, "]");
    buf_puts(&b, "}}}");
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    diag_list dl;
    diag_list_init(&dl);
    assert_null(admission_request_decode(a, b.data, b.len, &dl));
    assert_string_equal(dl.items[0].code, "input.json");
    diag_list_clear(&dl);
    arena_free(a);
    buf_clear(&b);
}

/* A review close to the 3 MiB cap, with unicode in names and values, decodes. */
static void test_decode_large_unicode(void **state)
{
    (void)state;
    buf b;
    buf_init(&b, 4u << 20);
    buf_puts(&b, "{" ENV ",\"request\":{\"uid\":\"ü-1\"," KIND ",\"operation\":\"CREATE\","
                 "\"name\":\"flink-ñ-日本\",\"namespace\":\"équipe\",\"object\":{" TYPE ",\"metadata\":"
                 "{\"name\":\"flink-ñ-日本\",\"annotations\":{\"big\":\"");
    while (b.len < (3u << 20) - 4096)
        buf_puts(&b, "données-\\u00e9-\\ud83d\\ude00-");
    buf_puts(&b, "\"}}}}}");
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    diag_list dl;
    diag_list_init(&dl);
    admission_request *r = admission_request_decode(a, b.data, b.len, &dl);
    assert_non_null(r);
    assert_string_equal(r->name, "flink-ñ-日本");
    assert_string_equal(r->namespace_, "équipe");
    const cJSON *ann = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(r->object, "metadata"), "annotations");
    const char *big = cJSON_GetObjectItemCaseSensitive(ann, "big")->valuestring;
    assert_true(strlen(big) > (3u << 19));
    assert_memory_equal(big, "données-é-😀-", strlen("données-é-😀-"));
    admission_response resp = {.allowed = true};
    size_t len = 0;
    char *out = admission_response_encode(r, &resp, &len);
    assert_non_null(out);
    assert_non_null(strstr(out, "\"uid\":\"ü-1\""));
    free(out);
    admission_request_free(r);
    arena_free(a);
    buf_clear(&b);
}

static cJSON *encode_and_parse(const admission_request *r, const admission_response *resp)
{
    size_t len = 0;
    char *out = admission_response_encode(r, resp, &len);
    assert_non_null(out);
    assert_int_equal(len, strlen(out));
    cJSON *doc = cJSON_Parse(out);
    free(out);
    assert_non_null(doc);
    return doc;
}

static const char *str_at(const cJSON *o, const char *k)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* The answer echoes the version and uid and carries status, warnings, patch, annotations. */
static void test_encode_full_response(void **state)
{
    (void)state;
    static const char *const versions[] = {"admission.k8s.io/v1", "admission.k8s.io/v1beta1"};
    for (size_t v = 0; v < 2; v++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"apiVersion\":\"%s\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"abc\","
                 KIND ",\"operation\":\"DELETE\",\"object\":null}}", versions[v]);
        arena *a = arena_new(4096);
        diag_list dl;
        diag_list_init(&dl);
        admission_request *r = admission_request_decode(a, body, strlen(body), &dl);
        assert_non_null(r);
        static const char *const warnings[] = {"[p1] first", "[p2] ünïcode \"quoted\""};
        static const admission_kv audit[] = {{"streamguard.dev/policy", "p1"}};
        static const char patch[] = "[{\"op\":\"add\",\"path\":\"/spec/x\",\"value\":1}]";
        admission_response resp = {.allowed = false, .status_code = 403,
                                   .status_reason = "Forbidden", .status_message = "[p1] denied",
                                   .warnings = warnings, .n_warnings = 2,
                                   .patch = patch, .patch_len = sizeof patch - 1,
                                   .audit = audit, .n_audit = 1};
        cJSON *doc = encode_and_parse(r, &resp);
        assert_string_equal(str_at(doc, "apiVersion"), versions[v]);
        assert_string_equal(str_at(doc, "kind"), "AdmissionReview");
        const cJSON *out = cJSON_GetObjectItemCaseSensitive(doc, "response");
        assert_string_equal(str_at(out, "uid"), "abc");
        assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(out, "allowed")));
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(out, "status");
        assert_int_equal(cJSON_GetObjectItemCaseSensitive(st, "code")->valueint, 403);
        assert_string_equal(str_at(st, "reason"), "Forbidden");
        assert_string_equal(str_at(st, "message"), "[p1] denied");
        assert_string_equal(str_at(st, "status"), "Failure");
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(out, "warnings");
        assert_int_equal(cJSON_GetArraySize(w), 2);
        assert_string_equal(cJSON_GetArrayItem(w, 1)->valuestring, warnings[1]);
        assert_string_equal(str_at(out, "patchType"), "JSONPatch");
        unsigned char decoded[256];
        const char *p64 = str_at(out, "patch");
        long n = base64_decode(p64, strlen(p64), decoded);
        assert_int_equal(n, (long)(sizeof patch - 1));
        assert_memory_equal(decoded, patch, sizeof patch - 1);
        const cJSON *ann = cJSON_GetObjectItemCaseSensitive(out, "auditAnnotations");
        assert_string_equal(str_at(ann, "streamguard.dev/policy"), "p1");
        cJSON_Delete(doc);
        admission_request_free(r);
        arena_free(a);
    }
}

/* A plain allow has exactly uid and allowed: nothing the apiserver would misread. */
static void test_encode_minimal_allow(void **state)
{
    (void)state;
    static const char body[] = REQ("");
    arena *a = arena_new(4096);
    diag_list dl;
    diag_list_init(&dl);
    admission_request *r = admission_request_decode(a, body, sizeof body - 1, &dl);
    admission_response resp = {.allowed = true};
    size_t len;
    char *out = admission_response_encode(r, &resp, &len);
    assert_string_equal(out, "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
                             "\"response\":{\"uid\":\"u1\",\"allowed\":true}}");
    free(out);
    admission_request_free(r);
    arena_free(a);
}

/* The answer as it was built before issue 16: a cJSON tree printed by cJSON itself, each
 * byte that is not UTF-8 then replaced by U+FFFD. The reference for the writer that writes
 * the same text without the tree. NULL where building the tree failed. */
static char *ref_answer(cJSON *root, bool ok)
{
    char *s = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (s == NULL)
        return NULL;
    size_t len = strlen(s), n = 0;
    char *out = malloc(len * 3 + 1);
    assert_non_null(out);
    for (size_t i = 0; i < len;) {
        size_t k = utf8_seq_len(s + i, len - i);
        memcpy(out + n, k ? s + i : "\xef\xbf\xbd", k ? k : 3);
        n += k ? k : 3;
        i += k ? k : 1;
    }
    out[n] = '\0';
    free(s);
    return out;
}

static char *ref_response(const admission_request *req, const admission_response *ar)
{
    cJSON *root = cJSON_CreateObject(), *resp;
    bool ok = cJSON_AddStringToObject(root, "apiVersion", req->api_version) &&
              cJSON_AddStringToObject(root, "kind", "AdmissionReview") &&
              (resp = cJSON_AddObjectToObject(root, "response")) != NULL &&
              cJSON_AddStringToObject(resp, "uid", req->uid) &&
              cJSON_AddBoolToObject(resp, "allowed", ar->allowed);
    if (ok && ar->status_code != 0) {
        cJSON *st = cJSON_AddObjectToObject(resp, "status");
        ok = cJSON_AddNumberToObject(st, "code", ar->status_code) &&
             (ar->allowed || cJSON_AddStringToObject(st, "status", "Failure")) &&
             (!ar->status_reason || cJSON_AddStringToObject(st, "reason", ar->status_reason)) &&
             (!ar->status_message || cJSON_AddStringToObject(st, "message", ar->status_message));
        if (ok && ar->n_causes > 0) {
            cJSON *d = cJSON_AddObjectToObject(st, "details");
            cJSON_AddStringToObject(d, "name", ar->details_name ? ar->details_name : "");
            cJSON_AddStringToObject(d, "group", ar->details_group ? ar->details_group : "");
            cJSON_AddStringToObject(d, "kind", ar->details_kind ? ar->details_kind : "");
            cJSON *causes = cJSON_AddArrayToObject(d, "causes");
            for (size_t i = 0; ok && i < ar->n_causes; i++) {
                cJSON *c = cJSON_CreateObject();
                cJSON_AddItemToArray(causes, c);
                ok = cJSON_AddStringToObject(c, "reason", "FieldValueInvalid") &&
                     cJSON_AddStringToObject(c, "message", ar->causes[i].message) &&
                     (!ar->causes[i].field || cJSON_AddStringToObject(c, "field", ar->causes[i].field));
            }
        }
    }
    if (ok && ar->patch != NULL) {
        char b64[256];
        assert_true(base64_encoded_len(ar->patch_len) < sizeof b64);
        base64_encode(ar->patch, ar->patch_len, b64);
        ok = cJSON_AddStringToObject(resp, "patchType", "JSONPatch") &&
             cJSON_AddStringToObject(resp, "patch", b64);
    }
    if (ok && ar->n_warnings > 0) {
        cJSON *w = cJSON_AddArrayToObject(resp, "warnings");
        for (size_t i = 0; ok && i < ar->n_warnings; i++) {
            cJSON *str = cJSON_CreateString(ar->warnings[i]);
            ok = str != NULL && cJSON_AddItemToArray(w, str);
        }
    }
    if (ok && ar->n_audit > 0) {
        cJSON *m = cJSON_AddObjectToObject(resp, "auditAnnotations");
        for (size_t i = 0; ok && i < ar->n_audit; i++)
            ok = cJSON_GetObjectItemCaseSensitive(m, ar->audit[i].key) == NULL &&
                 cJSON_AddStringToObject(m, ar->audit[i].key, ar->audit[i].value);
    }
    return ref_answer(root, ok);
}

/* cJSON's allocations, counted while the answers are written. */
static _Atomic unsigned long cjson_allocs;
static void *counted_malloc(size_t n)
{
    cjson_allocs++;
    return malloc(n);
}

/* The answers are written as cJSON printed the trees they were built as: the same bytes for
 * every shape (status with and without reason, message and causes, causes with and without a
 * field, patch, warnings, audit annotations, a repeated annotation key and NULL strings, which
 * fail the answer) and strings of every kind (empty, long, quotes, backslashes, each control
 * character, UTF-8, bytes that are not UTF-8), and without building a tree: no cJSON
 * allocation. */
static void test_encode_as_cjson(void **state)
{
    (void)state;
    static char longer[5000];
    memset(longer, 'x', sizeof longer - 1);
    for (size_t i = 0; i < sizeof longer - 1; i += 97)
        longer[i] = (char)(i % 3 == 0 ? '"' : i % 3 == 1 ? '\n' : '\xc3');
    const char *strs[] = {"", "plain", "q\"uo\\te", "\b\f\n\r\t\x01\x1f\x7f end", "caf\xc3\xa9 \xe2\x82\xac",
                          "bad \xff\xc0\xaf cut \xe2\x82", "spec.flinkConfiguration", longer,
                          "[flink-ha-storage-rwx] high-availability.storageDir file:///flink-data/ha "
                          "is on volume flink-volume (hostPath), not a ReadWriteMany claim", NULL};
    const size_t ns = sizeof strs / sizeof strs[0];
    static const int codes[] = {0, 0, 403, 422, 500, 400};
    srand(16);
    cJSON_Hooks counting = {.malloc_fn = counted_malloc, .free_fn = free};
    for (int round = 0; round < 3000; round++) {
        /* mostly non-NULL strings: a NULL fails the whole answer */
#define PICK(nul) strs[rand() % (int)((nul) && rand() % 8 == 0 ? ns : ns - 1)]
        admission_request req = {.api_version = PICK(true), .uid = PICK(true)};
        admission_cause causes[3];
        const char *warnings[3];
        admission_kv audit[3];
        static const char *const keys[] = {"streamguard.dev/a", "streamguard.dev/b", "k\"\xff"};
        size_t nc = (size_t)(rand() % 4), nw = (size_t)(rand() % 4), na = (size_t)(rand() % 4);
        for (size_t i = 0; i < 3; i++) {
            causes[i] = (admission_cause){.field = rand() % 3 ? PICK(false) : NULL,
                                          .message = PICK(true)};
            warnings[i] = PICK(true);
            audit[i] = (admission_kv){.key = rand() % 10 ? keys[i] : keys[0], .value = PICK(true)};
        }
        static const char patch[] = "[{\"op\":\"add\",\"path\":\"/spec/x\",\"value\":1}]";
        admission_response ar = {
            .allowed = rand() % 2, .status_code = codes[rand() % 6],
            .status_reason = rand() % 3 ? PICK(false) : NULL,
            .status_message = rand() % 3 ? PICK(false) : NULL,
            .details_group = rand() % 4 ? PICK(false) : NULL, .details_kind = PICK(false),
            .details_name = rand() % 4 ? PICK(false) : NULL,
            .causes = causes, .n_causes = nc, .warnings = warnings, .n_warnings = nw,
            .patch = rand() % 3 ? NULL : patch, .patch_len = sizeof patch - 1,
            .audit = audit, .n_audit = na};
#undef PICK
        char *want = ref_response(&req, &ar);
        size_t len = 0;
        cJSON_InitHooks(&counting);
        char *got = admission_response_encode(&req, &ar, &len);
        cJSON_InitHooks(NULL);
        if ((got == NULL) != (want == NULL) || (got != NULL && strcmp(got, want) != 0))
            fail_msg("round %d:\n got %s\nwant %s", round, got ? got : "(null)",
                     want ? want : "(null)");
        assert_true(got == NULL || len == strlen(got));
        free(got);
        free(want);
        int code = codes[rand() % 6];
        const char *reason = strs[rand() % (int)ns], *message = strs[rand() % (int)ns];
        cJSON *root = cJSON_CreateObject();
        bool ok = cJSON_AddStringToObject(root, "kind", "Status") &&
                  cJSON_AddStringToObject(root, "apiVersion", "v1") &&
                  cJSON_AddObjectToObject(root, "metadata") &&
                  cJSON_AddStringToObject(root, "status", "Failure") &&
                  cJSON_AddStringToObject(root, "message", message) &&
                  cJSON_AddStringToObject(root, "reason", reason) &&
                  cJSON_AddNumberToObject(root, "code", code);
        want = ref_answer(root, ok);
        cJSON_InitHooks(&counting);
        got = admission_status_encode(code, reason, message, &len);
        cJSON_InitHooks(NULL);
        if ((got == NULL) != (want == NULL) || (got != NULL && strcmp(got, want) != 0))
            fail_msg("status round %d:\n got %s\nwant %s", round, got ? got : "(null)",
                     want ? want : "(null)");
        free(got);
        free(want);
    }
    assert_int_equal(cjson_allocs, 0);
}

/* A string's plain run (jsonprint.c) ends at the first byte that needs an escape, found 16
 * bytes a step with SSE2 and 8 bytes a step without: both, and a byte by byte scan, agree in
 * buffers of every length up to 80 at every offset from a 16-byte boundary, with bytes of
 * every class (quote, backslash, each control character boundary, DEL, bytes from 0x80) at
 * every place. */
static const unsigned char *print_fast(const unsigned char *p, const unsigned char *end,
                                       unsigned set)
{
    (void)set;
    return plain_end(p, end);
}

static const unsigned char *print_slow(const unsigned char *p, const unsigned char *end,
                                       unsigned set)
{
    (void)set;
    return plain_end_portable(p, end);
}

static bool print_stop(unsigned char c, unsigned set)
{
    (void)set;
    return needs_escape(c);
}

static void test_print_scan_paths(void **state)
{
    (void)state;
    static const unsigned char kinds[] = {'a', ' ', '"', '\\', '\n', 0x00, 0x01, 0x1f, 0x20,
                                          0x7f, 0x80, 0xc3, 0xff};
    scan_paths_check(print_fast, print_slow, print_stop, 0, kinds, sizeof kinds, 80, 3);
}

static void test_status_encode(void **state)
{
    (void)state;
    size_t len;
    char *s = admission_status_encode(413, "RequestEntityTooLarge", "too \"big\"", &len);
    assert_string_equal(s, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                           "\"status\":\"Failure\",\"message\":\"too \\\"big\\\"\","
                           "\"reason\":\"RequestEntityTooLarge\",\"code\":413}");
    assert_int_equal(len, strlen(s));
    free(s);
    /* A message that echoes request bytes (a header, a field cut at a byte count) is still
     * answered as UTF-8: each bad byte becomes U+FFFD. */
    s = admission_status_encode(415, "UnsupportedMediaType", "type 'a\xff\xc3' / caf\xc3\xa9", &len);
    assert_true(utf8_is_valid(s, len, NULL));
    assert_int_equal(len, strlen(s));
    assert_non_null(strstr(s, "\"message\":\"type 'a\xef\xbf\xbd\xef\xbf\xbd' / caf\xc3\xa9\""));
    free(s);
}

/* The round trip the server runs: every fixture is answered 200 in its own version. */
static void test_process_fixtures(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        for (int mode = ADMISSION_VALIDATE; mode <= ADMISSION_MUTATE; mode++) {
            buf b;
            read_fixture(fixtures[i].file, &b);
            arena *a = arena_new(ARENA_REQUEST_BUDGET);
            admission_result res;
            admission_process((enum admission_mode)mode, b.data, b.len, NULL, a, &res);
            assert_int_equal(res.http_status, 200);
            assert_int_equal(res.decision, ADMISSION_ALLOWED);
            assert_string_equal(res.kind, fixtures[i].kind);
            assert_int_equal(res.dry_run, fixtures[i].dry_run);
            cJSON *doc = cJSON_Parse(res.body);
            assert_non_null(doc);
            assert_string_equal(str_at(doc, "apiVersion"), fixtures[i].version == ADMISSION_V1
                                                               ? "admission.k8s.io/v1"
                                                               : "admission.k8s.io/v1beta1");
            const cJSON *out = cJSON_GetObjectItemCaseSensitive(doc, "response");
            assert_string_equal(str_at(out, "uid"), res.uid);
            cJSON_Delete(doc);
            free(res.body);
            arena_free(a);
            buf_clear(&b);
        }
    }
}

static void test_process_malformed(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        arena *a = arena_new(ARENA_REQUEST_BUDGET);
        admission_result res;
        admission_process(ADMISSION_VALIDATE, malformed[i].body, strlen(malformed[i].body), NULL, a, &res);
        assert_int_equal(res.http_status, 400);
        assert_int_equal(res.decision, ADMISSION_INVALID);
        cJSON *doc = cJSON_Parse(res.body);
        assert_non_null(doc);
        assert_string_equal(str_at(doc, "kind"), "Status");
        assert_int_equal(cJSON_GetObjectItemCaseSensitive(doc, "code")->valueint, 400);
        const char *msg = str_at(doc, "message");
        if (!utf8_is_valid(res.body, res.body_len, NULL))
            fail_msg("case %zu: the answer is not UTF-8: %s", i, res.body);
        if (strstr(msg, malformed[i].msg) == NULL)
            fail_msg("case %zu: message '%s' lacks '%s'", i, msg, malformed[i].msg);
        cJSON_Delete(doc);
        free(res.body);
        arena_free(a);
    }
}

/* Policies for the denial tests: each fires on every FlinkDeployment. */
#define POL(name, extra)                                                                          \
    "apiVersion: streamguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: " name "}\nspec:\n"     \
    "  match: {resources: [{apiGroups: [flink.apache.org], kinds: [FlinkDeployment]}]}\n" extra   \
    "---\n"
#define INVALID_FIELD   POL("inv-field", "  validations: [{expression: 'false', message: mode is wrong, field: spec.mode, reason: Invalid}]\n")
#define INVALID_NOFIELD POL("inv-plain", "  validations: [{expression: 'false', message: plainly wrong, reason: Invalid}]\n")
#define FORBIDDEN       POL("forbid", "  validations: [{expression: 'false', message: not here, field: spec.job}]\n")
#define UNAUTHORIZED    POL("unauth", "  validations: [{expression: 'false', message: who, reason: Unauthorized}]\n")
#define TOO_LARGE       POL("big", "  validations: [{expression: 'false', message: too big, reason: RequestEntityTooLarge}]\n")
#define WARNING         POL("warn", "  action: Warn\n  validations: [{expression: 'false', message: careful}]\n")

/* Decides the captured FlinkDeployment CREATE under the policies in 'yaml' and returns the
 * response's status printed, or "-" when there is none. */
static char *status_under(const char *yaml)
{
    char dir[] = "/tmp/sg-adm-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/p.yaml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(yaml, f);
    fclose(f);
    diag_list dl;
    diag_list_init(&dl);
    policy_set *set = policy_set_load_dir(dir, &dl);
    if (set == NULL)
        fail_msg("policies: %s", dl.count ? dl.items[0].msg : "?");
    unlink(path);
    rmdir(dir);
    buf b;
    buf_init(&b, 1u << 20);
    assert_int_equal(file_read(FIXTURES "flinkdeployment-create-v1.request.json", b.cap, &b, &dl), 0);
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    admission_policy pol = {.set = set};
    admission_result res;
    admission_process(ADMISSION_VALIDATE, b.data, b.len, &pol, a, &res);
    assert_int_equal(res.http_status, 200);
    cJSON *doc = cJSON_Parse(res.body);
    assert_non_null(doc);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(doc, "response"), "status");
    char *out = st ? cJSON_PrintUnformatted(st) : strdup("-");
    cJSON_Delete(doc);
    free(res.body);
    arena_free(a);
    buf_clear(&b);
    policy_set_unref(set);
    diag_list_clear(&dl);
    return out;
}

#define NAME_KIND "\"name\":\"basic-checkpoint-ha-example\",\"group\":\"flink.apache.org\",\"kind\":\"FlinkDeployment\""
#define CAUSE_FIELD "{\"reason\":\"FieldValueInvalid\",\"message\":\"[inv-field] mode is wrong\",\"field\":\"spec.mode\"}"
#define CAUSE_PLAIN "{\"reason\":\"FieldValueInvalid\",\"message\":\"[inv-plain] plainly wrong\"}"

/* The status code is chosen once over every denial: 422 Invalid (with the causes kubectl 1.20
 * prints) only when every denying rule asks for Invalid, else 403 Forbidden, whichever policy
 * fired first. */
static const struct {
    const char *yaml, *want;
} denial_cases[] = {
    {FORBIDDEN, "{\"code\":403,\"status\":\"Failure\",\"reason\":\"Forbidden\","
                "\"message\":\"[forbid] spec.job: not here\"}"},
    {INVALID_FIELD, "{\"code\":422,\"status\":\"Failure\",\"reason\":\"Invalid\",\"message\":"
                    "\"[inv-field] spec.mode: mode is wrong\",\"details\":{" NAME_KIND
                    ",\"causes\":[" CAUSE_FIELD "]}}"},
    {INVALID_FIELD INVALID_NOFIELD WARNING,
     "{\"code\":422,\"status\":\"Failure\",\"reason\":\"Invalid\",\"message\":"
     "\"[inv-field] spec.mode: mode is wrong; [inv-plain] plainly wrong\",\"details\":{" NAME_KIND
     ",\"causes\":[" CAUSE_FIELD "," CAUSE_PLAIN "]}}"},
    {INVALID_FIELD FORBIDDEN, "{\"code\":403,\"status\":\"Failure\",\"reason\":\"Forbidden\","
                              "\"message\":\"[inv-field] spec.mode: mode is wrong; [forbid] spec.job: not here\"}"},
    {FORBIDDEN INVALID_FIELD, "{\"code\":403,\"status\":\"Failure\",\"reason\":\"Forbidden\","
                              "\"message\":\"[forbid] spec.job: not here; [inv-field] spec.mode: mode is wrong\"}"},
    {UNAUTHORIZED, "{\"code\":401,\"status\":\"Failure\",\"reason\":\"Unauthorized\","
                   "\"message\":\"[unauth] who\"}"},
    {TOO_LARGE, "{\"code\":413,\"status\":\"Failure\",\"reason\":\"RequestEntityTooLarge\","
                "\"message\":\"[big] too big\"}"},
    {UNAUTHORIZED TOO_LARGE, "{\"code\":403,\"status\":\"Failure\",\"reason\":\"Forbidden\","
                             "\"message\":\"[unauth] who; [big] too big\"}"},
    {WARNING, "-"},
};

/* Every reason a policy may name has its code: a reason added to the enum without a row in
 * decide.c's table would answer 0. */
static void test_reason_codes(void **state)
{
    (void)state;
    static const int want[POLICY_REASON_COUNT] = {403, 401, 403, 422, 413};
    for (int r = 0; r < POLICY_REASON_COUNT; r++) {
        assert_non_null(policy_reason_names[r]);
        assert_int_equal(admission_reason_code((enum policy_reason)r), want[r]);
    }
    assert_null(policy_reason_names[POLICY_REASON_COUNT]);
}

static void test_denial_status(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof denial_cases / sizeof denial_cases[0]; i++) {
        char *got = status_under(denial_cases[i].yaml);
        if (strcmp(got, denial_cases[i].want) != 0)
            fail_msg("case %zu:\n got %s\nwant %s", i, got, denial_cases[i].want);
        free(got);
    }
}

/* When the arena runs out the answer is an error, never an allow. */
static void test_process_arena_exhausted(void **state)
{
    (void)state;
    static const char body[] = REQ("");
    arena *a = arena_new(16);
    admission_result res;
    admission_process(ADMISSION_VALIDATE, body, sizeof body - 1, NULL, a, &res);
    assert_int_not_equal(res.http_status, 200);
    assert_int_not_equal(res.decision, ADMISSION_ALLOWED);
    free(res.body);
    arena_free(a);
}

static int spec_x(const cJSON *o)
{
    return cJSON_GetObjectItem(cJSON_GetObjectItem(o, "spec"), "x")->valueint;
}

/* The requests of 'test' cases: each operation as kube-apiserver sends it (object and
 * oldObject, options, userInfo, dryRun), read back by the webhook's decoder. */
static void test_synth_operations(void **state)
{
    (void)state;
#define JOB(X) "{\"apiVersion\":\"flink.apache.org/v1beta1\",\"kind\":\"FlinkDeployment\"," \
               "\"metadata\":{\"name\":\"job\"},\"spec\":{\"x\":" X "}}"
    cJSON *now = cJSON_Parse(JOB("2")), *before = cJSON_Parse(JOB("4"));
#undef JOB
    const char *groups[] = {"platform-admins"};
    static const struct {
        enum admission_op op;
        bool old, dry;
        const char *options; /* NULL: none */
    } rows[] = {
        {ADMISSION_CREATE, false, true, "CreateOptions"},
        {ADMISSION_UPDATE, true, false, "UpdateOptions"},
        {ADMISSION_DELETE, false, false, "DeleteOptions"},
        {ADMISSION_CONNECT, false, true, NULL},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        arena *a = arena_new(1 << 20);
        diag_list dl;
        diag_list_init(&dl);
        admission_synth o = {.operation = rows[i].op, .old_object = rows[i].old ? before : NULL,
                             .username = "alice", .groups = groups, .n_groups = 1,
                             .dry_run = rows[i].dry, .context_ns = "team"};
        admission_request *r = admission_request_synth(now, &o, a, &dl);
        assert_non_null(r);
        assert_int_equal(r->operation, rows[i].op);
        assert_string_equal(r->namespace_, "team");
        assert_string_equal(r->username, "alice");
        assert_int_equal(r->dry_run, rows[i].dry);
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(r->user_info, "groups");
        assert_int_equal(cJSON_GetArraySize(g), 1);
        assert_string_equal(cJSON_GetArrayItem(g, 0)->valuestring, "platform-admins");
        if (rows[i].op == ADMISSION_DELETE) { /* what is deleted is the oldObject */
            assert_null(r->object);
            assert_non_null(r->old_object);
            assert_int_equal(spec_x(r->old_object), 2);
        } else {
            assert_non_null(r->object);
            if (rows[i].old)
                assert_int_equal(spec_x(r->old_object), 4);
            else
                assert_null(r->old_object);
        }
        const cJSON *md = cJSON_GetObjectItem(r->object ? r->object : r->old_object, "metadata");
        assert_string_equal(cJSON_GetObjectItem(md, "namespace")->valuestring, "team");
        if (rows[i].old) /* the old object is sent in the request's namespace too */
            assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(r->old_object, "metadata"),
                                                    "namespace")->valuestring, "team");
        if (rows[i].options == NULL)
            assert_null(r->options);
        else
            assert_string_equal(cJSON_GetObjectItem(r->options, "kind")->valuestring,
                                rows[i].options);
        admission_request_free(r);
        diag_list_clear(&dl);
        arena_free(a);
    }
    cJSON_Delete(now);
    cJSON_Delete(before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_fixtures),      cmocka_unit_test(test_decode_malformed),
        cmocka_unit_test(test_decode_wellformed),    cmocka_unit_test(test_decode_tree_in_arena),
        cmocka_unit_test(test_decode_dense_body),
        cmocka_unit_test(test_decode_embedded_nul),  cmocka_unit_test(test_decode_deep_nesting),
        cmocka_unit_test(test_decode_large_unicode), cmocka_unit_test(test_encode_full_response),
        cmocka_unit_test(test_encode_minimal_allow), cmocka_unit_test(test_status_encode),
        cmocka_unit_test(test_encode_as_cjson),
        cmocka_unit_test(test_print_scan_paths),
        cmocka_unit_test(test_process_fixtures),     cmocka_unit_test(test_process_malformed),
        cmocka_unit_test(test_process_arena_exhausted),
        cmocka_unit_test(test_denial_status),         cmocka_unit_test(test_reason_codes),
        cmocka_unit_test(test_synth_operations),
    };
    return cmocka_run_group_tests_name("admission", tests, NULL, NULL);
}
