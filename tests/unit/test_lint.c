/* test_lint.c - what lint's types and schemas catch: a table of wrong policies and the exact
 * diagnostic each gives, and the expressions that must stay clean (dyn, free-form maps). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "policy/schema.h"
#include "tmpdir.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    return tmpdir_make(dir, sizeof dir, "lint");
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove(dir);
}

/* One policy a row: its kinds, its variable 'v' and one validation. The validation's text
 * starts at line 16, column 9 of the file (a block scalar); the variable's at line 13. */
static const char template[] =
    "apiVersion: streamguard.dev/v1alpha1\n"
    "kind: Policy\n"
    "metadata:\n"
    "  name: t\n"
    "spec:\n"
    "  match:\n"
    "    resources:\n"
    "      - kinds: [%s]\n"
    "  params: {maxParallelism: 64, limits: {cpu: 16, memory: 64Gi}, names: [a, b]}\n"
    "  variables:\n"
    "    - name: v\n"
    "      expression: |-\n"
    "        %s\n"
    "  validations:\n"
    "    - expression: |-\n"
    "        %s\n";

#define FD "FlinkDeployment"
/* The warning for a field not in the vendored schema of one of Kubernetes' own kinds. */
#define KW(col, field, where)                                                                  \
    "16:" col " warning expr.field: '" field "' is not in Kubernetes 1.20.2's schema of " where \
    " (a field added since then is fine)"
#define SIZE "size(object.metadata.name)"

static const struct {
    const char *kinds, *var, *expr;
    const char *want; /* "line:col code: message", or NULL: no problem */
} rows[] = {
    /* item 1: types */
    {"ConfigMap", "true", "\"yes\"", "16:9 expr.type: a validation must yield a bool, not string"},
    {"ConfigMap", "true", SIZE " <= \"64\"", "16:9 expr.type: '<=' cannot compare int with string"},
    {"ConfigMap", "true", "params.maxParalelism > 1",
     "16:16 expr.field: undeclared param 'maxParalelism' (spec.params has no such key); did you "
     "mean 'maxParallelism'?"},
    {"ConfigMap", "true", "params.limits.cpus > 1",
     "16:23 expr.field: no field 'cpus' in params.limits; did you mean 'cpu'?"},
    {"ConfigMap", SIZE, "variables.v + 1.5 > 2.0",
     "16:9 expr.type: '+' is not defined for int and double"},
    {"ConfigMap", "true", "params.names.exists(n, n)",
     "16:32 expr.type: the predicate must be a bool, not string"},
    /* two-variable comprehensions: over a list the index (int) and the element */
    {"ConfigMap", "true", "params.names.all(i, n, n)",
     "16:32 expr.type: the predicate must be a bool, not string"},
    {"ConfigMap", "true", "params.names.exists(i, n, i + n == \"a\")",
     "16:35 expr.type: '+' is not defined for int and string"},
    {"ConfigMap", "true", "params.names.transformList(i, n, n).all(x, x.startsWith(\"a\"))", NULL},
    {"ConfigMap", "true", "params.limits.transformMap(k, v, k + \"x\").size() > 0", NULL},
    {"ConfigMap", "true", "params.names.transformList(i, n, i, n) == []",
     "16:42 expr.type: the filter must be a bool, not int"},
    {"ConfigMap", "true", "params.maxParallelism.startsWith(\"6\")",
     "16:9 expr.type: 'startsWith' needs a string, not int"},
    {"ConfigMap", "true", "params.names == \"a\"",
     "16:9 expr.type: '==' compares list(string) with string, which are never equal"},
    {"ConfigMap", "true", "!params.maxParallelism",
     "16:10 expr.type: the operand of '!' must be a bool, not int"},
    {"ConfigMap", "true", "\"a\" in params.maxParallelism",
     "16:9 expr.type: 'in' needs a list or a map on its right, not int"},
    {"ConfigMap", "params.maxParallelism > 0 ? \"a\" : \"b\"", "variables.v",
     "16:9 expr.type: a validation must yield a bool, not string"},
    {"ConfigMap", "true", "params.maxParallelism > 1 && 1",
     "16:38 expr.type: an operand of '&&' must be a bool, not int"},
    /* dyn stays allowed: a kind with no schema, dyn(), functions of their own */
    {"Widget", "true", "object.data.anything <= \"64\" && dyn(params.maxParallelism) <= \"64\"",
     NULL},
    {"Widget", "true", "quantity(object.data.x).isLessThan(quantity(\"1Gi\"))", NULL},
    /* item 2: field paths against the CRDs, every form of selection */
    {FD, "true", "object.spec.?job.paralelism.orValue(1) > 0",
     "16:26 expr.field: no field 'paralelism' in FlinkDeployment spec.job; did you mean "
     "'parallelism'?"},
    {FD, "true", "object.spec.?job.?paralelism.orValue(1) > 0",
     "16:27 expr.field: no field 'paralelism' in FlinkDeployment spec.job; did you mean "
     "'parallelism'?"},
    {FD, "true", "has(object.spec.taskManager.resource.cpuu)",
     "16:46 expr.field: no field 'cpuu' in FlinkDeployment spec.taskManager.resource; did you "
     "mean 'cpu'?"},
    {FD, "true", "object.spec[\"jobManger\"].replicas > 0",
     "16:21 expr.field: no field 'jobManger' in FlinkDeployment spec; did you mean 'jobManager'?"},
    {FD, "object.spec.?job.orValue({})", "variables.v.?upgradMode.orValue(\"\") == \"stateless\"",
     "16:22 expr.field: no field 'upgradMode' in FlinkDeployment spec.job; did you mean "
     "'upgradeMode'?"},
    {FD, "true", "has(object.spec.zzzzzzzz)", "16:25 expr.field: no field 'zzzzzzzz' in "
     "FlinkDeployment spec"},
    {FD, "true", "oldObject.spec.job.upgradeMode == 1",
     "16:9 expr.type: '==' compares string with int, which are never equal"},
    {FD ", FlinkSessionJob", "true", "object.spec.job.jarURI != \"\" && object.spec.jobb != null",
     "16:53 expr.field: no field 'jobb' in FlinkDeployment spec or FlinkSessionJob spec; did you "
     "mean 'job'?"},
    {"K8ssandraCluster", "true",
     "object.spec.cassandra.datacenters.all(dc, dc.size > 0 && dc.stargate.heapSiz != \"\")",
     "16:78 expr.field: no field 'heapSiz' in K8ssandraCluster spec.cassandra.datacenters[]."
     "stargate; did you mean 'heapSize'?"},
    {"Stargate", "true", "object.spec.heapSize != \"\" && object.spec.heapsize != \"\"",
     "16:51 expr.field: no field 'heapsize' in Stargate spec; did you mean 'heapSize'?"},
    {"CassandraDatacenter", "true",
     "object.spec.storageConfig.cassandraDataVolumeClaimSpec.storageClasName != \"\"",
     "16:64 expr.field: no field 'storageClasName' in CassandraDatacenter spec.storageConfig."
     "cassandraDataVolumeClaimSpec; did you mean 'storageClassName'?"},
    /* free-form maps and what every object has stay clean */
    {FD, "true",
     "object.spec.flinkConfiguration[\"a.b\"] == \"x\" && "
     "object.spec.?flinkConfiguration.anything.orValue(\"\") == \"\" && "
     "object.metadata.name != \"\" && object.status.jobStatus.state == \"RUNNING\"",
     NULL},
    {"CassandraDatacenter", "true",
     "object.spec.config[\"jvm-options\"].max_heap_size != \"\" && "
     "object.spec.podTemplateSpec.spec.containers.all(c, c.name != \"\")",
     NULL},
    {"\"*\"", "true", "object.spec.anything == 1", NULL},
    /* CassandraDatacenter's spec keeps unknown fields (x-kubernetes-preserve-unknown-fields) */
    {"CassandraDatacenter", "true", "object.spec.serverVersion != \"\" && object.spec.sise > 0",
     NULL},
    /* the pod templates of the Flink CRDs are the operator's Pod schema (@SchemaFrom Pod), not
     * free-form: checked as the CRD has them */
    {FD, "true", "object.spec.podTemplate.spec.containers.all(c, c.volumeMount.size() > 0)",
     "16:58 expr.field: no field 'volumeMount' in FlinkDeployment spec.podTemplate.spec."
     "containers[]; did you mean 'volumeMounts'?"},
    /* Kubernetes' own kinds (schemas/kube/): what lookup() and lookupList() answer, typed by
     * their literal apiVersion and kind, in every form a result is used in. Their schemas are
     * 1.20.2's and a cluster may be newer: a field not in them is a warning, with the hint */
    {FD, "true", "cel.bind(c, lookup('v1', 'PersistentVolumeClaim', 'ns', 'x'), "
                 "c == null || c.spec.accessMode.size() > 0)",
     KW("91", "accessMode", "PersistentVolumeClaim spec") "; did you mean 'accessModes'?"},
    {FD, "lookup('v1', 'PersistentVolumeClaim', object.metadata.namespace, 'x')",
     "variables.v != null && variables.v.?spec.accessMode.orValue([]).size() > 0",
     KW("50", "accessMode", "PersistentVolumeClaim spec") "; did you mean 'accessModes'?"},
    {FD, "true", "lookupList('v1', 'Node', '').all(n, n.spec.unschedulabel)",
     KW("52", "unschedulabel", "Node spec") "; did you mean 'unschedulable'?"},
    {FD, "true", "lookup('storage.k8s.io/v1', 'StorageClass', '', 'x').provisoner != ''",
     KW("62", "provisoner", "StorageClass") "; did you mean 'provisioner'?"},
    {FD, "lookup('v1', 'Namespace', '', object.metadata.namespace)",
     "variables.v.metadata.lables['team'] == 'x'",
     KW("30", "lables", "Namespace metadata") "; did you mean 'labels'?"},
    {FD, "true", "lookup('v1', 'ConfigMap', 'ns', 'x').data['a'] == 1",
     "16:9 expr.type: '==' compares string with int, which are never equal"},
    /* a CRD's own schema is the cluster's: its fields stay errors, looked up or matched */
    {FD, "true",
     "lookup('flink.apache.org/v1beta1', 'FlinkDeployment', 'ns', 'x').spec.jobb == null",
     "16:79 expr.field: no field 'jobb' in FlinkDeployment spec; did you mean 'job'?"},
    /* ... and the object of a policy that matches them */
    {"PersistentVolumeClaim", "true", "object.spec.accessMode.exists(m, m == 'ReadWriteMany')",
     KW("21", "accessMode", "PersistentVolumeClaim spec") "; did you mean 'accessModes'?"},
    {"Pod", "true", "object.spec.containers.all(c, has(c.resources.limit))",
     KW("55", "limit", "Pod spec.containers[].resources") "; did you mean 'limits'?"},
    {"ConfigMap", "true", "object.dat.size() > 0",
     KW("16", "dat", "ConfigMap") "; did you mean 'data'?"},
    {"StorageClass", "true", "object.volumeBindingMod == 'WaitForFirstConsumer'",
     KW("16", "volumeBindingMod", "StorageClass") "; did you mean 'volumeBindingMode'?"},
    /* fields that Kubernetes added after 1.20, which a served version has: warnings, and the
     * policy loads (lint's exit code stays 0) */
    {"Pod", "true", "object.spec.?os.name.orValue('') != 'windows'",
     KW("22", "os", "Pod spec")},
    {"Pod", "true", "object.spec.?schedulingGates.orValue([]).size() == 0",
     KW("22", "schedulingGates", "Pod spec")},
    {"Pod", "true", "object.spec.?hostUsers.orValue(true)", KW("22", "hostUsers", "Pod spec")},
    {"Pod", "true", "!has(object.spec.resourceClaims)",
     KW("26", "resourceClaims", "Pod spec")},
    {"Pod", "true", "object.spec.initContainers.all(c, c.?restartPolicy.orValue('') != 'Always')",
     KW("46", "restartPolicy", "Pod spec.initContainers[]")},
    {"Pod", "true", "object.spec.containers.all(c, !has(c.resizePolicy))",
     KW("46", "resizePolicy", "Pod spec.containers[]")},
    {"Pod", "true", "object.spec.containers.all(c, !has(c.livenessProbe.grpc))",
     KW("60", "grpc", "Pod spec.containers[].livenessProbe")},
    {"Pod", "true", "object.spec.containers.all(c, !has(c.lifecycle.preStop.sleep))",
     KW("64", "sleep", "Pod spec.containers[].lifecycle.preStop")},
    {"Pod", "true", "!has(object.spec.securityContext.appArmorProfile)",
     KW("42", "appArmorProfile", "Pod spec.securityContext")},
    {"Pod", "true", "object.spec.topologySpreadConstraints.all(t, !has(t.matchLabelKeys))",
     KW("61", "matchLabelKeys", "Pod spec.topologySpreadConstraints[]")},
    {"PersistentVolumeClaim", "true", "object.spec.?volumeAttributesClassName.orValue('') == ''",
     KW("22", "volumeAttributesClassName", "PersistentVolumeClaim spec")},
    {FD, "true", "lookup('v1', 'Pod', 'ns', 'x').spec.?os.hasValue()",
     KW("46", "os", "Pod spec")},
    /* two kinds matched: their union keeps the basis */
    {"Pod, ConfigMap", "true", "object.dat.size() > 0",
     KW("16", "dat", "Pod or ConfigMap") "; did you mean 'data'?"},
    /* quantities and int-or-string ports may be numbers; labels are a map; a kind or version
     * with no schema, and null, stay allowed */
    {"PersistentVolumeClaim", "true",
     "object.spec.resources.requests.storage > 1 && object.metadata.labels['a'] == 'b'", NULL},
    {"Pod", "true",
     "object.spec.containers.all(c, c.?livenessProbe.httpGet.port.orValue(0) == 8080)", NULL},
    {FD, "true",
     "lookupList('v1', 'Node', '').all(n, n.status.allocatable.cpu > 1 && "
     "n.metadata.labels['zone'] != '') && lookup('v1', 'PersistentVolumeClaim', 'a', 'b') == null",
     NULL},
    {FD, "true",
     "lookup('v2', 'Node', '', 'x').spec.anything == null && "
     "lookup('example.com/v1', 'Widget', 'a', 'b').spec.anything == null && "
     "lookup('storage.k8s.io/v1beta1', 'StorageClass', '', 'x').provisioner != ''",
     NULL},
};

/* Loads 'text' as a policy file with lint's options; returns the diags as "line:col code:
 * msg" lines ("line:col warning code: msg" for a warning; malloc'd), or NULL when it loaded
 * clean. */
static char *lint_text(const char *text, const policy_load_opts *o)
{
    char path[128];
    snprintf(path, sizeof path, "%s/p.yaml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    const char *paths[] = {path};
    diag_list dl;
    diag_list_init(&dl);
    policy_set *s = policy_set_load_opts(paths, 1, o, &dl);
    char *out = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&out, &len);
    for (size_t i = 0; i < dl.count; i++) {
        int line, col;
        srcpos_line_col(&dl.items[i].at, &line, &col);
        fprintf(m, "%s%d:%d %s%s: %s", i ? "\n" : "", line, col,
                dl.items[i].level == DIAG_WARNING ? "warning " : "", dl.items[i].code,
                dl.items[i].msg);
    }
    fclose(m);
    /* warnings alone leave the set loaded */
    assert_true((s == NULL) == (dl.errors > 0));
    policy_set_unref(s);
    diag_list_clear(&dl);
    if (len == 0) {
        free(out);
        return NULL;
    }
    return out;
}

static void test_lint_table(void **state)
{
    (void)state;
    policy_load_opts lint = {.check_fields = true};
    int failed = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char text[2048];
        snprintf(text, sizeof text, template, rows[i].kinds, rows[i].var, rows[i].expr);
        char *got = lint_text(text, &lint);
        if ((got == NULL) != (rows[i].want == NULL) ||
            (got != NULL && strcmp(got, rows[i].want) != 0)) {
            print_error("row %zu: %s\n  got  %s\n  want %s\n", i, rows[i].expr,
                        got ? got : "(none)", rows[i].want ? rows[i].want : "(none)");
            failed++;
        }
        free(got);
    }
    assert_int_equal(failed, 0);
}

/* Field paths are lint's alone: the server and check load the same policy (a cluster may run
 * a newer CRD than the vendored one), and types are checked by everyone. */
static void test_fields_only_in_lint(void **state)
{
    (void)state;
    char text[2048];
    snprintf(text, sizeof text, template, FD, "true", "has(object.spec.zzzzzzzz)");
    char *got = lint_text(text, NULL);
    assert_null(got);
    /* nor what a lookup answers */
    snprintf(text, sizeof text, template, FD, "true",
             "lookup('v1', 'PersistentVolumeClaim', 'a', 'b').spec.accessMode == null");
    got = lint_text(text, NULL);
    assert_null(got);
    snprintf(text, sizeof text, template, FD, "true", "\"yes\"");
    got = lint_text(text, NULL);
    assert_non_null(got);
    assert_string_equal(got, "16:9 expr.type: a validation must yield a bool, not string");
    free(got);
}

/* --crd: a kind of the user's own is checked against its CRD (every served version); a file
 * that is not a CRD is an error. */
static void test_lint_crd(void **state)
{
    (void)state;
    const char *crd = "tests/fixtures/policy/lint/crd-widget.yaml";
    policy_load_opts lint = {.check_fields = true, .crd_files = &crd, .n_crd_files = 1};
    char text[2048];
    snprintf(text, sizeof text, template, "Widget", "true",
             "object.spec.size > 0 && object.spec.colour != \"\" && object.spec.sizee > 1");
    char *got = lint_text(text, &lint);
    assert_non_null(got);
    assert_string_equal(got, "16:73 expr.field: no field 'sizee' in Widget spec; did you mean "
                             "'size'?");
    free(got);
    /* 'colour' is only in v1alpha1, which is served; 'legacy' only in v0, which is not */
    snprintf(text, sizeof text, template, "Widget", "true", "object.spec.legacy != \"\"");
    got = lint_text(text, &lint);
    assert_non_null(got);
    assert_string_equal(got, "16:21 expr.field: no field 'legacy' in Widget spec");
    free(got);
    /* Gizmo's spec has a property lint cannot name: it is open; its status is not */
    snprintf(text, sizeof text, template, "Gizmo", "true",
             "object.spec.anything == 1 && object.status.phse == \"\"");
    got = lint_text(text, &lint);
    assert_non_null(got);
    assert_string_equal(got, "16:52 expr.field: no field 'phse' in Gizmo status; did you mean "
                             "'phase'?");
    free(got);
    const char *notcrd = "tests/fixtures/policy/lint/good.yaml";
    policy_load_opts bad = {.check_fields = true, .crd_files = &notcrd, .n_crd_files = 1};
    got = lint_text(text, &bad);
    assert_non_null(got);
    assert_non_null(strstr(got, "policy.crd: not a CustomResourceDefinition (kind Policy)"));
    free(got);
}

/* An OpenAPI v2 document (schemas/kube/): a row for each group-version-kind of a definition,
 * every "$ref" written out where it stands, once a definition refers to itself the inner one
 * is '*', and so is a reference it cannot follow; Quantity and IntOrString are '*' (a number
 * in JSON). */
static void test_openapi_rows(void **state)
{
    (void)state;
    const char *file = "tests/fixtures/policy/lint/openapi-refs.json";
    FILE *f = fopen(file, "r");
    assert_non_null(f);
    char text[8192];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    arena *a = arena_new((size_t)16 << 20);
    diag_list dl;
    diag_list_init(&dl);
    policy_schema_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(policy_openapi_rows(a, file, text, len, &rows, &n, &dl), 0);
    assert_int_equal(dl.count, 0);
    assert_int_equal(n, 2);
    static const char spec[] =
        "{size:*,port:*,parts:[{name:s,count:i,sub:[*]}],labels:<s>,gone:*,away:*}";
    char want[256];
    snprintf(want, sizeof want, "{spec:%s,other:%s}", spec, spec);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(rows[i].group, "example.com");
        assert_string_equal(rows[i].kind, "Widget");
        assert_string_equal(rows[i].version, i == 0 ? "v1" : "v2");
        assert_string_equal(rows[i].text, want);
    }
    /* not an OpenAPI v2 document */
    assert_int_equal(policy_openapi_rows(a, "x.json", "{\"a\": 1}", 8, &rows, &n, &dl), -1);
    assert_int_equal(dl.count, 1);
    assert_non_null(strstr(dl.items[0].msg, "not an OpenAPI v2 document"));
    diag_list_clear(&dl);
    arena_free(a);
}

/* The generated table holds every served version of each vendored CRD, and each reads back. */
static void test_builtin_schemas(void **state)
{
    (void)state;
    static const char *const kinds[] = {"FlinkDeployment", "FlinkSessionJob", "K8ssandraCluster",
                                        "CassandraDatacenter", "Stargate"};
    arena *a = arena_new((size_t)256 << 20);
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        size_t n = 0;
        for (size_t i = 0; i < policy_n_builtin_schemas; i++) {
            if (strcmp(policy_builtin_schemas[i].kind, kinds[k]) != 0)
                continue;
            n++;
            const policy_schema_row *r = &policy_builtin_schemas[i];
            assert_null(r->basis); /* a CRD's schema is the cluster's: no field beyond it */
            const expr_type *t = policy_schema_type(a, r->text, kinds[k], r->basis);
            assert_non_null(t);
            assert_null(t->basis);
            const expr_type *spec;
            assert_true(expr_type_field(t, "spec", &spec));
            assert_non_null(spec);
        }
        assert_true(n >= 1);
    }
    /* and Kubernetes' own kinds the policies match and look up, in their groups */
    static const struct { const char *group, *version, *kind, *field; } core[] = {
        {"", "v1", "PersistentVolumeClaim", "spec"}, {"", "v1", "Node", "status"},
        {"", "v1", "Pod", "spec"}, {"", "v1", "ConfigMap", "data"},
        {"", "v1", "Namespace", "metadata"}, {"storage.k8s.io", "v1", "StorageClass",
                                              "provisioner"},
    };
    for (size_t k = 0; k < sizeof core / sizeof core[0]; k++) {
        size_t n = 0;
        for (size_t i = 0; i < policy_n_builtin_schemas; i++) {
            const policy_schema_row *r = &policy_builtin_schemas[i];
            if (strcmp(r->kind, core[k].kind) != 0)
                continue;
            n++;
            assert_string_equal(r->group, core[k].group);
            /* from the document's info: the release the warnings name */
            assert_non_null(r->basis);
            assert_string_equal(r->basis, "Kubernetes 1.20.2");
            const expr_type *t = policy_schema_type(a, r->text, r->kind, r->basis), *f;
            assert_non_null(t);
            assert_string_equal(t->basis, "Kubernetes 1.20.2");
            assert_true(expr_type_field(t, core[k].field, &f));
            assert_non_null(f);
            assert_false(t->open);
        }
        assert_true(n >= 1);
    }
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lint_table),
        cmocka_unit_test(test_fields_only_in_lint),
        cmocka_unit_test(test_lint_crd),
        cmocka_unit_test(test_openapi_rows),
        cmocka_unit_test(test_builtin_schemas),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
